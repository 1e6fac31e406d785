build-min/src/tokenizer/normalize.o: src/tokenizer/normalize.c \
 src/tokenizer/tok_internal.h include/edgebert/tokenizer.h \
 include/edgebert.h src/util/util.h
src/tokenizer/tok_internal.h:
include/edgebert/tokenizer.h:
include/edgebert.h:
src/util/util.h:
