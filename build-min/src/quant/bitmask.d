build-min/src/quant/bitmask.o: src/quant/bitmask.c src/quant/bitmask.h \
 include/edgebert/quant.h include/edgebert.h src/util/util.h
src/quant/bitmask.h:
include/edgebert/quant.h:
include/edgebert.h:
src/util/util.h:
