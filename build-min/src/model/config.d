build-min/src/model/config.o: src/model/config.c src/model/config.h \
 include/edgebert.h src/model/albert.h src/util/util.h
src/model/config.h:
include/edgebert.h:
src/model/albert.h:
src/util/util.h:
