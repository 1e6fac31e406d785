/* tdata.h - building an eb_train_data one example at a time. */
#ifndef EB_TRAIN_TDATA_H
#define EB_TRAIN_TDATA_H

#include "edgebert/train.h"

typedef struct eb_tdata_builder {
    eb_train_example *ex;
    int n, cap;
    int32_t *pool;
    size_t used, pool_cap;
} eb_tdata_builder;

eb_status eb_tdata_add(eb_tdata_builder *b, const int32_t *ids, const int32_t *types, int n,
                       int label, float target, eb_error *err);
/* Move the examples into out (the builder is emptied). */
void eb_tdata_finish(eb_tdata_builder *b, eb_train_data *out);

#endif
