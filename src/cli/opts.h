/* opts.h - the option table of an edgebert subcommand: one row per option
 * (names, kind, destination, range, help text).  One parser reads
 * `--opt value`, `--opt=value`, `-oVALUE` and `--` (the end of the options)
 * from it, checks numbers against their range with a usage error naming the
 * option, and prints the usage from the same rows. */
#ifndef EB_CLI_OPTS_H
#define EB_CLI_OPTS_H

#include <math.h>
#include <stdio.h>

/* At most this many threads, for every command taking --threads. */
#define EB_CLI_MAX_THREADS 256

typedef enum {
    EB_OPT_FLAG,   /* int *: set to 1; takes no value */
    EB_OPT_INT,    /* int *, in [lo, hi] */
    EB_OPT_LONG,   /* long *, in [lo, hi] */
    EB_OPT_DOUBLE, /* double *, in [lo, hi] */
    EB_OPT_FLOAT,  /* float *, in [lo, hi] */
    EB_OPT_STR,    /* const char **: the argument itself */
    EB_OPT_CHOICE, /* int *: the index of the value in choices "a|b|c" */
    EB_OPT_FN,     /* fn(dst, cmd, name, value): 1 accepted, 0 refused (it says why) */
    EB_OPT_FN_FLAG /* as EB_OPT_FN without a value (value NULL) */
} eb_opt_kind;

enum {
    EB_OPT_GT = 1,     /* numbers: > lo rather than >= lo */
    EB_OPT_HIDDEN = 2, /* an older spelling: parsed, not listed in the usage */
    EB_OPT_MODEL = 4,  /* EB_OPT_FLOAT/DOUBLE: the word "model" stores -1 (the model's own) */
    EB_OPT_LT = 8      /* numbers: < hi rather than <= hi */
};

#define EB_OPT_INF HUGE_VAL

typedef struct eb_opt {
    const char *names; /* "-m|--model": every spelling, '|' between */
    eb_opt_kind kind;
    void *dst;
    double lo, hi; /* numeric kinds: the accepted range (EB_OPT_INF: unbounded) */
    unsigned flags;
    const char *arg;  /* the value's name in the usage ("N", "MS"); CHOICE: the choices "a|b" */
    const char *help; /* '\n' starts a continuation line */
    int (*fn)(void *dst, const char *cmd, const char *opt, const char *val);
} eb_opt;

typedef struct eb_opt_spec {
    const char *cmd;      /* "classify" */
    const char *synopsis; /* after "usage: edgebert CMD " */
    const char *intro;    /* printed before the option list, or NULL */
    const char *outro;    /* printed after it, or NULL */
    const eb_opt *opts;
    int nopts;
    const char **pos; /* positional arguments land here (may be NULL: none allowed) */
    int max_pos;
    int *npos;
    const char *too_many; /* the error for one positional argument too many, or NULL */
} eb_opt_spec;

#define EB_OPT_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Parse argv[1..argc-1].  Returns -1 to go on, else the exit status: 0 after
 * -h/--help printed the usage to stdout, 2 after a usage error (the message
 * names the option and what is wrong; the usage goes to stderr). */
int eb_opt_parse(const eb_opt_spec *s, int argc, char **argv);

/* One option at argv[*i] (advancing *i past its value): 1 consumed, 0 not
 * one of the table's, -1 after a usage error was printed. */
int eb_opt_parse_one(const eb_opt_spec *s, int argc, char **argv, int *i);

/* The usage: synopsis, intro, one line per visible option, outro. */
void eb_opt_usage(const eb_opt_spec *s, FILE *f);

/* The range check of one number against an option row; prints
 * "edgebert CMD: NAME must be ..., got 'VAL'" and returns 0 when out of range. */
int eb_opt_check_range(const char *cmd, const eb_opt *o, const char *name, double v,
                       const char *val);

#endif
