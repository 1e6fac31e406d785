#!/usr/bin/python3
"""compare.py - edgebert, PyTorch and ONNX Runtime side by side on one ALBERT checkpoint.

`edgebert bench` measures edgebert only; this script puts the reference engines beside it and
prints the speed tables of README.md and docs/perf.md with their ratios (the other engine's
time over edgebert's, so above 1 means edgebert is faster).

  compare.py [dense] [--model DIR] [--tokens 16,32,64,128] [--threads 1,2] [--runs N]
             [--warmup N] [--rounds R] [--clock wall|cpu] [--engines LIST] [--quick] [--json]
      batch 1, random token ids: the median ms of every engine per thread count and length
      (`edgebert bench --json` for edgebert's two paths). Without --model a random-weight
      ALBERT-base (E 128, H 768, 12 layers, 12 heads, FFN 3072, vocab 30000) is written to
      WORK/albert-base. --rounds R runs every engine R times in turn and keeps each one's best
      median. --quick: a tiny random model, 4 and 9 tokens, one thread, 3 runs.
  compare.py e2e -m MODEL [--hf DIR] --data DEV.tsv [--task sst2] [--threads 1] [--limit N]
             [--threshold T] [--precision P] [--clock wall|cpu] [--engines LIST] [--json]
      a GLUE dev set: edgebert's mean ms per sentence with early exit and with all layers
      (`edgebert bench --e2e --json --ids-out`) against PyTorch and ONNX Runtime running the
      full model on the very token ids; DIR is the HuggingFace checkpoint of MODEL's weights
      (MODEL itself when it is one).

Common options: --edgebert PATH (default build/edgebert of this repository), --work DIR (the
generated model, the ONNX exports and the logs; default build/bench), --ort-dir DIR (where
onnxruntime-node is installed, default WORK/ort), --ort-version V.

What it needs: PyTorch in /usr/bin/python3 (Debian's python3-torch; with libopenblas0, else
torch runs the reference BLAS and is ~30x slower; the runner names the BLAS it mapped) and
node + npm for ONNX Runtime: `npm install onnxruntime-node` into --ort-dir with
ONNXRUNTIME_NODE_INSTALL=skip (the CPU build that ships in the package), the model exported
by torch.onnx.export (opset 13, dynamic length). An engine that is missing gives a `skipped`
line with the reason, never a failure. EB_PYTHON and EB_NODE override the interpreters.
"""
import argparse
import json
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ORT_VERSION = "1.30.0"
ENGINES = ("edgebert", "edgebert-batch", "ort", "torch")  # the order of the tables
NAMES = {"edgebert": "edgebert, per-sentence path", "edgebert-batch": "edgebert, batched engine at batch 1",
         "torch": "PyTorch", "ort": "ONNX Runtime"}


def python():
    return os.environ.get("EB_PYTHON") or "/usr/bin/python3"


def node():
    return os.environ.get("EB_NODE") or "node"


class Run:
    """One comparison: its settings, the rows, the skipped engines and the engines' details."""

    def __init__(self, a):
        self.a = a
        self.rows = {}      # (engine, threads, tokens) -> row
        self.skipped = []   # {engine, threads?, reason}
        self.info = {}      # engine -> {version, blas, ...}
        self.edgebert = {}  # the header of `edgebert bench --json`
        os.makedirs(a.work, exist_ok=True)

    def log(self, name):
        return os.path.join(self.a.work, name + ".log")

    def skip(self, engine, reason, threads=None):
        s = {"engine": engine, "reason": reason}
        if threads:
            s["threads"] = threads
        if s not in self.skipped:
            self.skipped.append(s)
            print("compare.py: %s skipped: %s" % (engine, reason), file=sys.stderr)

    def wants(self, engine):
        return engine in self.a.engines


def last_json(text):
    """The last line of text that parses as a JSON object, or None."""
    for line in reversed(text.strip().split("\n")):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def tail(path):
    try:
        lines = [l.strip() for l in open(path, encoding="utf-8", errors="replace") if l.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def call(cmd, log, env=None, cwd=None):
    """Run cmd (stderr appended to log): (exit status, the last JSON object of stdout or None)."""
    e = dict(os.environ)
    e.update(env or {})
    with open(log, "a") as lf:
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=lf, text=True, env=e, cwd=cwd)
        except OSError as ex:
            lf.write("%s: %s\n" % (cmd[0], ex))
            return 127, None
    return p.returncode, last_json(p.stdout)


def failed(what, rc, log):
    return "%s failed (%s): %s" % (what, rc, tail(log) or "no output")


# ---- the engines ------------------------------------------------------------------------------

def edgebert_cmd(a):
    exe = a.edgebert or os.path.join(ROOT, "build", "edgebert")
    if not os.path.exists(exe):
        sys.exit("compare.py: %s does not exist (make, or --edgebert PATH)" % exe)
    return exe


def ensure_model(run):
    """The dense model: --model, else a random checkpoint written once under WORK."""
    a = run.a
    if a.model:
        return a.model
    quick = a.quick
    d = os.path.join(a.work, "tiny" if quick else "albert-base")
    if os.path.exists(os.path.join(d, "model.safetensors")):
        return d
    shape = (["--layers", "3", "--hidden", "32", "--heads", "4", "--embedding", "16",
              "--intermediate", "48", "--max-pos", "64"] if quick else
             ["--layers", "12", "--hidden", "768", "--heads", "12", "--embedding", "128",
              "--intermediate", "3072", "--max-pos", "512"])
    print("compare.py: writing a random-weight %s to %s" % ("tiny ALBERT" if quick else "ALBERT-base", d),
          file=sys.stderr)
    rc, _ = call([python(), os.path.join(ROOT, "tests", "py", "albert_ref.py"), "make", d] + shape +
                 ["--seed", "1"], run.log("make-model"))
    if rc != 0:
        sys.exit("compare.py: could not write the model: %s" % tail(run.log("make-model")))
    return d


def ensure_ort(run, hf):
    """onnxruntime-node in --ort-dir and hf exported to ONNX: the .onnx path, or None (skipped)."""
    a = run.a
    rc, _ = call([node(), "--version"], run.log("ort"))
    if rc != 0:
        run.skip("ort", "node is not installed (needed for onnxruntime-node)")
        return None
    pk = os.path.join(a.ort_dir, "node_modules", "onnxruntime-node", "package.json")
    if not os.path.exists(pk):
        os.makedirs(a.ort_dir, exist_ok=True)
        pj = os.path.join(a.ort_dir, "package.json")
        if not os.path.exists(pj):
            with open(pj, "w") as f:
                f.write('{"name": "eb-ort-bench", "private": true}\n')
        print("compare.py: installing onnxruntime-node@%s into %s (npm)" % (a.ort_version, a.ort_dir),
              file=sys.stderr)
        rc, _ = call(["npm", "install", "--no-audit", "--no-fund", "onnxruntime-node@" + a.ort_version],
                     run.log("npm"), env={"ONNXRUNTIME_NODE_INSTALL": "skip"}, cwd=a.ort_dir)
        if rc != 0 or not os.path.exists(pk):
            run.skip("ort", failed("npm install onnxruntime-node", rc, run.log("npm")))
            return None
    src = os.path.realpath(hf)
    onnx = os.path.join(a.work, "onnx", src.strip("/").replace("/", "_").replace(" ", "_") + ".onnx")
    st = os.path.join(hf, "model.safetensors")
    exporter = os.path.join(HERE, "torch_albert.py")
    mt = lambda p: os.path.getmtime(p) if os.path.exists(p) else -1  # noqa: E731
    if not (os.path.exists(onnx) and mt(onnx) >= mt(st) and mt(onnx) >= mt(exporter)):
        print("compare.py: exporting %s to ONNX (opset 13)" % hf, file=sys.stderr)
        rc, _ = call([python(), exporter, "export", "--model", hf, "--out", onnx], run.log("export"))
        if rc != 0 or not os.path.exists(onnx):
            run.skip("ort", failed("ONNX export with torch", rc, run.log("export")))
            return None
    return onnx


def note_info(run, engine, j):
    if engine not in run.info:
        run.info[engine] = {k: j[k] for k in ("version", "blas", "blas_libs") if k in j}


def add(run, engine, threads, tokens, median, mn):
    """A dense row; over rounds the lowest median and minimum are kept."""
    k = (engine, threads, tokens)
    r = run.rows.get(k)
    if r is None:
        run.rows[k] = {"engine": engine, "threads": threads, "tokens": tokens, "median_ms": median,
                       "min_ms": mn}
    else:
        r["median_ms"] = min(r["median_ms"], median)
        r["min_ms"] = min(r["min_ms"], mn)


def runner_rows(run, engine, threads, rc, j, log, what):
    if j is None:
        run.skip(engine, failed(what, rc, log), threads)
        return
    if "error" in j:
        run.skip(engine, j["error"], threads)
        return
    note_info(run, engine, j)
    for r in j.get("rows", []):
        add(run, engine, r["threads"], r["tokens"], r["median_ms"], r.get("min_ms", r["median_ms"]))


def dense_round(run, model, onnx, vocab):
    a = run.a
    ebs = [e for e in ("edgebert", "edgebert-batch") if run.wants(e)]
    if ebs:
        cmd = [edgebert_cmd(a), "bench", "-m", model, "--tokens", a.tokens, "--threads", a.threads,
               "--runs", str(a.runs), "--warmup", str(a.warmup), "--clock", a.clock,
               "--engines", ",".join(ebs), "--no-gemm", "--no-rss", "--json"]
        rc, j = call(cmd, run.log("edgebert"))
        if rc != 0 or j is None:
            sys.exit("compare.py: %s" % failed("edgebert bench", rc, run.log("edgebert")))
        run.edgebert = {k: v for k, v in j.items() if k not in ("rows", "skipped")}
        for s in j.get("skipped", []):
            run.skip(s["engine"], s["reason"], s.get("threads"))
        for r in j["rows"]:
            if r["test"] == "dense":
                add(run, r["engine"], r["threads"], r["tokens"], r["median_ms"], r["min_ms"])
    for t in [int(x) for x in a.threads.split(",")]:
        env = {"OMP_NUM_THREADS": str(t), "OPENBLAS_NUM_THREADS": str(t)}
        if run.wants("torch"):
            rc, j = call([python(), os.path.join(HERE, "torch_albert.py"), "bench", "--model", model,
                          "--tokens", a.tokens, "--threads", str(t), "--runs", str(a.runs),
                          "--warmup", str(a.warmup), "--clock", a.clock], run.log("torch"), env=env)
            runner_rows(run, "torch", t, rc, j, run.log("torch"), python() + " torch_albert.py")
            if j and j.get("blas") not in (None, "openblas"):
                print("compare.py: warning: PyTorch runs over the %s BLAS, not OpenBLAS (install "
                      "libopenblas0 for a fair baseline)" % j["blas"], file=sys.stderr)
        if onnx:
            rc, j = call([node(), os.path.join(HERE, "ort_runner.js"), "--ort", a.ort_dir, "--model", onnx,
                          "--threads", str(t), "--tokens", a.tokens, "--runs", str(a.runs),
                          "--warmup", str(a.warmup), "--vocab", str(vocab), "--clock", a.clock],
                         run.log("ort"), env={"OMP_NUM_THREADS": str(t)})
            runner_rows(run, "ort", t, rc, j, run.log("ort"), "node ort_runner.js")


def ratio(run, r, base):
    b = run.rows.get((base, r["threads"], r["tokens"]))
    return b["median_ms"] / r["median_ms"] if b and r["median_ms"] > 0 else None


def ms(x):
    """Milliseconds as the tables print them: 2 decimals, 4 below 1 ms (the tiny models)."""
    return "%.2f" % x if x >= 1 else "%.4f" % x


def engine_label(run, e):
    v = run.info.get(e, {}).get("version")
    if v and e in ("torch", "ort"):
        return "%s %s" % (NAMES[e], ".".join(str(v).split(".")[:2]))
    return NAMES[e]


def cmd_dense(a):
    if a.quick:
        a.tokens, a.threads, a.runs, a.warmup = "4,9", "1", 3, 1
    run = Run(a)
    model = ensure_model(run)
    if not os.path.isdir(model):
        sys.exit("compare.py: --model must be a HuggingFace checkpoint directory (config.json, "
                 "model.safetensors): PyTorch and ONNX Runtime run it")
    vocab = json.load(open(os.path.join(model, "config.json")))["vocab_size"]
    onnx = ensure_ort(run, model) if run.wants("ort") else None
    for rnd in range(a.rounds):
        dense_round(run, model, onnx, vocab)
        if a.rounds > 1:
            print("compare.py: round %d of %d done" % (rnd + 1, a.rounds), file=sys.stderr)
    rows = sorted(run.rows.values(), key=lambda r: (r["threads"], ENGINES.index(r["engine"]), r["tokens"]))
    for r in rows:
        for base in ("torch", "ort"):
            x = ratio(run, r, base)
            if x is not None and r["engine"] != base:
                r["vs_" + base] = x
    if a.json:
        print(json.dumps({"test": "dense", "model": model, "runs": a.runs, "warmup": a.warmup,
                          "rounds": a.rounds, "clock": a.clock, "edgebert": run.edgebert,
                          "engines": run.info, "rows": rows, "skipped": run.skipped}))
        return 0
    toks = [int(x) for x in a.tokens.split(",")]
    print("model: %s; batch 1; median of %d runs after %d warm-up%s; %s; edgebert's ratios against "
          "ONNX Runtime in brackets (the other engine's time over edgebert's)\n" %
          (model, a.runs, a.warmup, ", best of %d rounds" % a.rounds if a.rounds > 1 else "",
           "process CPU time" if a.clock == "cpu" else "wall clock"))
    print("| engine | threads | " + " | ".join("%d tokens" % n for n in toks) + " |")
    print("|---|---:|" + "---:|" * len(toks))
    for t in [int(x) for x in a.threads.split(",")]:
        for e in ENGINES:
            cells = []
            for n in toks:
                r = run.rows.get((e, t, n))
                if r is None:
                    cells.append("-")
                elif e.startswith("edgebert") and "vs_ort" in r:
                    cells.append("%s (%.2f)" % (ms(r["median_ms"]), r["vs_ort"]))
                else:
                    cells.append(ms(r["median_ms"]))
            if any(c != "-" for c in cells):
                print("| %s | %d | %s |" % (engine_label(run, e), t, " | ".join(cells)))
    print("\n| engine | threads | tokens | median ms | min ms | x vs torch | x vs ort |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        f = lambda k: "%.2f" % r[k] if k in r else "-"  # noqa: E731
        print("| %s | %d | %d | %s | %s | %s | %s |" % (r["engine"], r["threads"], r["tokens"],
              ms(r["median_ms"]), ms(r["min_ms"]), f("vs_torch"), f("vs_ort")))
    for e, i in run.info.items():
        print("%s%s %s%s" % ("\n" if e == next(iter(run.info)) else "", e, i.get("version", ""),
                             ", BLAS: " + i["blas"] if "blas" in i else ""))
    for s in run.skipped:
        print("skipped %s%s: %s" % (s["engine"], " (%d threads)" % s["threads"] if "threads" in s else "",
                                    s["reason"]))
    return 0


# ---- end to end -------------------------------------------------------------------------------

def read_ids(path):
    gold = []
    with open(path) as f:
        for line in f:
            if line.strip():
                gold.append(int(line.split("\t")[0]))
    return gold


def accuracy(gold, pred):
    k = [p == g for g, p in zip(gold, pred) if g >= 0]
    return sum(k) / len(k) if k else None


def cmd_e2e(a):
    run = Run(a)
    hf = a.hf or (a.model if os.path.isdir(a.model) else None)
    ids = os.path.join(a.work, "e2e_ids.%d.txt" % os.getpid())
    cmd = [edgebert_cmd(a), "bench", "--e2e", "-m", a.model, "--data", a.data, "--task", a.task,
           "--threads", a.threads, "--precision", a.precision, "--clock", a.clock,
           "--engines", "edgebert", "--no-rss", "--json", "--ids-out", ids]
    if a.limit:
        cmd += ["--limit", str(a.limit)]
    if a.threshold is not None:
        cmd += ["--threshold", str(a.threshold)]
    rc, j = call(cmd, run.log("edgebert"))
    try:
        if rc != 0 or j is None:
            sys.exit("compare.py: %s" % failed("edgebert bench --e2e", rc, run.log("edgebert")))
        gold = read_ids(ids)
        out = []
        for s in j.get("skipped", []):
            run.skip(s["engine"], s["reason"], s.get("threads"))
        if hf is None:
            for e in ("torch", "ort"):
                if run.wants(e):
                    run.skip(e, "needs a HuggingFace checkpoint directory (--hf DIR)")
        onnx = ensure_ort(run, hf) if hf and run.wants("ort") else None
        for t in [int(x) for x in a.threads.split(",")]:
            eb = {r["policy"]: r for r in j["rows"] if r["engine"] == "edgebert" and r["threads"] == t}
            ee = eb.get("ee") or eb.get("lai")
            full = eb.get("base")
            row = {"threads": t, "precision": a.precision, "sentences": j["sentences"],
                   "edgebert_early_exit": ee, "edgebert_all_layers": full}
            env = {"OMP_NUM_THREADS": str(t), "OPENBLAS_NUM_THREADS": str(t)}
            subs = []
            if hf and run.wants("torch"):
                subs.append(("torch", [python(), os.path.join(HERE, "torch_albert.py"), "ids",
                                       "--model", hf, "--ids", ids, "--threads", str(t), "--clock", a.clock],
                             python() + " torch_albert.py"))
            if onnx:
                subs.append(("ort", [node(), os.path.join(HERE, "ort_runner.js"), "--ort", a.ort_dir,
                                     "--model", onnx, "--threads", str(t), "--ids", ids, "--clock", a.clock],
                             "node ort_runner.js"))
            for e, c, what in subs:
                rc, r = call(c, run.log(e), env=env)
                if r is None or "error" in r or len(r.get("labels", [])) != len(gold):
                    run.skip(e, r["error"] if r and "error" in r else failed(what, rc, run.log(e)), t)
                    continue
                note_info(run, e, r)
                row[e] = {"mean_ms": r["mean_ms"], "accuracy": accuracy(gold, r["labels"])}
                if ee:
                    row["early_exit_vs_" + e] = r["mean_ms"] / ee["mean_ms"]
                if full:
                    row["all_layers_vs_" + e] = r["mean_ms"] / full["mean_ms"]
            out.append(row)
    finally:
        if os.path.exists(ids):
            os.unlink(ids)
    if a.json:
        print(json.dumps({"test": "e2e", "model": a.model, "hf": hf, "data": a.data, "task": a.task,
                          "clock": a.clock, "edgebert": {k: v for k, v in j.items() if k not in ("rows", "skipped")},
                          "engines": run.info, "rows": out, "skipped": run.skipped}))
        return 0
    print("model: %s (reference engines: %s); %s, %d sentences of %s; mean ms per sentence, %s\n" %
          (a.model, hf or "-", a.task, j["sentences"], a.data,
           "process CPU time" if a.clock == "cpu" else "wall clock"))
    print("| precision | threads | edgebert early exit | edgebert all layers | PyTorch all layers | "
          "ONNX Runtime all layers | early exit x vs ORT / PyTorch |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    pct = lambda x: "%.2f %%" % (100 * x) if x is not None else "-"  # noqa: E731
    for r in out:
        ee, full = r["edgebert_early_exit"], r["edgebert_all_layers"]
        cell = lambda e: "%s ms (%s)" % (ms(r[e]["mean_ms"]), pct(r[e]["accuracy"])) if e in r else "-"  # noqa: E731
        rat = lambda e: "%.2f" % r["early_exit_vs_" + e] if "early_exit_vs_" + e in r else "-"  # noqa: E731
        print("| %s | %d | %s | %s | %s | %s | %s / %s |" % (
            r["precision"], r["threads"],
            "%s ms (%s, exit %.2f)" % (ms(ee["mean_ms"]), pct(ee.get("accuracy")), ee["mean_exit_layer"]) if ee else "-",
            "%s ms (%s)" % (ms(full["mean_ms"]), pct(full.get("accuracy"))) if full else "-",
            cell("torch"), cell("ort"), rat("ort"), rat("torch")))
    for e, i in run.info.items():
        print("%s%s %s%s" % ("\n" if e == next(iter(run.info)) else "", e, i.get("version") or "",
                             ", BLAS: " + i["blas"] if "blas" in i else ""))
    for s in run.skipped:
        print("skipped %s%s: %s" % (s["engine"], " (%d threads)" % s["threads"] if "threads" in s else "",
                                    s["reason"]))
    return 0


# ---- options ----------------------------------------------------------------------------------

def int_list(s):
    try:
        v = [int(x) for x in s.split(",")]
    except ValueError:
        v = []
    if not v or any(x <= 0 for x in v):
        raise argparse.ArgumentTypeError("a list of positive integers, commas between: %r" % s)
    return s


def engines(s):
    v = s.split(",")
    bad = [e for e in v if e not in ENGINES]
    if bad or not s:
        raise argparse.ArgumentTypeError("unknown engine %r (%s)" % (",".join(bad), ",".join(ENGINES)))
    return v


def nonnegative(s):
    try:
        v = int(s)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError("an integer >= 0, not %r" % s)
    return v


def positive(s):
    try:
        v = int(s)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError("a positive integer, not %r" % s)
    return v


def main(argv):
    ap = argparse.ArgumentParser(prog="compare.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--edgebert", help="the edgebert executable (default: build/edgebert)")
    common.add_argument("--work", default=os.path.join(ROOT, "build", "bench"),
                        help="generated models, ONNX exports and logs (default: build/bench)")
    common.add_argument("--ort-dir", help="where onnxruntime-node is installed (default: WORK/ort)")
    common.add_argument("--ort-version", default=ORT_VERSION)
    common.add_argument("--threads", type=int_list)
    common.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    common.add_argument("--engines", type=engines, default=list(ENGINES))
    common.add_argument("--json", action="store_true", help="one JSON object")
    d = sub.add_parser("dense", parents=[common], help="batch 1, random token ids, per length")
    d.add_argument("-m", "--model", help="a HuggingFace checkpoint directory (default: a random ALBERT-base)")
    d.add_argument("--tokens", type=int_list, default="16,32,64,128")
    d.add_argument("--runs", type=positive, default=20)
    d.add_argument("--warmup", type=nonnegative, default=3)
    d.add_argument("--rounds", type=positive, default=1)
    d.add_argument("--quick", action="store_true", help="a tiny model, 4 and 9 tokens, 1 thread, 3 runs")
    e = sub.add_parser("e2e", parents=[common], help="a GLUE dev set, early exit against the full model")
    e.add_argument("-m", "--model", required=True, help="a bundle or checkpoint directory")
    e.add_argument("--hf", help="the HuggingFace checkpoint of MODEL's weights")
    e.add_argument("--data", required=True)
    e.add_argument("--task", default="sst2")
    e.add_argument("--limit", type=positive)
    e.add_argument("--threshold", type=float)
    e.add_argument("--precision", choices=("fp32", "af8", "af8-bf16"), default="fp32")
    if not argv or argv[0] not in ("dense", "e2e", "-h", "--help"):
        argv = ["dense"] + list(argv)
    a = ap.parse_args(argv)
    a.ort_dir = a.ort_dir or os.path.join(a.work, "ort")
    if a.threads is None:
        a.threads = "1" if a.cmd == "e2e" else "1,2"
    return cmd_dense(a) if a.cmd == "dense" else cmd_e2e(a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
