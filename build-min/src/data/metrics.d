build-min/src/data/metrics.o: src/data/metrics.c src/data/data_internal.h \
 include/edgebert/data.h include/edgebert.h src/util/util.h
src/data/data_internal.h:
include/edgebert/data.h:
include/edgebert.h:
src/util/util.h:
