/* serve_load.c - a bounded load test of `edgebert serve` on loopback.
 *
 *   build/serve-load [-m MODEL] [--data TSV] [--requests N] [--clients 1,8,32,128]
 *                    [--threads T] [--max-batch B] [--batch-wait-ms MS] [--exe PATH]
 *
 * Starts the server (PATH serve --host 127.0.0.1 --port 0 ...), then for each
 * client count sends N requests of one text each, spread over that many
 * clients (threads, one keep-alive connection each), and N/32 requests of 32
 * texts; prints per row sentences/s, p50/p99 latency, errors, the CPU the
 * client and the server used; then the same sentences in this process: the
 * batched engine as the server calls it (eb_batch_classify_results, batches
 * of --max-batch) and one at a time (eb_classify),
 * on the same number of threads; and the server's resident memory after the
 * first and the last thousand requests.  Sentences: the first column of a
 * GLUE TSV (--data, sst2 layout), else a built-in list. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "edgebert.h"
#include "edgebert/batch.h"
#include "edgebert/data.h"

static const char *BUILTIN[] = {
    "a fine film",
    "an utterly awful , boring mess",
    "it is not bad at all",
    "the acting is wooden but the story holds",
    "what a waste of time",
    "a gorgeous , moving film",
    "i do n't know what to say about this one",
    "dull",
    "charming and funny from start to end",
    "the plot makes no sense whatsoever",
    "this movie is a triumph of style over substance , and i loved every minute",
    "meh"};

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static char **sent;
static int nsent;
static int port;
static pid_t server_pid;

typedef struct worker {
    int id, clients, requests, per_req; /* requests this worker sends, texts each */
    int first;                          /* index of its first sentence */
    double *lat;                        /* its latencies */
    int errors;
} worker;

static pthread_mutex_t count_mu = PTHREAD_MUTEX_INITIALIZER;
static long total_done; /* requests answered over the whole run */
static long rss_first_kb = -1;

static long rss_kb(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    fclose(f);
    return kb;
}

static double proc_cpu_s(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    unsigned long ut = 0, st = 0;
    /* fields after ')': state(3) ... utime(14) stime(15) */
    int field = 2;
    char *save = NULL;
    for (char *t = strtok_r(p + 1, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        field++;
        if (field == 14) ut = strtoul(t, NULL, 10);
        if (field == 15) {
            st = strtoul(t, NULL, 10);
            break;
        }
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int json_escape(char *o, size_t cap, const char *s) {
    size_t k = 0;
    o[k++] = '"';
    for (; *s && k + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            o[k++] = '\\';
            o[k++] = (char)c;
        } else if (c < 0x20) {
            k += (size_t)snprintf(o + k, cap - k, "\\u%04x", c);
        } else
            o[k++] = (char)c;
    }
    o[k++] = '"';
    o[k] = 0;
    return (int)k;
}

static int connect_lo(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* One request on fd; returns the HTTP status, 0 on a broken connection. */
static int roundtrip(int fd, const char *body, size_t blen, char *buf, size_t cap) {
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                      "application/json\r\nContent-Length: %zu\r\n\r\n",
                      blen);
    if (write(fd, head, (size_t)hl) != hl || write(fd, body, blen) != (ssize_t)blen) return 0;
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have + 1 >= cap) return 0;
        ssize_t r = read(fd, buf + have, cap - 1 - have);
        if (r <= 0) return 0;
        have += (size_t)r;
        buf[have] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    int status = atoi(buf + 9);
    const char *cl = strcasestr(buf, "Content-Length:");
    if (!cl || cl > end) return 0;
    size_t want = (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10);
    while (have < want) {
        if (want >= cap) return 0;
        ssize_t r = read(fd, buf + have, cap - have);
        if (r <= 0) return 0;
        have += (size_t)r;
    }
    return status;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    size_t cap = 1 << 20;
    char *body = malloc(cap), *resp = malloc(cap);
    int fd = connect_lo();
    for (int r = 0; r < w->requests && body && resp; r++) {
        size_t k = 0;
        int idx = w->first + r * w->per_req;
        if (w->per_req == 1) {
            k += (size_t)snprintf(body, cap, "{\"text\": ");
            k += (size_t)json_escape(body + k, cap - k, sent[idx % nsent]);
            k += (size_t)snprintf(body + k, cap - k, "}");
        } else {
            k += (size_t)snprintf(body, cap, "{\"texts\": [");
            for (int i = 0; i < w->per_req; i++) {
                if (i) body[k++] = ',';
                k += (size_t)json_escape(body + k, cap - k - 8, sent[(idx + i) % nsent]);
            }
            k += (size_t)snprintf(body + k, cap - k, "]}");
        }
        double t0 = now_s();
        int st = fd >= 0 ? roundtrip(fd, body, k, resp, cap) : 0;
        if (st == 0) { /* reconnect once */
            if (fd >= 0) close(fd);
            fd = connect_lo();
            st = fd >= 0 ? roundtrip(fd, body, k, resp, cap) : 0;
        }
        w->lat[r] = now_s() - t0;
        if (st != 200) w->errors++;
        pthread_mutex_lock(&count_mu);
        if (++total_done == 1000) rss_first_kb = rss_kb(server_pid);
        pthread_mutex_unlock(&count_mu);
    }
    if (fd >= 0) close(fd);
    free(body);
    free(resp);
    return NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One row: `clients` clients, `requests` requests of `per_req` texts. */
static void row(int clients, int requests, int per_req) {
    worker *w = calloc((size_t)clients, sizeof *w);
    pthread_t *th = calloc((size_t)clients, sizeof *th);
    double *lat = calloc((size_t)requests, sizeof *lat);
    int off = 0;
    for (int c = 0; c < clients; c++) {
        w[c].id = c;
        w[c].per_req = per_req;
        w[c].requests = requests / clients + (c < requests % clients);
        w[c].lat = lat + off;
        w[c].first = off * per_req;
        off += w[c].requests;
    }
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double s0 = proc_cpu_s(server_pid), t0 = now_s();
    for (int c = 0; c < clients; c++)
        pthread_create(&th[c], NULL, worker_main, &w[c]);
    int errors = 0;
    for (int c = 0; c < clients; c++) {
        pthread_join(th[c], NULL);
        errors += w[c].errors;
    }
    double wall = now_s() - t0, s1 = proc_cpu_s(server_pid);
    getrusage(RUSAGE_SELF, &r1);
    double ccpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
                  (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                  1e-6 * ((r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) +
                          (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec));
    qsort(lat, (size_t)requests, sizeof *lat, cmp_d);
    printf("| %7d | %5d | %8d | %9.0f | %8.2f | %8.2f | %6d | %9.0f %% | %9.0f %% |\n", clients,
           per_req, requests, requests * (double)per_req / wall, 1e3 * lat[requests / 2],
           1e3 * lat[(int)(requests * 0.99)], errors, 100 * ccpu / wall, 100 * (s1 - s0) / wall);
    fflush(stdout);
    free(w);
    free(th);
    free(lat);
}

static int start_server(const char *exe, const char *model, int threads, int max_batch,
                        int wait_ms) {
    int pfd[2];
    if (pipe(pfd)) return -1;
    char th[16], mb[16], wm[16];
    snprintf(th, sizeof th, "%d", threads);
    snprintf(mb, sizeof mb, "%d", max_batch);
    snprintf(wm, sizeof wm, "%d", wait_ms);
    server_pid = fork();
    if (server_pid < 0) return -1;
    if (server_pid == 0) {
        dup2(pfd[1], 2);
        close(pfd[0]);
        const char *argv[20];
        int a = 0;
        argv[a++] = exe;
        argv[a++] = "serve";
        if (model) argv[a++] = "-m", argv[a++] = model;
        const char *rest[] = {"--host",      "127.0.0.1", "--port",          "0", "--threads", th,
                              "--max-batch", mb,          "--batch-wait-ms", wm,  NULL};
        for (int i = 0; rest[i]; i++)
            argv[a++] = rest[i];
        argv[a] = NULL;
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "127.0.0.1:");
        if (p) {
            port = atoi(p + 10);
            break;
        }
        fputs(line, stderr);
    }
    /* keep the pipe open (the server's stderr) but stop reading it */
    return port > 0 ? 0 : -1;
}

static void in_process(const char *model_path, int threads, int max_batch) {
    eb_load_params lp = eb_load_params_default();
    eb_model *m = NULL;
    eb_error err = {0};
    if (eb_model_load(model_path, &lp, &m, &err) != EB_OK) {
        fprintf(stderr, "serve-load: %s\n", err.msg);
        return;
    }
    const eb_config *c = eb_model_config(m);
    int maxlen =
        c->max_position_embeddings < EB_MAX_TOKENS ? c->max_position_embeddings : EB_MAX_TOKENS;
    eb_batch *b = NULL;
    eb_context *ctx = NULL;
    eb_encoding *enc = calloc((size_t)max_batch, sizeof *enc);
    const int32_t **ids = calloc((size_t)max_batch, sizeof *ids);
    int *lens = calloc((size_t)max_batch, sizeof *lens);
    eb_result *out = calloc((size_t)max_batch, sizeof *out);
    eb_run_params *ps = calloc((size_t)max_batch, sizeof *ps);
    if (!enc || !ids || !lens || !out || !ps) {
        fprintf(stderr, "serve-load: out of memory\n");
        goto done;
    }
    if (eb_batch_new(m, max_batch, max_batch * maxlen, &b, &err) != EB_OK ||
        eb_context_new(m, &ctx, &err) != EB_OK) {
        fprintf(stderr, "serve-load: %s\n", err.msg);
        goto done;
    }
    eb_run_params p = eb_run_params_default();
    p.threads = threads;
    for (int j = 0; j < max_batch; j++)
        ps[j] = p;
    int n = nsent < 2048 ? 2048 : nsent; /* at least 2048 sentences, repeating */
    double t0 = now_s();
    for (int i = 0; i < n; i += max_batch) {
        int k = n - i < max_batch ? n - i : max_batch;
        for (int j = 0; j < k; j++) { /* tokenizing is part of the work, as in the server */
            eb_model_tokenize(m, NULL, sent[(i + j) % nsent], NULL, 0, &enc[j], &err);
            ids[j] = enc[j].ids;
            lens[j] = enc[j].n;
        }
        if (eb_batch_classify_results(b, ids, NULL, lens, k, ps, out, &err) != EB_OK) {
            fprintf(stderr, "serve-load: %s\n", err.msg);
            goto done;
        }
    }
    double batched = n / (now_s() - t0);
    t0 = now_s();
    eb_result r;
    for (int i = 0; i < n; i++)
        eb_classify(ctx, sent[i % nsent], NULL, &p, &r, &err);
    double single = n / (now_s() - t0);
    printf("in process, same sentences, %d thread(s): batched engine (batches of %d) %.0f "
           "sentences/s, one at a time (eb_classify) %.0f sentences/s\n",
           threads, max_batch, batched, single);
done:
    eb_batch_free(b);
    eb_context_free(ctx);
    free(enc);
    free(ids);
    free(lens);
    free(out);
    free(ps);
    eb_model_free(m);
}

int main(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *exe = "build/edgebert", *clients = "1,8,32,128";
    int requests = 2000, threads = 1, max_batch = 32, wait_ms = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr,
                    "serve-load: %s needs a value (see the comment atop tools/serve_load.c)\n", a);
            return 2;
        }
        if (!strcmp(a, "-m"))
            model = v;
        else if (!strcmp(a, "--data"))
            data = v;
        else if (!strcmp(a, "--exe"))
            exe = v;
        else if (!strcmp(a, "--clients"))
            clients = v;
        else if (!strcmp(a, "--requests"))
            requests = atoi(v);
        else if (!strcmp(a, "--threads"))
            threads = atoi(v);
        else if (!strcmp(a, "--max-batch"))
            max_batch = atoi(v);
        else if (!strcmp(a, "--batch-wait-ms"))
            wait_ms = atoi(v);
        else {
            fprintf(stderr, "serve-load: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (requests < 64 || requests > 1000000 || threads < 0 || max_batch < 1) {
        fprintf(stderr, "serve-load: --requests 64..1000000, --threads >= 0, --max-batch >= 1\n");
        return 2;
    }
    eb_dataset *ds = NULL;
    eb_error err = {0};
    if (data) {
        if (eb_dataset_load(data, "sst2", NULL, &ds, &err) != EB_OK) {
            fprintf(stderr, "serve-load: %s\n", err.msg);
            return 1;
        }
        nsent = ds->n;
        sent = calloc((size_t)nsent, sizeof *sent);
        for (int i = 0; i < nsent; i++)
            sent[i] = (char *)ds->rows[i].text_a;
    } else {
        nsent = (int)(sizeof BUILTIN / sizeof BUILTIN[0]);
        sent = (char **)BUILTIN;
    }
    signal(SIGPIPE, SIG_IGN);
    if (start_server(exe, model, threads, max_batch, wait_ms) != 0) {
        fprintf(stderr, "serve-load: the server did not start (%s)\n", exe);
        return 1;
    }
    printf("edgebert serve on 127.0.0.1:%d, %d kernel thread(s), max batch %d, wait %d ms; %d "
           "sentences%s%s\n\n",
           port, threads, max_batch, wait_ms, nsent, data ? " from " : " (built-in)",
           data ? data : "");
    printf("| clients | texts | requests | sentences/s | p50 ms | p99 ms | errors | client CPU | "
           "server CPU |\n|---|---|---|---|---|---|---|---|---|\n");
    char list[256];
    snprintf(list, sizeof list, "%s", clients);
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int c = atoi(t);
        if (c < 1 || c > 1024) continue;
        row(c, requests, 1);
    }
    row(1, requests / 32 > 8 ? requests / 32 : 8, 32);
    row(8, requests / 32 > 8 ? requests / 32 : 8, 32);
    long rss_last = rss_kb(server_pid);
    printf("\nserver resident memory: %ld KiB after the first 1000 requests, %ld KiB after the "
           "last (%ld requests)\n",
           rss_first_kb, rss_last, total_done);
    kill(server_pid, SIGTERM);
    int st = 0;
    waitpid(server_pid, &st, 0);
    printf("server exit status after SIGTERM: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    char pbuf[4096];
    const char *mp = model;
    if (!mp) { /* the path the server printed is not kept: resolve as the CLI does */
        const char *env = getenv("EDGEBERT_MODEL");
        mp = env && *env ? env : "models/default.ebb";
        snprintf(pbuf, sizeof pbuf, "%s", mp);
        mp = pbuf;
    }
    in_process(mp, threads, max_batch);
    eb_dataset_free(ds);
    return 0;
}
