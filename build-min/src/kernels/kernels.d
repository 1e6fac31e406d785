build-min/src/kernels/kernels.o: src/kernels/kernels.c \
 src/kernels/kernels.h src/kernels/noblas/cblas.h
src/kernels/kernels.h:
src/kernels/noblas/cblas.h:
