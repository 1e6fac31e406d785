build-min/src/quant/sparse_matmul.o: src/quant/sparse_matmul.c \
 src/quant/sparse_matmul.h include/edgebert/quant.h include/edgebert.h \
 src/kernels/kernels.h src/quant/bitmask.h src/util/util.h
src/quant/sparse_matmul.h:
include/edgebert/quant.h:
include/edgebert.h:
src/kernels/kernels.h:
src/quant/bitmask.h:
src/util/util.h:
