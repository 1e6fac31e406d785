#!/usr/bin/python3
"""bench-train.py - training throughput of `edgebert train` against PyTorch
(Debian python3-torch) on the same ALBERT, batch and sequence length, side by
side in one run.

  tools/bench-train.py                 the whole table (markdown), under 20 minutes
  tools/bench-train.py --json          the same as {"rows": [...]}
  tools/bench-train.py --csv
  tools/bench-train.py --shapes default --threads 1 --steps 10    a part of it

Shapes: `default` is the shipped model's (E 128, H 256, 6 layers sharing one
group, 4 heads, FFN 1024, vocabulary 8,000), `albert-base` ALBERT-base's
(E 128, H 768, 12 layers, 12 heads, FFN 3072, vocabulary 30,000).  Every
sequence has exactly --seq tokens (no padding savings for either side).
Both sides do the same work per step: forward, cross-entropy, backward,
gradient clipping, AdamW.  Rows: edgebert fp32 and bf16 (`train --precision`)
on 1 and 2 threads; PyTorch fp32 on 1 and 2 threads; and, where
build-mpi/edgebert and mpirun exist (`make MPI=1`), edgebert on 2 MPI ranks
of 1 thread each (the global batch split between them).  A warm-up step is
run and not counted on each side; `ratio` is tokens/s over PyTorch fp32 at
the same shape and threads (for MPI rows: over PyTorch on 1 thread)."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))

SHAPES = {
    "default": dict(vocab_size=8000, embedding_size=128, hidden_size=256, num_hidden_layers=6,
                    num_attention_heads=4, intermediate_size=1024, steps=6),
    "albert-base": dict(vocab_size=30000, embedding_size=128, hidden_size=768,
                        num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                        steps=2),
}


def config(shape, seq):
    s = dict(SHAPES[shape])
    s.pop("steps")
    s.update(num_hidden_groups=1, inner_group_num=1, max_position_embeddings=max(512, seq),
             type_vocab_size=2, num_labels=2, hidden_act="gelu_new", layer_norm_eps=1e-12)
    return s


def torch_run(cfg, batch, seq, steps, threads, ids, labels):
    import numpy as np
    import torch
    import eb_torch_albert as ref
    torch.set_num_threads(threads)
    t = ref.random_model(cfg, np.random.default_rng(0))
    w = {k: torch.tensor(v, requires_grad=True) for k, v in t.items()}
    decay = [v for k, v in w.items() if v.dim() == 2]
    no_decay = [v for k, v in w.items() if v.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}], lr=5e-4, eps=1e-8)
    ids_t, lab_t = torch.tensor(ids), torch.tensor(labels)
    types = torch.zeros((batch, seq), dtype=torch.long)
    valid = torch.ones((batch, seq), dtype=torch.bool)

    def step(i):
        sl = slice(i * batch, (i + 1) * batch)
        opt.zero_grad()
        logits, _ = ref.forward(cfg, w, ids_t[sl], types, valid)
        loss = torch.nn.functional.cross_entropy(logits, lab_t[sl])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(w.values()), 1.0)
        opt.step()

    step(0)  # warm-up
    t0 = time.time()
    for i in range(1, steps + 1):
        step(i)
    return steps * batch * seq / (time.time() - t0)


def edgebert_run(exe, d, batch, seq, steps, threads, precision, ranks):
    """tokens/s of steps 2..steps+1 (the first is the warm-up), from the trainer's
    per-step progress lines."""
    cmd = [exe, "train", "--config", os.path.join(d, "config.json"), "--data",
           os.path.join(d, "data.ids"), "--ids", "--out", os.path.join(d, "m"), "--batch",
           str(batch), "--max-len", str(seq), "--epochs", "1", "--max-steps", str(steps + 1),
           "--save-every", "0", "--dropout", "0", "--no-length-grouping", "--log-every", "1",
           "--threads", str(threads), "--precision", precision]
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    if ranks > 1:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", "--bind-to", "none", "--mca", "btl",
               "self,vader", "--mca", "oob_tcp_if_include", "lo"] + cmd
    shutil.rmtree(os.path.join(d, "m"), ignore_errors=True)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit("edgebert train failed: %s\n%s" % (" ".join(cmd), r.stderr[-800:]))
    rates = [float(x) for x in re.findall(r"^step \d+/\d+ .* ([0-9.]+) tok/s", r.stderr, re.M)]
    if len(rates) < 2:
        sys.exit("bench-train: no progress lines from edgebert train:\n" + r.stderr[-800:])
    rates = rates[1:]
    return len(rates) / sum(1.0 / x for x in rates)  # the rate over the measured steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default="default,albert-base")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=0, help="measured steps (default: per shape)")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-mpi", action="store_true")
    ap.add_argument("--build", default=os.environ.get("EB_BUILD", "build"))
    ap.add_argument("--mpi-build", default="build-mpi")
    fmt = ap.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    a = ap.parse_args()
    import numpy as np
    shapes = [s for s in a.shapes.split(",") if s]
    for s in shapes:
        if s not in SHAPES:
            ap.error("--shapes: unknown shape %r (known: %s)" % (s, ", ".join(SHAPES)))
    try:
        threads = [int(t) for t in a.threads.split(",")]
    except ValueError:
        ap.error("--threads: a comma-separated list of thread counts")
    if any(t < 1 or t > 256 for t in threads) or a.seq < 2 or a.batch < 1 or a.steps < 0:
        ap.error("--threads 1..256, --seq >= 2, --batch >= 1, --steps >= 0")
    exe = os.path.join(ROOT, a.build, "edgebert")
    mpi_exe = os.path.join(ROOT, a.mpi_build, "edgebert")
    if not os.access(exe, os.X_OK):
        sys.exit("bench-train: %s missing (run make)" % exe)
    have_mpi = not a.no_mpi and os.access(mpi_exe, os.X_OK) and shutil.which("mpirun")
    if not a.no_mpi and not have_mpi:
        print("bench-train: no MPI rows (%s or mpirun missing; make MPI=1)" % mpi_exe,
              file=sys.stderr)
    rows = []
    for shape in shapes:
        cfg = config(shape, a.seq)
        steps = a.steps or SHAPES[shape]["steps"]
        rng = np.random.default_rng(0)
        n = a.batch * (steps + 2)
        ids = rng.integers(5, cfg["vocab_size"], (n, a.seq))
        ids[:, 0] = 2
        labels = rng.integers(0, 2, n)
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(cfg, f)
            with open(os.path.join(d, "data.ids"), "w") as f:
                for i in range(n):
                    f.write("%d\t%s\n" % (labels[i], " ".join(map(str, ids[i]))))
            runs = []
            for t in threads:
                runs += [("edgebert", "fp32", t, 1), ("edgebert", "bf16", t, 1)]
                if not a.no_torch:
                    runs.append(("torch", "fp32", t, 1))
            if have_mpi:
                runs += [("edgebert", "fp32", 1, 2), ("edgebert", "bf16", 1, 2)]
            for engine, prec, t, ranks in runs:
                print("bench-train: %s %s %s, %d thread(s), %d rank(s)..." %
                      (shape, engine, prec, t, ranks), file=sys.stderr)
                if engine == "torch":
                    tps = torch_run(cfg, a.batch, a.seq, steps, t, ids, labels)
                else:
                    tps = edgebert_run(mpi_exe if ranks > 1 else exe, d, a.batch, a.seq, steps,
                                       t, prec, ranks)
                rows.append(dict(model=shape, engine=engine, precision=prec, threads=t,
                                 ranks=ranks, seq=a.seq, batch=a.batch, steps=steps,
                                 tokens_per_s=round(tps, 1)))
    base = {(r["model"], r["threads"]): r["tokens_per_s"] for r in rows
            if r["engine"] == "torch" and r["ranks"] == 1}
    one = {(r["model"], r["precision"]): r["tokens_per_s"] for r in rows
           if r["engine"] == "edgebert" and r["ranks"] == 1 and r["threads"] == 1}
    for r in rows:
        b = base.get((r["model"], 1 if r["ranks"] > 1 else r["threads"]))
        r["ratio_vs_torch"] = round(r["tokens_per_s"] / b, 2) if b else None
        o = one.get((r["model"], r["precision"]))
        r["ratio_vs_one_rank"] = (round(r["tokens_per_s"] / o, 2)
                                  if o and r["ranks"] > 1 else None)
    cols = ["model", "engine", "precision", "threads", "ranks", "seq", "batch", "steps",
            "tokens_per_s", "ratio_vs_torch", "ratio_vs_one_rank"]
    if a.json:
        print(json.dumps({"rows": rows}, indent=1))
    elif a.csv:
        print(",".join(cols))
        for r in rows:
            print(",".join("" if r[c] is None else str(r[c]) for c in cols))
    else:
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join("" if r[c] is None else str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
