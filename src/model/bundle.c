/* bundle.c - write and read the multi-task bundle (format in bundle.h). */
#include "model/bundle.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgebert/quant.h"
#include "edgebert/runtime.h"
#include "model/config.h"
#include "model/tensors.h"
#include "util/util.h"

#define ALIGN64(x) (((x) + 63) & ~(size_t)63)
#define FIXED_HEADER_V1 40 /* version 1: no checksums */
#define FIXED_HEADER 64
#define MAX_HEADER_BYTES (64u << 20)
#define MAX_TENSOR_ELEMS ((size_t)1 << 31)

/* The tensors the bundle stores once for all tasks: the embedding tables
 * (the rows EB_T_WORD, EB_T_POS, EB_T_TYPE of tensors.h), by their id. */
#define N_SHARED 3
_Static_assert(EB_T_WORD == 0 && EB_T_POS == 1 && EB_T_TYPE == 2, "shared tables are rows 0..2");

static const char *shared_name(int i) {
    return eb_tensor_rows(NULL)[i].pattern;
}

static int is_shared(const char *name) {
    eb_tensor_match m;
    return eb_tensor_lookup(name, &m) && m.role == EB_ROLE_EMBEDDING ? (int)m.row->id : -1;
}

static float *tensor_f32(const eb_st_tensor *t) {
    float *x = malloc(t->numel * sizeof(float) + 1);
    if (x) eb_st_to_f32(t, x);
    return x;
}

/* A tensor of the shared backbone (adapter-ALBERT): the embeddings, the
 * embedding mapping and the shared layers' weights; not the adapters, spans,
 * heads or off-ramps, which stay with their task. */
static int is_backbone(const char *name) {
    int r = eb_tensor_role_of(name);
    return r == EB_ROLE_EMBEDDING || r == EB_ROLE_EMB_NORM || r == EB_ROLE_MAPPING ||
           r == EB_ROLE_ENC_MATRIX || r == EB_ROLE_ENC_VECTOR;
}

static const eb_st_tensor *find_either(const eb_safetensors *st, const char *full) {
    const eb_st_tensor *t = eb_st_find(st, full);
    if (!t && !strncmp(full, "albert.", 7)) t = eb_st_find(st, full + 7);
    return t;
}

/* The backbone tensors every task holds with bit-identical values (after
 * conversion to fp32): with two tasks or more they are stored once, under
 * "shared".  Returns a NULL-terminated list of full names (free with
 * free_names) or NULL when out of memory; *n gets the count. */
static char **common_backbone(const eb_pack_task *tasks, int n_tasks, int *n, eb_error *err,
                              eb_status *s) {
    *n = 0;
    *s = EB_OK;
    eb_safetensors *sts = calloc((size_t)n_tasks, sizeof *sts);
    if (!sts) {
        *s = eb_fail(err, EB_ERR_NOMEM, "pack: out of memory");
        return NULL;
    }
    int opened = 0;
    for (; opened < n_tasks && *s == EB_OK; opened++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/model.safetensors", tasks[opened].dir);
        *s = eb_st_open(path, NULL, 1, &sts[opened], err);
        if (*s != EB_OK) break;
    }
    char **names = NULL;
    if (*s == EB_OK) names = calloc((size_t)sts[0].n + 1, sizeof *names);
    if (*s == EB_OK && !names) *s = eb_fail(err, EB_ERR_NOMEM, "pack: out of memory");
    for (int k = 0; *s == EB_OK && n_tasks >= 2 && k < sts[0].n; k++) {
        const eb_st_tensor *t0 = &sts[0].tensors[k];
        char full[300];
        snprintf(full, sizeof full, "%s%s",
                 strncmp(t0->name, "albert.", 7) && strncmp(t0->name, "classifier.", 11) ? "albert."
                                                                                         : "",
                 t0->name);
        if (!is_backbone(full) || is_shared(full) >= 0) continue;
        float *x0 = tensor_f32(t0), *x1 = malloc(t0->numel * sizeof(float) + 1);
        int same = x0 && x1;
        for (int ti = 1; same && ti < n_tasks; ti++) {
            const eb_st_tensor *t1 = find_either(&sts[ti], full);
            same = t1 && t1->numel == t0->numel && t1->ndim == t0->ndim;
            for (int d = 0; same && d < t0->ndim; d++)
                same = t1->shape[d] == t0->shape[d];
            if (same) {
                eb_st_to_f32(t1, x1);
                same = !memcmp(x0, x1, t0->numel * sizeof(float));
            }
        }
        if (!x0 || !x1) *s = eb_fail(err, EB_ERR_NOMEM, "pack: out of memory");
        free(x0);
        free(x1);
        if (same && !(names[*n] = strdup(full)))
            *s = eb_fail(err, EB_ERR_NOMEM, "pack: out of memory");
        if (same && names[*n]) (*n)++;
    }
    for (int i = 0; i < opened && i < n_tasks; i++)
        if (sts[i].tensors) eb_st_close(&sts[i]);
    free(sts);
    return names;
}

static void free_names(char **names) {
    for (int i = 0; names && names[i]; i++)
        free(names[i]);
    free(names);
}

static int in_names(char *const *names, const char *name) {
    for (int i = 0; names && names[i]; i++)
        if (!strcmp(names[i], name)) return 1;
    return 0;
}

eb_pack_params eb_pack_params_default(void) {
    eb_pack_params p;
    memset(&p, 0, sizeof p);
    p.weights = EB_WEIGHTS_AF8;
    p.emb_keep = 1.0;
    return p;
}

/* ---- writer ----------------------------------------------------------- */

typedef struct blob_buf {
    uint8_t *data;
    size_t size, cap;
} blob_buf;

/* Append bytes at a 64-aligned offset; returns the offset or (size_t)-1. */
static size_t blob_add(blob_buf *b, const void *data, size_t n) {
    size_t off = ALIGN64(b->size);
    if (off + n > b->cap || !b->data) {
        size_t nc = b->cap ? b->cap : 1 << 20;
        while (nc < off + n) nc *= 2;
        uint8_t *p = realloc(b->data, nc);
        if (!p) return (size_t)-1;
        b->data = p;
        b->cap = nc;
    }
    memset(b->data + b->size, 0, off - b->size);
    if (n) memcpy(b->data + off, data, n);
    b->size = off + n;
    return off;
}

static cJSON *shape_json(int ndim, const int64_t *shape) {
    cJSON *a = cJSON_CreateArray();
    for (int d = 0; d < ndim; d++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)shape[d]));
    return a;
}

/* Store one tensor; returns its JSON descriptor or NULL (error set). */
static cJSON *store_tensor(blob_buf *b, const char *name, const float *x, int ndim,
                           const int64_t *shape, eb_weight_format wf, eb_error *err) {
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= (size_t)shape[d];
    cJSON *t = cJSON_CreateObject();
    cJSON_AddItemToObject(t, "shape", shape_json(ndim, shape));
    size_t off;
    if (wf == EB_WEIGHTS_F32 || ndim != 2) {
        off = blob_add(b, x, numel * sizeof(float));
        cJSON_AddStringToObject(t, "fmt", "f32");
        cJSON_AddNumberToObject(t, "bytes", (double)(numel * sizeof(float)));
    } else {
        int rows = (int)shape[0], cols = (int)shape[1];
        int bias = eb_af8_choose_bias(x, numel);
        eb_bitmask bm;
        if (eb_bitmask_encode_af8(&bm, x, rows, cols, bias, EB_AF8_NEAREST, NULL, err) != EB_OK) {
            cJSON_Delete(t);
            return NULL;
        }
        size_t mask_bytes = (size_t)rows * (size_t)bm.vpr * 2;
        size_t bm_bytes = ALIGN64(mask_bytes) + bm.nnz;
        cJSON_AddNumberToObject(t, "bias", bias);
        if (bm_bytes < numel) {
            uint8_t *tmp = calloc(1, bm_bytes ? bm_bytes : 1);
            if (!tmp) {
                eb_bitmask_free(&bm);
                cJSON_Delete(t);
                eb_fail(err, EB_ERR_NOMEM, "out of memory packing %s", name);
                return NULL;
            }
            memcpy(tmp, bm.masks, mask_bytes);
            memcpy(tmp + ALIGN64(mask_bytes), bm.values, bm.nnz);
            off = blob_add(b, tmp, bm_bytes);
            free(tmp);
            cJSON_AddStringToObject(t, "fmt", "af8_bm");
            cJSON_AddNumberToObject(t, "nnz", (double)bm.nnz);
            cJSON_AddNumberToObject(t, "bytes", (double)bm_bytes);
        } else {
            uint8_t *codes = malloc(numel);
            if (!codes) {
                eb_bitmask_free(&bm);
                cJSON_Delete(t);
                eb_fail(err, EB_ERR_NOMEM, "out of memory packing %s", name);
                return NULL;
            }
            eb_af8_encode(codes, x, numel, bias, EB_AF8_NEAREST);
            off = blob_add(b, codes, numel);
            free(codes);
            cJSON_AddStringToObject(t, "fmt", "af8");
            cJSON_AddNumberToObject(t, "bytes", (double)numel);
        }
        eb_bitmask_free(&bm);
    }
    if (off == (size_t)-1) {
        cJSON_Delete(t);
        eb_fail(err, EB_ERR_NOMEM, "out of memory packing %s", name);
        return NULL;
    }
    cJSON_AddNumberToObject(t, "off", (double)off);
    return t;
}

/* ---- sections and checksums ------------------------------------------- */

static int json_size(cJSON *o, const char *key, size_t max, size_t *out);

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* One payload section the JSON directory names: the tokenizer, a tensor, an
 * exit-predictor table.  Its checksum covers [off, end): its bytes and the
 * padding up to the next section (the last one: to the end of the file). */
typedef struct section {
    size_t off, bytes, end;
    cJSON *desc; /* its JSON descriptor, which holds "xxh3" */
    char what[200];
} section;

static int section_cmp(const void *a, const void *b) {
    const section *x = a, *y = b;
    if (x->off != y->off) return x->off < y->off ? -1 : 1;
    return x->bytes < y->bytes ? -1 : x->bytes > y->bytes;
}

static eb_status add_section(section *sec, int *n, int cap, cJSON *desc, size_t psize, const char *path,
                             eb_error *err, const char *fmt, ...) EB_PRINTF(8, 9);
static eb_status add_section(section *sec, int *n, int cap, cJSON *desc, size_t psize, const char *path,
                             eb_error *err, const char *fmt, ...) {
    if (*n >= cap) return eb_fail(err, EB_ERR_FORMAT, "%s: too many sections", path);
    section *x = &sec[*n];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->what, sizeof x->what, fmt, ap);
    va_end(ap);
    if (!cJSON_IsObject(desc) || !json_size(desc, "off", psize, &x->off) ||
        !json_size(desc, "bytes", psize, &x->bytes) || x->off + x->bytes > psize)
        return eb_fail(err, EB_ERR_FORMAT, "%s: %s needs off and bytes within the %zu-byte payload", path,
                       x->what, psize);
    x->desc = desc;
    (*n)++;
    return EB_OK;
}

/* Every section of the payload, sorted by offset, each with the end of its
 * checksummed range.  They must tile the payload as the writer lays it out
 * (the first at 0, each next one at the 64-aligned end of the one before,
 * the last ending with the file), so that the checksums cover every byte.
 * *out is allocated with `a` (NULL: libc). */
static eb_status payload_sections(cJSON *root, size_t psize, const char *path, const eb_allocator *a,
                                  section **out, int *n_out, eb_error *err) {
    *out = NULL;
    *n_out = 0;
    cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "tokenizer");
    cJSON *shared = cJSON_GetObjectItemCaseSensitive(root, "shared");
    cJSON *tasks = cJSON_GetObjectItemCaseSensitive(root, "tasks");
    if (!cJSON_IsObject(shared) || !cJSON_IsArray(tasks))
        return eb_fail(err, EB_ERR_FORMAT, "%s: header is not valid bundle JSON", path);
    size_t cap = 1 + (size_t)cJSON_GetArraySize(shared);
    for (cJSON *jt = tasks->child; jt; jt = jt->next) {
        cJSON *ten = cJSON_GetObjectItemCaseSensitive(jt, "tensors");
        cap += 1 + (size_t)(cJSON_IsObject(ten) ? cJSON_GetArraySize(ten) : 0);
    }
    if (cap > ((size_t)1 << 24)) return eb_fail(err, EB_ERR_FORMAT, "%s: too many sections", path);
    section *sec = eb_calloc(a, cap, sizeof *sec);
    if (!sec) return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", path);
    int n = 0, icap = (int)cap;
    eb_status s = EB_OK;
    if (tok) s = add_section(sec, &n, icap, tok, psize, path, err, "the tokenizer");
    for (cJSON *it = shared->child; it && s == EB_OK; it = it->next)
        s = add_section(sec, &n, icap, it, psize, path, err, "shared tensor '%.100s'", it->string);
    for (cJSON *jt = tasks->child; jt && s == EB_OK; jt = jt->next) {
        cJSON *nm = cJSON_GetObjectItemCaseSensitive(jt, "name");
        const char *tn = cJSON_IsString(nm) ? nm->valuestring : "?";
        cJSON *ten = cJSON_GetObjectItemCaseSensitive(jt, "tensors");
        if (!cJSON_IsObject(ten)) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s: a task needs name, config and tensors", path);
            break;
        }
        for (cJSON *it = ten->child; it && s == EB_OK; it = it->next)
            s = add_section(sec, &n, icap, it, psize, path, err, "tensor '%.100s' of task %.60s", it->string, tn);
        cJSON *lut = cJSON_GetObjectItemCaseSensitive(jt, "lut");
        if (lut && s == EB_OK)
            s = add_section(sec, &n, icap, lut, psize, path, err, "the exit-predictor table of task %.60s", tn);
    }
    if (s == EB_OK) qsort(sec, (size_t)n, sizeof *sec, section_cmp);
    size_t expect = 0;
    for (int i = 0; i < n && s == EB_OK; i++) {
        if (sec[i].off < expect)
            s = eb_fail(err, EB_ERR_FORMAT, "%s: %s overlaps %s", path, sec[i].what, sec[i - 1].what);
        else if (sec[i].off > expect)
            s = eb_fail(err, EB_ERR_FORMAT, "%s: payload bytes %zu..%zu before %s belong to no section", path,
                        expect, sec[i].off - 1, sec[i].what);
        expect = ALIGN64(sec[i].off + sec[i].bytes);
        sec[i].end = i + 1 < n ? sec[i + 1].off : psize;
    }
    if (s == EB_OK && (n ? sec[n - 1].off + sec[n - 1].bytes : 0) != psize)
        s = eb_fail(err, EB_ERR_FORMAT, "%s: the payload has %zu bytes after its last section", path,
                    psize - (n ? sec[n - 1].off + sec[n - 1].bytes : 0));
    if (s != EB_OK) {
        eb_free(a, sec);
        return s;
    }
    *out = sec;
    *n_out = n;
    return EB_OK;
}

/* A section's "xxh3": exactly 16 hex digits. */
static int parse_hex64(const cJSON *x, uint64_t *out) {
    if (!cJSON_IsString(x) || strlen(x->valuestring) != 16) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = x->valuestring[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return 0;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 1;
}

/* The current-version image of a directory `root` and its payload: every
 * section's "xxh3" (re)computed, "version" set, the fixed header with the
 * checksums of the JSON directory and of itself.  *out is malloc'ed. */
static eb_status build_image(const char *name, cJSON *root, const uint8_t *payload, size_t psize,
                             uint8_t **out, size_t *out_n, eb_error *err) {
    *out = NULL;
    *out_n = 0;
    section *sec;
    int n;
    eb_status s = payload_sections(root, psize, name, NULL, &sec, &n, err);
    if (s != EB_OK) return s;
    for (int i = 0; i < n; i++) {
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx",
                 (unsigned long long)eb_xxh3_64(payload + sec[i].off, sec[i].end - sec[i].off));
        cJSON_DeleteItemFromObjectCaseSensitive(sec[i].desc, "xxh3");
        cJSON_AddStringToObject(sec[i].desc, "xxh3", hex);
    }
    eb_free(NULL, sec);
    /* the format and version fields (in place when present: the packer writes them first) */
    const char *keys[2] = {"format", "version"};
    for (int k = 0; k < 2; k++) {
        cJSON *v = k ? cJSON_CreateNumber(EB_BUNDLE_VERSION) : cJSON_CreateString("edgebert-bundle");
        if (!v) return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", name);
        if (cJSON_GetObjectItemCaseSensitive(root, keys[k])) cJSON_ReplaceItemInObjectCaseSensitive(root, keys[k], v);
        else cJSON_AddItemToObject(root, keys[k], v);
    }
    char *hdr = cJSON_PrintUnformatted(root);
    if (!hdr) {
        free(hdr);
        return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", name);
    }
    size_t h = strlen(hdr), p = ALIGN64(FIXED_HEADER + h), total = p + psize;
    uint8_t *file = calloc(1, total);
    if (!file) {
        free(hdr);
        return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", name);
    }
    memcpy(file, EB_BUNDLE_MAGIC, 8);
    file[8] = (uint8_t)EB_BUNDLE_VERSION; /* u32 version, u32 flags = 0 */
    wr64(file + 16, h);
    wr64(file + 24, p);
    wr64(file + 32, total);
    memcpy(file + FIXED_HEADER, hdr, h);
    memset(file + FIXED_HEADER + h, ' ', p - FIXED_HEADER - h);
    if (psize) memcpy(file + p, payload, psize);
    wr64(file + 40, eb_xxh3_64(file + FIXED_HEADER, p - FIXED_HEADER));
    wr64(file + 56, eb_xxh3_64(file, 56));
    free(hdr);
    *out = file;
    *out_n = total;
    return EB_OK;
}

eb_status eb_bundle_pack(const char *out_path, const eb_pack_task *tasks, int n_tasks,
                         const eb_pack_params *params, eb_error *err) {
    eb_pack_params pp = params ? *params : eb_pack_params_default();
    if (n_tasks < 1) return eb_fail(err, EB_ERR_ARG, "pack: no tasks given");
    for (int i = 0; i < n_tasks; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(tasks[i].name, tasks[j].name))
                return eb_fail(err, EB_ERR_ARG, "pack: task name '%s' given twice", tasks[i].name);
    blob_buf b = {0};
    cJSON *root = cJSON_CreateObject(), *jtasks = cJSON_CreateArray(), *jshared = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", "edgebert-bundle");
    cJSON_AddNumberToObject(root, "version", EB_BUNDLE_VERSION);
    eb_status s = EB_OK;
    float *shared[N_SHARED] = {NULL};
    size_t shared_n[N_SHARED] = {0};
    int n_common = 0;
    char **common = common_backbone(tasks, n_tasks, &n_common, err, &s);
    if (s == EB_OK && n_common && pp.log)
        eb_log(pp.log, pp.log_ud, EB_LOG_INFO,
               "%d backbone tensors are identical in every task: stored once", n_common);
    for (int ti = 0; ti < n_tasks && s == EB_OK; ti++) {
        char path[1024];
        eb_safetensors st;
        eb_config cfg;
        eb_model_extras ex;
        snprintf(path, sizeof path, "%s/config.json", tasks[ti].dir);
        if ((s = eb_config_load(path, &cfg, &ex, err)) != EB_OK) break;
        if (ti == 0) {
            snprintf(path, sizeof path, "%s/spiece.model", tasks[ti].dir);
            char *spm;
            size_t spm_n;
            if ((s = eb_read_file(path, NULL, 64u << 20, &spm, &spm_n, err)) != EB_OK) break;
            size_t off = blob_add(&b, spm, spm_n);
            free(spm);
            cJSON *tk = cJSON_AddObjectToObject(root, "tokenizer");
            cJSON_AddNumberToObject(tk, "off", (double)off);
            cJSON_AddNumberToObject(tk, "bytes", (double)spm_n);
        }
        snprintf(path, sizeof path, "%s/model.safetensors", tasks[ti].dir);
        if ((s = eb_st_open(path, NULL, 1, &st, err)) != EB_OK) break;
        cJSON *jt = cJSON_CreateObject(), *jten = cJSON_CreateObject();
        cJSON_AddItemToArray(jtasks, jt);
        cJSON_AddStringToObject(jt, "name", tasks[ti].name);
        char *cj = eb_config_to_json(&cfg, &ex);
        cJSON_AddItemToObject(jt, "config", cJSON_Parse(cj));
        free(cj);
        cJSON_AddItemToObject(jt, "tensors", jten);
        for (int k = 0; k < st.n && s == EB_OK; k++) {
            const eb_st_tensor *t = &st.tensors[k];
            float *x = tensor_f32(t);
            if (!x) {
                s = eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            int si = is_shared(t->name);
            if (si >= 0) {
                if (ti == 0) {
                    if (si == 0 && pp.emb_keep < 1.0)
                        s = eb_prune_magnitude(x, t->numel, pp.emb_keep, NULL, NULL, err);
                    cJSON *d = s == EB_OK ? store_tensor(&b, shared_name(si), x, t->ndim, t->shape, pp.weights, err) : NULL;
                    if (!d) s = err->status ? err->status : EB_ERR_NOMEM;
                    else cJSON_AddItemToObject(jshared, shared_name(si), d);
                    shared[si] = x;
                    shared_n[si] = t->numel;
                    continue;
                }
                /* later tasks must carry the very same embeddings */
                int same = shared[si] && shared_n[si] == t->numel;
                if (same && !(si == 0 && pp.emb_keep < 1.0))
                    same = !memcmp(shared[si], x, t->numel * sizeof(float));
                free(x);
                if (!same && !pp.allow_different_embeddings)
                    s = eb_fail(err, EB_ERR_ARG,
                                "%s: '%s' differs from the first task's: bundle tasks must share frozen embeddings",
                                path, t->name);
                continue;
            }
            const char *nm = t->name;
            char full[300];
            if (strncmp(nm, "albert.", 7) && strncmp(nm, "classifier.", 11)) {
                snprintf(full, sizeof full, "albert.%s", nm);
                nm = full;
            }
            int common_one = in_names(common, nm);
            if (common_one && ti > 0) { /* stored once, with the first task */
                free(x);
                continue;
            }
            cJSON *d = store_tensor(&b, nm, x, t->ndim, t->shape, pp.weights, err);
            free(x);
            if (!d) s = err->status ? err->status : EB_ERR_NOMEM;
            else
                cJSON_AddItemToObject(common_one ? jshared : jten, nm, d);
        }
        eb_st_close(&st);
        if (s != EB_OK) break;
        /* optional exit predictor table */
        snprintf(path, sizeof path, "%s/exit_lut.csv", tasks[ti].dir);
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            eb_exit_lut lut;
            if ((s = eb_exit_lut_load(path, ex.predict_after, NULL, &lut, err)) != EB_OK) break;
            size_t bytes = sizeof(double) * (size_t)lut.rows * (size_t)lut.cols;
            size_t off = blob_add(&b, lut.data, bytes);
            cJSON *jl = cJSON_AddObjectToObject(jt, "lut");
            cJSON_AddNumberToObject(jl, "predict_after", lut.predict_after);
            cJSON_AddNumberToObject(jl, "rows", lut.rows);
            cJSON_AddNumberToObject(jl, "cols", lut.cols);
            cJSON_AddNumberToObject(jl, "off", (double)off);
            cJSON_AddNumberToObject(jl, "bytes", (double)bytes);
            eb_exit_lut_free(&lut);
        }
        if (pp.log) eb_log(pp.log, pp.log_ud, EB_LOG_INFO, "packed task %s from %s", tasks[ti].name, tasks[ti].dir);
    }
    for (int i = 0; i < N_SHARED; i++) free(shared[i]);
    free_names(common);
    if (s == EB_OK) {
        for (int i = 0; i < N_SHARED; i++)
            if (!cJSON_GetObjectItem(jshared, shared_name(i)))
                s = eb_fail(err, EB_ERR_FORMAT, "%s: the first task has no '%s'", tasks[0].dir, shared_name(i));
    }
    cJSON_AddItemToObject(root, "shared", jshared);
    cJSON_AddItemToObject(root, "tasks", jtasks);
    if (s == EB_OK) {
        uint8_t *file = NULL;
        size_t total = 0;
        s = build_image(out_path, root, b.data, b.size, &file, &total, err);
        if (s == EB_OK) s = eb_write_file_atomic(out_path, file, total, err);
        free(file);
    }
    cJSON_Delete(root);
    free(b.data);
    return s;
}

/* ---- reader ----------------------------------------------------------- */

int eb_bundle_is_bundle(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[8];
    int ok = fread(magic, 1, 8, f) == 8 && !memcmp(magic, EB_BUNDLE_MAGIC, 8);
    fclose(f);
    return ok;
}

typedef struct reader {
    eb_model *m;
    const char *path;
    const uint8_t *payload;
    size_t psize;
    eb_error *err;
    size_t decoded; /* fp32 bytes decoded so far, every task */
} reader;

/* Decoding never makes more than 32 bytes per payload byte (a bitmask is
 * one bit per value): more means tensors re-used by many tasks or shapes
 * the payload cannot back, a bomb; it is refused before allocating. */
#define MAX_EXPANSION 32

static int json_size(cJSON *o, const char *key, size_t max, size_t *out) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (double)max ||
        v->valuedouble != floor(v->valuedouble))
        return 0;
    *out = (size_t)v->valuedouble;
    return 1;
}

/* Decode one stored tensor into an eb_st_tensor (F32, owned by the model);
 * AF8 matrices also get a bitmask form in *bm_out (when not NULL). */
static eb_status decode_tensor(reader *R, const char *name, cJSON *d, eb_st_tensor *out,
                               struct eb_bitmask *bm_out, int *has_bm) {
    eb_error *err = R->err;
    memset(out, 0, sizeof *out);
    *has_bm = 0;
    cJSON *fmt = cJSON_GetObjectItemCaseSensitive(d, "fmt");
    cJSON *shape = cJSON_GetObjectItemCaseSensitive(d, "shape");
    size_t off, bytes;
    if (!cJSON_IsObject(d) || !cJSON_IsString(fmt) || !cJSON_IsArray(shape) ||
        !json_size(d, "off", R->psize, &off) || !json_size(d, "bytes", R->psize, &bytes))
        return eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' needs fmt, shape, off and bytes", R->path, name);
    if (off + bytes > R->psize || off % 64)
        return eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' lies outside the payload (offset %zu, %zu bytes of %zu)",
                       R->path, name, off, bytes, R->psize);
    int nd = cJSON_GetArraySize(shape);
    if (nd < 1 || nd > 2) return eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' must have 1 or 2 dimensions", R->path, name);
    size_t numel = 1;
    for (int i = 0; i < nd; i++) {
        cJSON *v = cJSON_GetArrayItem(shape, i);
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e9 || v->valuedouble != floor(v->valuedouble))
            return eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' has a bad shape", R->path, name);
        out->shape[i] = (int64_t)v->valuedouble;
        numel *= (size_t)out->shape[i];
        if (numel > MAX_TENSOR_ELEMS) return eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' is too large", R->path, name);
    }
    out->ndim = nd;
    out->numel = numel;
    out->dtype = EB_DTYPE_F32;
    out->nbytes = numel * sizeof(float);
    const uint8_t *src = R->payload + off;
    const char *f = fmt->valuestring;
    int rows = (int)out->shape[0], cols = nd == 2 ? (int)out->shape[1] : 1;
    size_t bias = 0, nnz = 0;
    int is_af8 = !strcmp(f, "af8") || !strcmp(f, "af8_bm"), is_bm = !strcmp(f, "f32_bm") || !strcmp(f, "af8_bm");
    if (!is_af8 && !is_bm && strcmp(f, "f32"))
        return eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' has unknown format '%.20s'", R->path, name, f);
    if (is_af8 && !json_size(d, "bias", 7, &bias))
        return eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' needs an AF8 bias in 0..7", R->path, name);
    size_t vpr = ((size_t)cols + 15) / 16, mask_bytes = (size_t)rows * vpr * 2, esz = is_af8 ? 1 : 4;
    if (is_bm) {
        if (!json_size(d, "nnz", numel, &nnz))
            return eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' needs nnz <= %zu", R->path, name, numel);
        if (bytes != ALIGN64(mask_bytes) + nnz * esz)
            return eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' has %zu bytes, its masks and %zu non-zeros need %zu",
                           R->path, name, bytes, nnz, ALIGN64(mask_bytes) + nnz * esz);
    } else if (bytes != numel * esz) {
        return eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' has %zu bytes, its shape needs %zu", R->path, name, bytes,
                       numel * esz);
    }
    if (R->decoded + numel * sizeof(float) > MAX_EXPANSION * R->psize + ((size_t)1 << 20))
        return eb_fail(err, EB_ERR_NOMEM, "%s: tensor '%.100s' would decode to more than %d times the %zu-byte payload",
                       R->path, name, MAX_EXPANSION, R->psize);
    R->decoded += numel * sizeof(float);
    float *x = eb_malloc_aligned(&R->m->alloc, numel * sizeof(float));
    if (!x || !eb_model_own(R->m, x)) {
        eb_free_aligned(&R->m->alloc, x);
        return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory for tensor '%.100s'", R->path, name);
    }
    out->data = (const uint8_t *)x;
    if (!is_bm) {
        if (is_af8) eb_af8_decode(x, src, numel, (int)bias);
        else memcpy(x, src, numel * sizeof(float));
        if (is_af8 && nd == 2 && bm_out) {
            if (eb_bitmask_encode_codes(bm_out, src, rows, cols, (int)bias, &R->m->alloc, err) != EB_OK)
                return eb_fail_prefix(err, "%s: tensor '%.100s'", R->path, name);
            *has_bm = 1;
        }
        return EB_OK;
    }
    if (nd != 2) { /* 1-D bitmask: treat as one row */
        cols = rows;
        rows = 1;
        vpr = ((size_t)cols + 15) / 16;
        if (bytes != ALIGN64((size_t)vpr * 2) + nnz * esz)
            return eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' has inconsistent sizes", R->path, name);
    }
    if (((uintptr_t)src & 1) != 0) return eb_fail(err, EB_ERR_FORMAT, "%s: misaligned masks", R->path);
    eb_bitmask tmp = {0};
    eb_bitmask *bm = bm_out ? bm_out : &tmp;
    const void *vals = src + ALIGN64((size_t)rows * vpr * 2);
    if (eb_bitmask_view(bm, rows, cols, is_af8 ? EB_BM_AF8 : EB_BM_F32, (int)bias, (const uint16_t *)src,
                        (size_t)rows * vpr, vals, nnz, &R->m->alloc, err) != EB_OK)
        return eb_fail_prefix(err, "%s: tensor '%.100s'", R->path, name);
    eb_status s = eb_bitmask_decode_f32(bm, x, err);
    if (s != EB_OK || !bm_out) eb_bitmask_free(bm);
    if (s != EB_OK) return eb_fail_prefix(err, "%s: tensor '%.100s'", R->path, name);
    *has_bm = bm_out != NULL;
    return EB_OK;
}

static void free_st_table(eb_model *m, eb_safetensors *st) {
    for (int i = 0; i < st->n; i++) eb_free(&m->alloc, st->tensors[i].name);
    eb_free(&m->alloc, st->tensors);
    st->tensors = NULL;
    st->n = 0;
}

/* Set lin->bm for every linear whose weight pointer has a bitmask form. */
static void attach_bitmasks(eb_model_task *t, const float *const *bm_w,
                            const eb_model_task *first) {
    eb_linear *lins[4096];
    int n = eb_albert_linears(&t->w, &t->cfg, lins, 4096);
    n = EB_MIN(n, 4096);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < t->n_bms; k++)
            if (lins[i]->w && lins[i]->w == bm_w[k]) lins[i]->bm = &t->bms[k];
    /* matrices of the shared backbone: the first task decoded them and holds
     * their stored forms */
    if (first && first != t) {
        eb_linear *f[4096];
        eb_albert_weights fw = first->w; /* a copy: the walk wants a writable view */
        int nf = eb_albert_linears(&fw, &first->cfg, f, 4096);
        nf = EB_MIN(nf, 4096);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < nf && !lins[i]->bm && lins[i]->w; k++)
                if (lins[i]->w == f[k]->w) lins[i]->bm = f[k]->bm;
    }
}

static eb_status load_task(reader *R, eb_model_task *t, cJSON *jt, cJSON *jshared) {
    eb_error *err = R->err;
    eb_model *m = R->m;
    cJSON *name = cJSON_GetObjectItemCaseSensitive(jt, "name");
    cJSON *cfg = cJSON_GetObjectItemCaseSensitive(jt, "config");
    cJSON *ten = cJSON_GetObjectItemCaseSensitive(jt, "tensors");
    if (!cJSON_IsString(name) || !cJSON_IsObject(cfg) || !cJSON_IsObject(ten))
        return eb_fail(err, EB_ERR_FORMAT, "%s: a task needs name, config and tensors", R->path);
    if (strlen(name->valuestring) == 0 || strlen(name->valuestring) >= EB_TASK_NAME_MAX)
        return eb_fail(err, EB_ERR_FORMAT, "%s: task name must have 1..%d characters", R->path, EB_TASK_NAME_MAX - 1);
    snprintf(t->name, sizeof t->name, "%s", name->valuestring);
    char *cj = cJSON_PrintUnformatted(cfg);
    if (!cj) return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", R->path);
    char where[600];
    snprintf(where, sizeof where, "%.400s (task %s config)", R->path, t->name);
    eb_status s = eb_config_parse(cj, strlen(cj), where, &t->cfg, &t->extras, err);
    free(cj);
    if (s != EB_OK) return s;
    int n_sh = cJSON_GetArraySize(jshared), n_t = cJSON_GetArraySize(ten), total = n_sh + n_t;
    eb_safetensors st;
    memset(&st, 0, sizeof st);
    st.tensors = eb_calloc(&m->alloc, (size_t)total + 1, sizeof *st.tensors);
    t->bms = eb_calloc(&m->alloc, (size_t)total + 1, sizeof(eb_bitmask));
    const float **bm_w = eb_calloc(&m->alloc, (size_t)total + 1, sizeof *bm_w);
    if (!st.tensors || !t->bms || !bm_w) {
        eb_free(&m->alloc, st.tensors);
        eb_free(&m->alloc, bm_w);
        return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", R->path);
    }
    cJSON *lists[2] = {jshared, ten};
    for (int li = 0; li < 2 && s == EB_OK; li++)
        for (cJSON *it = lists[li]->child; it && s == EB_OK; it = it->next) {
            int has_bm = 0;
            eb_st_tensor *dst = &st.tensors[st.n];
            /* shared tensors are decoded once and re-used by every task */
            const eb_st_tensor *prev = NULL;
            if (li == 0 && t != &m->tasks[0]) prev = eb_st_find(&m->st, it->string);
            if (prev) {
                *dst = *prev;
                dst->name = NULL;
            } else {
                s = decode_tensor(R, it->string, it, dst, &t->bms[t->n_bms], &has_bm);
                if (s != EB_OK) break;
                /* counted at once: freed with the task even if a later step fails */
                if (has_bm) bm_w[t->n_bms++] = (const float *)dst->data;
            }
            dst->name = eb_strdup(&m->alloc, it->string);
            if (!dst->name) {
                s = eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", R->path);
                break;
            }
            st.n++;
        }
    if (s == EB_OK && t == &m->tasks[0]) {
        /* remember the shared tensors for later tasks */
        m->st.tensors = eb_calloc(&m->alloc, (size_t)n_sh + 1, sizeof *m->st.tensors);
        if (!m->st.tensors) s = eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", R->path);
        for (int i = 0; s == EB_OK && i < n_sh && i < st.n; i++) {
            m->st.tensors[i] = st.tensors[i];
            m->st.tensors[i].name = eb_strdup(&m->alloc, st.tensors[i].name);
            m->st.n = i + 1;
        }
    }
    if (s == EB_OK) {
        loader L = {m, &st, err, where};
        eb_error_clear(err);
        s = eb_model_bind_task(&L, t);
        if (s == EB_OK) attach_bitmasks(t, bm_w, &m->tasks[0]);
    }
    free_st_table(m, &st);
    eb_free(&m->alloc, bm_w);
    if (s != EB_OK) return s;
    /* predictor table */
    cJSON *jl = cJSON_GetObjectItemCaseSensitive(jt, "lut");
    if (jl) {
        size_t rows, cols, off, bytes, pa;
        if (!json_size(jl, "rows", 100000, &rows) || !json_size(jl, "cols", EB_MAX_LAYERS + 1, &cols) ||
            !json_size(jl, "off", R->psize, &off) || !json_size(jl, "bytes", R->psize, &bytes) ||
            !json_size(jl, "predict_after", EB_MAX_LAYERS, &pa) || rows < 1 || cols < 2 || off % 8 ||
            bytes != rows * cols * sizeof(double) || off + bytes > R->psize)
            return eb_fail(err, EB_ERR_FORMAT, "%s: task %s has a malformed lut entry", R->path, t->name);
        t->lut = eb_malloc(&m->alloc, bytes); /* double[rows][cols] */
        if (!t->lut) return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", R->path);
        memcpy(t->lut, R->payload + off, bytes);
        t->lut_rows = (int)rows;
        t->lut_cols = (int)cols;
        t->lut_predict_after = (int)pa;
    }
    return EB_OK;
}

/* Decode a bundle image (a file's map or a caller's buffer); weights and
 * bitmask views point into it, so it must outlive the model. */
static eb_status load_image(eb_model *m, const char *path, const uint8_t *d, size_t size,
                            eb_error *err) {
    eb_status s = EB_OK;
    cJSON *root = NULL;
    if (size < FIXED_HEADER_V1 || memcmp(d, EB_BUNDLE_MAGIC, 8)) {
        s = eb_fail(err, EB_ERR_FORMAT, "%s: not an edgebert bundle (bad magic)", path);
        goto done;
    }
    uint32_t version = (uint32_t)d[8] | (uint32_t)d[9] << 8 | (uint32_t)d[10] << 16 | (uint32_t)d[11] << 24;
    uint32_t flags = (uint32_t)d[12] | (uint32_t)d[13] << 8 | (uint32_t)d[14] << 16 | (uint32_t)d[15] << 24;
    if (version != EB_BUNDLE_VERSION && version != 1) {
        s = eb_fail(err, EB_ERR_FORMAT, "%s: bundle format version %u, this edgebert reads versions 1 to %d", path,
                    version, EB_BUNDLE_VERSION);
        goto done;
    }
    const size_t fixed = version == 1 ? FIXED_HEADER_V1 : FIXED_HEADER;
    if (size < fixed) {
        s = eb_fail(err, EB_ERR_FORMAT, "%s: file has %zu bytes, less than the %zu-byte fixed header (truncated?)",
                    path, size, fixed);
        goto done;
    }
    if (version >= 2) {
        if (rd64(d + 56) != eb_xxh3_64(d, 56)) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s: checksum mismatch in the fixed header (bytes 0..63): the file is corrupt",
                        path);
            goto done;
        }
        if (flags != 0 || rd64(d + 48) != 0) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s: fixed header has unknown flags 0x%x or a non-zero reserved field", path,
                        flags);
            goto done;
        }
    }
    uint64_t h = rd64(d + 16), p = rd64(d + 24), total = rd64(d + 32);
    if (total != size) {
        s = eb_fail(err, EB_ERR_FORMAT, "%s: file has %zu bytes but its header says %llu (truncated?)", path, size,
                    (unsigned long long)total);
        goto done;
    }
    if (h > MAX_HEADER_BYTES || h > size - fixed || p < fixed + h || p > size || p % 64) {
        s = eb_fail(err, EB_ERR_FORMAT, "%s: header length or payload offset out of range", path);
        goto done;
    }
    if (version >= 2 && rd64(d + 40) != eb_xxh3_64(d + fixed, (size_t)p - fixed)) {
        s = eb_fail(err, EB_ERR_FORMAT,
                    "%s: checksum mismatch in the JSON header (bytes %zu..%llu): the file is corrupt", path, fixed,
                    (unsigned long long)p - 1);
        goto done;
    }
    root = cJSON_ParseWithLength((const char *)d + fixed, (size_t)h);
    cJSON *tasks = root ? cJSON_GetObjectItemCaseSensitive(root, "tasks") : NULL;
    cJSON *shared = root ? cJSON_GetObjectItemCaseSensitive(root, "shared") : NULL;
    cJSON *tok = root ? cJSON_GetObjectItemCaseSensitive(root, "tokenizer") : NULL;
    if (!cJSON_IsObject(root) || !cJSON_IsArray(tasks) || !cJSON_IsObject(shared)) {
        s = eb_fail(err, EB_ERR_FORMAT, "%s: header is not valid bundle JSON", path);
        goto done;
    }
    cJSON *jfmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    cJSON *jver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsString(jfmt) || strcmp(jfmt->valuestring, "edgebert-bundle")) {
        s = eb_fail(err, EB_ERR_FORMAT, "%s: header field \"format\" is %s%.40s%s, not \"edgebert-bundle\"", path,
                    cJSON_IsString(jfmt) ? "\"" : "", cJSON_IsString(jfmt) ? jfmt->valuestring : "missing",
                    cJSON_IsString(jfmt) ? "\"" : "");
        goto done;
    }
    if (!cJSON_IsNumber(jver) || jver->valuedouble != (double)version) {
        s = eb_fail(err, EB_ERR_FORMAT, "%s: header field \"version\" is %s%g, but the fixed header says version %u",
                    path, cJSON_IsNumber(jver) ? "" : "missing or not a number: ",
                    cJSON_IsNumber(jver) ? jver->valuedouble : 0.0, version);
        goto done;
    }
    if (version >= 2) {
        /* every payload byte belongs to a section whose checksum must match */
        section *sec;
        int n_sec;
        s = payload_sections(root, size - (size_t)p, path, &m->alloc, &sec, &n_sec, err);
        if (s != EB_OK) goto done;
        for (int i = 0; i < n_sec && s == EB_OK; i++) {
            cJSON *x = cJSON_GetObjectItemCaseSensitive(sec[i].desc, "xxh3");
            uint64_t want = 0;
            if (!parse_hex64(x, &want))
                s = eb_fail(err, EB_ERR_FORMAT, "%s: %s has no checksum (\"xxh3\": 16 hex digits)", path,
                            sec[i].what);
            else if (eb_xxh3_64(d + p + sec[i].off, sec[i].end - sec[i].off) != want)
                s = eb_fail(err, EB_ERR_FORMAT, "%s: checksum mismatch in %s (bytes %llu..%llu): the file is corrupt",
                            path, sec[i].what, (unsigned long long)(p + sec[i].off),
                            (unsigned long long)(p + sec[i].end) - 1);
        }
        eb_free(&m->alloc, sec);
        if (s != EB_OK) goto done;
    } else {
        eb_log(m->log, m->log_ud, EB_LOG_WARN,
               "%s: bundle format version 1 has no checksums, so damage to the file cannot be detected "
               "(`edgebert pack --from %s -o NEW.ebb` rewrites it with them)",
               path, path);
    }
    int nt = cJSON_GetArraySize(tasks);
    if (nt < 1 || nt > 256) {
        s = eb_fail(err, EB_ERR_FORMAT, "%s: bundle has %d tasks (1..256)", path, nt);
        goto done;
    }
    reader R = {m, path, d + p, size - (size_t)p, err, 0};
    m->tasks = eb_calloc(&m->alloc, (size_t)nt, sizeof *m->tasks);
    if (!m->tasks) {
        s = eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    m->n_tasks = 0;
    for (cJSON *jt = tasks->child; jt && s == EB_OK; jt = jt->next) {
        s = load_task(&R, &m->tasks[m->n_tasks], jt, shared);
        m->n_tasks++;
        for (int k = 0; s == EB_OK && k < m->n_tasks - 1; k++)
            if (!strcmp(m->tasks[k].name, m->tasks[m->n_tasks - 1].name))
                s = eb_fail(err, EB_ERR_FORMAT, "%s: task '%s' appears twice", path, m->tasks[k].name);
    }
    if (s == EB_OK && tok) {
        size_t off, bytes;
        if (!json_size(tok, "off", R.psize, &off) || !json_size(tok, "bytes", R.psize, &bytes) || off + bytes > R.psize)
            s = eb_fail(err, EB_ERR_FORMAT, "%s: tokenizer entry out of range", path);
        else {
            char nm[600];
            snprintf(nm, sizeof nm, "%.500s (tokenizer)", path);
            s = eb_tokenizer_load_buffer(R.payload + off, bytes, nm, &m->alloc, &m->tok, err);
            m->spm = R.payload + off;
            m->spm_bytes = bytes;
        }
    }
done:
    cJSON_Delete(root);
    return s;
}

eb_status eb_bundle_load(eb_model *m, const char *path, int use_mmap, eb_error *err) {
    m->st.alloc = &m->alloc; /* the shared-tensor table and the image come from it */
    eb_file_map map;
    eb_status s = eb_file_map_open(path, &m->alloc, use_mmap, &map, err);
    if (s != EB_OK) return s;
    s = load_image(m, path, map.data, map.size, err);
    /* bitmask views point into the image: it lives as long as the model */
    if (s == EB_OK) m->st.map = map;
    else eb_file_map_close(&m->alloc, &map);
    return s;
}

eb_status eb_bundle_load_buffer(eb_model *m, const char *name, const void *data, size_t size,
                                eb_error *err) {
    m->st.alloc = &m->alloc; /* m->st.map stays empty: the caller owns the image */
    if (!data) return eb_fail(err, EB_ERR_ARG, "%s: no bundle image given", name);
    return load_image(m, name, data, size, err);
}

/* ---- rewriting -------------------------------------------------------- */

eb_status eb_bundle_reseal(const char *name, const uint8_t *d, size_t size, uint8_t **out, size_t *out_n,
                           eb_error *err) {
    *out = NULL;
    *out_n = 0;
    if (size < FIXED_HEADER_V1 || memcmp(d, EB_BUNDLE_MAGIC, 8))
        return eb_fail(err, EB_ERR_FORMAT, "%s: not an edgebert bundle (bad magic)", name);
    uint32_t version = (uint32_t)d[8] | (uint32_t)d[9] << 8 | (uint32_t)d[10] << 16 | (uint32_t)d[11] << 24;
    if (version != 1 && version != EB_BUNDLE_VERSION)
        return eb_fail(err, EB_ERR_FORMAT, "%s: bundle format version %u, this edgebert reads versions 1 to %d", name,
                       version, EB_BUNDLE_VERSION);
    const size_t fixed = version == 1 ? FIXED_HEADER_V1 : FIXED_HEADER;
    uint64_t h = size >= fixed ? rd64(d + 16) : 0, p = size >= fixed ? rd64(d + 24) : 0;
    if (size < fixed || h > MAX_HEADER_BYTES || h > size - fixed || p < fixed + h || p > size || p % 64)
        return eb_fail(err, EB_ERR_FORMAT, "%s: header length or payload offset out of range", name);
    cJSON *root = cJSON_ParseWithLength((const char *)d + fixed, (size_t)h);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return eb_fail(err, EB_ERR_FORMAT, "%s: header is not valid bundle JSON", name);
    }
    eb_status s = build_image(name, root, d + p, size - (size_t)p, out, out_n, err);
    cJSON_Delete(root);
    return s;
}

eb_status eb_bundle_rewrite(const char *in_path, const char *out_path, eb_log_fn log, void *log_ud,
                            eb_error *err) {
    /* the whole model is decoded and checked first (and a version 2 input's
     * checksums): a damaged file is refused, never given new checksums */
    eb_load_params lp = eb_load_params_default();
    lp.log = log;
    lp.log_ud = log_ud;
    lp.pack_weights = 0;
    eb_model *m = NULL;
    eb_status s = eb_model_load(in_path, &lp, &m, err);
    if (s != EB_OK) return s;
    eb_model_free(m);
    if (!eb_bundle_is_bundle(in_path)) return eb_fail(err, EB_ERR_ARG, "%s: not an edgebert bundle", in_path);
    char *d;
    size_t n;
    if ((s = eb_read_file(in_path, NULL, (size_t)1 << 33, &d, &n, err)) != EB_OK) return s;
    uint8_t *img;
    size_t img_n;
    s = eb_bundle_reseal(in_path, (const uint8_t *)d, n, &img, &img_n, err);
    free(d);
    if (s == EB_OK) s = eb_write_file_atomic(out_path, img, img_n, err);
    free(img);
    return s;
}
