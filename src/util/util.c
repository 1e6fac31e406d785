/* util.c - errors, allocation, files, logging, UTF-8, half floats. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *eb_status_name(eb_status s) {
    switch (s) {
    case EB_OK: return "ok";
    case EB_ERR_IO: return "I/O error";
    case EB_ERR_FORMAT: return "format error";
    case EB_ERR_ARG: return "invalid argument";
    case EB_ERR_NOMEM: return "out of memory";
    case EB_ERR_INPUT: return "invalid input";
    case EB_ERR_UNSUPPORTED: return "unsupported";
    case EB_ERR_NUMERIC: return "numeric error";
    case EB_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

eb_status eb_fail(eb_error *err, eb_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = status;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

eb_status eb_fail_prefix(eb_error *err, const char *fmt, ...) {
    if (!err) return EB_ERR_ARG;
    char prefix[EB_ERROR_MSG_MAX], old[EB_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = 0;
    snprintf(err->msg, sizeof err->msg, "%.200s: %.300s", prefix, old);
    return err->status;
}

void eb_error_clear(eb_error *err) {
    if (err) {
        err->status = EB_OK;
        err->msg[0] = 0;
    }
}

void *eb_malloc(const eb_allocator *a, size_t size) {
    if (size == 0) size = 1;
    if (a && a->alloc) return a->alloc(a->ud, size);
    return malloc(size);
}

void *eb_calloc(const eb_allocator *a, size_t count, size_t size) {
    size_t total;
    if (!eb_mul_size(count, size, &total)) return NULL;
    void *p = eb_malloc(a, total);
    if (p) memset(p, 0, total ? total : 1);
    return p;
}

void *eb_realloc(const eb_allocator *a, void *p, size_t size) {
    if (size == 0) size = 1;
    if (a && a->realloc) return a->realloc(a->ud, p, size);
    if (a && a->alloc) return NULL; /* user allocator without realloc */
    return realloc(p, size);
}

void eb_free(const eb_allocator *a, void *p) {
    if (!p) return;
    if (a && a->free) a->free(a->ud, p);
    else free(p);
}

/* Aligned blocks keep the raw pointer just before the aligned address. */
void *eb_malloc_aligned(const eb_allocator *a, size_t size) {
    if (size > SIZE_MAX - 64 - sizeof(void *)) return NULL;
    uint8_t *raw = eb_malloc(a, size + 64 + sizeof(void *));
    if (!raw) return NULL;
    uintptr_t p = ((uintptr_t)(raw + sizeof(void *)) + 63) & ~(uintptr_t)63;
    ((void **)p)[-1] = raw;
    return (void *)p;
}

void eb_free_aligned(const eb_allocator *a, void *p) {
    if (p) eb_free(a, ((void **)p)[-1]);
}

char *eb_strdup(const eb_allocator *a, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = eb_malloc(a, n);
    if (d) memcpy(d, s, n);
    return d;
}

int eb_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

eb_status eb_read_file(const char *path, const eb_allocator *a, size_t max_size, char **data,
                       size_t *size, eb_error *err) {
    if (max_size == 0) max_size = (size_t)1 << 30;
    FILE *f = fopen(path, "rb");
    if (!f) return eb_fail(err, EB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return eb_fail(err, EB_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_size) {
        fclose(f);
        return eb_fail(err, EB_ERR_FORMAT, "%s: file is %lld bytes, more than the %zu accepted",
                       path, (long long)st.st_size, max_size);
    }
    size_t n = (size_t)st.st_size;
    char *buf = eb_malloc(a, n + 1);
    if (!buf) {
        fclose(f);
        return eb_fail(err, EB_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    fclose(f);
    if (got != n) {
        eb_free(a, buf);
        return eb_fail(err, EB_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = 0;
    *data = buf;
    *size = n;
    return EB_OK;
}

eb_status eb_file_map_open(const char *path, const eb_allocator *a, int use_mmap,
                           eb_file_map *out, eb_error *err) {
    memset(out, 0, sizeof *out);
    if (use_mmap) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) return eb_fail(err, EB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            return eb_fail(err, EB_ERR_IO, "%s: not a regular file", path);
        }
        if (st.st_size == 0) {
            close(fd);
            out->data = (const uint8_t *)"";
            out->size = 0;
            out->mapped = 2; /* nothing to release */
            return EB_OK;
        }
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (p != MAP_FAILED) {
            out->data = p;
            out->size = (size_t)st.st_size;
            out->mapped = 1;
            return EB_OK;
        }
        /* fall through to reading */
    }
    char *buf;
    size_t n;
    eb_status s = eb_read_file(path, a, (size_t)1 << 34, &buf, &n, err);
    if (s != EB_OK) return s;
    out->data = (const uint8_t *)buf;
    out->size = n;
    out->mapped = 0;
    return EB_OK;
}

void eb_file_map_close(const eb_allocator *a, eb_file_map *m) {
    if (!m->data) return;
    if (m->mapped == 1) munmap((void *)m->data, m->size);
    else if (m->mapped == 0) eb_free(a, (void *)m->data);
    memset(m, 0, sizeof *m);
}

eb_status eb_write_file_atomic(const char *path, const void *data, size_t size, eb_error *err) {
    size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    if (!tmp) return eb_fail(err, EB_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, len + 16, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        eb_status s = eb_fail(err, EB_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return s;
    }
    size_t put = size ? fwrite(data, 1, size, f) : 0;
    int ok = put == size && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        eb_status s = eb_fail(err, EB_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return s;
    }
    free(tmp);
    return EB_OK;
}

void eb_log(eb_log_fn fn, void *ud, eb_log_level level, const char *fmt, ...) {
    if (!fn) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fn(ud, level, buf);
}

int eb_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
        else return 0;
        if (i + (size_t)len > n) return 0;
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += (size_t)len;
    }
    return 1;
}

float eb_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3FF) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7F800000u | (man << 13);
    else bits = sign | ((exp + 112) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float eb_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t eb_f32_to_bf16(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    if ((b & 0x7F800000u) == 0x7F800000u && (b & 0x7FFFFF)) return (uint16_t)((b >> 16) | 0x40);
    b += 0x7FFF + ((b >> 16) & 1); /* round half to even */
    return (uint16_t)(b >> 16);
}

uint16_t eb_f32_to_f16(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    uint16_t sign = (uint16_t)((b >> 16) & 0x8000);
    int32_t exp = (int32_t)((b >> 23) & 0xFF) - 127 + 15;
    uint32_t man = b & 0x7FFFFF;
    if (((b >> 23) & 0xFF) == 0xFF) return sign | 0x7C00 | (man ? 0x200 : 0);
    if (exp >= 31) return sign | 0x7C00;
    if (exp <= 0) {
        if (exp < -10) return sign;
        man |= 0x800000;
        int shift = 14 - exp;
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return sign | (uint16_t)half;
    }
    uint32_t half = ((uint32_t)exp << 10) | (man >> 13);
    uint32_t rem = man & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return sign | (uint16_t)half;
}

void eb_strbuf_printf(eb_strbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->n + (size_t)k + 1) nc *= 2;
        char *np = eb_realloc(b->a, b->s, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->s = np;
        b->cap = nc;
    }
}

const char *eb_join_names(char *buf, size_t cap, int n, const char *(*name)(int i),
                          const char *sep, const char *last) {
    if (!cap) return buf;
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s", i == 0 ? "" : (i == n - 1 && last) ? last : sep,
                 name(i));
    }
    return buf;
}
