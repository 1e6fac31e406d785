build-min/src/runtime/policy.o: src/runtime/policy.c \
 include/edgebert/runtime.h include/edgebert.h include/edgebert/hw.h \
 src/util/util.h
include/edgebert/runtime.h:
include/edgebert.h:
include/edgebert/hw.h:
src/util/util.h:
