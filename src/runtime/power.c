/* power.c - power backends: the simulated accelerator and Linux cpufreq
 * (userspace governor through sysfs). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgebert/runtime.h"
#include "util/util.h"

static eb_status sim_set(void *ud, double vdd, double f, eb_error *err) {
    eb_power_sim_state *s = ud;
    if (vdd != s->vdd || f != s->freq_mhz) s->changes++;
    s->vdd = vdd;
    s->freq_mhz = f;
    return EB_OK;
}

eb_power_backend eb_power_sim_make(eb_power_sim_state *st) {
    eb_power_backend b;
    memset(st, 0, sizeof *st);
    b.name = "sim";
    b.ud = st;
    b.set = sim_set;
    b.close = NULL;
    return b;
}

/* ------------------------------------------------------------------ */
/* cpufreq                                                             */
/* ------------------------------------------------------------------ */

#define CPUFREQ_MAX_FREQS 128

typedef struct cpufreq {
    const eb_allocator *alloc;
    char dir[400];
    long freqs_khz[CPUFREQ_MAX_FREQS];
    int nfreqs;
    long min_khz, max_khz;
    long last_khz;
} cpufreq;

static eb_status read_small(const char *path, char *buf, size_t cap, eb_error *err) {
    FILE *f = fopen(path, "r");
    if (!f) return eb_fail(err, EB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t n = fread(buf, 1, cap - 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) return eb_fail(err, EB_ERR_IO, "%s: read error", path);
    buf[n] = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    return EB_OK;
}

static eb_status write_small(const char *path, const char *text, eb_error *err) {
    FILE *f = fopen(path, "w");
    if (!f)
        return eb_fail(err, EB_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    int bad = fputs(text, f) < 0;
    bad |= fclose(f) != 0;
    if (bad) return eb_fail(err, EB_ERR_IO, "%s: write failed", path);
    return EB_OK;
}

static eb_status read_khz(const char *path, long *out, eb_error *err) {
    char buf[64];
    eb_status st = read_small(path, buf, sizeof buf, err);
    if (st) return st;
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (end == buf || *end || errno || v <= 0)
        return eb_fail(err, EB_ERR_FORMAT, "%s: expected a frequency in kHz, got '%.40s'", path,
                       buf);
    *out = v;
    return EB_OK;
}

static eb_status cpufreq_set(void *ud, double vdd, double freq_mhz, eb_error *err) {
    cpufreq *c = ud;
    long want = (long)(freq_mhz * 1000 + 0.5);
    long pick = c->max_khz;
    if (c->nfreqs > 0) {
        long best = -1;
        for (int i = 0; i < c->nfreqs; i++) {
            long f = c->freqs_khz[i];
            if (f < c->min_khz || f > c->max_khz) continue;
            if (f >= want && (best < 0 || f < best)) best = f;
        }
        if (best > 0) pick = best;
    } else {
        pick = want;
    }
    if (pick < c->min_khz) pick = c->min_khz;
    if (pick > c->max_khz) pick = c->max_khz;
    if (pick == c->last_khz) return EB_OK;
    char path[512], val[32];
    snprintf(path, sizeof path, "%s/scaling_setspeed", c->dir);
    snprintf(val, sizeof val, "%ld\n", pick);
    eb_status st = write_small(path, val, err);
    if (st) return st;
    c->last_khz = pick;
    return EB_OK;
}

static void cpufreq_close(void *ud) {
    cpufreq *c = ud;
    if (c) eb_free(c->alloc, c);
}

eb_status eb_power_cpufreq_open(const char *root, int cpu, const eb_allocator *alloc,
                                eb_power_backend *out, eb_error *err) {
    memset(out, 0, sizeof *out);
    if (!root || cpu < 0) return eb_fail(err, EB_ERR_ARG, "cpufreq: bad root or cpu");
    cpufreq *c = eb_calloc(alloc, 1, sizeof *c);
    if (!c) return eb_fail(err, EB_ERR_NOMEM, "cpufreq: out of memory");
    c->alloc = alloc;
    int k = snprintf(c->dir, sizeof c->dir, "%s/devices/system/cpu/cpu%d/cpufreq", root, cpu);
    eb_status st = EB_OK;
    char path[512], buf[4096];
    if (k < 0 || (size_t)k >= sizeof c->dir) {
        st = eb_fail(err, EB_ERR_ARG, "cpufreq: sysfs root path too long");
        goto fail;
    }
    snprintf(path, sizeof path, "%s/scaling_governor", c->dir);
    if ((st = read_small(path, buf, sizeof buf, err))) goto fail;
    if (strcmp(buf, "userspace")) {
        eb_error e2;
        if (write_small(path, "userspace\n", &e2) == EB_OK &&
            read_small(path, buf, sizeof buf, &e2) == EB_OK && !strcmp(buf, "userspace")) {
            /* switched */
        } else {
            st = eb_fail(err, EB_ERR_UNSUPPORTED,
                         "%s: governor is '%.40s' and cannot be set to 'userspace' (need root?)",
                         path, buf);
            goto fail;
        }
    }
    snprintf(path, sizeof path, "%s/scaling_min_freq", c->dir);
    if (read_khz(path, &c->min_khz, err)) {
        snprintf(path, sizeof path, "%s/cpuinfo_min_freq", c->dir);
        if ((st = read_khz(path, &c->min_khz, err))) goto fail;
    }
    snprintf(path, sizeof path, "%s/scaling_max_freq", c->dir);
    if (read_khz(path, &c->max_khz, err)) {
        snprintf(path, sizeof path, "%s/cpuinfo_max_freq", c->dir);
        if ((st = read_khz(path, &c->max_khz, err))) goto fail;
    }
    if (c->min_khz > c->max_khz) {
        st = eb_fail(err, EB_ERR_FORMAT, "%s: minimum frequency above maximum", c->dir);
        goto fail;
    }
    snprintf(path, sizeof path, "%s/scaling_available_frequencies", c->dir);
    eb_error e3;
    if (read_small(path, buf, sizeof buf, &e3) == EB_OK) {
        char *s = buf;
        while (*s) {
            char *end;
            errno = 0;
            long v = strtol(s, &end, 10);
            if (end == s) {
                if (*s == ' ' || *s == '\t' || *s == '\n') {
                    s++;
                    continue;
                }
                st = eb_fail(err, EB_ERR_FORMAT, "%s: unexpected '%.20s'", path, s);
                goto fail;
            }
            if (v > 0 && c->nfreqs < CPUFREQ_MAX_FREQS) c->freqs_khz[c->nfreqs++] = v;
            s = end;
        }
    }
    out->name = "cpufreq";
    out->ud = c;
    out->set = cpufreq_set;
    out->close = cpufreq_close;
    return EB_OK;
fail:
    eb_free(alloc, c);
    return st;
}
