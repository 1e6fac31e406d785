build-min/src/reram/study.o: src/reram/study.c include/edgebert/faults.h \
 include/edgebert.h include/edgebert/data.h include/edgebert/reram.h \
 include/edgebert/quant.h src/model/model_internal.h src/model/albert.h \
 src/model/safetensors.h src/util/util.h include/edgebert/hw.h \
 include/edgebert/runtime.h src/reram/reram.h
include/edgebert/faults.h:
include/edgebert.h:
include/edgebert/data.h:
include/edgebert/reram.h:
include/edgebert/quant.h:
src/model/model_internal.h:
src/model/albert.h:
src/model/safetensors.h:
src/util/util.h:
include/edgebert/hw.h:
include/edgebert/runtime.h:
src/reram/reram.h:
