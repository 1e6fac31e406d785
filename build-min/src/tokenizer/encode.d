build-min/src/tokenizer/encode.o: src/tokenizer/encode.c \
 src/tokenizer/tok_internal.h include/edgebert/tokenizer.h \
 include/edgebert.h src/util/util.h
src/tokenizer/tok_internal.h:
include/edgebert/tokenizer.h:
include/edgebert.h:
src/util/util.h:
