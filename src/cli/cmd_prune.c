/* cmd_prune.c - edgebert prune: post-training magnitude pruning of an
 * ordinary fine-tuned ALBERT checkpoint.
 *
 * The encoder matrices EdgeBERT masks (attention query/key/value/dense, FFN
 * in and out of every layer group) keep the given fraction of their entries
 * by magnitude, each matrix on its own; the embedding tables (word,
 * position, token type) and their mapping to the hidden size are pruned to
 * a percentile of their own magnitudes, as the trainer does.  Everything
 * else (LayerNorms, biases, poolers, classifiers, off-ramps, spans) is
 * copied.  The output is a HuggingFace directory: config.json,
 * model.safetensors (F32), and spiece.model / exit_lut.csv when present. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "edgebert/quant.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "model/tensors.h"
#include "util/util.h"

static const char INTRO[] =
    "Magnitude-prunes a HuggingFace ALBERT checkpoint: every encoder matrix (attention\n"
    "query/key/value/dense, FFN in/out) keeps FRAC (0..1] of its weights by magnitude;\n"
    "the embedding tables and their mapping lose every value below their P-th percentile\n"
    "of |w| (0..100, default 0 = untouched).  Writes config.json, model.safetensors and\n"
    "copies spiece.model and exit_lut.csv when present.\n";

typedef enum { KIND_OTHER = 0, KIND_ENCODER = 1, KIND_EMBEDDING = 2 } tensor_kind;

/* By the tensor table's roles: the encoder matrices, and the embedding tables with their
 * mapping (of 2-D tensors: the mapping's bias is not pruned). */
static tensor_kind classify_name(const char *name) {
    int role = eb_tensor_role_of(name);
    if (role == EB_ROLE_ENC_MATRIX) return KIND_ENCODER;
    if (role == EB_ROLE_EMBEDDING || role == EB_ROLE_MAPPING) return KIND_EMBEDDING;
    return KIND_OTHER;
}

static int copy_file(const char *from, const char *to, eb_error *err) {
    char *d = NULL;
    size_t n = 0;
    if (eb_read_file(from, NULL, 0, &d, &n, err) != EB_OK) return 0;
    eb_status s = eb_write_file_atomic(to, d, n, err);
    free(d);
    return s == EB_OK;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int eb_cmd_prune(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    double keep = -1, pct = 0;
    int json = 0;
    eb_opt rows[] = {
        {"--in", EB_OPT_STR, &in, 0, 0, 0, "DIR", "the fine-tuned checkpoint", NULL},
        {"--out", EB_OPT_STR, &out, 0, 0, 0, "DIR", "the pruned checkpoint to write", NULL},
        {"--keep", EB_OPT_DOUBLE, &keep, 0, 1, EB_OPT_GT, "FRAC",
         "fraction of each encoder matrix kept, in (0, 1]", NULL},
        {"--emb-percentile", EB_OPT_DOUBLE, &pct, 0, 100, EB_OPT_LT, "P",
         "embedding percentile pruned, in [0, 100) (default 0)", NULL},
        {"--json", EB_OPT_FLAG, &json, 0, 0, 0, NULL, "the report as one JSON object", NULL},
    };
    eb_opt_spec spec = {.cmd = "prune",
                        .synopsis = "--in DIR --out DIR --keep FRAC [--emb-percentile P] [--json]",
                        .intro = INTRO,
                        .opts = rows,
                        .nopts = EB_OPT_COUNT(rows)};
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) return prc;
    if (!in || !out || keep < 0) {
        fprintf(stderr, "edgebert prune: --in, --out and --keep are required\n");
        eb_opt_usage(&spec, stderr);
        return 2;
    }
    char rin[PATH_MAX], rout[PATH_MAX];
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "edgebert prune: %s: cannot create: %s\n", out, strerror(errno));
        return 1;
    }
    if (!realpath(in, rin) || !realpath(out, rout)) {
        fprintf(stderr, "edgebert prune: %s: no such directory\n", realpath(in, rin) ? out : in);
        return 1;
    }
    if (!strcmp(rin, rout)) {
        fprintf(stderr, "edgebert prune: --out must differ from --in\n");
        return 2;
    }
    eb_error err = {0};
    char path[PATH_MAX + 64], dst[PATH_MAX + 64];
    eb_config cfg;
    eb_model_extras x;
    snprintf(path, sizeof path, "%s/config.json", in);
    if (eb_config_load(path, &cfg, &x, &err) != EB_OK) {
        fprintf(stderr, "edgebert prune: %s\n", err.msg);
        return 1;
    }
    eb_safetensors st;
    snprintf(path, sizeof path, "%s/model.safetensors", in);
    if (eb_st_open(path, NULL, 1, &st, &err) != EB_OK) {
        fprintf(stderr, "edgebert prune: %s\n", err.msg);
        return 1;
    }
    int rc = 1, n = st.n;
    eb_st_entry *e = calloc((size_t)n + 1, sizeof *e);
    float **bufs = calloc((size_t)n + 1, sizeof *bufs);
    double enc_n = 0, enc_nz = 0, emb_n = 0, emb_nz = 0;
    int enc_mats = 0, emb_mats = 0;
    if (!e || !bufs) {
        fprintf(stderr, "edgebert prune: out of memory\n");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const eb_st_tensor *t = &st.tensors[i];
        bufs[i] = malloc(t->numel * sizeof(float) + 1);
        if (!bufs[i]) {
            fprintf(stderr, "edgebert prune: out of memory for %s\n", t->name);
            goto done;
        }
        eb_st_to_f32(t, bufs[i]);
        tensor_kind k = t->ndim == 2 ? classify_name(t->name) : KIND_OTHER;
        eb_status s = EB_OK;
        size_t kept = t->numel, zeroed = 0;
        if (k == KIND_ENCODER) {
            s = eb_prune_magnitude(bufs[i], t->numel, keep, NULL, &kept, &err);
            enc_n += (double)t->numel;
            enc_nz += (double)kept;
            enc_mats++;
        } else if (k == KIND_EMBEDDING) {
            if (pct > 0)
                s = eb_prune_percentile(bufs[i], t->numel, pct, NULL, &zeroed, &err);
            else
                for (size_t j = 0; j < t->numel; j++)
                    zeroed += bufs[i][j] == 0.0f;
            emb_n += (double)t->numel;
            emb_nz += (double)(t->numel - zeroed);
            emb_mats++;
        }
        if (s != EB_OK) {
            fprintf(stderr, "edgebert prune: %s: %s\n", t->name, err.msg);
            goto done;
        }
        e[i].name = t->name;
        e[i].data = bufs[i];
        e[i].ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++)
            e[i].shape[d] = t->shape[d];
    }
    if (enc_mats == 0) {
        fprintf(stderr, "edgebert prune: %s has no ALBERT encoder matrices\n", path);
        goto done;
    }
    snprintf(dst, sizeof dst, "%s/model.safetensors", out);
    if (eb_st_write(dst, e, n, EB_DTYPE_F32, "{\"format\": \"pt\"}", &err) != EB_OK) {
        fprintf(stderr, "edgebert prune: %s\n", err.msg);
        goto done;
    }
    char *js = eb_config_to_json(&cfg, &x);
    snprintf(dst, sizeof dst, "%s/config.json", out);
    if (!js || eb_write_file_atomic(dst, js, strlen(js), &err) != EB_OK) {
        fprintf(stderr, "edgebert prune: %s\n", js ? err.msg : "out of memory");
        free(js);
        goto done;
    }
    free(js);
    static const char *const extra[] = {"spiece.model", "exit_lut.csv"};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", in, extra[k]);
        snprintf(dst, sizeof dst, "%s/%s", out, extra[k]);
        if (file_exists(path) && !copy_file(path, dst, &err)) {
            fprintf(stderr, "edgebert prune: %s\n", err.msg);
            goto done;
        }
    }
    if (json)
        printf(
            "{\"keep\": %.6g, \"emb_percentile\": %.6g, \"encoder_matrices\": %d, "
            "\"encoder_density\": %.6f, \"embedding_tensors\": %d, \"embedding_density\": %.6f}\n",
            keep, pct, enc_mats, enc_nz / enc_n, emb_mats, emb_n > 0 ? emb_nz / emb_n : 1.0);
    else
        printf("%s: %d encoder matrices at density %.4f, %d embedding tensors at density %.4f\n",
               out, enc_mats, enc_nz / enc_n, emb_mats, emb_n > 0 ? emb_nz / emb_n : 1.0);
    rc = 0;
done:
    for (int i = 0; bufs && i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(e);
    eb_st_close(&st);
    return rc;
}
