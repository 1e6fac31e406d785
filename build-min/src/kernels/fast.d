build-min/src/kernels/fast.o: src/kernels/fast.c src/kernels/kernels.h \
 src/util/util.h include/edgebert.h
src/kernels/kernels.h:
src/util/util.h:
include/edgebert.h:
