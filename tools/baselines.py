#!/usr/bin/python3
"""Baselines side by side on SST-2 dev and IMDB dev, as one markdown table.

- a logistic regression on word and word-pair counts of the same tokens the
  model sees (the SentencePiece ids of `edgebert tokenize`, [CLS]/[SEP] left
  out): every id and every pair of neighbouring ids that occurs in at least two
  training texts is a feature, its value log(1 + count), each text's vector
  scaled to unit length; L2-regularised, trained by minibatch Adam (8 epochs)
  on the train split; the regularisation is chosen on a tenth of the train split held
  out (nothing is chosen on dev), then the model is trained on all of it;
- the bundle given (default: the shipped models/default.ebb) with `edgebert
  eval`, all layers (--policy base) and early exit at its calibrated threshold
  (--policy ee).  A data set without a task of its name in the bundle is run
  through the bundle's sst2 head (zero-shot, the row says so), cut as the task
  says (without edgebert_truncate_head: the first tokens).

usage: tools/baselines.py [--model BUNDLE] [--data DIR] [--edgebert BIN] [--threads N]
DIR holds glue/SST-2/{train,dev}.tsv and imdb/{train,dev}.tsv (default
../shared/data); a missing set is left out with a note.  Needs numpy."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SETS = [("SST-2", "sst2", "glue/SST-2"), ("IMDB", "imdb", "imdb")]


def read_tsv(path):
    """(texts, labels) of a sentence<TAB>label file."""
    with open(path, encoding="utf-8-sig") as f:
        lines = f.read().split("\n")
    head = lines[0].split("\t")
    ia, il = head.index("sentence"), head.index("label")
    texts, labels = [], []
    for l in lines[1:]:
        if not l:
            continue
        c = l.split("\t")
        texts.append(c[ia])
        labels.append(int(c[il]))
    return texts, np.array(labels, dtype=np.float64)


def tokenize(eb, spm, texts):
    """SentencePiece ids of each whole text, specials left out (texts above 4,094 are cut)."""
    p = subprocess.run([eb, "tokenize", "--spm", spm, "--json", "--max-len", "4096"],
                       input="".join(t.replace("\t", " ") + "\n" for t in texts),
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("baselines: edgebert tokenize failed: " + p.stderr.strip())
    out = [json.loads(l)["ids"][1:-1] for l in p.stdout.splitlines()]
    if len(out) != len(texts):
        sys.exit("baselines: %d texts but %d tokenizations" % (len(texts), len(out)))
    return out


def ngram_keys(ids, V):
    a = np.asarray(ids, dtype=np.int64)
    return np.concatenate([a, V + a[:-1] * V + a[1:]]) if len(a) > 1 else a


def features(docs, V, vocab=None):
    """Sparse rows (row, col, value); vocab: key -> column (built from docs when None)."""
    keys = [np.unique(ngram_keys(d, V), return_counts=True) for d in docs]
    if vocab is None:
        allk, df = np.unique(np.concatenate([k for k, _ in keys]), return_counts=True)
        kept = allk[df >= 2]
        vocab = (kept, np.arange(len(kept)))
    kept, cols = vocab
    R, C, X = [], [], []
    for i, (k, c) in enumerate(keys):
        pos = np.searchsorted(kept, k)
        pos[pos >= len(kept)] = 0
        hit = kept[pos] == k
        v = np.log1p(c[hit].astype(np.float64))
        n = np.sqrt((v * v).sum())
        R.append(np.full(hit.sum(), i))
        C.append(cols[pos[hit]])
        X.append(v / n if n > 0 else v)
    return (np.concatenate(R), np.concatenate(C), np.concatenate(X), len(docs)), vocab


def matvec(F, w, b):
    r, c, x, n = F
    return np.bincount(r, weights=x * w[c], minlength=n) + b


def train_lr(F, y, d, lam, epochs=8, batch=256, lr=0.02, seed=0):
    """L2-regularised logistic regression (mean log-loss + lam/2 |w|^2), minibatch Adam
    over shuffled batches of texts, the learning rate halved each epoch after the fourth."""
    r, c, x, n = F
    start = np.searchsorted(r, np.arange(n + 1))  # rows are stored in order
    w, b = np.zeros(d), 0.0
    m, v, mb, vb = np.zeros(d), np.zeros(d), 0.0, 0.0
    b1, b2, t = 0.9, 0.999, 0
    rng = np.random.default_rng(seed)
    for ep in range(epochs):
        k0 = lr * (0.5 ** max(0, ep - 3))
        for bi in np.array_split(rng.permutation(n), max(1, n // batch)):
            idx = np.concatenate([np.arange(start[i], start[i + 1]) for i in bi])
            rows = np.repeat(np.arange(len(bi)), start[bi + 1] - start[bi])
            cc, xx = c[idx], x[idx]
            z = np.bincount(rows, weights=xx * w[cc], minlength=len(bi)) + b
            g = (1 / (1 + np.exp(-z)) - y[bi]) / len(bi)
            gw = np.bincount(cc, weights=xx * g[rows], minlength=d) + lam * w
            gb = g.sum()
            t += 1
            m, v = b1 * m + (1 - b1) * gw, b2 * v + (1 - b2) * gw * gw
            mb, vb = b1 * mb + (1 - b1) * gb, b2 * vb + (1 - b2) * gb * gb
            k = k0 * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            w -= k * m / (np.sqrt(v) + 1e-8)
            b -= k * mb / (np.sqrt(vb) + 1e-8)
    return w, b


def accuracy(F, y, w, b):
    return float(((matvec(F, w, b) > 0) == (y > 0.5)).mean())


def subset(F, idx):
    """The rows idx (sorted) of F, renumbered 0..len(idx)-1 in that order."""
    r, c, x, n = F
    new = np.full(n, -1)
    new[idx] = np.arange(len(idx))
    s = new[r] >= 0
    return (new[r[s]], c[s], x[s], len(idx))


def logreg(eb, spm, train, dev, V):
    tr_t, tr_y = read_tsv(train)
    dv_t, dv_y = read_tsv(dev)
    Ftr, vocab = features(tokenize(eb, spm, tr_t), V)
    Fdv, _ = features(tokenize(eb, spm, dv_t), V, vocab)
    d = len(vocab[0])
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(tr_y))
    held, fit = np.sort(perm[: len(perm) // 10]), np.sort(perm[len(perm) // 10:])
    best = None
    for lam in (1e-5, 1e-6, 1e-7, 0.0):
        w, b = train_lr(subset(Ftr, fit), tr_y[fit], d, lam)
        a = accuracy(subset(Ftr, held), tr_y[held], w, b)
        print("baselines: %s: L2 %g: %.4f on the held-out tenth of train" % (os.path.basename(os.path.dirname(train)), lam, a),
              file=sys.stderr)
        if best is None or a > best[0]:
            best = (a, lam)
    w, b = train_lr(Ftr, tr_y, d, best[1])
    return accuracy(Fdv, dv_y, w, b), d, best[1]


def eval_model(eb, model, task, dev, policy, threads):
    p = subprocess.run([eb, "info", "-m", model, "--json"], capture_output=True, text=True)
    tasks = [t["name"] for t in json.loads(p.stdout).get("tasks", [])] if p.returncode == 0 else []
    mt = task if task in tasks else "sst2"
    args = [eb, "eval", "-m", model, "--task", task, "--model-task", mt, "--data", dev,
            "--policy", policy, "--threads", str(threads), "--json"]
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("baselines: %s: %s" % (" ".join(args), p.stderr.strip()[-300:]))
    d = json.loads(p.stdout)
    return d["accuracy"], d["mean_exit_layer"], mt != task


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "default.ebb"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--edgebert", default=os.path.join(ROOT, "build", "edgebert"))
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    if not os.path.exists(a.edgebert):
        sys.exit("baselines: %s missing (make first)" % a.edgebert)
    p = subprocess.run([a.edgebert, "info", "-m", a.model, "--json"], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("baselines: %s" % p.stderr.strip())
    V = 1 << 20  # above any piece id: pair (a, b) is the key V + a * V + b
    tmp = tempfile.mkdtemp()
    p = subprocess.run([a.edgebert, "export", "-m", a.model, "--out", tmp, "--force"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("baselines: %s" % p.stderr.strip())
    spm = os.path.join(tmp, "spiece.model")  # the bundle's tokenizer, without its length cap
    t0 = time.time()
    cols, rows, notes = [], {}, []
    names = ["word + word-pair logistic regression (same tokens)",
             "%s, all layers (--policy base)" % os.path.basename(a.model),
             "%s, early exit (--policy ee)" % os.path.basename(a.model)]
    for disp, task, sub in SETS:
        tr, dv = (os.path.join(a.data, sub, f) for f in ("train.tsv", "dev.tsv"))
        if not (os.path.exists(tr) and os.path.exists(dv)):
            notes.append("%s left out: %s or %s missing" % (disp, tr, dv))
            continue
        cols.append(disp + " dev")
        acc, d, lam = logreg(a.edgebert, spm, tr, dv, V)
        rows.setdefault(names[0], []).append("%.2f %%" % (100 * acc))
        notes.append("%s: logistic regression on %d features, L2 %g (chosen on a held-out tenth of train)"
                     % (disp, d, lam))
        for name, pol in zip(names[1:], ("base", "ee")):
            acc, ex, zs = eval_model(a.edgebert, a.model, task, dv, pol, a.threads)
            rows.setdefault(name, []).append("%.2f %%%s (exit %.2f)" % (100 * acc, " zero-shot" if zs else "", ex))
            if zs and pol == "base":
                notes.append("%s: the bundle has no %s task; its sst2 head answers (zero-shot), the "
                             "review cut to the first tokens of its length" % (disp, task))
    print("| model | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for name in names:
        if name in rows:
            print("| %s | %s |" % (name, " | ".join(rows[name])))
    print()
    for n in notes:
        print("- " + n)
    print("- measured in %.0f s" % (time.time() - t0))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
