/* serve_req.h - the body of POST /v1/classify, parsed and checked (edgebert serve).
 *
 * {"text": "...", "text_b": "...", "task": "...", "policy": "base|ee|lai",
 *  "threshold": T, "latency_target_ms": MS, "precision": "fp32|af8|af8-bf16",
 *  "batch": true|false}
 * or "texts": ["...", ["a", "b"], ...] instead of text/text_b (the answer is then
 * an array in input order).  Every problem gives an HTTP status and a message
 * naming the field; nothing here touches the model (the task name is checked by
 * the caller). */
#ifndef EB_SERVE_REQ_H
#define EB_SERVE_REQ_H

#include <stddef.h>

#include "edgebert.h"

typedef struct eb_serve_limits {
    size_t max_body;       /* bytes of the body */
    int max_texts;         /* entries of "texts" */
    size_t max_text_bytes; /* bytes of one text (text_b counted separately) */
} eb_serve_limits;

typedef struct eb_serve_item {
    const char *a, *b; /* b may be NULL; both point into the parsed tree */
} eb_serve_item;

typedef struct eb_serve_req {
    void *root; /* cJSON tree owning the strings */
    int n;      /* items */
    int array;  /* 1: "texts" was given, answer an array */
    eb_serve_item *items;
    eb_run_params p; /* policy, threshold, latency target, precision, task (into the tree) */
    int batch;       /* 0: "batch": false (always the per-sentence engine) */
} eb_serve_req;

/* Parse body[0..len).  Returns 0 on success (free with eb_serve_req_free),
 * else the HTTP status (400, 413) with msg filled ("field: what is wrong"). */
int eb_serve_req_parse(const char *body, size_t len, const eb_serve_limits *lim, eb_serve_req *out,
                       char *msg, size_t cap);
void eb_serve_req_free(eb_serve_req *r);

#endif
