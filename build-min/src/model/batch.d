build-min/src/model/batch.o: src/model/batch.c include/edgebert/batch.h \
 include/edgebert.h src/kernels/kernels.h src/model/model_internal.h \
 src/model/albert.h src/model/safetensors.h src/util/util.h \
 include/edgebert/hw.h include/edgebert/runtime.h
include/edgebert/batch.h:
include/edgebert.h:
src/kernels/kernels.h:
src/model/model_internal.h:
src/model/albert.h:
src/model/safetensors.h:
src/util/util.h:
include/edgebert/hw.h:
include/edgebert/runtime.h:
