build-min/src/kernels/gemm.o: src/kernels/gemm.c src/kernels/kernels.h \
 src/util/util.h include/edgebert.h src/kernels/noblas/cblas.h
src/kernels/kernels.h:
src/util/util.h:
include/edgebert.h:
src/kernels/noblas/cblas.h:
