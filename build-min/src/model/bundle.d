build-min/src/model/bundle.o: src/model/bundle.c src/model/bundle.h \
 include/edgebert.h src/model/model_internal.h src/model/albert.h \
 src/model/safetensors.h src/util/util.h include/edgebert/hw.h \
 include/edgebert/runtime.h include/edgebert/quant.h src/model/config.h
src/model/bundle.h:
include/edgebert.h:
src/model/model_internal.h:
src/model/albert.h:
src/model/safetensors.h:
src/util/util.h:
include/edgebert/hw.h:
include/edgebert/runtime.h:
include/edgebert/quant.h:
src/model/config.h:
