build-min/src/runtime/trace.o: src/runtime/trace.c \
 include/edgebert/runtime.h include/edgebert.h include/edgebert/hw.h \
 src/util/util.h
include/edgebert/runtime.h:
include/edgebert.h:
include/edgebert/hw.h:
src/util/util.h:
