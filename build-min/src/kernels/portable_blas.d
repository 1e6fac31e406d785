build-min/src/kernels/portable_blas.o: src/kernels/portable_blas.c \
 src/kernels/neon.h src/kernels/noblas/cblas.h
src/kernels/neon.h:
src/kernels/noblas/cblas.h:
