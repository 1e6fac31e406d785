build-min/src/model/fork.o: src/model/fork.c src/model/model_internal.h \
 include/edgebert.h src/model/albert.h src/model/safetensors.h \
 src/util/util.h include/edgebert/hw.h include/edgebert/runtime.h
src/model/model_internal.h:
include/edgebert.h:
src/model/albert.h:
src/model/safetensors.h:
src/util/util.h:
include/edgebert/hw.h:
include/edgebert/runtime.h:
