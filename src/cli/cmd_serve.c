/* cmd_serve.c - edgebert serve: an HTTP/JSON server (libmicrohttpd, cJSON).
 *
 *   POST /v1/classify  the object `classify --json` prints (an array for "texts")
 *   GET  /v1/models    tasks, labels, thresholds, layers, sizes
 *   GET  /health       {"status": "ok"}
 *   GET  /metrics      Prometheus text format, every metric edgebert_...
 *
 * Threads: libmicrohttpd runs one thread per connection (at most --connections;
 * beyond that new connections wait in the listen backlog).  A connection thread
 * parses and checks the body (serve_req.c), queues one unit per sentence and
 * sleeps until the engine thread has answered them all.  The engine thread owns
 * the model's context and batch scratch: it takes the oldest unit; unless its
 * request says "batch": false (or --max-batch is 1) it waits up to
 * --batch-wait-ms (from the unit's arrival, or from the end of the previous
 * batch if that is later) for more units with the same task and precision, up to
 * --max-batch, and runs them together through eb_batch_classify_results, each
 * sentence with its own policy, threshold and latency target (texts and
 * pairs alike); the answer is every field eb_classify gives, so a batched
 * answer is the object `classify --json` prints.  "batch": false runs alone
 * through eb_classify.
 * SIGTERM or SIGINT: stop accepting, finish the requests in flight, exit 0. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/serve_req.h"
#include "edgebert/batch.h"
#include "edgebert/runtime.h"

static const char INTRO[] =
    "HTTP/JSON server: POST /v1/classify, GET /v1/models, /health, /metrics.\n";

/* ------------------------------------------------------------------ */
/* Metrics                                                             */
/* ------------------------------------------------------------------ */

static const double LAT_BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,   0.25,   0.5,   1,    2.5,   10};
enum { NLAT = sizeof LAT_BUCKETS / sizeof LAT_BUCKETS[0] };
static const double BATCH_BUCKETS[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
enum { NBATCH = sizeof BATCH_BUCKETS / sizeof BATCH_BUCKETS[0] };
static const double ENERGY_BUCKETS[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
enum { NENERGY = sizeof ENERGY_BUCKETS / sizeof ENERGY_BUCKETS[0] };
static const int STATUS_CODES[] = {200, 400, 404, 405, 408, 413, 500, 503};
enum { NSTATUS = sizeof STATUS_CODES / sizeof STATUS_CODES[0] };

typedef struct hist {
    double sum;
    long count;
    long b[16]; /* per bucket (not cumulative) */
} hist;

static void hist_add(hist *h, const double *bounds, int nb, double v) {
    h->sum += v;
    h->count++;
    for (int i = 0; i < nb; i++)
        if (v <= bounds[i]) {
            h->b[i]++;
            return;
        }
}

typedef struct task_metrics {
    long exits[EB_MAX_LAYERS + 1]; /* sentences per exit layer */
    long sentences_batched, sentences_single;
    long deadline_misses;
    hist energy; /* modelled energy per sentence, uJ */
} task_metrics;

typedef struct metrics {
    pthread_mutex_t mu;
    long requests[NSTATUS];
    hist latency, batch;
    task_metrics *tasks; /* one per model task */
    long in_flight;
} metrics;

/* ------------------------------------------------------------------ */
/* Jobs and the engine                                                 */
/* ------------------------------------------------------------------ */

typedef struct job {
    eb_serve_req req;
    char **out;  /* per item: the JSON object */
    int pending; /* items not yet answered */
    int status;  /* 0, or the HTTP status of the first failed item */
    char err[512];
    pthread_cond_t cv;
} job;

typedef struct unit {
    job *j;
    int i;
    struct timespec t; /* when queued */
    struct unit *next;
} unit;

typedef struct server {
    eb_model *m;
    const char *model_path;
    int threads, max_batch, batch_wait_ms;
    eb_serve_limits lim;
    int body_timeout_s;
    pthread_mutex_t mu; /* the queue and every job's fields */
    pthread_cond_t cv;  /* the engine waits for units */
    unit *head, *tail;
    int stop;
    atomic_int draining; /* set on SIGTERM, read by the connection threads */
    metrics met;
    char *models_json;
    /* engine-owned */
    eb_context *ctx;
    eb_batch *batch;
    eb_encoding *enc;
    eb_result *res;
    eb_run_params *params;
    const int32_t **ids, **types;
    int *lens;
    unit **group;
} server;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int task_index(const server *s, const char *task) {
    if (!task) return 0;
    for (int k = 0; k < eb_model_num_tasks(s->m); k++)
        if (!strcmp(eb_model_task_name(s->m, k), task)) return k;
    return 0;
}

/* Every request goes through the batched engine unless it says "batch": false. */
static int batchable(const server *s, const unit *u) {
    return s->max_batch > 1 && u->j->req.batch;
}

/* One batch runs one task at one precision; policy, threshold and latency
 * target are per sentence. */
static int same_key(const server *s, const unit *a, const unit *b) {
    const eb_run_params *p = &a->j->req.p, *q = &b->j->req.p;
    return task_index(s, p->task) == task_index(s, q->task) && p->precision == q->precision;
}

/* An item's answer (mu held). */
static void item_done(server *s, job *j, int i, char *json, int status, const char *msg) {
    j->out[i] = json;
    if (status && !j->status) {
        j->status = status;
        const char *f = j->req.array ? "texts" : "text";
        if (j->req.array)
            snprintf(j->err, sizeof j->err, "%s[%d]: %s", f, i, msg);
        else
            snprintf(j->err, sizeof j->err, "%s: %s", f, msg);
    }
    if (--j->pending == 0) pthread_cond_signal(&j->cv);
    (void)s;
}

static int status_of(eb_status st) {
    return st == EB_ERR_INPUT || st == EB_ERR_ARG ? 400 : 500;
}

static char *print_result(const server *s, const eb_result *r, const char *task) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return NULL;
    eb_cli_print_result_json(f, s->m, r, task);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* A sentence's answer in the metrics (met.mu held). */
static void count_sentence(server *s, const char *task, const eb_result *r, int batched) {
    task_metrics *tm = &s->met.tasks[task_index(s, task)];
    tm->exits[r->exit_layer > EB_MAX_LAYERS ? EB_MAX_LAYERS : r->exit_layer]++;
    if (batched)
        tm->sentences_batched++;
    else
        tm->sentences_single++;
    if (!r->hw.deadline_met) tm->deadline_misses++;
    hist_add(&tm->energy, ENERGY_BUCKETS, NENERGY, r->hw.energy_uj);
}

static void run_single(server *s, unit *u) {
    job *j = u->j;
    const eb_serve_item *it = &j->req.items[u->i];
    eb_run_params p = j->req.p;
    p.threads = s->threads;
    eb_result r;
    eb_error err = {0};
    eb_status st = eb_classify(s->ctx, it->a, it->b, &p, &r, &err);
    char *json = st == EB_OK ? print_result(s, &r, p.task) : NULL;
    pthread_mutex_lock(&s->met.mu);
    if (st == EB_OK) count_sentence(s, p.task, &r, 0);
    hist_add(&s->met.batch, BATCH_BUCKETS, NBATCH, 1);
    pthread_mutex_unlock(&s->met.mu);
    pthread_mutex_lock(&s->mu);
    if (st != EB_OK)
        item_done(s, j, u->i, NULL, status_of(st), err.msg);
    else if (!json)
        item_done(s, j, u->i, NULL, 500, "out of memory");
    else
        item_done(s, j, u->i, json, 0, NULL);
    pthread_mutex_unlock(&s->mu);
    free(u);
}

/* The group's units through the batched engine (units already off the queue),
 * tokenized as eb_classify tokenizes, each with its own run parameters. */
static void run_group(server *s, unit **g, int n) {
    /* a copy: g[0]'s job (and its task string) is gone once its last item is answered */
    const char *t0 = g[0]->j->req.p.task;
    char task[256];
    if (t0) snprintf(task, sizeof task, "%s", t0);
    int ok[n];
    int m = 0; /* units that tokenized, packed to the front of ids/types/lens/params */
    int slot[n];
    for (int k = 0; k < n; k++) {
        const eb_serve_item *it = &g[k]->j->req.items[g[k]->i];
        eb_error err = {0};
        eb_status st =
            eb_model_tokenize(s->m, t0 ? task : NULL, it->a, it->b, 0, &s->enc[k], &err);
        ok[k] = st == EB_OK;
        if (!ok[k]) {
            pthread_mutex_lock(&s->mu);
            item_done(s, g[k]->j, g[k]->i, NULL, status_of(st), err.msg);
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        s->ids[m] = s->enc[k].ids;
        s->types[m] = s->enc[k].type_ids;
        s->lens[m] = s->enc[k].n;
        s->params[m] = g[k]->j->req.p;
        s->params[m].task = t0 ? task : NULL;
        s->params[m].threads = s->threads;
        slot[k] = m++;
    }
    eb_error err = {0};
    eb_status st = m > 0 ? eb_batch_classify_results(s->batch, s->ids, s->types, s->lens, m,
                                                     s->params, s->res, &err)
                         : EB_OK;
    if (st != EB_OK) { /* one sentence's settings failed the batch: each alone, its own answer */
        for (int k = 0; k < n; k++)
            if (ok[k])
                run_single(s, g[k]);
            else
                free(g[k]);
        return;
    }
    pthread_mutex_lock(&s->met.mu);
    if (m > 0) hist_add(&s->met.batch, BATCH_BUCKETS, NBATCH, m);
    for (int k = 0; k < n; k++)
        if (ok[k]) count_sentence(s, t0 ? task : NULL, &s->res[slot[k]], 1);
    pthread_mutex_unlock(&s->met.mu);
    for (int k = 0; k < n; k++) {
        if (!ok[k]) {
            free(g[k]);
            continue;
        }
        eb_result *r = &s->res[slot[k]];
        r->truncated = s->enc[k].truncated;
        char *json = print_result(s, r, t0 ? task : NULL);
        pthread_mutex_lock(&s->mu);
        if (!json)
            item_done(s, g[k]->j, g[k]->i, NULL, 500, "out of memory");
        else
            item_done(s, g[k]->j, g[k]->i, json, 0, NULL);
        pthread_mutex_unlock(&s->mu);
        free(g[k]);
    }
}

static void *engine_main(void *arg) {
    server *s = arg;
    struct timespec free_at = {0, 0}; /* when the last batch ended */
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (!s->head) break; /* stop with an empty queue */
        unit *u = s->head;
        if (!batchable(s, u)) {
            s->head = u->next;
            if (!s->head) s->tail = NULL;
            pthread_mutex_unlock(&s->mu);
            run_single(s, u);
            pthread_mutex_lock(&s->mu);
            continue;
        }
        /* wait for more units of the same kind: batch_wait_ms from u's arrival or, when u
         * came while the last batch ran, from that batch's end, so that the clients it
         * answered, sending again at once, join this batch instead of waiting out a whole
         * one behind it */
        struct timespec dl = u->t;
        if (free_at.tv_sec > dl.tv_sec || (free_at.tv_sec == dl.tv_sec && free_at.tv_nsec > dl.tv_nsec))
            dl = free_at;
        dl.tv_nsec += (long)s->batch_wait_ms * 1000000L;
        dl.tv_sec += dl.tv_nsec / 1000000000L;
        dl.tv_nsec %= 1000000000L;
        for (;;) {
            int have = 0;
            for (unit *v = s->head; v && have < s->max_batch; v = v->next)
                if (batchable(s, v) && same_key(s, u, v)) have++;
            if (have >= s->max_batch || s->stop) break;
            if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) break;
        }
        int n = 0;
        unit **pp = &s->head, *prev = NULL;
        while (*pp && n < s->max_batch) {
            unit *v = *pp;
            if (batchable(s, v) && same_key(s, u, v)) {
                *pp = v->next;
                if (s->tail == v) s->tail = prev;
                s->group[n++] = v;
            } else {
                prev = v;
                pp = &v->next;
            }
        }
        pthread_mutex_unlock(&s->mu);
        run_group(s, s->group, n);
        clock_gettime(CLOCK_REALTIME, &free_at); /* the clock of the units' arrival times */
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */
/* ------------------------------------------------------------------ */

typedef struct conn {
    char *buf;
    size_t len, cap;
    size_t seen; /* body bytes received, kept or not */
    int too_big;
    double t0;
} conn;

static void count_status(server *s, int code, double t0) {
    pthread_mutex_lock(&s->met.mu);
    for (int i = 0; i < NSTATUS; i++)
        if (STATUS_CODES[i] == code) s->met.requests[i]++;
    if (t0 > 0) hist_add(&s->met.latency, LAT_BUCKETS, NLAT, now_s() - t0);
    pthread_mutex_unlock(&s->met.mu);
}

static enum MHD_Result reply(server *s, struct MHD_Connection *c, int code, const char *type,
                             char *body, size_t n, double t0) {
    struct MHD_Response *r = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    if (code == 405) MHD_add_response_header(r, "Allow", "GET, POST");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)code, r);
    MHD_destroy_response(r);
    count_status(s, code, t0);
    return ret;
}

static enum MHD_Result reply_error(server *s, struct MHD_Connection *c, int code, const char *msg,
                                   double t0) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    char *js = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!js) return MHD_NO;
    size_t n = strlen(js);
    char *body = malloc(n + 2);
    if (!body) {
        cJSON_free(js);
        return MHD_NO;
    }
    memcpy(body, js, n);
    body[n] = '\n';
    cJSON_free(js);
    return reply(s, c, code, "application/json", body, n + 1, t0);
}

static enum MHD_Result reply_text(server *s, struct MHD_Connection *c, int code, const char *type,
                                  const char *text, double t0) {
    char *b = strdup(text);
    if (!b) return MHD_NO;
    return reply(s, c, code, type, b, strlen(b), t0);
}

static enum MHD_Result classify(server *s, struct MHD_Connection *c, conn *cn) {
    char msg[512];
    eb_serve_req req;
    int code = eb_serve_req_parse(cn->buf ? cn->buf : "", cn->len, &s->lim, &req, msg, sizeof msg);
    if (code) return reply_error(s, c, code, msg, cn->t0);
    if (req.p.task && !eb_model_task_config(s->m, req.p.task)) {
        int o = snprintf(msg, sizeof msg, "task: unknown task '%.64s' (tasks:", req.p.task);
        for (int k = 0; k < eb_model_num_tasks(s->m) && o < (int)sizeof msg - 80; k++)
            o += snprintf(msg + o, sizeof msg - (size_t)o, " %.64s", eb_model_task_name(s->m, k));
        snprintf(msg + o, sizeof msg - (size_t)o, ")");
        eb_serve_req_free(&req);
        return reply_error(s, c, 400, msg, cn->t0);
    }
    const eb_policy_info *pol = eb_policy_info_of(req.p.policy); /* parsed from the table */
    if ((pol->needs & EB_POLICY_NEEDS_LUT) && !eb_model_task_lut(s->m, req.p.task)) {
        snprintf(msg, sizeof msg,
                 "policy: %s needs the task's exit predictor table; task '%.64s' "
                 "has none (use ee or base)",
                 pol->name, req.p.task ? req.p.task : eb_model_task_name(s->m, 0));
        eb_serve_req_free(&req);
        return reply_error(s, c, 400, msg, cn->t0);
    }
    if (atomic_load(&s->draining)) {
        eb_serve_req_free(&req);
        return reply_error(s, c, 503, "the server is shutting down", cn->t0);
    }
    job j;
    memset(&j, 0, sizeof j);
    j.req = req;
    j.pending = req.n;
    j.out = calloc((size_t)req.n, sizeof *j.out);
    unit **us = calloc((size_t)req.n, sizeof *us);
    int oom = !j.out || !us;
    for (int i = 0; i < req.n && !oom; i++)
        if (!(us[i] = calloc(1, sizeof **us))) oom = 1;
    if (oom) {
        for (int i = 0; us && i < req.n; i++)
            free(us[i]);
        free(us);
        free(j.out);
        eb_serve_req_free(&j.req);
        return reply_error(s, c, 500, "out of memory", cn->t0);
    }
    pthread_cond_init(&j.cv, NULL);
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t); /* the engine's timed wait uses CLOCK_REALTIME */
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < req.n; i++) {
        us[i]->j = &j;
        us[i]->i = i;
        us[i]->t = t;
        if (s->tail)
            s->tail->next = us[i];
        else
            s->head = us[i];
        s->tail = us[i];
    }
    free(us);
    pthread_cond_signal(&s->cv);
    while (j.pending > 0)
        pthread_cond_wait(&j.cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    pthread_cond_destroy(&j.cv);
    enum MHD_Result ret;
    if (j.status) {
        ret = reply_error(s, c, j.status, j.err, cn->t0);
    } else {
        size_t n = 3;
        for (int i = 0; i < req.n; i++)
            n += strlen(j.out[i]) + 2;
        char *body = malloc(n);
        if (!body) {
            ret = reply_error(s, c, 500, "out of memory", cn->t0);
        } else {
            size_t o = 0;
            if (req.array) body[o++] = '[';
            for (int i = 0; i < req.n; i++) {
                if (i) body[o++] = ',', body[o++] = ' ';
                size_t l = strlen(j.out[i]);
                memcpy(body + o, j.out[i], l);
                o += l;
            }
            if (req.array) body[o++] = ']';
            body[o++] = '\n';
            ret = reply(s, c, 200, "application/json", body, o, cn->t0);
        }
    }
    for (int i = 0; i < req.n; i++)
        free(j.out[i]);
    free(j.out);
    eb_serve_req_free(&j.req);
    return ret;
}

static void put_hist(FILE *f, const char *name, const char *labels, const hist *h,
                     const double *bounds, int nb) {
    long cum = 0;
    for (int i = 0; i < nb; i++) {
        cum += h->b[i];
        fprintf(f, "%s_bucket{%s%sle=\"%g\"} %ld\n", name, labels, *labels ? "," : "", bounds[i],
                cum);
    }
    fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %ld\n", name, labels, *labels ? "," : "", h->count);
    fprintf(f, "%s_sum%s%s%s %.9g\n", name, *labels ? "{" : "", labels, *labels ? "}" : "", h->sum);
    fprintf(f, "%s_count%s%s%s %ld\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
            h->count);
}

static char *metrics_text(server *s, size_t *len) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f) return NULL;
    metrics *m = &s->met;
    pthread_mutex_lock(&m->mu);
    fprintf(f, "# HELP edgebert_requests_total HTTP requests answered, by status code.\n"
               "# TYPE edgebert_requests_total counter\n");
    for (int i = 0; i < NSTATUS; i++)
        fprintf(f, "edgebert_requests_total{code=\"%d\"} %ld\n", STATUS_CODES[i], m->requests[i]);
    fprintf(f,
            "# HELP edgebert_requests_in_flight Requests being received or answered.\n"
            "# TYPE edgebert_requests_in_flight gauge\nedgebert_requests_in_flight %ld\n",
            m->in_flight);
    fprintf(f, "# HELP edgebert_request_duration_seconds Time from the request's headers to its "
               "answer.\n# TYPE edgebert_request_duration_seconds histogram\n");
    put_hist(f, "edgebert_request_duration_seconds", "", &m->latency, LAT_BUCKETS, NLAT);
    fprintf(f, "# HELP edgebert_batch_size Sentences per engine run (1: the per-sentence "
               "engine).\n# TYPE edgebert_batch_size histogram\n");
    put_hist(f, "edgebert_batch_size", "", &m->batch, BATCH_BUCKETS, NBATCH);
    fprintf(f, "# HELP edgebert_sentences_total Sentences classified, by task and engine.\n"
               "# TYPE edgebert_sentences_total counter\n");
    int nt = eb_model_num_tasks(s->m);
    for (int k = 0; k < nt; k++) {
        const char *tn = eb_model_task_name(s->m, k);
        fprintf(f, "edgebert_sentences_total{task=\"%s\",engine=\"batched\"} %ld\n", tn,
                m->tasks[k].sentences_batched);
        fprintf(f, "edgebert_sentences_total{task=\"%s\",engine=\"single\"} %ld\n", tn,
                m->tasks[k].sentences_single);
    }
    fprintf(f, "# HELP edgebert_exit_layer Layer whose off-ramp answered, per task.\n"
               "# TYPE edgebert_exit_layer histogram\n");
    for (int k = 0; k < nt; k++) {
        const char *tn = eb_model_task_name(s->m, k);
        const eb_config *c = eb_model_task_config(s->m, tn);
        int L = c->num_hidden_layers > EB_MAX_LAYERS ? EB_MAX_LAYERS : c->num_hidden_layers;
        long cum = 0, sum = 0;
        for (int l = 1; l <= L; l++) {
            cum += m->tasks[k].exits[l];
            sum += (long)l * m->tasks[k].exits[l];
            fprintf(f, "edgebert_exit_layer_bucket{task=\"%s\",le=\"%d\"} %ld\n", tn, l, cum);
        }
        fprintf(f, "edgebert_exit_layer_bucket{task=\"%s\",le=\"+Inf\"} %ld\n", tn, cum);
        fprintf(f, "edgebert_exit_layer_sum{task=\"%s\"} %ld\n", tn, sum);
        fprintf(f, "edgebert_exit_layer_count{task=\"%s\"} %ld\n", tn, cum);
    }
    fprintf(f, "# HELP edgebert_sentence_energy_microjoules Modelled accelerator energy per "
               "sentence.\n"
               "# TYPE edgebert_sentence_energy_microjoules histogram\n");
    for (int k = 0; k < nt; k++) {
        char lab[160];
        snprintf(lab, sizeof lab, "task=\"%s\"", eb_model_task_name(s->m, k));
        put_hist(f, "edgebert_sentence_energy_microjoules", lab, &m->tasks[k].energy,
                 ENERGY_BUCKETS, NENERGY);
    }
    fprintf(f, "# HELP edgebert_deadline_misses_total Sentences whose modelled time exceeded the "
               "latency target.\n# TYPE edgebert_deadline_misses_total counter\n");
    for (int k = 0; k < nt; k++)
        fprintf(f, "edgebert_deadline_misses_total{task=\"%s\"} %ld\n", eb_model_task_name(s->m, k),
                m->tasks[k].deadline_misses);
    pthread_mutex_unlock(&m->mu);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls) {
    server *s = cls;
    conn *cn = *con_cls;
    if (!cn) { /* headers only: first call */
        cn = calloc(1, sizeof *cn);
        if (!cn) return MHD_NO;
        cn->t0 = now_s();
        *con_cls = cn;
        pthread_mutex_lock(&s->met.mu);
        s->met.in_flight++;
        pthread_mutex_unlock(&s->met.mu);
        if (!strcmp(method, "POST")) {
            const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
            if (cl && strtoull(cl, NULL, 10) > s->lim.max_body && !strcmp(url, "/v1/classify")) {
                /* answered before the body is read; libmicrohttpd then closes the connection */
                char msg[128];
                snprintf(msg, sizeof msg,
                         "body: Content-Length %.20s is more than the limit of %zu bytes", cl,
                         s->lim.max_body);
                return reply_error(s, c, 413, msg, cn->t0);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) { /* a piece of the body */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        cn->seen += n;
        /* a body still arriving after --body-timeout: the connection is closed (a client
         * that slow gets no answer; its thread and slot are freed) */
        if (s->body_timeout_s > 0 && now_s() - cn->t0 > s->body_timeout_s) {
            count_status(s, 408, cn->t0);
            return MHD_NO;
        }
        if (cn->too_big) /* dropped; answered 413 at its end, or closed when it goes on */
            return cn->seen > 4 * s->lim.max_body ? MHD_NO : MHD_YES;
        if (cn->len + n > s->lim.max_body) {
            cn->too_big = 1;
            free(cn->buf);
            cn->buf = NULL;
            cn->len = cn->cap = 0;
            return MHD_YES;
        }
        if (cn->len + n + 1 > cn->cap) {
            size_t cap = cn->cap ? cn->cap : 4096;
            while (cap < cn->len + n + 1)
                cap *= 2;
            char *b = realloc(cn->buf, cap);
            if (!b) return MHD_NO;
            cn->buf = b;
            cn->cap = cap;
        }
        memcpy(cn->buf + cn->len, upload_data, n);
        cn->len += n;
        cn->buf[cn->len] = 0;
        return MHD_YES;
    }
    /* the whole request is in */
    if (!strcmp(url, "/v1/classify")) {
        if (strcmp(method, "POST")) return reply_error(s, c, 405, "/v1/classify: use POST", cn->t0);
        if (cn->too_big) {
            char msg[128];
            snprintf(msg, sizeof msg, "body: more than the limit of %zu bytes", s->lim.max_body);
            return reply_error(s, c, 413, msg, cn->t0);
        }
        return classify(s, c, cn);
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        char msg[128];
        snprintf(msg, sizeof msg, "%.64s: use GET", url);
        return reply_error(
            s, c,
            !strcmp(url, "/health") || !strcmp(url, "/metrics") || !strcmp(url, "/v1/models") ? 405
                                                                                              : 404,
            msg, cn->t0);
    }
    if (!strcmp(url, "/health"))
        return atomic_load(&s->draining)
                   ? reply_text(s, c, 503, "application/json", "{\"status\": \"draining\"}\n",
                                cn->t0)
                   : reply_text(s, c, 200, "application/json", "{\"status\": \"ok\"}\n", cn->t0);
    if (!strcmp(url, "/v1/models"))
        return reply_text(s, c, 200, "application/json", s->models_json, cn->t0);
    if (!strcmp(url, "/metrics")) {
        size_t n = 0;
        char *t = metrics_text(s, &n);
        if (!t) return reply_error(s, c, 500, "out of memory", cn->t0);
        return reply(s, c, 200, "text/plain; version=0.0.4", t, n, cn->t0);
    }
    char msg[256];
    snprintf(msg, sizeof msg,
             "%.64s: no such endpoint (POST /v1/classify, GET /v1/models, "
             "/health, /metrics)",
             url);
    return reply_error(s, c, 404, msg, cn->t0);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    server *s = cls;
    conn *cn = *con_cls;
    if (!cn) return;
    free(cn->buf);
    free(cn);
    *con_cls = NULL;
    pthread_mutex_lock(&s->met.mu);
    s->met.in_flight--;
    pthread_mutex_unlock(&s->met.mu);
}

/* GET /v1/models: per task its labels, threshold, layers and sizes. */
static char *models_json(const eb_model *m, const char *path) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", path);
    char *info = NULL;
    eb_error err = {0};
    cJSON *ij = NULL;
    if (eb_model_info_json(path, &info, &err) == EB_OK && info) {
        ij = cJSON_Parse(info);
        free(info);
    }
    const cJSON *itasks = ij ? cJSON_GetObjectItemCaseSensitive(ij, "tasks") : NULL;
    if (ij) {
        const char *keys[] = {"kind", "file_bytes", "shared_bytes", "tokenizer_bytes"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(ij, keys[i]);
            if (v) cJSON_AddItemToObject(root, keys[i], cJSON_Duplicate(v, 1));
        }
    }
    cJSON *tasks = cJSON_AddArrayToObject(root, "tasks");
    for (int k = 0; k < eb_model_num_tasks(m); k++) {
        const char *name = eb_model_task_name(m, k);
        const eb_config *c = eb_model_task_config(m, name);
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "name", name);
        cJSON *labels = cJSON_AddArrayToObject(t, "labels");
        for (int i = 0; i < c->num_labels && c->num_labels > 1; i++)
            cJSON_AddItemToArray(labels, cJSON_CreateString(c->id2label[i]));
        cJSON_AddNumberToObject(t, "num_labels", c->num_labels);
        cJSON_AddNumberToObject(t, "num_layers", c->num_hidden_layers);
        cJSON_AddNumberToObject(t, "hidden_size", c->hidden_size);
        cJSON_AddNumberToObject(t, "max_tokens", c->max_position_embeddings);
        const cJSON *it = NULL;
        cJSON_ArrayForEach(it, itasks) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");
            if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) break;
        }
        if (it) {
            const char *keys[] = {"task_bytes", "threshold", "lai_threshold", "thresholds"};
            for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, keys[i]);
                if (v) cJSON_AddItemToObject(t, keys[i], cJSON_Duplicate(v, 1));
            }
        }
        cJSON_AddItemToArray(tasks, t);
    }
    cJSON_Delete(ij);
    char *js = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!js) return NULL;
    char *out = malloc(strlen(js) + 2);
    if (out) sprintf(out, "%s\n", js);
    cJSON_free(js);
    return out;
}

/* ------------------------------------------------------------------ */
/* Command                                                             */
/* ------------------------------------------------------------------ */

int eb_cmd_serve(int argc, char **argv) {
    const char *model = NULL, *host = "127.0.0.1";
    int port = 8080, threads = 0, max_batch = 32, wait_ms = 2, conns = 256, max_texts = 256;
    int max_body = 1 << 20, max_text = 16384, timeout = 10, body_timeout = 30, drain = 30;
    const eb_opt rows[] = {
        {"-m|--model", EB_OPT_STR, &model, 0, 0, 0, "MODEL",
         "checkpoint directory or .ebb bundle (default as for classify)", NULL},
        {"--host", EB_OPT_STR, &host, 0, 0, 0, "ADDR",
         "address to listen on (default 127.0.0.1; IPv4 or IPv6)", NULL},
        {"--port", EB_OPT_INT, &port, 0, 65535, 0, "N",
         "TCP port (default 8080; 0: any free port, printed on stderr)", NULL},
        {"--threads", EB_OPT_INT, &threads, 0, EB_CLI_MAX_THREADS, 0, "N",
         "kernel threads of the engine (0: OpenMP's team; default 0)", NULL},
        {"--max-batch", EB_OPT_INT, &max_batch, 1, 1024, 0, "N",
         "sentences run together by the batched engine, 1..1024\n"
         "(default 32; 1: every sentence alone)",
         NULL},
        {"--batch-wait-ms", EB_OPT_INT, &wait_ms, 0, 10000, 0, "MS",
         "how long the first sentence waits for others (default 2)", NULL},
        {"--connections", EB_OPT_INT, &conns, 1, 4096, 0, "N",
         "simultaneous connections, 1..4096 (default 256); more wait to be\n"
         "accepted",
         NULL},
        {"--max-body", EB_OPT_INT, &max_body, 2, EB_OPT_INF, 0, "BYTES",
         "request body limit (default 1048576)", NULL},
        {"--max-texts", EB_OPT_INT, &max_texts, 1, 65536, 0, "N",
         "entries of \"texts\" in one request (default 256)", NULL},
        {"--max-text-bytes", EB_OPT_INT, &max_text, 1, EB_OPT_INF, 0, "B",
         "bytes of one text (default 16384)", NULL},
        {"--timeout", EB_OPT_INT, &timeout, 1, EB_OPT_INF, 0, "S",
         "close a connection idle for S seconds, also while sending its\n"
         "headers or body (default 10)",
         NULL},
        {"--body-timeout", EB_OPT_INT, &body_timeout, 0, EB_OPT_INF, 0, "S",
         "a body must be complete S seconds after its headers, else the\n"
         "connection is closed (default 30; 0: no limit)",
         NULL},
        {"--drain-timeout", EB_OPT_INT, &drain, 0, EB_OPT_INF, 0, "S",
         "on SIGTERM, wait at most S seconds for requests in flight\n"
         "(default 30)",
         NULL},
    };
    eb_opt_spec spec = {.cmd = "serve",
                        .synopsis = "[options]",
                        .intro = INTRO,
                        .opts = rows,
                        .nopts = EB_OPT_COUNT(rows)};
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) return prc;
    /* the listening address */
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "edgebert serve: --host: '%s' is not an IPv4 or IPv6 address\n", host);
        return 2;
    }

    char pbuf[4096];
    const char *path = eb_cli_model_path(model, pbuf, sizeof pbuf);
    eb_model *m = eb_cli_load_model("serve", model);
    if (!m) return 1;
    if (!eb_model_tokenizer(m)) {
        fprintf(stderr, "edgebert serve: %s has no spiece.model, cannot tokenize text\n", path);
        eb_model_free(m);
        return 1;
    }
    server *s = calloc(1, sizeof *s);
    eb_error err = {0};
    int rc = 1;
    if (!s) goto out;
    s->m = m;
    s->model_path = path;
    s->threads = threads;
    s->max_batch = max_batch;
    s->batch_wait_ms = wait_ms;
    s->lim.max_body = (size_t)max_body;
    s->lim.max_texts = max_texts;
    s->lim.max_text_bytes = (size_t)max_text;
    s->body_timeout_s = body_timeout;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->met.mu, NULL);
    s->met.tasks = calloc((size_t)eb_model_num_tasks(m), sizeof *s->met.tasks);
    s->models_json = models_json(m, path);
    int maxpos = 0;
    for (int k = 0; k < eb_model_num_tasks(m); k++) {
        const eb_config *c = eb_model_task_config(m, eb_model_task_name(m, k));
        if (c->max_position_embeddings > maxpos) maxpos = c->max_position_embeddings;
    }
    if (maxpos > EB_MAX_TOKENS) maxpos = EB_MAX_TOKENS;
    s->enc = calloc((size_t)max_batch, sizeof *s->enc);
    s->res = calloc((size_t)max_batch, sizeof *s->res);
    s->params = calloc((size_t)max_batch, sizeof *s->params);
    s->ids = calloc((size_t)max_batch, sizeof *s->ids);
    s->types = calloc((size_t)max_batch, sizeof *s->types);
    s->lens = calloc((size_t)max_batch, sizeof *s->lens);
    s->group = calloc((size_t)max_batch, sizeof *s->group);
    if (!s->met.tasks || !s->models_json || !s->enc || !s->res || !s->params || !s->ids ||
        !s->types || !s->lens || !s->group) {
        fprintf(stderr, "edgebert serve: out of memory\n");
        goto out;
    }
    if (eb_context_new(m, &s->ctx, &err) != EB_OK ||
        (max_batch > 1 &&
         eb_batch_new(m, max_batch, max_batch * maxpos, &s->batch, &err) != EB_OK)) {
        fprintf(stderr, "edgebert serve: %s\n", err.msg);
        goto out;
    }

    /* SIGTERM/SIGINT are taken by sigwait below: block them before any thread starts */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    pthread_t eng;
    if (pthread_create(&eng, NULL, engine_main, s)) {
        fprintf(stderr, "edgebert serve: cannot start the engine thread\n");
        goto out;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)conns, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)timeout, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_NOTIFY_COMPLETED,
        completed, s, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "edgebert serve: cannot listen on %s port %d: %s\n", host, port,
                errno ? strerror(errno) : "libmicrohttpd refused");
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(eng, NULL);
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    int bound = di ? di->port : port;
    fprintf(stderr,
            "edgebert serve: listening on http://%s%s%s:%d (model %s, max batch %d, wait %d ms)\n",
            strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", bound, path,
            max_batch, wait_ms);
    fflush(stderr);

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "edgebert serve: %s: finishing the requests in flight\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    atomic_store(&s->draining, 1);
    MHD_socket ls = MHD_quiesce_daemon(d); /* no new connections */
    if (ls != MHD_INVALID_SOCKET) close(ls);
    double t0 = now_s();
    for (;;) {
        pthread_mutex_lock(&s->met.mu);
        long inflight = s->met.in_flight;
        pthread_mutex_unlock(&s->met.mu);
        if (inflight <= 0) break;
        if (now_s() - t0 > drain) {
            fprintf(stderr, "edgebert serve: %ld requests still in flight after %d s\n", inflight,
                    drain);
            break;
        }
        usleep(10000);
    }
    MHD_stop_daemon(d);
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(eng, NULL);
    fprintf(stderr, "edgebert serve: stopped\n");
    rc = 0;
out:
    if (s) {
        eb_batch_free(s->batch);
        eb_context_free(s->ctx);
        free(s->enc);
        free(s->res);
        free(s->params);
        free(s->ids);
        free(s->types);
        free(s->lens);
        free(s->group);
        free(s->models_json);
        free(s->met.tasks);
        free(s);
    }
    eb_model_free(m);
    return rc;
}
