build-min/src/tokenizer/spm_model.o: src/tokenizer/spm_model.c \
 src/tokenizer/tok_internal.h include/edgebert/tokenizer.h \
 include/edgebert.h src/util/util.h
src/tokenizer/tok_internal.h:
include/edgebert/tokenizer.h:
include/edgebert.h:
src/util/util.h:
