build-min/src/model/safetensors.o: src/model/safetensors.c \
 src/model/safetensors.h include/edgebert.h src/util/util.h
src/model/safetensors.h:
include/edgebert.h:
src/util/util.h:
