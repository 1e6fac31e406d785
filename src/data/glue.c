/* glue.c - readers for the GLUE TSV files as released.
 *
 * The whole file is read into one buffer; fields are cut in place (tabs and
 * line ends become NULs) and the examples point into the buffer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "util/util.h"

#define MAX_FIELDS 64

/* Column names of a task's header (NULL: none). */
typedef struct layout {
    const char *col_a, *col_b, *col_label;
} layout;

static layout task_layout(eb_task t) {
    switch (t) {
    case EB_TASK_SST2:
    case EB_TASK_IMDB: return (layout){"sentence", NULL, "label"};
    case EB_TASK_COLA: return (layout){"sentence", NULL, "label"}; /* test file only */
    case EB_TASK_MRPC: return (layout){"#1 String", "#2 String", "Quality"};
    case EB_TASK_QQP: return (layout){"question1", "question2", "is_duplicate"};
    case EB_TASK_STSB: return (layout){"sentence1", "sentence2", "score"};
    case EB_TASK_MNLI: return (layout){"sentence1", "sentence2", "gold_label"};
    case EB_TASK_QNLI: return (layout){"question", "sentence", "label"};
    case EB_TASK_RTE:
    case EB_TASK_WNLI:
    default: return (layout){"sentence1", "sentence2", "label"};
    }
}

/* Cut one line (NUL-terminated, no line end) into fields at tabs.
 * Returns the number of fields (which may exceed MAX_FIELDS; only the first
 * MAX_FIELDS are stored). */
static int split_tabs(char *line, char **fields) {
    int n = 0;
    char *p = line;
    for (;;) {
        if (n < MAX_FIELDS) fields[n] = p;
        n++;
        char *t = strchr(p, '\t');
        if (!t) break;
        *t = 0;
        p = t + 1;
    }
    return n;
}

static int find_col(char **fields, int n, const char *name) {
    if (!name) return -1;
    for (int i = 0; i < n && i < MAX_FIELDS; i++)
        if (!strcmp(fields[i], name)) return i;
    return -1;
}

typedef struct parser {
    const char *name;
    char *p, *end;
    long line;
} parser;

/* Next line, NUL-terminated with its CR/LF removed; NULL at the end. */
static char *next_line(parser *ps) {
    if (ps->p >= ps->end) return NULL;
    char *s = ps->p;
    char *nl = memchr(s, '\n', (size_t)(ps->end - s));
    char *e = nl ? nl : ps->end;
    ps->p = nl ? nl + 1 : ps->end;
    if (e > s && e[-1] == '\r') e--;
    *e = 0;
    ps->line++;
    return s;
}

static eb_status parse_label(const eb_task_info *task, const char *field, eb_example *ex,
                             const char *name, long line, eb_error *err) {
    if (task->num_labels == 1) {
        char *endp;
        double v = strtod(field, &endp);
        if (!field[0] || *endp || !isfinite(v) || v < 0.0 || v > 5.0)
            return eb_fail(err, EB_ERR_FORMAT,
                           "%s:%ld: bad similarity score '%.40s' (want a number in 0..5)", name,
                           line, field);
        ex->score = (float)v;
        ex->label = -1;
        return EB_OK;
    }
    const char *const *raw = eb_task_raw_labels(task);
    for (int k = 0; k < task->num_labels; k++) {
        if (!strcmp(field, raw[k])) {
            ex->label = k;
            return EB_OK;
        }
    }
    char want[160] = "";
    for (int k = 0; k < task->num_labels; k++) {
        size_t len = strlen(want);
        snprintf(want + len, sizeof want - len, "%s%s", k ? ", " : "", raw[k]);
    }
    return eb_fail(err, EB_ERR_FORMAT, "%s:%ld: bad %s label '%.40s' (want one of: %s)", name, line,
                   task->display, field, want);
}

static eb_status parse(eb_dataset *ds, const char *name, eb_error *err) {
    const eb_task_info *task = ds->task;
    size_t size = strlen(ds->buf); /* NULs were rejected before */
    parser ps = {name, ds->buf, ds->buf + size, 0};
    if (size >= 3 && !memcmp(ps.p, "\xEF\xBB\xBF", 3)) ps.p += 3;

    /* Upper bound of the rows: lines in the file. */
    size_t lines = 1;
    for (char *q = ps.p; (q = memchr(q, '\n', (size_t)(ps.end - q))) != NULL; q++)
        lines++;
    if (lines > (size_t)INT32_MAX)
        return eb_fail(err, EB_ERR_FORMAT, "%s: too many lines (%zu)", name, lines);
    ds->rows = eb_calloc(&ds->alloc, lines, sizeof *ds->rows);
    if (!ds->rows) return eb_fail(err, EB_ERR_NOMEM, "%s: no memory for %zu rows", name, lines);

    char *fields[MAX_FIELDS];
    int ncols, ia, ib = -1, il = -1;
    char *line = next_line(&ps);
    if (!line) return eb_fail(err, EB_ERR_FORMAT, "%s: empty file", name);
    int has_header = 1;
    if (task->task == EB_TASK_COLA) {
        /* train/dev: no header, source<TAB>label<TAB>marker<TAB>sentence;
         * test: header index<TAB>sentence. */
        if (strcmp(line, "index\tsentence") != 0) has_header = 0;
    }
    if (has_header) {
        if (!eb_utf8_valid(line, strlen(line)))
            return eb_fail(err, EB_ERR_FORMAT, "%s:1: header is not valid UTF-8", name);
        ncols = split_tabs(line, fields);
        if (ncols > MAX_FIELDS)
            return eb_fail(err, EB_ERR_FORMAT, "%s:1: header has %d columns, more than %d", name,
                           ncols, MAX_FIELDS);
        layout lay = task_layout(task->task);
        ia = find_col(fields, ncols, lay.col_a);
        if (ia < 0)
            return eb_fail(err, EB_ERR_FORMAT, "%s:1: no column '%s' in the header of a %s file",
                           name, lay.col_a, task->display);
        if (task->is_pair) {
            ib = find_col(fields, ncols, lay.col_b);
            if (ib < 0)
                return eb_fail(err, EB_ERR_FORMAT,
                               "%s:1: no column '%s' in the header of a %s file", name, lay.col_b,
                               task->display);
        }
        il = find_col(fields, ncols, lay.col_label);
        line = next_line(&ps);
    } else {
        ncols = 4, ia = 3, il = 1;
    }
    ds->labeled = il >= 0;

    int n = 0;
    for (; line; line = next_line(&ps)) {
        if (!line[0] && ps.p >= ps.end) break; /* empty last line */
        if (!eb_utf8_valid(line, strlen(line)))
            return eb_fail(err, EB_ERR_FORMAT, "%s:%ld: invalid UTF-8", name, ps.line);
        int nf = split_tabs(line, fields);
        if (nf != ncols)
            return eb_fail(err, EB_ERR_FORMAT, "%s:%ld: expected %d tab-separated fields, found %d",
                           name, ps.line, ncols, nf);
        eb_example *ex = &ds->rows[n];
        ex->line = ps.line;
        ex->text_a = fields[ia];
        ex->text_b = ib >= 0 ? fields[ib] : NULL;
        ex->label = -1;
        ex->score = NAN;
        if (il >= 0) {
            eb_status s = parse_label(task, fields[il], ex, name, ps.line, err);
            if (s) return s;
        }
        n++;
    }
    ds->n = n;
    return EB_OK;
}

static eb_status load_owned(char *buf, size_t size, const char *name, const eb_task_info *task,
                            const eb_allocator *alloc, eb_dataset **out, eb_error *err) {
    eb_dataset *ds = eb_calloc(alloc, 1, sizeof *ds);
    if (!ds) {
        eb_free(alloc, buf);
        return eb_fail(err, EB_ERR_NOMEM, "%s: no memory", name);
    }
    if (alloc) ds->alloc = *alloc;
    ds->task = task;
    ds->buf = buf;
    const char *nul = memchr(buf, 0, size);
    eb_status s = EB_OK;
    if (nul) {
        long line = 1;
        for (const char *q = buf; q < nul; q++)
            line += *q == '\n';
        s = eb_fail(err, EB_ERR_FORMAT, "%s:%ld: NUL byte in the file", name, line);
    }
    if (!s) s = parse(ds, name, err);
    if (s) {
        eb_dataset_free(ds);
        return s;
    }
    *out = ds;
    return EB_OK;
}

eb_status eb_dataset_load(const char *path, const char *task, const eb_allocator *alloc,
                          eb_dataset **out, eb_error *err) {
    if (!out || !path) return eb_fail(err, EB_ERR_ARG, "dataset: no path or output given");
    *out = NULL;
    const eb_task_info *t;
    eb_status s = eb_task_lookup(task, &t, err);
    if (s) return s;
    char *buf;
    size_t size;
    s = eb_read_file(path, alloc, (size_t)1 << 32, &buf, &size, err);
    if (s) return s;
    return load_owned(buf, size, path, t, alloc, out, err);
}

eb_status eb_dataset_load_buffer(const void *data, size_t size, const char *name, const char *task,
                                 const eb_allocator *alloc, eb_dataset **out, eb_error *err) {
    if (!out || (!data && size)) return eb_fail(err, EB_ERR_ARG, "dataset: bad arguments");
    *out = NULL;
    if (!name) name = "<buffer>";
    const eb_task_info *t;
    eb_status s = eb_task_lookup(task, &t, err);
    if (s) return s;
    if (size == SIZE_MAX) return eb_fail(err, EB_ERR_NOMEM, "%s: too large", name);
    char *buf = eb_malloc(alloc, size + 1);
    if (!buf) return eb_fail(err, EB_ERR_NOMEM, "%s: no memory for %zu bytes", name, size);
    if (size) memcpy(buf, data, size);
    buf[size] = 0;
    return load_owned(buf, size, name, t, alloc, out, err);
}

void eb_dataset_free(eb_dataset *ds) {
    if (!ds) return;
    eb_allocator a = ds->alloc;
    eb_free(&a, ds->rows);
    eb_free(&a, ds->buf);
    eb_free(&a, ds);
}
