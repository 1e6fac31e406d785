build-min/src/train/predictor.o: src/train/predictor.c \
 include/edgebert/train.h include/edgebert.h src/train/tmodel.h \
 src/model/albert.h src/train/trainer_internal.h src/util/util.h
include/edgebert/train.h:
include/edgebert.h:
src/train/tmodel.h:
src/model/albert.h:
src/train/trainer_internal.h:
src/util/util.h:
