#!/usr/bin/python3
"""test_baselines.py - the pieces of tools/baselines.py against dense numpy.

- features(): the word and word-pair keys of a text with log(1 + count)
  values, unit length per text, only keys seen in two training texts, the
  same columns for unseen texts; checked against a dense matrix built here
  with Python dictionaries;
- matvec() and subset() equal the dense products;
- train_lr() on a linearly separable problem fits it, and its gradient step
  agrees with the dense gradient (one step from zero).
Prints PASS/FAIL lines; exits 1 on any FAIL."""
import collections
import importlib.util
import math
import os
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
spec = importlib.util.spec_from_file_location("baselines", os.path.join(ROOT, "tools", "baselines.py"))
B = importlib.util.module_from_spec(spec)
spec.loader.exec_module(B)
FAILS = []


def report(ok, name, why=""):
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))
    if not ok:
        FAILS.append(name)


def dense(F, d):
    r, c, x, n = F
    M = np.zeros((n, d))
    np.add.at(M, (r, c), x)
    return M


def main():
    V = 1 << 20
    train = [[5, 6, 5, 6, 7], [5, 6, 9], [7, 7, 7], [8]]
    F, vocab = B.features(train, V)
    kept = vocab[0]
    # reference: keys in >= 2 texts
    df = collections.Counter()
    for d in train:
        keys = set(d) | {V + a * V + b for a, b in zip(d, d[1:])}
        df.update(keys)
    want = sorted(k for k, c in df.items() if c >= 2)
    report(list(kept) == want, "features: the keys of two texts or more", "%s vs %s" % (list(kept), want))
    M = dense(F, len(kept))
    R = np.zeros_like(M)
    for i, d in enumerate(train):
        cnt = collections.Counter(d + [V + a * V + b for a, b in zip(d, d[1:])])
        for j, k in enumerate(want):
            if cnt[k]:
                R[i, j] = math.log1p(cnt[k])
        nrm = np.linalg.norm(R[i])
        if nrm > 0:
            R[i] /= nrm
    report(np.allclose(M, R), "features: log(1 + count), unit length per text")
    G, _ = B.features([[5, 6, 6, 100], [100]], V, vocab)
    Rg = np.zeros((2, len(kept)))
    cnt = collections.Counter([5, 6, 6, 100, V + 5 * V + 6, V + 6 * V + 6, V + 6 * V + 100])
    for j, k in enumerate(want):
        Rg[0, j] = math.log1p(cnt[k]) if cnt[k] else 0
    Rg[0] /= np.linalg.norm(Rg[0])
    report(np.allclose(dense(G, len(kept)), Rg), "features: unseen keys dropped, same columns")
    # matvec / subset
    rng = np.random.default_rng(3)
    n, d = 300, 20
    X = rng.normal(size=(n, d)) * (rng.random((n, d)) < 0.3)
    r, c = np.nonzero(X)
    F = (r, c, X[r, c], n)
    w = rng.normal(size=d)
    report(np.allclose(B.matvec(F, w, 0.5), X @ w + 0.5), "matvec = dense product")
    idx = np.array([2, 7, 150, 299])
    report(np.allclose(B.matvec(B.subset(F, idx), w, 0.0), X[idx] @ w), "subset keeps the rows in order")
    # training: a separable problem is fitted
    wt = rng.normal(size=d)
    y = (X @ wt > 0).astype(float)
    w1, b1 = B.train_lr(F, y, d, 0.0, epochs=30, batch=32, lr=0.05)
    acc = B.accuracy(F, y, w1, b1)
    report(acc > 0.95, "train_lr fits a separable problem", "accuracy %.3f" % acc)
    # one step from zero with one batch: Adam's first step is -lr * sign(gradient)
    w2, b2 = B.train_lr(F, y, d, 0.0, epochs=1, batch=n, lr=0.01)
    g = X.T @ (0.5 - y) / n
    report(np.allclose(w2[g != 0], -0.01 * np.sign(g[g != 0]), atol=1e-6),
           "train_lr: first step along the dense gradient")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
