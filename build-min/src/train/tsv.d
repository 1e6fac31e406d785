build-min/src/train/tsv.o: src/train/tsv.c include/edgebert/data.h \
 include/edgebert.h include/edgebert/train.h src/train/tdata.h \
 src/util/util.h
include/edgebert/data.h:
include/edgebert.h:
include/edgebert/train.h:
src/train/tdata.h:
src/util/util.h:
