build-min/src/kernels/neon.o: src/kernels/neon.c src/kernels/neon.h \
 src/util/util.h include/edgebert.h
src/kernels/neon.h:
src/util/util.h:
include/edgebert.h:
