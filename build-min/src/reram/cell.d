build-min/src/reram/cell.o: src/reram/cell.c src/reram/reram.h \
 include/edgebert/reram.h include/edgebert.h src/util/util.h
src/reram/reram.h:
include/edgebert/reram.h:
include/edgebert.h:
src/util/util.h:
