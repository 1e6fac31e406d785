build-min/src/hw/params.o: src/hw/params.c include/edgebert/hw.h \
 include/edgebert.h src/util/util.h
include/edgebert/hw.h:
include/edgebert.h:
src/util/util.h:
