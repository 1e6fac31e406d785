build-min/src/train/trainer.o: src/train/trainer.c \
 include/edgebert/train.h include/edgebert.h src/kernels/backward.h \
 src/kernels/kernels.h src/model/config.h src/model/albert.h \
 src/model/safetensors.h src/util/util.h src/train/tmodel.h \
 src/train/trainer_internal.h
include/edgebert/train.h:
include/edgebert.h:
src/kernels/backward.h:
src/kernels/kernels.h:
src/model/config.h:
src/model/albert.h:
src/model/safetensors.h:
src/util/util.h:
src/train/tmodel.h:
src/train/trainer_internal.h:
