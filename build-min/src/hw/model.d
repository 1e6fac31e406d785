build-min/src/hw/model.o: src/hw/model.c include/edgebert/hw.h \
 include/edgebert.h src/util/util.h
include/edgebert/hw.h:
include/edgebert.h:
src/util/util.h:
