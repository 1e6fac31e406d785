build-min/src/quant/adaptivfloat.o: src/quant/adaptivfloat.c \
 src/quant/adaptivfloat.h include/edgebert/quant.h include/edgebert.h \
 src/util/util.h
src/quant/adaptivfloat.h:
include/edgebert/quant.h:
include/edgebert.h:
src/util/util.h:
