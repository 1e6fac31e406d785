build-min/src/model/albert.o: src/model/albert.c src/model/albert.h \
 include/edgebert.h src/kernels/noblas/cblas.h include/edgebert/quant.h \
 src/kernels/kernels.h src/util/util.h
src/model/albert.h:
include/edgebert.h:
src/kernels/noblas/cblas.h:
include/edgebert/quant.h:
src/kernels/kernels.h:
src/util/util.h:
