build-min/src/runtime/calibrate.o: src/runtime/calibrate.c \
 include/edgebert/runtime.h include/edgebert.h include/edgebert/hw.h \
 src/util/util.h
include/edgebert/runtime.h:
include/edgebert.h:
include/edgebert/hw.h:
src/util/util.h:
