build-min/src/train/tmodel.o: src/train/tmodel.c src/train/tmodel.h \
 include/edgebert.h src/model/albert.h src/kernels/backward.h \
 src/kernels/kernels.h src/model/config.h src/model/safetensors.h \
 src/util/util.h
src/train/tmodel.h:
include/edgebert.h:
src/model/albert.h:
src/kernels/backward.h:
src/kernels/kernels.h:
src/model/config.h:
src/model/safetensors.h:
src/util/util.h:
