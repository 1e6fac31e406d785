build-min/src/model/fixedmem.o: src/model/fixedmem.c \
 include/edgebert/fixedmem.h include/edgebert.h src/model/bundle.h \
 src/model/model_internal.h src/model/albert.h src/model/safetensors.h \
 src/util/util.h include/edgebert/hw.h include/edgebert/runtime.h
include/edgebert/fixedmem.h:
include/edgebert.h:
src/model/bundle.h:
src/model/model_internal.h:
src/model/albert.h:
src/model/safetensors.h:
src/util/util.h:
include/edgebert/hw.h:
include/edgebert/runtime.h:
