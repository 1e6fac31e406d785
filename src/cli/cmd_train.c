/* cmd_train.c - edgebert train: the EdgeBERT training recipe (include/edgebert/train.h). */
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

static void usage(void) {
    fprintf(
        stderr,
        "usage: edgebert train (--config CONFIG.json | --init MODEL_DIR) --data TRAIN.tsv --out "
        "DIR\n"
        "                      [--dev DEV.tsv] [--task NAME] [--tokenizer spiece.model] [--ids]\n"
        "                      [--phase mlm|backbone|offramps|predictor] [--teacher DIR[,DIR...]]\n"
        "                      [--epochs N] [--lr X] [--batch N] [--seed N] [--max-len N]\n"
        "                      [--warmup X] [--weight-decay X] [--dropout X] [--hidden-dropout X]\n"
        "                      [--clip X] [--kd-temperature T] [--kd-alpha A]\n"
        "                      [--prune movement|magnitude] [--keep FRAC] [--score-lr X]\n"
        "                      [--emb-prune PCT] [--freeze-embeddings] [--adapters SIZE]\n"
        "                      [--span] [--span-coeff X] [--span-lr X] [--span-max N] [--span-ramp "
        "R]\n"
        "                      [--predict-after P] [--mlm-prob X] [--mask-tokens X] [--resume] "
        "[--save-every N] "
        "[--steps N] "
        "[--max-steps N]\n"
        "                      [--ema DECAY] [--eval-every N] [--precision fp32|bf16]\n"
        "                      [--head-tokens K]\n"
        "                      [--log-every N] [--no-length-grouping] [--threads N] [--json]\n"
        "Phase mlm: masked-LM pretraining on plain text (--data: one document per line, cut\n"
        "into windows of --max-len tokens; a TAB between the two segments of a pair; several\n"
        "files comma-separated; a .tsv file gives its --task text column), the [MASK] head\n"
        "tied to the word embeddings.\n"
        "--head-tokens K: a text longer than --max-len keeps its first K and its last tokens\n"
        "(saved in the model; --task imdb: K = max-len / 4 unless given).\n"
        "Phase backbone: fine-tune (with --teacher: KD loss a*KL*T^2 + (1-a)*CE; several\n"
        "teachers: their mean logits; --mask-tokens X: each input token of a training batch\n"
        "becomes [MASK] with probability X). Phase offramps:\n"
        "backbone frozen, off-ramps trained. Phase predictor: writes DIR/exit_lut.csv.\n"
        "--adapters SIZE (with --init): adapter-ALBERT: the --init backbone frozen, bottleneck\n"
        "adapters of SIZE per layer, the head and the off-ramps trained.\n"
        "--ids: the data files hold token ids (label<TAB>ids<TAB>type ids), no tokenizer needed.\n"
        "--ema DECAY: dev evaluation and the saved model use a moving average of the weights.\n"
        "--precision bf16: the products take bf16 operands (AVX512-BF16), with fp32 sums,\n"
        "weights, gradients and optimiser.\n"
        "Ctrl-C saves a checkpoint and exits; --resume continues it to the same result.\n"
        "Data-parallel (an MPI build, make MPI=1): mpirun -np N edgebert train ...: each rank\n"
        "a shard of every batch, rank 0 writes and logs; kill -USR1 <mpirun> saves and stops.\n");
}

static void progress(void *ud, const eb_train_progress *p) {
    (void)ud;
    long eta = (long)p->eta_s;
    fprintf(stderr,
            "step %ld/%ld  epoch %d/%d  loss %.4f  lr %.3e  %.0f tok/s  ETA %ldh%02ldm%02lds",
            p->step, p->total, p->epoch, p->epochs, p->loss, p->lr, p->tokens_per_s, eta / 3600,
            eta / 60 % 60, eta % 60);
    if (p->kept < 1.0) fprintf(stderr, "  kept %.3f", p->kept);
    fprintf(stderr, "\n");
}

static void logmsg(void *ud, const char *msg) {
    (void)ud;
    fprintf(stderr, "edgebert train: %s\n", msg);
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
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1, used = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return usage(), 0;
        else if (!strcmp(a, "--config"))
            o.config_path = v;
        else if (!strcmp(a, "--init"))
            o.init_dir = v;
        else if (!strcmp(a, "--data"))
            data = v;
        else if (!strcmp(a, "--dev"))
            dev = v;
        else if (!strcmp(a, "--task"))
            task = v;
        else if (!strcmp(a, "--tokenizer"))
            tokp = v;
        else if (!strcmp(a, "--teacher"))
            o.teacher_dir = v;
        else if (!strcmp(a, "--out"))
            o.out_dir = v;
        else if (!strcmp(a, "--epochs"))
            ok = eb_cli_parse_int(C, a, v, &o.epochs);
        else if (!strcmp(a, "--batch"))
            ok = eb_cli_parse_int(C, a, v, &o.batch);
        else if (!strcmp(a, "--max-len"))
            ok = eb_cli_parse_int(C, a, v, &o.max_len);
        else if (!strcmp(a, "--head-tokens")) {
            ok = eb_cli_parse_int(C, a, v, &head_tokens) && head_tokens >= 1;
            if (!ok && v) fprintf(stderr, "edgebert train: --head-tokens must be >= 1\n");
        }
        else if (!strcmp(a, "--predict-after"))
            ok = eb_cli_parse_int(C, a, v, &o.predict_after);
        else if (!strcmp(a, "--log-every"))
            ok = eb_cli_parse_int(C, a, v, &o.log_every);
        else if (!strcmp(a, "--adapters")) {
            ok = eb_cli_parse_int(C, a, v, &o.adapter_size) && o.adapter_size >= 1;
            if (!ok && v) fprintf(stderr, "edgebert train: --adapters needs a positive size\n");
        } else if (!strcmp(a, "--threads")) {
            int th = 0;
            ok = eb_cli_parse_int(C, a, v, &th) && th >= 1;
            if (ok) { /* OpenBLAS's pool and the kernels' OpenMP team */
                openblas_set_num_threads(th);
#ifdef _OPENMP
                omp_set_num_threads(th);
#endif
            } else if (v)
                fprintf(stderr, "edgebert train: --threads needs a positive integer\n");
        } else if (!strcmp(a, "--lr"))
            ok = eb_cli_parse_float(C, a, v, &o.lr);
        else if (!strcmp(a, "--warmup"))
            ok = eb_cli_parse_float(C, a, v, &o.warmup);
        else if (!strcmp(a, "--weight-decay"))
            ok = eb_cli_parse_float(C, a, v, &o.weight_decay);
        else if (!strcmp(a, "--dropout"))
            ok = eb_cli_parse_float(C, a, v, &o.dropout);
        else if (!strcmp(a, "--hidden-dropout"))
            ok = eb_cli_parse_float(C, a, v, &o.hidden_dropout);
        else if (!strcmp(a, "--clip"))
            ok = eb_cli_parse_float(C, a, v, &o.clip);
        else if (!strcmp(a, "--kd-temperature"))
            ok = eb_cli_parse_float(C, a, v, &o.kd_temperature);
        else if (!strcmp(a, "--kd-alpha"))
            ok = eb_cli_parse_float(C, a, v, &kd_alpha);
        else if (!strcmp(a, "--keep"))
            ok = eb_cli_parse_float(C, a, v, &o.keep);
        else if (!strcmp(a, "--score-lr"))
            ok = eb_cli_parse_float(C, a, v, &o.score_lr);
        else if (!strcmp(a, "--emb-prune"))
            ok = eb_cli_parse_float(C, a, v, &o.emb_prune_pct);
        else if (!strcmp(a, "--span-coeff"))
            ok = eb_cli_parse_float(C, a, v, &o.span_coeff);
        else if (!strcmp(a, "--span-lr"))
            ok = eb_cli_parse_float(C, a, v, &o.span_lr);
        else if (!strcmp(a, "--span-max"))
            ok = eb_cli_parse_float(C, a, v, &o.span_max);
        else if (!strcmp(a, "--span-ramp"))
            ok = eb_cli_parse_float(C, a, v, &o.span_ramp);
        else if (!strcmp(a, "--mlm-prob")) {
            ok = eb_cli_parse_float(C, a, v, &o.mlm_prob) && o.mlm_prob > 0 && o.mlm_prob < 1;
            if (!ok && v) fprintf(stderr, "edgebert train: --mlm-prob must be in (0, 1)\n");
        } else if (!strcmp(a, "--mask-tokens")) {
            ok = eb_cli_parse_float(C, a, v, &o.mask_tokens) && o.mask_tokens >= 0 &&
                 o.mask_tokens < 1;
            if (!ok && v) fprintf(stderr, "edgebert train: --mask-tokens must be in [0, 1)\n");
        } else if (!strcmp(a, "--ema")) {
            ok = eb_cli_parse_float(C, a, v, &o.ema) && o.ema >= 0 && o.ema < 1;
            if (!ok && v) fprintf(stderr, "edgebert train: --ema must be in [0, 1)\n");
        } else if (!strcmp(a, "--seed") || !strcmp(a, "--save-every") ||
                   !strcmp(a, "--max-steps") || !strcmp(a, "--steps") ||
                   !strcmp(a, "--eval-every")) {
            double d;
            ok = eb_cli_parse_double(C, a, v, &d) && d >= 0 && d == floor(d);
            if (!ok && v) fprintf(stderr, "edgebert train: %s needs a non-negative integer\n", a);
            if (ok && !strcmp(a, "--seed"))
                o.seed = (uint64_t)d;
            else if (ok && !strcmp(a, "--save-every"))
                o.save_every = (long)d;
            else if (ok && !strcmp(a, "--steps"))
                o.steps = (long)d;
            else if (ok && !strcmp(a, "--eval-every"))
                o.eval_every = (long)d;
            else if (ok)
                o.max_steps = (long)d;
        } else if (!strcmp(a, "--prune")) {
            if (v && !strcmp(v, "movement"))
                o.prune = EB_PRUNE_MOVEMENT;
            else if (v && !strcmp(v, "magnitude"))
                o.prune = EB_PRUNE_MAGNITUDE;
            else if (v && !strcmp(v, "none"))
                o.prune = EB_PRUNE_NONE;
            else {
                fprintf(stderr, "edgebert train: --prune movement|magnitude|none\n");
                return 2;
            }
        } else if (!strcmp(a, "--precision")) {
            if (v && (!strcmp(v, "fp32") || !strcmp(v, "bf16")))
                o.bf16 = !strcmp(v, "bf16");
            else {
                fprintf(stderr, "edgebert train: --precision fp32|bf16\n");
                ok = 0;
            }
        } else if (!strcmp(a, "--phase")) {
            if (v && !strcmp(v, "backbone"))
                o.phase = EB_PHASE_BACKBONE;
            else if (v && !strcmp(v, "offramps"))
                o.phase = EB_PHASE_OFFRAMPS;
            else if (v && !strcmp(v, "predictor"))
                o.phase = EB_PHASE_PREDICTOR;
            else if (v && !strcmp(v, "mlm"))
                o.phase = EB_PHASE_MLM;
            else {
                fprintf(stderr, "edgebert train: --phase mlm|backbone|offramps|predictor\n");
                return 2;
            }
        } else {
            used = 0;
            if (!strcmp(a, "--span"))
                o.span = 1;
            else if (!strcmp(a, "--freeze-embeddings"))
                o.freeze_embeddings = 1;
            else if (!strcmp(a, "--resume"))
                o.resume = 1;
            else if (!strcmp(a, "--no-length-grouping"))
                o.no_length_grouping = 1;
            else if (!strcmp(a, "--ids"))
                ids = 1;
            else if (!strcmp(a, "--json"))
                json = 1;
            else {
                fprintf(stderr, "edgebert train: unknown option %s\n", a);
                return usage(), 2;
            }
        }
        if (used && !v) {
            fprintf(stderr, "edgebert train: %s needs a value\n", a);
            return 2;
        }
        if (!ok) return 2;
        i += used;
    }
    if (kd_alpha >= 0) {
        if (kd_alpha > 1) {
            fprintf(stderr, "edgebert train: --kd-alpha must be in [0, 1]\n");
            return 2;
        }
        o.kd_alpha_distil = kd_alpha;
        o.kd_alpha_ce = 1 - kd_alpha;
    }
    if (!data || !o.out_dir || (!o.config_path == !o.init_dir)) {
        fprintf(stderr, "edgebert train: need --data, --out and one of --config / --init\n");
        return usage(), 2;
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
    eb_error err = {0};
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
        if (head_tokens >= 0) o.truncate_head = head_tokens;
        else if (x.truncate_head > 0) o.truncate_head = x.truncate_head;
        else if (hti && hti->head_tokens > 0)
            o.truncate_head = EB_MAX(1, (o.max_len * hti->head_tokens + 256) / 512);
        if (o.truncate_head > 0)
            fprintf(stderr,
                    "edgebert train: long texts keep their first %d and last %d tokens\n",
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
            s = eb_train_data_read_tsv_ex(data, task, tok, o.max_len, o.truncate_head,
                                          cfg.id2label, cfg.num_labels, &tr, &err);
        }
        if (s == EB_OK && dev && o.phase != EB_PHASE_MLM)
            s = eb_train_data_read_tsv_ex(dev, task, tok, o.max_len, o.truncate_head,
                                          cfg.id2label, cfg.num_labels, &dv, &err);
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
        o.progress = progress; /* rank 0 alone reports */
        o.log = logmsg;
    }
    o.stop = &g_stop;
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
    eb_dist_finalize(dist); /* eb_train_run's ranks agree on its outcome: all get here */
    eb_train_data_free(&tr);
    eb_train_data_free(&dv);
    if (tok) eb_tokenizer_free(tok);
    if (s != EB_OK) {
        if (rank == 0)
            fprintf(stderr, "edgebert train: %s\n", err.msg);
        else if (s != EB_ERR_INTERRUPTED)
            fprintf(stderr, "edgebert train (rank %d): %s\n", rank, err.msg);
        return s == EB_ERR_INTERRUPTED ? 130 : 1;
    }
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
