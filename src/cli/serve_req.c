/* serve_req.c - parse and check a POST /v1/classify body (serve_req.h). */
#include "cli/serve_req.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgebert/runtime.h"
#include "util/util.h"

static int bad(char *msg, size_t cap, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return status;
}

/* A field naming a row of a table (policy, precision): 0 and *out, or 400. */
static int named(const cJSON *f, const char *key, int (*parse)(const char *),
                 const char *(*names)(char *, size_t, const char *, const char *), int *out,
                 char *msg, size_t cap) {
    const char *v = cJSON_IsString(f) ? f->valuestring : NULL;
    int k = v ? parse(v) : -1;
    if (k < 0) {
        char list[128];
        names(list, sizeof list, ", ", " or ");
        if (v) return bad(msg, cap, 400, "%s: unknown %s (%s)", key, key, list);
        return bad(msg, cap, 400, "%s: must be a string (%s)", key, list);
    }
    *out = k;
    return 0;
}

/* A text field: a non-empty UTF-8 string of at most max_text_bytes. */
static int check_text(const cJSON *v, const char *field, const eb_serve_limits *lim,
                      const char **out, char *msg, size_t cap) {
    if (!cJSON_IsString(v) || !v->valuestring)
        return bad(msg, cap, 400, "%s: must be a string", field);
    const char *s = v->valuestring;
    size_t n = strlen(s);
    if (n == 0) return bad(msg, cap, 400, "%s: empty text", field);
    if (n > lim->max_text_bytes)
        return bad(msg, cap, 413, "%s: %zu bytes, more than the limit of %zu", field, n,
                   lim->max_text_bytes);
    if (!eb_utf8_valid(s, n)) return bad(msg, cap, 400, "%s: not valid UTF-8", field);
    *out = s;
    return 0;
}

void eb_serve_req_free(eb_serve_req *r) {
    if (!r) return;
    cJSON_Delete(r->root);
    free(r->items);
    memset(r, 0, sizeof *r);
}

static int parse(const char *body, size_t len, const eb_serve_limits *lim, eb_serve_req *r,
                 char *msg, size_t cap) {
    if (len > lim->max_body)
        return bad(msg, cap, 413, "body: %zu bytes, more than the limit of %zu", len,
                   lim->max_body);
    if (len == 0) return bad(msg, cap, 400, "body: empty (a JSON object is expected)");
    /* the raw bytes first: cJSON would pass invalid UTF-8 through */
    if (!eb_utf8_valid(body, len)) return bad(msg, cap, 400, "body: not valid UTF-8");
    if (memchr(body, 0, len)) return bad(msg, cap, 400, "body: contains a NUL byte");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        return bad(msg, cap, 400, "body: malformed JSON near byte %zu", at);
    }
    r->root = root;
    for (; end && end < body + len; end++)
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r')
            return bad(msg, cap, 400, "body: text after the JSON value at byte %zu",
                       (size_t)(end - body));
    if (!cJSON_IsObject(root)) return bad(msg, cap, 400, "body: must be a JSON object");
    r->p = eb_run_params_default();
    r->batch = 1;
    const cJSON *text = NULL, *text_b = NULL, *texts = NULL;
    for (const cJSON *f = root->child; f; f = f->next) {
        const char *k = f->string ? f->string : "";
        for (const cJSON *g = root->child; g != f; g = g->next)
            if (g->string && !strcmp(g->string, k)) return bad(msg, cap, 400, "%s: given twice", k);
        if (!strcmp(k, "text"))
            text = f;
        else if (!strcmp(k, "text_b"))
            text_b = f;
        else if (!strcmp(k, "texts"))
            texts = f;
        else if (!strcmp(k, "task")) {
            if (cJSON_IsNull(f)) continue;
            if (!cJSON_IsString(f) || !f->valuestring || !*f->valuestring)
                return bad(msg, cap, 400, "task: must be a non-empty string");
            r->p.task = f->valuestring;
        } else if (!strcmp(k, "policy")) {
            int v;
            int st = named(f, k, eb_policy_parse, eb_policy_names, &v, msg, cap);
            if (st) return st;
            r->p.policy = (eb_policy)v;
        } else if (!strcmp(k, "precision")) {
            int v;
            int st = named(f, k, eb_precision_parse, eb_precision_names, &v, msg, cap);
            if (st) return st;
            r->p.precision = (eb_precision)v;
        } else if (!strcmp(k, "threshold")) {
            if (cJSON_IsNull(f)) continue; /* the model's own */
            if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble) || f->valuedouble < 0)
                return bad(msg, cap, 400, "threshold: must be a number >= 0 (or null)");
            r->p.threshold = (float)f->valuedouble;
        } else if (!strcmp(k, "latency_target_ms")) {
            if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble) || f->valuedouble <= 0 ||
                f->valuedouble > 1e9)
                return bad(msg, cap, 400, "latency_target_ms: must be a positive number");
            r->p.latency_target_ms = f->valuedouble;
        } else if (!strcmp(k, "batch")) {
            if (!cJSON_IsBool(f)) return bad(msg, cap, 400, "batch: must be true or false");
            r->batch = cJSON_IsTrue(f);
        } else
            return bad(msg, cap, 400, "%s: unknown field", k);
    }
    if (texts && (text || text_b))
        return bad(msg, cap, 400, "texts: give either text (and text_b) or texts, not both");
    if (!texts && !text) return bad(msg, cap, 400, "text: missing (or give texts)");
    if (text) {
        r->items = calloc(1, sizeof *r->items);
        if (!r->items) return bad(msg, cap, 500, "out of memory");
        r->n = 1;
        int s = check_text(text, "text", lim, &r->items[0].a, msg, cap);
        if (s) return s;
        if (text_b && !cJSON_IsNull(text_b)) {
            s = check_text(text_b, "text_b", lim, &r->items[0].b, msg, cap);
            if (s) return s;
        }
        return 0;
    }
    if (!cJSON_IsArray(texts))
        return bad(msg, cap, 400, "texts: must be an array of strings or [text, text_b] pairs");
    int n = cJSON_GetArraySize(texts);
    if (n == 0) return bad(msg, cap, 400, "texts: empty array");
    if (n > lim->max_texts)
        return bad(msg, cap, 413, "texts: %d entries, more than the limit of %d", n,
                   lim->max_texts);
    r->items = calloc((size_t)n, sizeof *r->items);
    if (!r->items) return bad(msg, cap, 500, "out of memory");
    r->n = n;
    r->array = 1;
    int i = 0;
    char field[48];
    for (const cJSON *e = texts->child; e; e = e->next, i++) {
        snprintf(field, sizeof field, "texts[%d]", i);
        if (cJSON_IsArray(e)) {
            int m = cJSON_GetArraySize(e);
            if (m < 1 || m > 2)
                return bad(msg, cap, 400, "%s: a pair must be [text] or [text, text_b]", field);
            int s = check_text(e->child, field, lim, &r->items[i].a, msg, cap);
            if (s) return s;
            if (m == 2) {
                snprintf(field, sizeof field, "texts[%d][1]", i);
                s = check_text(e->child->next, field, lim, &r->items[i].b, msg, cap);
                if (s) return s;
            }
        } else {
            int s = check_text(e, field, lim, &r->items[i].a, msg, cap);
            if (s) return s;
        }
    }
    return 0;
}

int eb_serve_req_parse(const char *body, size_t len, const eb_serve_limits *lim, eb_serve_req *out,
                       char *msg, size_t cap) {
    memset(out, 0, sizeof *out);
    if (cap) msg[0] = 0;
    int s = parse(body, len, lim, out, msg, cap);
    if (s) eb_serve_req_free(out);
    return s;
}
