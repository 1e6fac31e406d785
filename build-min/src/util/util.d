build-min/src/util/util.o: src/util/util.c src/util/util.h \
 include/edgebert.h
src/util/util.h:
include/edgebert.h:
