build-min/src/hw/taskswitch.o: src/hw/taskswitch.c \
 include/edgebert/taskswitch.h include/edgebert/hw.h include/edgebert.h
include/edgebert/taskswitch.h:
include/edgebert/hw.h:
include/edgebert.h:
