build-min/src/model/info.o: src/model/info.c include/edgebert/quant.h \
 include/edgebert.h include/edgebert/taskswitch.h include/edgebert/hw.h \
 src/model/bundle.h src/model/model_internal.h src/model/albert.h \
 src/model/safetensors.h src/util/util.h include/edgebert/runtime.h
include/edgebert/quant.h:
include/edgebert.h:
include/edgebert/taskswitch.h:
include/edgebert/hw.h:
src/model/bundle.h:
src/model/model_internal.h:
src/model/albert.h:
src/model/safetensors.h:
src/util/util.h:
include/edgebert/runtime.h:
