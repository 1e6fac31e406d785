build-min/src/data/glue.o: src/data/glue.c src/data/data_internal.h \
 include/edgebert/data.h include/edgebert.h src/util/util.h
src/data/data_internal.h:
include/edgebert/data.h:
include/edgebert.h:
src/util/util.h:
