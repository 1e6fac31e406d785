build-min/src/hw/svg.o: src/hw/svg.c src/hw/svg.h include/edgebert.h \
 src/util/util.h
src/hw/svg.h:
include/edgebert.h:
src/util/util.h:
