build-min/src/runtime/power.o: src/runtime/power.c \
 include/edgebert/runtime.h include/edgebert.h include/edgebert/hw.h \
 src/util/util.h
include/edgebert/runtime.h:
include/edgebert.h:
include/edgebert/hw.h:
src/util/util.h:
