/* precision.c - the table of number formats the engine computes in (see
 * eb_precision_info in edgebert.h).  Every name, parse and branch on a
 * precision reads a row of it. */
#include <stdio.h>
#include <string.h>

#include "model/albert.h"
#include "util/util.h"

const eb_precision_info eb_precision_rows[EB_NUM_PRECISIONS] = {
    {EB_PRECISION_FP32, "fp32", "fp32 weights and activations", 0, 0, 4, "f32"},
    {EB_PRECISION_AF8, "af8", "AdaptivFloat8 weights and activations, exact sums", 1, 0, 1, "af8"},
    {EB_PRECISION_AF8_BF16, "af8-bf16", "the af8 values through AVX512-BF16 dot products", 1, 1,
     1, "af8"},
};

const eb_precision_info *eb_precision_table(int *n) {
    if (n) *n = EB_NUM_PRECISIONS;
    return eb_precision_rows;
}

const eb_precision_info *eb_precision_info_of(eb_precision p) {
    return (unsigned)p < EB_NUM_PRECISIONS ? &eb_precision_rows[p] : NULL;
}

const char *eb_precision_name(eb_precision p) {
    const eb_precision_info *i = eb_precision_info_of(p);
    return i ? i->name : "?";
}

int eb_precision_parse(const char *s) {
    for (int i = 0; s && i < EB_NUM_PRECISIONS; i++)
        if (!strcmp(s, eb_precision_rows[i].name)) return (int)eb_precision_rows[i].id;
    return -1;
}

static const char *row_name(int i) {
    return eb_precision_rows[i].name;
}

const char *eb_precision_names(char *buf, size_t cap, const char *sep, const char *last) {
    return eb_join_names(buf, cap, EB_NUM_PRECISIONS, row_name, sep, last);
}
