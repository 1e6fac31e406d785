build-min/src/reram/inject.o: src/reram/inject.c src/reram/reram.h \
 include/edgebert/reram.h include/edgebert.h src/util/util.h
src/reram/reram.h:
include/edgebert/reram.h:
include/edgebert.h:
src/util/util.h:
