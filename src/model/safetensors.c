/* safetensors.c - validated safetensors reader and atomic writer. */
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t dtype_size(eb_dtype d) {
    return d == EB_DTYPE_F32 ? 4 : 2;
}

static int parse_dtype(const char *s, eb_dtype *d) {
    if (!strcmp(s, "F32")) *d = EB_DTYPE_F32;
    else if (!strcmp(s, "F16")) *d = EB_DTYPE_F16;
    else if (!strcmp(s, "BF16")) *d = EB_DTYPE_BF16;
    else return 0;
    return 1;
}

typedef struct range_ix {
    size_t begin, end;
    int idx;
} range_ix;

static int cmp_range(const void *a, const void *b) {
    const range_ix *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

void eb_st_close(eb_safetensors *st) {
    if (!st) return;
    if (st->tensors) {
        for (int i = 0; i < st->n; i++) eb_free(st->alloc, st->tensors[i].name);
        eb_free(st->alloc, st->tensors);
    }
    eb_file_map_close(st->alloc, &st->map);
    st->tensors = NULL;
    st->n = 0;
}

eb_status eb_st_parse(const uint8_t *data, size_t size, const char *name, const eb_allocator *a,
                      eb_safetensors *st, eb_error *err) {
    memset(st, 0, sizeof *st);
    st->alloc = a;
    snprintf(st->path, sizeof st->path, "%s", name);
    if (size < 8) return eb_fail(err, EB_ERR_FORMAT, "%s: file too short (%zu bytes) for a safetensors header", name, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | data[i];
    if (hlen > size - 8 || hlen > (100u << 20))
        return eb_fail(err, EB_ERR_FORMAT, "%s: header length %llu exceeds the file (%zu bytes)", name,
                       (unsigned long long)hlen, size);
    const uint8_t *payload = data + 8 + hlen;
    size_t psize = size - 8 - (size_t)hlen;
    cJSON *root = cJSON_ParseWithLength((const char *)data + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return eb_fail(err, EB_ERR_FORMAT, "%s: header is not a JSON object", name);
    }
    int count = 0;
    for (cJSON *it = root->child; it; it = it->next)
        if (strcmp(it->string, "__metadata__")) count++;
    st->tensors = eb_calloc(a, (size_t)(count ? count : 1), sizeof *st->tensors);
    range_ix *ranges = eb_calloc(a, (size_t)(count ? count : 1), sizeof *ranges);
    if (!st->tensors || !ranges) {
        cJSON_Delete(root);
        eb_free(a, ranges);
        eb_st_close(st);
        return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory for %d tensors", name, count);
    }
    eb_status s = EB_OK;
    for (cJSON *it = root->child; it && s == EB_OK; it = it->next) {
        if (!strcmp(it->string, "__metadata__")) continue;
        eb_st_tensor *t = &st->tensors[st->n];
        const char *tn = it->string;
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
        cJSON *off = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsObject(it) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off) ||
            cJSON_GetArraySize(off) != 2) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' needs dtype, shape and two data_offsets", name, tn);
            break;
        }
        if (!parse_dtype(dt->valuestring, &t->dtype)) {
            s = eb_fail(err, EB_ERR_UNSUPPORTED, "%s: tensor '%.100s' has dtype %.20s (F32, F16, BF16 supported)", name, tn,
                        dt->valuestring);
            break;
        }
        int nd = cJSON_GetArraySize(sh);
        if (nd > EB_ST_MAX_DIMS) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' has %d dimensions (at most %d)", name, tn, nd, EB_ST_MAX_DIMS);
            break;
        }
        size_t numel = 1;
        t->ndim = nd;
        for (int d = 0; d < nd; d++) {
            cJSON *v = cJSON_GetArrayItem(sh, d);
            if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 4e9 ||
                v->valuedouble != (double)(int64_t)v->valuedouble) {
                s = eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' has a bad shape entry", name, tn);
                break;
            }
            t->shape[d] = (int64_t)v->valuedouble;
            if (!eb_mul_size(numel, (size_t)t->shape[d], &numel)) {
                s = eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' shape overflows", name, tn);
                break;
            }
        }
        if (s != EB_OK) break;
        cJSON *b0 = cJSON_GetArrayItem(off, 0), *b1 = cJSON_GetArrayItem(off, 1);
        if (!cJSON_IsNumber(b0) || !cJSON_IsNumber(b1) || b0->valuedouble < 0 ||
            b1->valuedouble < b0->valuedouble || b1->valuedouble > (double)psize) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' data_offsets out of range (payload is %zu bytes)", name, tn,
                        psize);
            break;
        }
        size_t beg = (size_t)b0->valuedouble, end = (size_t)b1->valuedouble, nbytes;
        if (!eb_mul_size(numel, dtype_size(t->dtype), &nbytes) || nbytes != end - beg) {
            s = eb_fail(err, EB_ERR_FORMAT, "%s: tensor '%.100s' shape needs %zu bytes but data_offsets give %zu", name,
                        tn, numel * dtype_size(t->dtype), end - beg);
            break;
        }
        t->name = eb_strdup(a, tn);
        if (!t->name) {
            s = eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", name);
            break;
        }
        t->numel = numel;
        t->nbytes = nbytes;
        t->data = payload + beg;
        ranges[st->n] = (range_ix){beg, end, st->n};
        st->n++;
    }
    cJSON_Delete(root);
    if (s == EB_OK && st->n > 1) {
        qsort(ranges, (size_t)st->n, sizeof *ranges, cmp_range);
        for (int i = 1; i < st->n; i++)
            if (ranges[i].begin < ranges[i - 1].end) {
                s = eb_fail(err, EB_ERR_FORMAT, "%s: tensors '%.100s' and '%.100s' overlap", name,
                            st->tensors[ranges[i - 1].idx].name, st->tensors[ranges[i].idx].name);
                break;
            }
    }
    eb_free(a, ranges);
    if (s != EB_OK) eb_st_close(st);
    return s;
}

eb_status eb_st_open(const char *path, const eb_allocator *a, int use_mmap, eb_safetensors *st,
                     eb_error *err) {
    eb_file_map m;
    eb_status s = eb_file_map_open(path, a, use_mmap, &m, err);
    if (s != EB_OK) return s;
    s = eb_st_parse(m.data, m.size, path, a, st, err);
    if (s != EB_OK) {
        eb_file_map_close(a, &m);
        return s;
    }
    st->map = m;
    return EB_OK;
}

const eb_st_tensor *eb_st_find(const eb_safetensors *st, const char *name) {
    for (int i = 0; i < st->n; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

void eb_st_to_f32(const eb_st_tensor *t, float *out) {
    const uint8_t *p = t->data;
    for (size_t i = 0; i < t->numel; i++) {
        if (t->dtype == EB_DTYPE_F32) {
            memcpy(&out[i], p + 4 * i, 4); /* little-endian host */
        } else {
            uint16_t h = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
            out[i] = t->dtype == EB_DTYPE_F16 ? eb_f16_to_f32(h) : eb_bf16_to_f32(h);
        }
    }
}

eb_status eb_st_write(const char *path, const eb_st_entry *entries, int n, eb_dtype dtype,
                      const char *metadata_json, eb_error *err) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", path);
    if (metadata_json) {
        cJSON *md = cJSON_Parse(metadata_json);
        if (md) cJSON_AddItemToObject(root, "__metadata__", md);
    }
    size_t off = 0, esz = dtype_size(dtype);
    const char *dname = dtype == EB_DTYPE_F32 ? "F32" : dtype == EB_DTYPE_F16 ? "F16" : "BF16";
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        cJSON *t = cJSON_CreateObject(), *sh = cJSON_CreateArray(), *of = cJSON_CreateArray();
        for (int d = 0; d < entries[i].ndim; d++) {
            numel *= (size_t)entries[i].shape[d];
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)entries[i].shape[d]));
        }
        cJSON_AddItemToObject(t, "dtype", cJSON_CreateString(dname));
        cJSON_AddItemToObject(t, "shape", sh);
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        off += numel * esz;
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToObject(t, "data_offsets", of);
        cJSON_AddItemToObject(root, entries[i].name, t);
    }
    char *hdr = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!hdr) return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", path);
    size_t hl = strlen(hdr), pad = (8 - (8 + hl) % 8) % 8; /* align payload to 8 */
    size_t total = 8 + hl + pad + off;
    uint8_t *buf = malloc(total);
    if (!buf) {
        free(hdr);
        return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, total);
    }
    uint64_t L = hl + pad;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(L >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    memset(buf + 8 + hl, ' ', pad);
    free(hdr);
    uint8_t *p = buf + 8 + L;
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < entries[i].ndim; d++) numel *= (size_t)entries[i].shape[d];
        for (size_t j = 0; j < numel; j++) {
            float v = entries[i].data[j];
            if (dtype == EB_DTYPE_F32) {
                memcpy(p, &v, 4);
            } else {
                uint16_t h = dtype == EB_DTYPE_F16 ? eb_f32_to_f16(v) : eb_f32_to_bf16(v);
                p[0] = (uint8_t)h;
                p[1] = (uint8_t)(h >> 8);
            }
            p += esz;
        }
    }
    eb_status s = eb_write_file_atomic(path, buf, total, err);
    free(buf);
    return s;
}
