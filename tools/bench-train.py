#!/usr/bin/python3
"""bench-train.py - training throughput of `edgebert train` against PyTorch
(Debian python3-torch) on the same ALBERT, batch and sequence length, side by
side in one run.

  tools/bench-train.py [--hidden 256 --layers 6 --heads 4 --ffn 1024 --emb 128
                        --vocab 30000 --batch 32 --seq 64 --steps 20 --threads 1]

Both sides do the same work per step: forward, cross-entropy, backward,
gradient clipping, AdamW; every sequence has exactly --seq tokens (no padding
savings for either side).  The two run alternately --repeats times and the
best of each counts (the machine may be shared).  Prints tokens/s of each and
the ratio."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))


def torch_run(cfg, a, ids, labels, rng):
    import torch
    import eb_torch_albert as ref
    # PyTorch: the same model, float32, AdamW, clip 1.0
    t = ref.random_model(cfg, rng)
    w = {k: torch.tensor(v, requires_grad=True) for k, v in t.items()}
    decay = [v for k, v in w.items() if v.dim() == 2]
    no_decay = [v for k, v in w.items() if v.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}], lr=5e-4, eps=1e-8)
    ids_t = torch.tensor(ids)
    lab_t = torch.tensor(labels)
    types = torch.zeros((a.batch, a.seq), dtype=torch.long)
    valid = torch.ones((a.batch, a.seq), dtype=torch.bool)

    def step(i):
        sl = slice(i * a.batch, (i + 1) * a.batch)
        opt.zero_grad()
        logits, _ = ref.forward(cfg, w, ids_t[sl], types, valid)
        loss = torch.nn.functional.cross_entropy(logits, lab_t[sl])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(w.values()), 1.0)
        opt.step()

    step(0)  # warm-up
    t0 = time.time()
    for i in range(1, a.steps + 1):
        step(i)
    dt = time.time() - t0
    return a.steps * a.batch * a.seq / dt


def main():
    ap = argparse.ArgumentParser()
    for k, v in dict(hidden=256, layers=6, heads=4, ffn=1024, emb=128, vocab=30000, batch=32,
                     seq=64, steps=20, threads=1, repeats=2).items():
        ap.add_argument("--" + k, type=int, default=v)
    ap.add_argument("--build", default=os.environ.get("EB_BUILD", "build"))
    a = ap.parse_args()
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    import numpy as np
    import torch
    import eb_torch_albert as ref
    torch.set_num_threads(a.threads)
    cfg = dict(vocab_size=a.vocab, embedding_size=a.emb, hidden_size=a.hidden,
               num_hidden_layers=a.layers, num_hidden_groups=1, inner_group_num=1,
               num_attention_heads=a.heads, intermediate_size=a.ffn,
               max_position_embeddings=max(512, a.seq), type_vocab_size=2, num_labels=2,
               hidden_act="gelu_new", layer_norm_eps=1e-12)
    rng = np.random.default_rng(0)
    n = a.batch * (a.steps + 2)
    ids = rng.integers(5, a.vocab, (n, a.seq))
    ids[:, 0] = 2
    labels = rng.integers(0, 2, n)
    eb = os.path.join(ROOT, a.build, "edgebert")
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f)
        with open(os.path.join(d, "data.ids"), "w") as f:
            for i in range(n):
                f.write("%d\t%s\n" % (labels[i], " ".join(map(str, ids[i]))))
        def c_run():
            r = subprocess.run([eb, "train", "--config", os.path.join(d, "config.json"), "--data",
                            os.path.join(d, "data.ids"), "--ids", "--out", os.path.join(d, "m"),
                            "--batch", str(a.batch), "--max-len", str(a.seq), "--epochs", "1",
                            "--max-steps", str(a.steps), "--save-every", "0", "--dropout", "0",
                            "--no-length-grouping", "--json", "--log-every", "1000000"],
                           capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit("edgebert train failed: " + r.stderr[-500:])
            return json.loads(r.stdout)["tokens_per_s"]
        c_all, py_all = [], []
        for _ in range(a.repeats):
            c_all.append(c_run())
            py_all.append(torch_run(cfg, a, ids, labels, rng))
    c_tps, py_tps = max(c_all), max(py_all)

    print("model: hidden %d, %d layers, %d heads, FFN %d, E %d, vocab %d; batch %d x %d tokens; "
          "%d steps; %d thread(s)" % (a.hidden, a.layers, a.heads, a.ffn, a.emb, a.vocab, a.batch,
                                      a.seq, a.steps, a.threads))
    print("edgebert train : %9.0f tokens/s  (%.3f s/step)" % (c_tps, a.batch * a.seq / c_tps))
    print("pytorch %-7s: %9.0f tokens/s  (%.3f s/step)" % (torch.__version__.split("+")[0][:7], py_tps,
                                                          a.batch * a.seq / py_tps))
    print("ratio edgebert/pytorch: %.2f   (best of %d alternating runs each)" % (c_tps / py_tps, a.repeats))


if __name__ == "__main__":
    main()
