build-min/src/data/tasks.o: src/data/tasks.c src/data/data_internal.h \
 include/edgebert/data.h include/edgebert.h src/util/util.h
src/data/data_internal.h:
include/edgebert/data.h:
include/edgebert.h:
src/util/util.h:
