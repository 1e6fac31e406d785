build-min/src/train/tdata.o: src/train/tdata.c include/edgebert/train.h \
 include/edgebert.h src/train/tdata.h src/util/util.h
include/edgebert/train.h:
include/edgebert.h:
src/train/tdata.h:
src/util/util.h:
