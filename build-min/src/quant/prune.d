build-min/src/quant/prune.o: src/quant/prune.c src/quant/prune.h \
 include/edgebert/quant.h include/edgebert.h src/util/util.h
src/quant/prune.h:
include/edgebert/quant.h:
include/edgebert.h:
src/util/util.h:
