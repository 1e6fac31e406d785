/* cmd_train.c - edgebert train: the EdgeBERT training recipe (include/edgebert/train.h). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cli/cli.h"
#include "model/bundle.h"
#include "edgebert/data.h"
#include "edgebert/dist.h"
#include "edgebert/train.h"
#include "model/config.h"

static volatile sig_atomic_t g_stop; /* set by SIGINT/SIGTERM/SIGUSR1: save and exit */

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static const char INTRO[] =
    "Phase mlm: masked-LM pretraining on plain text (--data: one document per line, cut\n"
    "into windows of --max-len tokens; a TAB between the two segments of a pair; several\n"
    "files comma-separated; a .tsv file gives its --task text column), the [MASK] head\n"
    "tied to the word embeddings.\n"
    "Phase backbone: fine-tune (with --teacher: KD loss a*KL*T^2 + (1-a)*CE; several\n"
    "teachers: their mean logits). Phase offramps: backbone frozen, off-ramps trained.\n"
    "Phase predictor: writes DIR/exit_lut.csv.  Ctrl-C saves a checkpoint and exits;\n"
    "--resume continues it to the same result.\n"
    "Data-parallel (an MPI build, make MPI=1): mpirun -np N edgebert train ...: each rank\n"
    "a shard of every batch, rank 0 writes and logs; kill -USR1 <mpirun> saves and stops.\n";

static int seed_fn(void *dst, const char *cmd, const char *opt, const char *v) {
    char *end;
    errno = 0;
    unsigned long long s = strtoull(v, &end, 10);
    if (end == v || *end || errno || v[0] == '-') {
        fprintf(stderr, "edgebert %s: %s must be a non-negative integer, got '%s'\n", cmd, opt, v);
        return 0;
    }
    *(uint64_t *)dst = (uint64_t)s;
    return 1;
}

static int prune_fn(void *dst, const char *cmd, const char *opt, const char *v) {
    eb_prune_method *m = dst;
    if (!strcmp(v, "movement"))
        *m = EB_PRUNE_MOVEMENT;
    else if (!strcmp(v, "magnitude"))
        *m = EB_PRUNE_MAGNITUDE;
    else if (!strcmp(v, "none"))
        *m = EB_PRUNE_NONE;
    else {
        fprintf(stderr, "edgebert %s: %s must be movement, magnitude or none, got '%s'\n", cmd, opt,
                v);
        return 0;
    }
    return 1;
}

static int phase_fn(void *dst, const char *cmd, const char *opt, const char *v) {
    static const char *const names[] = {"backbone", "offramps", "predictor", "mlm"};
    static const eb_train_phase phases[] = {EB_PHASE_BACKBONE, EB_PHASE_OFFRAMPS,
                                            EB_PHASE_PREDICTOR, EB_PHASE_MLM};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (!strcmp(v, names[k])) {
            *(eb_train_phase *)dst = phases[k];
            return 1;
        }
    fprintf(stderr, "edgebert %s: %s must be mlm, backbone, offramps or predictor, got '%s'\n", cmd,
            opt, v);
    return 0;
}

typedef struct report_ctx {
    int rank; /* data-parallel: rank 0 alone prints */
} report_ctx;

/* The progress callback: a line per report of the step loop and per chunk of the teachers'
 * labelling; a stop asked for by a signal (every rank gets it: mpirun forwards SIGUSR1)
 * stops the run at the next step boundary (or chunk of the labelling). */
static int progress(void *ud, const eb_progress *p) {
    const report_ctx *c = ud;
    if (p->report && c->rank == 0 && !strcmp(p->phase, "train")) {
        long eta = (long)p->eta_s;
        fprintf(stderr,
                "step %ld/%ld  epoch %d/%d  loss %.4f  lr %.3e  %.0f tok/s  ETA %ldh%02ldm%02lds",
                p->done, p->total, p->epoch, p->epochs, p->loss, p->lr, p->tokens_per_s, eta / 3600,
                eta / 60 % 60, eta % 60);
        if (p->kept < 1.0) fprintf(stderr, "  kept %.3f", p->kept);
        fprintf(stderr, "\n");
    } else if (p->report && c->rank == 0 && !strcmp(p->phase, "teacher")) {
        long eta = (long)p->eta_s;
        fprintf(stderr, "edgebert train: teacher logits %ld/%ld examples, ETA %ldh%02ldm%02lds\n",
                p->done, p->total, eta / 3600, eta / 60 % 60, eta % 60);
    }
    return g_stop != 0;
}

static void logmsg(void *ud, eb_log_level level, const char *msg) {
    (void)ud;
    (void)level;
    fprintf(stderr, "edgebert train: %s\n", msg);
}

/* The library's messages name fields of eb_train_options; the CLI's name the option that
 * sets each field: the row of the option table whose destination is that field. */
typedef struct field_row {
    const char *field;
    const void *dst;
} field_row;

static int ident_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/* The first spelling of the row whose destination is dst, or NULL. */
static const char *option_of(const eb_opt_spec *spec, const void *dst, size_t *len) {
    for (int k = 0; k < spec->nopts; k++)
        if (spec->opts[k].dst == dst) {
            const char *n = spec->opts[k].names, *bar = strchr(n, '|');
            *len = bar ? (size_t)(bar - n) : strlen(n);
            return n;
        }
    return NULL;
}

/* "edgebert train: MSG" with every field name in msg (a whole word, not inside a path)
 * replaced by its option; composed first and written in one call, so that the lines of
 * several MPI ranks on one stderr do not interleave. */
static void say(const eb_opt_spec *spec, const field_row *fields, int nfields, const char *msg) {
    char buf[2048];
    size_t len = 0;
#define PUT(p, n)                                                                               \
    do {                                                                                        \
        size_t k_ = (n) < sizeof buf - 2 - len ? (n) : sizeof buf - 2 - len;                    \
        memcpy(buf + len, (p), k_);                                                             \
        len += k_;                                                                              \
    } while (0)
    PUT("edgebert train: ", 16);
    if (!strncmp(msg, "train: ", 7)) msg += 7; /* the library's prefix: said already */
    for (const char *c = msg; *c;) {
        const int start = c == msg || !(ident_char(c[-1]) || strchr("/.-", c[-1]));
        int done = 0;
        for (int f = 0; start && f < nfields && !done; f++) {
            const size_t n = strlen(fields[f].field);
            size_t ol;
            const char *opt;
            if (strncmp(c, fields[f].field, n) || ident_char(c[n]) || c[n] == '/' ||
                (c[n] == '.' && ident_char(c[n + 1])) ||
                !(opt = option_of(spec, fields[f].dst, &ol)))
                continue;
            PUT(opt, ol);
            c += n;
            done = 1;
        }
        if (!done) PUT(c++, 1);
    }
#undef PUT
    buf[len++] = '\n';
    buf[len] = 0;
    fputs(buf, stderr);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

int eb_cmd_train(int argc, char **argv) {
    eb_train_options o = eb_train_options_default();
    const char *data = NULL, *dev = NULL, *task = NULL, *tokp = NULL;
    int ids = 0, json = 0, head_tokens = -1;
    float kd_alpha = -1;
    const char *C = "train";
    int threads = 0;
    const eb_opt rows[] = {
        {"--config", EB_OPT_STR, &o.config_path, 0, 0, 0, "CONFIG.json",
         "random initialisation from this config", NULL},
        {"--init", EB_OPT_STR, &o.init_dir, 0, 0, 0, "MODEL_DIR",
         "start from this HuggingFace checkpoint", NULL},
        {"--data", EB_OPT_STR, &data, 0, 0, 0, "TRAIN.tsv", "the training data", NULL},
        {"--out", EB_OPT_STR, &o.out_dir, 0, 0, 0, "DIR", "where checkpoints go (HF format)", NULL},
        {"--dev", EB_OPT_STR, &dev, 0, 0, 0, "DEV.tsv", "dev data, evaluated each epoch", NULL},
        {"--task", EB_OPT_STR, &task, 0, 0, 0, "NAME", "the GLUE task of the data (its layout)",
         NULL},
        {"--tokenizer", EB_OPT_STR, &tokp, 0, 0, 0, "spiece.model",
         "the tokenizer (default: the --init model's)", NULL},
        {"--ids", EB_OPT_FLAG, &ids, 0, 0, 0, NULL,
         "the data files hold token ids (label<TAB>ids<TAB>type ids),\n"
         "no tokenizer needed",
         NULL},
        {"--phase", EB_OPT_FN, &o.phase, 0, 0, 0, "mlm|backbone|offramps|predictor",
         "what to train (default backbone)", phase_fn},
        {"--teacher", EB_OPT_STR, &o.teacher_dir, 0, 0, 0, "DIR[,DIR...]",
         "knowledge distillation from these teachers (their mean logits)", NULL},
        {"--epochs", EB_OPT_INT, &o.epochs, 1, 1000000, 0, "N", "epochs, >= 1 (default 3)", NULL},
        {"--lr", EB_OPT_FLOAT, &o.lr, 0, EB_OPT_INF, EB_OPT_GT, "X",
         "peak learning rate, > 0 (default 5e-4)", NULL},
        {"--batch", EB_OPT_INT, &o.batch, 1, 65536, 0, "N", "batch size, 1..65536 (default 32)",
         NULL},
        {"--seed", EB_OPT_FN, &o.seed, 0, 0, 0, "N", "random seed (default 42)", seed_fn},
        {"--max-len", EB_OPT_INT, &o.max_len, 2, EB_MAX_TOKENS, 0, "N",
         "tokens per example, 2..4096 (default 128)", NULL},
        {"--warmup", EB_OPT_FLOAT, &o.warmup, 0, EB_OPT_INF, 0, "X",
         "warm-up: < 1 a fraction of the steps, else steps (default 0.1)", NULL},
        {"--weight-decay", EB_OPT_FLOAT, &o.weight_decay, 0, EB_OPT_INF, 0, "X",
         "AdamW weight decay, >= 0 (default 0.01)", NULL},
        {"--dropout", EB_OPT_FLOAT, &o.dropout, 0, 1, EB_OPT_LT, "X",
         "dropout before every classifier, in [0, 1) (default 0.1)", NULL},
        {"--hidden-dropout", EB_OPT_FLOAT, &o.hidden_dropout, 0, 1, EB_OPT_LT, "X",
         "dropout on the attention and FFN outputs, in [0, 1)", NULL},
        {"--clip", EB_OPT_FLOAT, &o.clip, 0, EB_OPT_INF, 0, "X",
         "global gradient norm clip, >= 0 (default 1)", NULL},
        {"--kd-temperature", EB_OPT_FLOAT, &o.kd_temperature, 0, EB_OPT_INF, EB_OPT_GT, "T",
         "distillation temperature, > 0 (default 2)", NULL},
        {"--kd-alpha", EB_OPT_FLOAT, &kd_alpha, 0, 1, 0, "A",
         "weight of the distillation loss, in [0, 1] (default 0.9)", NULL},
        {"--prune", EB_OPT_FN, &o.prune, 0, 0, 0, "movement|magnitude|none",
         "pruning of the encoder matrices", prune_fn},
        {"--keep", EB_OPT_FLOAT, &o.keep, 0, 1, EB_OPT_GT, "FRAC",
         "final kept fraction, in (0, 1] (default 0.5)", NULL},
        {"--score-lr", EB_OPT_FLOAT, &o.score_lr, 0, EB_OPT_INF, 0, "X",
         "movement scores' learning rate, >= 0 (default 1e-2)", NULL},
        {"--emb-prune", EB_OPT_FLOAT, &o.emb_prune_pct, 0, 100, EB_OPT_LT, "PCT",
         "final embedding percentile pruned, in [0, 100) (default 0)", NULL},
        {"--freeze-embeddings", EB_OPT_FLAG, &o.freeze_embeddings, 0, 0, 0, NULL,
         "keep the embeddings fixed", NULL},
        {"--adapters", EB_OPT_INT, &o.adapter_size, 1, 65536, 0, "SIZE",
         "(with --init) adapter-ALBERT: the --init backbone frozen,\n"
         "bottleneck adapters of SIZE per layer, the head and the off-ramps\n"
         "trained",
         NULL},
        {"--span", EB_OPT_FLAG, &o.span, 0, 0, 0, NULL, "learn adaptive attention spans", NULL},
        {"--span-coeff", EB_OPT_FLOAT, &o.span_coeff, 0, EB_OPT_INF, 0, "X",
         "span loss coefficient, >= 0 (default 1e-3)", NULL},
        {"--span-lr", EB_OPT_FLOAT, &o.span_lr, 0, EB_OPT_INF, 0, "X",
         "span learning rate, >= 0 (default 0.1)", NULL},
        {"--span-max", EB_OPT_FLOAT, &o.span_max, 0, EB_OPT_INF, 0, "N",
         "initial span, >= 0 (default 0: --max-len)", NULL},
        {"--span-ramp", EB_OPT_FLOAT, &o.span_ramp, 0, EB_OPT_INF, 0, "R",
         "span mask ramp, >= 0 (default 0: the config's)", NULL},
        {"--head-tokens", EB_OPT_INT, &head_tokens, 1, EB_MAX_TOKENS, 0, "K",
         "a text longer than --max-len keeps its first K and its last tokens\n"
         "(saved in the model; --task imdb: K = max-len / 4 unless given)",
         NULL},
        {"--predict-after", EB_OPT_INT, &o.predict_after, 1, EB_MAX_LAYERS - 1, 0, "P",
         "predictor: read after layer P (default 1)", NULL},
        {"--mlm-prob", EB_OPT_FLOAT, &o.mlm_prob, 0, 1, EB_OPT_GT | EB_OPT_LT, "X",
         "mlm: fraction of tokens chosen, in (0, 1) (default 0.15)", NULL},
        {"--mask-tokens", EB_OPT_FLOAT, &o.mask_tokens, 0, 1, EB_OPT_LT, "X",
         "backbone: each input token becomes [MASK] with probability X,\n"
         "in [0, 1)",
         NULL},
        {"--ema", EB_OPT_FLOAT, &o.ema, 0, 1, EB_OPT_LT, "DECAY",
         "dev evaluation and the saved model use a moving average of the\n"
         "weights, DECAY in [0, 1)",
         NULL},
        {"--resume", EB_OPT_FLAG, &o.resume, 0, 0, 0, NULL, "continue from DIR's saved state",
         NULL},
        {"--save-every", EB_OPT_LONG, &o.save_every, 0, EB_OPT_INF, 0, "N",
         "steps between checkpoints, >= 0 (default 500)", NULL},
        {"--steps", EB_OPT_LONG, &o.steps, 0, EB_OPT_INF, 0, "N", "> 0: the run is exactly N steps",
         NULL},
        {"--max-steps", EB_OPT_LONG, &o.max_steps, 0, EB_OPT_INF, 0, "N",
         "stop, resumably, after N more steps", NULL},
        {"--eval-every", EB_OPT_LONG, &o.eval_every, 0, EB_OPT_INF, 0, "N",
         "> 0: also evaluate on dev every N steps", NULL},
        {"--precision", EB_OPT_CHOICE, &o.bf16, 0, 0, 0, "fp32|bf16",
         "bf16: the products take bf16 operands (AVX512-BF16), with fp32\n"
         "sums, weights, gradients and optimiser (default fp32)",
         NULL},
        {"--log-every", EB_OPT_INT, &o.log_every, 1, 1000000000, 0, "N",
         "steps between progress lines, >= 1 (default 20)", NULL},
        {"--no-length-grouping", EB_OPT_FLAG, &o.no_length_grouping, 0, 0, 0, NULL,
         "plain shuffled batches", NULL},
        {"--threads", EB_OPT_INT, &threads, 0, EB_CLI_MAX_THREADS, 0, "N",
         "OpenBLAS's and OpenMP's threads (default 0: every core)", NULL},
        {"--json", EB_OPT_FLAG, &json, 0, 0, 0, NULL, "the report as one JSON object", NULL},
    };
    eb_opt_spec spec = {.cmd = C,
                        .synopsis = "(--config CONFIG.json | --init MODEL_DIR) --data TRAIN.tsv "
                                    "--out DIR [options]",
                        .intro = INTRO,
                        .opts = rows,
                        .nopts = EB_OPT_COUNT(rows)};
#define FIELD(f)                                                                                   \
    { #f, &o.f }
    const field_row fields[] = {
        FIELD(config_path),
        FIELD(init_dir),
        FIELD(out_dir),
        FIELD(teacher_dir),
        FIELD(phase),
        FIELD(epochs),
        FIELD(lr),
        FIELD(batch),
        FIELD(seed),
        FIELD(max_len),
        FIELD(warmup),
        FIELD(weight_decay),
        FIELD(dropout),
        FIELD(hidden_dropout),
        FIELD(clip),
        FIELD(kd_temperature),
        FIELD(prune),
        FIELD(keep),
        FIELD(score_lr),
        FIELD(emb_prune_pct),
        FIELD(freeze_embeddings),
        FIELD(adapter_size),
        FIELD(span),
        FIELD(span_coeff),
        FIELD(span_lr),
        FIELD(span_max),
        FIELD(span_ramp),
        FIELD(predict_after),
        FIELD(mlm_prob),
        FIELD(mask_tokens),
        FIELD(ema),
        FIELD(resume),
        FIELD(save_every),
        FIELD(steps),
        FIELD(max_steps),
        FIELD(eval_every),
        FIELD(bf16),
        FIELD(log_every),
        FIELD(no_length_grouping),
        {"kd_alpha_distil", &kd_alpha},
        {"kd_alpha_ce", &kd_alpha},
        {"truncate_head", &head_tokens},
        {"tokenizer_path", &tokp},
    };
#undef FIELD
    const int nfields = (int)(sizeof fields / sizeof fields[0]);
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) return prc;
    if (threads > 0) { /* OpenBLAS's pool and the kernels' OpenMP team */
        openblas_set_num_threads(threads);
#ifdef _OPENMP
        omp_set_num_threads(threads);
#endif
    }
    if (kd_alpha >= 0) {
        o.kd_alpha_distil = kd_alpha;
        o.kd_alpha_ce = 1 - kd_alpha;
    }
    if (!data || !o.out_dir || (!o.config_path == !o.init_dir)) {
        fprintf(stderr, "edgebert train: need --data, --out and one of --config / --init\n");
        eb_opt_usage(&spec, stderr);
        return 2;
    }
    eb_error err = {0};
    if (eb_train_options_check(&o, &err) != EB_OK) { /* every option, before reading a file */
        say(&spec, fields, nfields, err.msg);
        return 2;
    }
    if (o.init_dir && eb_bundle_is_bundle(o.init_dir)) {
        fprintf(stderr,
                "edgebert train: %s is an edgebert bundle, --init needs a checkpoint directory: "
                "write the task first with 'edgebert export -m %s --task NAME --out DIR', then "
                "give --init DIR\n",
                o.init_dir, o.init_dir);
        return 2;
    }
    /* the config decides labels and vocabulary */
    char path[1024];
    eb_config cfg;
    eb_model_extras x;
    if (o.init_dir)
        snprintf(path, sizeof path, "%s/config.json", o.init_dir);
    else
        snprintf(path, sizeof path, "%s", o.config_path);
    if (eb_config_load(path, &cfg, &x, &err) != EB_OK) {
        fprintf(stderr, "edgebert train: %s\n", err.msg);
        return 1;
    }
    if ((o.adapter_size > 0 || (o.init_dir && o.phase == EB_PHASE_BACKBONE)) && task && !ids) {
        /* fine-tuning (or adapters) for another task than the --init model's: a fresh head
         * with the task's labels; the encoder and embeddings are kept */
        const eb_task_info *ti;
        int map[EB_MAX_LABELS];
        eb_error e2 = {0};
        if (eb_task_lookup(task, &ti, &err) != EB_OK) {
            fprintf(stderr, "edgebert train: %s\n", err.msg);
            return 2;
        }
        if (eb_task_label_map(ti, (const char(*)[EB_LABEL_NAME_MAX])cfg.id2label, cfg.num_labels,
                              map, &e2) != EB_OK) {
            o.head_num_labels = ti->num_labels;
            cfg.num_labels = ti->num_labels;
            memset(cfg.id2label, 0, sizeof cfg.id2label);
            for (int i = 0; i < ti->num_labels; i++) {
                const char *nm = ti->label_names ? ti->label_names[i] : "LABEL_0";
                snprintf(o.head_labels[i], EB_LABEL_NAME_MAX, "%s", nm);
                snprintf(cfg.id2label[i], EB_LABEL_NAME_MAX, "%s", nm);
            }
            fprintf(stderr,
                    "edgebert train: a new %s head (the --init model's labels are not %s's)\n",
                    ti->display, ti->display);
        }
    }
    /* head + tail truncation of long texts: --head-tokens, else the --init model's, else
     * the task's share of the room (IMDB: 128 of 512) */
    if (o.phase != EB_PHASE_MLM && !ids) {
        const eb_task_info *hti = NULL;
        eb_error e3 = {0};
        if (task) eb_task_lookup(task, &hti, &e3);
        if (head_tokens >= 0)
            o.truncate_head = head_tokens;
        else if (x.truncate_head > 0)
            o.truncate_head = x.truncate_head;
        else if (hti && hti->head_tokens > 0)
            o.truncate_head = EB_MAX(1, (o.max_len * hti->head_tokens + 256) / 512);
        if (o.truncate_head > 0)
            fprintf(stderr, "edgebert train: long texts keep their first %d and last %d tokens\n",
                    EB_MIN(o.truncate_head, o.max_len - 2),
                    o.max_len - 2 - EB_MIN(o.truncate_head, o.max_len - 2));
    }
    if (!tokp && o.init_dir) {
        snprintf(path, sizeof path, "%s/spiece.model", o.init_dir);
        if (file_exists(path)) tokp = path;
    }
    o.tokenizer_path = tokp;
    eb_train_data tr = {0}, dv = {0};
    eb_tokenizer *tok = NULL;
    eb_status s = EB_OK;
    if (ids) {
        s = eb_train_data_read_ids(data, o.max_len, &tr, &err);
        if (s == EB_OK && dev) s = eb_train_data_read_ids(dev, o.max_len, &dv, &err);
    } else {
        if (!tokp) {
            fprintf(stderr, "edgebert train: no tokenizer: give --tokenizer spiece.model (or --ids "
                            "with token-id data)\n");
            return 2;
        }
        s = eb_tokenizer_load(tokp, NULL, &tok, &err);
        if (s == EB_OK && eb_tokenizer_vocab_size(tok) > cfg.vocab_size) {
            snprintf(err.msg, sizeof err.msg,
                     "%.400s: %d pieces, more than the config's vocab_size %d", tokp,
                     eb_tokenizer_vocab_size(tok), cfg.vocab_size);
            s = EB_ERR_ARG;
        }
        if (s == EB_OK && o.phase == EB_PHASE_MLM) {
            /* documents cut into windows of --max-len tokens; several files comma-separated */
            char *list = strdup(data);
            const char *paths[64];
            int np = 0;
            for (char *p = list ? strtok(list, ",") : NULL; p && np < 64; p = strtok(NULL, ","))
                paths[np++] = p;
            s = list ? eb_train_data_read_mlm(paths, np, task, tok, o.max_len, &tr, &err)
                     : eb_fail(&err, EB_ERR_NOMEM, "out of memory");
            free(list);
            if (s == EB_OK && dev)
                s = eb_train_data_read_mlm(&dev, 1, task, tok, o.max_len, &dv, &err);
        } else if (s == EB_OK) {
            s = eb_train_data_read_tsv_ex(data, task, tok, o.max_len, o.truncate_head, cfg.id2label,
                                          cfg.num_labels, &tr, &err);
        }
        if (s == EB_OK && dev && o.phase != EB_PHASE_MLM)
            s = eb_train_data_read_tsv_ex(dev, task, tok, o.max_len, o.truncate_head, cfg.id2label,
                                          cfg.num_labels, &dv, &err);
    }
    if (s != EB_OK) {
        fprintf(stderr, "edgebert train: %s\n", err.msg);
        eb_train_data_free(&tr);
        if (tok) eb_tokenizer_free(tok);
        return 1;
    }
    /* data-parallel under an MPI launcher (a group of one otherwise); every rank has read
     * the same data, so a failure above happened everywhere, before any rank joined */
    eb_dist *dist = NULL;
    if (eb_dist_init(NULL, NULL, &dist, &err) != EB_OK) {
        fprintf(stderr, "edgebert train: %s\n", err.msg);
        eb_train_data_free(&tr);
        eb_train_data_free(&dv);
        if (tok) eb_tokenizer_free(tok);
        return 1;
    }
    const int rank = eb_dist_rank(dist);
    if (rank == 0) {
        fprintf(stderr, "edgebert train: %d training examples%s", tr.n, dev ? "" : "\n");
        if (dev) fprintf(stderr, ", %d dev examples\n", dv.n);
        o.log = logmsg; /* rank 0 alone logs */
    }
    report_ctx rc = {rank};
    o.progress = progress; /* every rank: each reads its stop request */
    o.progress_ud = &rc;
    o.dist = dist;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL); /* what mpirun forwards to every rank */
    eb_train_report rep;
    s = eb_train_run(&o, &tr, dev ? &dv : NULL, &rep, &err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    /* the outcome is said before the ranks part: once one rank has exited non-zero, mpirun
     * may end the others before they write */
    if (s != EB_OK) {
        if (rank == 0)
            say(&spec, fields, nfields, err.msg);
        else if (s != EB_ERR_INTERRUPTED)
            fprintf(stderr, "edgebert train (rank %d): %s\n", rank, err.msg);
    }
    eb_dist_finalize(dist); /* eb_train_run's ranks agree on its outcome: all get here */
    eb_train_data_free(&tr);
    eb_train_data_free(&dv);
    if (tok) eb_tokenizer_free(tok);
    if (s != EB_OK) return s == EB_ERR_INTERRUPTED ? 130 : 1;
    if (rank != 0) return 0;
    if (json) {
        printf("{\"steps\": %ld, \"final_loss\": %.6g, \"dev_accuracy\": %.6g, \"seconds\": %.3f, "
               "\"tokens_per_s\": %.1f, \"sparsity\": %.6g, \"heads_off\": %d, \"out\": \"%s\"}\n",
               rep.steps, rep.final_loss, rep.dev_accuracy, rep.seconds, rep.tokens_per_s,
               rep.sparsity, rep.heads_off, o.out_dir);
    } else {
        fprintf(stderr,
                "edgebert train: done: %ld steps in %.1f s (%.0f tokens/s), final loss "
                "%.4f",
                rep.steps, rep.seconds, rep.tokens_per_s, rep.final_loss);
        if (dev)
            fprintf(stderr, ", dev %s %.4f", cfg.num_labels == 1 ? "Pearson r" : "accuracy",
                    rep.dev_accuracy);
        if (rep.sparsity > 0) fprintf(stderr, ", encoder sparsity %.3f", rep.sparsity);
        if (rep.heads_off > 0) fprintf(stderr, ", %d heads off", rep.heads_off);
        fprintf(stderr, "; saved to %s\n", o.out_dir);
    }
    return 0;
}
