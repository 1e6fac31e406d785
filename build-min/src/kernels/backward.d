build-min/src/kernels/backward.o: src/kernels/backward.c \
 src/kernels/backward.h src/kernels/noblas/cblas.h src/kernels/kernels.h
src/kernels/backward.h:
src/kernels/noblas/cblas.h:
src/kernels/kernels.h:
