build-min/src/model/model.o: src/model/model.c src/model/model_internal.h \
 include/edgebert.h src/model/albert.h src/model/safetensors.h \
 src/util/util.h include/edgebert/hw.h include/edgebert/runtime.h \
 src/kernels/kernels.h src/model/bundle.h src/model/config.h \
 include/edgebert/quant.h
src/model/model_internal.h:
include/edgebert.h:
src/model/albert.h:
src/model/safetensors.h:
src/util/util.h:
include/edgebert/hw.h:
include/edgebert/runtime.h:
src/kernels/kernels.h:
src/model/bundle.h:
src/model/config.h:
include/edgebert/quant.h:
