/* opts.c - the option table parser and usage printer (see opts.h). */
#include "cli/opts.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The row whose names include the n characters at a. */
static const eb_opt *find(const eb_opt_spec *s, const char *a, size_t n) {
    for (int k = 0; k < s->nopts; k++) {
        const char *p = s->opts[k].names;
        while (p && *p) {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            if (len == n && !strncmp(p, a, n)) return &s->opts[k];
            p = bar ? bar + 1 : NULL;
        }
    }
    return NULL;
}

static int is_int_kind(const eb_opt *o) {
    return o->kind == EB_OPT_INT || o->kind == EB_OPT_LONG;
}

/* "an integer in 1..8", "a number > 0", ... */
static void describe(const eb_opt *o, char *buf, size_t cap) {
    const int gt = !!(o->flags & EB_OPT_GT), lt = !!(o->flags & EB_OPT_LT);
    const char *what = is_int_kind(o) ? "an integer" : "a number";
    const int has_lo = isfinite(o->lo), has_hi = isfinite(o->hi);
    if (has_lo && has_hi) {
        if (is_int_kind(o))
            snprintf(buf, cap, "%s in %.0f..%.0f", what, o->lo, o->hi);
        else
            snprintf(buf, cap, "%s in %c%g, %g%c", what, gt ? '(' : '[', o->lo, o->hi,
                     lt ? ')' : ']');
    } else if (has_lo)
        snprintf(buf, cap, "%s %s %g", what, gt ? ">" : ">=", o->lo);
    else if (has_hi)
        snprintf(buf, cap, "%s %s %g", what, lt ? "<" : "<=", o->hi);
    else
        snprintf(buf, cap, "%s", what);
    if (o->flags & EB_OPT_MODEL) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, " or the word 'model' (the model's own)");
    }
}

static int refuse(const char *cmd, const eb_opt *o, const char *name, const char *val) {
    char d[160];
    describe(o, d, sizeof d);
    fprintf(stderr, "edgebert %s: %s must be %s, got '%s'\n", cmd, name, d, val);
    return 0;
}

int eb_opt_check_range(const char *cmd, const eb_opt *o, const char *name, double v,
                       const char *val) {
    int ok = !isnan(v);
    if (isfinite(o->lo)) ok = ok && ((o->flags & EB_OPT_GT) ? v > o->lo : v >= o->lo);
    if (isfinite(o->hi)) ok = ok && ((o->flags & EB_OPT_LT) ? v < o->hi : v <= o->hi);
    return ok ? 1 : refuse(cmd, o, name, val);
}

static int number(const char *cmd, const eb_opt *o, const char *name, const char *val,
                  double *out) {
    char *end;
    errno = 0;
    if (is_int_kind(o)) {
        long v = strtol(val, &end, 10);
        if (end == val || *end || errno || (o->kind == EB_OPT_INT && (v < INT_MIN || v > INT_MAX)))
            return refuse(cmd, o, name, val);
        *out = (double)v;
    } else {
        double v = strtod(val, &end);
        if (end == val || *end || errno || !isfinite(v)) return refuse(cmd, o, name, val);
        *out = v;
    }
    return eb_opt_check_range(cmd, o, name, *out, val);
}

static int choice(const char *cmd, const eb_opt *o, const char *name, const char *val) {
    int idx = 0;
    const char *p = o->arg;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (strlen(val) == len && !strncmp(p, val, len)) {
            *(int *)o->dst = idx;
            return 1;
        }
        idx++;
        p = bar ? bar + 1 : NULL;
    }
    char list[256] = "";
    size_t n = 0;
    for (p = o->arg; p && *p && n + 8 < sizeof list;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        int last = !bar, second_last = bar && !strchr(bar + 1, '|');
        n += (size_t)snprintf(list + n, sizeof list - n, "%.*s%s", (int)len, p,
                              last          ? ""
                              : second_last ? " or "
                                            : ", ");
        if (n >= sizeof list) break;
        p = bar ? bar + 1 : NULL;
    }
    fprintf(stderr, "edgebert %s: %s must be %s, got '%s'\n", cmd, name, list, val);
    return 0;
}

static int apply(const char *cmd, const eb_opt *o, const char *name, const char *val) {
    double v;
    switch (o->kind) {
    case EB_OPT_FLAG: *(int *)o->dst = 1; return 1;
    case EB_OPT_FN_FLAG:
    case EB_OPT_FN: return o->fn(o->dst, cmd, name, val);
    case EB_OPT_STR: *(const char **)o->dst = val; return 1;
    case EB_OPT_CHOICE: return choice(cmd, o, name, val);
    case EB_OPT_INT:
        if (!number(cmd, o, name, val, &v)) return 0;
        *(int *)o->dst = (int)v;
        return 1;
    case EB_OPT_LONG:
        if (!number(cmd, o, name, val, &v)) return 0;
        *(long *)o->dst = (long)v;
        return 1;
    case EB_OPT_DOUBLE:
    case EB_OPT_FLOAT:
        if ((o->flags & EB_OPT_MODEL) && !strcmp(val, "model"))
            v = -1;
        else if (!number(cmd, o, name, val, &v))
            return 0;
        if (o->kind == EB_OPT_FLOAT && !isfinite((float)v)) return refuse(cmd, o, name, val);
        if (o->kind == EB_OPT_DOUBLE)
            *(double *)o->dst = v;
        else
            *(float *)o->dst = (float)v;
        return 1;
    }
    return 0;
}

static int takes_value(const eb_opt *o) {
    return o->kind != EB_OPT_FLAG && o->kind != EB_OPT_FN_FLAG;
}

int eb_opt_parse_one(const eb_opt_spec *s, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    const eb_opt *o;
    const char *val = NULL;
    size_t n;
    if (a[0] != '-' || !a[1]) return 0;
    if (a[1] == '-') {
        const char *eq = strchr(a, '=');
        n = eq ? (size_t)(eq - a) : strlen(a);
        o = find(s, a, n);
        if (eq) val = eq + 1;
    } else {
        n = 2;
        o = find(s, a, n);
        if (o && a[2]) {
            if (!takes_value(o))
                o = NULL;
            else
                val = a + 2;
        }
    }
    if (!o) return 0;
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), a);
    if (!takes_value(o)) {
        if (val) {
            fprintf(stderr, "edgebert %s: %s takes no value\n", s->cmd, name);
            return -1;
        }
    } else if (!val) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "edgebert %s: %s needs a value\n", s->cmd, name);
            return -1;
        }
        val = argv[++*i];
    }
    return apply(s->cmd, o, name, val) ? 1 : -1;
}

int eb_opt_parse(const eb_opt_spec *s, int argc, char **argv) {
    int npos = 0, ended = 0;
    if (s->npos) *s->npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!ended && !strcmp(a, "--")) {
            ended = 1;
            continue;
        }
        if (ended || a[0] != '-' || !a[1]) {
            if (npos >= s->max_pos || !s->pos) {
                if (s->too_many)
                    fprintf(stderr, "edgebert %s: %s\n", s->cmd, s->too_many);
                else
                    fprintf(stderr, "edgebert %s: unexpected argument '%s'\n", s->cmd, a);
                return 2;
            }
            s->pos[npos++] = a;
            if (s->npos) *s->npos = npos;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            eb_opt_usage(s, stdout);
            return 0;
        }
        int r = eb_opt_parse_one(s, argc, argv, &i);
        if (r < 0) return 2;
        if (r == 0) {
            fprintf(stderr, "edgebert %s: unknown option '%s'", s->cmd, a);
            if (s->pos && a[1] != '-')
                fprintf(stderr, " (an argument starting with '-' goes after --)");
            fprintf(stderr, "\n");
            eb_opt_usage(s, stderr);
            return 2;
        }
    }
    return -1;
}

void eb_opt_usage(const eb_opt_spec *s, FILE *f) {
    fprintf(f, "usage: edgebert %s %s\n", s->cmd, s->synopsis ? s->synopsis : "[options]");
    if (s->intro) fputs(s->intro, f);
    for (int k = 0; k < s->nopts; k++) {
        const eb_opt *o = &s->opts[k];
        if (o->flags & EB_OPT_HIDDEN) continue;
        char left[128];
        size_t n = 0;
        for (const char *p = o->names; *p && n + 3 < sizeof left; p++) {
            if (*p == '|') {
                left[n++] = ',';
                left[n++] = ' ';
            } else
                left[n++] = *p;
        }
        left[n] = 0;
        if (takes_value(o) && o->arg) snprintf(left + n, sizeof left - n, " %s", o->arg);
        const char *h = o->help ? o->help : "";
        if (strlen(left) > 19)
            fprintf(f, "  %s\n%23s", left, "");
        else
            fprintf(f, "  %-21s", left);
        for (; *h; h++) {
            fputc(*h, f);
            if (*h == '\n' && h[1]) fprintf(f, "%23s", "");
        }
        fputc('\n', f);
    }
    if (s->outro) fputs(s->outro, f);
}
