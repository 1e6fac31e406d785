#!/usr/bin/env python3
"""`edgebert bench`: one row type printed as JSON, CSV and markdown (the rows agree: what was run
and the measurement's statistics, GFLOP/s recomputed from the shape), skipped lengths and
precisions, usage errors with exit status 2, and --e2e on real SST-2 dev sentences (batched early
exit agrees with one at a time; --ids-out writes the very ids). The comparison with PyTorch and
ONNX Runtime is tools/bench/compare.py (tests/py/test_bench_compare.py)."""
import csv
import io
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
BUILD = os.environ.get("EB_BUILD", "build")
EXE = os.path.join(ROOT, BUILD, "edgebert")
DATA = os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
failed = 0

# what was run: these columns identify a row; the rest is the measurement
SETUP = ("test", "model", "engine", "precision", "policy", "threads", "batch", "tokens", "gemm_n",
         "gemm_k", "sentences")
INTS = ("threads", "batch", "tokens", "gemm_n", "gemm_k", "sentences", "n")
# the markdown headers of the columns
MD = {"engine": "engine", "precision": "precision", "policy": "policy", "threads": "threads",
      "batch": "batch", "tokens (M)": "tokens", "N": "gemm_n", "K": "gemm_k", "sentences": "sentences",
      "mean ms": "mean_ms", "stddev ms": "stddev_ms", "n": "n", "median ms": "median_ms",
      "min ms": "min_ms", "GFLOP/s": "gflops", "sentences/s": "sentences_per_s", "accuracy": "accuracy",
      "mean exit layer": "mean_exit_layer", "same label as unbatched": "agree_with_unbatched"}
TITLES = {"dense:": "dense", "gemm:": "gemm", "e2e:": "e2e"}


def report(name, ok, why=""):
    global failed
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))
    failed += 0 if ok else 1


def run(args, env=None):
    e = dict(os.environ, EDGEBERT_MODEL="/nonexistent/default.ebb")
    e.update(env or {})
    p = subprocess.run([EXE, "bench"] + args, capture_output=True, text=True, cwd=ROOT, env=e,
                       timeout=600)
    return p.returncode, p.stdout, p.stderr


def typed(k, v):
    if v in ("", "-", None):
        return None
    if k in INTS:
        return int(v)
    if k in SETUP:
        return v
    return float(v)


def csv_rows(out):
    return [{k: typed(k, v) for k, v in r.items() if v != ""} for r in csv.DictReader(io.StringIO(out))]


def md_rows(out):
    """The rows of the markdown tables, keyed by the JSON names, with their test."""
    rows, test, head = [], None, None
    for line in out.split("\n"):
        w = line.split(" ")[0]
        if w in TITLES:
            test, head = TITLES[w], None
        elif line.startswith("|") and test:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if head is None:
                head = [MD[c] for c in cells]
            elif not cells[0].startswith("---"):
                r = {k: typed(k, v) for k, v in zip(head, cells) if v != "-"}
                r["test"] = test
                rows.append(r)
    return rows


def same_rows(js, other, md):
    """Every row of other (CSV or markdown) is the JSON row with its setup: the same keys (markdown:
    those it shows) and values (markdown: to its rounding). Returns the first difference or ''."""
    if len(js) != len(other):
        return "%d rows against %d" % (len(js), len(other))
    for a, b in zip(js, other):
        for k, v in b.items():
            if k not in a:
                return "%s: no %s in JSON %s" % (b, k, a)
            w = a[k]
            if isinstance(w, str) or k in INTS:
                if w != v:
                    return "%s: %r against %r" % (k, v, w)
            elif abs(w - v) > (0.5 * 10 ** -(4 if k in ("accuracy", "agree_with_unbatched") else
                                            1 if k in ("gflops", "sentences_per_s") else 3)
                               if md else 1e-6 * abs(w)) + 1e-12:
                return "%s: %r against %r" % (k, v, w)
        if not md and set(a) != set(b):
            return "keys %s against %s" % (sorted(a), sorted(b))
    return ""


def stats_ok(r):
    """The measurement's statistics are consistent with each other."""
    return (r["n"] >= 1 and r["min_ms"] <= r["median_ms"] and r["min_ms"] <= r["mean_ms"] + 1e-9 and
            r["stddev_ms"] >= 0 and (r["n"] > 1 or r["stddev_ms"] == 0)) if "median_ms" in r else \
        (r["n"] >= 1 and r["mean_ms"] > 0 and r["stddev_ms"] >= 0)


def dense(tmp):
    import albert_ref
    d = os.path.join(tmp, "small")
    cfg = albert_ref.albert_config(hidden_size=32, num_attention_heads=4, intermediate_size=48,
                                   num_hidden_layers=3, embedding_size=16, max_position_embeddings=64)
    albert_ref.make_checkpoint(d, cfg, seed=5, spiece="")
    args = ["-m", d, "--tokens", "4,9", "--threads", "1,2", "--runs", "3", "--warmup", "1",
            "--precision", "fp32,af8"]
    out = {}
    for fmt in ("--json", "--csv", None):
        rc, o, err = run(args + ([fmt] if fmt else []))
        out[fmt] = (rc, o, err)
    rc, o, err = out["--json"]
    try:
        j = json.loads(o)
    except ValueError:
        report("bench_json", False, "rc %d, stdout %r, stderr %s" % (rc, o[:200], err[-400:]))
        return
    rows = j["rows"]
    dn = [r for r in rows if r["test"] == "dense"]
    sk = j.get("skipped", [])
    # the batched engine at af8: rows, or (an engine without that path) a skip naming the precision
    batch_af8 = not any(s["engine"] == "edgebert-batch" and s["reason"].startswith("af8") for s in sk)
    want = [(e, p, t, n) for e in ("edgebert", "edgebert-batch") for p in ("fp32", "af8") for t in (1, 2)
            for n in (4, 9) if e == "edgebert" or p == "fp32" or batch_af8]
    got = sorted((r["engine"], r["precision"], r["threads"], r["tokens"]) for r in dn)
    report("bench_json_dense_rows", rc == 0 and got == sorted(want) and
           all(r["policy"] == "base" and r["batch"] == 1 and r["n"] == 3 and r["model"] == d and stats_ok(r)
               for r in dn), "rc %d %s" % (rc, dn))
    # GFLOP/s recomputed from the shape and the median
    H, I, E, L = 32, 48, 16, 3
    bad = []
    for r in dn:
        n = r["tokens"]
        fl = 2 * n * E * H + L * (8 * n * H * H + 4 * n * n * H + 4 * n * H * I) + 2 * H * H
        if abs(r["gflops"] - fl / (r["median_ms"] * 1e6)) > 1e-6 * (1 + r["gflops"]):
            bad.append((r, fl / (r["median_ms"] * 1e6)))
    report("bench_gflops", not bad and dn, str(bad)[:400])
    gm = [r for r in rows if r["test"] == "gemm"]
    report("bench_gemm_rows", gm and all(
        abs(r["gflops"] - 2.0 * r["tokens"] * r["gemm_n"] * r["gemm_k"] / (r["median_ms"] * 1e6)) <
        1e-6 * r["gflops"] and "precision" not in r and stats_ok(r) for r in gm) and
        any(r["engine"] == "openblas" and r["tokens"] == r["gemm_n"] == r["gemm_k"] == 1024 for r in gm),
        str(gm)[:400])
    ver = subprocess.run([EXE, "--version"], capture_output=True, text=True).stdout
    report("bench_openblas_kernels", bool(j.get("openblas_kernels")) and
           ("OpenBLAS kernels: %s)" % j.get("openblas_kernels")) in ver, "%s / %s" % (j.get("openblas_kernels"), ver))
    # the same rows, in the same order, in CSV and markdown (another run: the setup columns agree
    # exactly, and each format's GFLOP/s agrees with its own median)
    rc2, o2, err2 = out["--csv"]
    cr = csv_rows(o2) if rc2 == 0 else []
    strip = lambda rs: [{k: v for k, v in r.items() if k in SETUP} for r in rs]  # noqa: E731
    why = same_rows(strip(rows), strip(cr), False)
    report("bench_csv_same_rows", rc2 == 0 and not why and all(
        abs(c["gflops"] - g["gflops"] * g["median_ms"] / c["median_ms"]) < 1e-6 * c["gflops"]
        for c, g in zip(cr, rows)), why or o2[:300] + err2[-300:])
    rc3, o3, err3 = out[None]
    mr = md_rows(o3) if rc3 == 0 else []
    why = same_rows(strip(rows), strip(mr), True)
    report("bench_markdown_same_rows", rc3 == 0 and not why and "OpenBLAS's kernels: " in o3,
           why or o3[:300] + err3[-300:])
    # --rounds and the CPU clock
    rc, o, err = run(["-m", d, "--engines", "edgebert-batch", "--tokens", "5", "--threads", "1", "--runs",
                      "3", "--warmup", "0", "--rounds", "2", "--clock", "cpu", "--json", "--no-gemm",
                      "--no-rss"])
    j = json.loads(o) if rc == 0 else {}
    eng = [(r["engine"], r["tokens"]) for r in j.get("rows", [])]
    report("bench_cpu_clock_rounds", rc == 0 and j.get("clock") == "cpu" and j.get("rounds") == 2 and
           eng == [("edgebert-batch", 5)] and "classify_peak_rss_kb" not in j, o + err[-300:])
    rc, o, err = run(["-m", d, "--engines", "edgebert", "--tokens", "200", "--threads", "1",
                      "--runs", "2", "--json", "--no-gemm", "--no-rss"])
    j = json.loads(o) if rc == 0 else {}
    report("bench_too_many_tokens_skipped", rc == 0 and not j.get("rows") and
           "positions" in j.get("skipped", [{}])[0].get("reason", ""), o + err)
    for args in (["--tokens", "4,x"], ["--tokens", "0"], ["--json", "--csv"], ["--frobnicate"],
                 ["--runs", "0"], ["--threads"], ["--e2e"], ["--clock", "sundial"], ["--rounds", "0"],
                 ["--engines", "torch"], ["--engines", "edgebert,ort"], ["--precision", "fp16"],
                 ["--precision", "fp32,"], ["--hf", d], ["--data", "x.tsv"], ["--warmup", "-1"],
                 ["--limit", "z"]):
        rc, o, err = run(["-m", d] + args)
        report("bench_usage_%s" % "_".join(a.strip("-") for a in args if "/" not in a),
               rc == 2 and "edgebert bench" in err and o == "", "rc %d %s" % (rc, err[-200:]))
    rc, o, err = run(["-m", d, "--engines", "ort"])
    report("bench_usage_points_to_compare", rc == 2 and "tools/bench/compare.py" in err, err[-300:])
    rc, o, err = run(["-m", os.path.join(tmp, "nope"), "--engines", "edgebert"])
    report("bench_missing_model", rc == 1 and "nope" in err, "rc %d %s" % (rc, err[-200:]))


def e2e(tmp):
    import albert_ref
    spm = os.path.join(DATA, "albert", "spiece.model")
    dev = os.path.join(DATA, "glue", "SST-2", "dev.tsv")
    if not (os.path.exists(spm) and os.path.exists(dev)):
        print("SKIP bench_e2e: shared data missing (%s, %s)" % (spm, dev))
        return
    d = os.path.join(tmp, "ramps")
    cfg = albert_ref.albert_config(hidden_size=32, num_attention_heads=4, intermediate_size=48,
                                   num_hidden_layers=4, embedding_size=16, max_position_embeddings=128)
    albert_ref.make_checkpoint(d, cfg, seed=8, offramps=True, spiece=spm)
    ids = os.path.join(tmp, "ids.txt")
    args = ["--e2e", "-m", d, "--data", dev, "--task", "sst2", "--limit", "40", "--threads", "1",
            "--batches", "1,8", "--threshold", "0.6"]
    rc, out, err = run(args + ["--json", "--ids-out", ids])
    try:
        j = json.loads(out)
    except ValueError:
        report("bench_e2e_json", False, "rc %d %r %s" % (rc, out[:200], err[-500:]))
        return
    rows = j["rows"]
    by = {(r["engine"], r["policy"], r["batch"]): r for r in rows}
    ee, full = by.get(("edgebert", "ee", 1)), by.get(("edgebert", "base", 1))
    report("bench_e2e_rows", rc == 0 and j["sentences"] == 40 and ee and full and
           1 <= ee["mean_exit_layer"] <= 4 and full["mean_exit_layer"] == 4 and
           all(r["test"] == "e2e" and r["sentences"] == 40 and stats_ok(r) for r in rows) and
           ee["n"] == 40 and abs(ee["sentences_per_s"] - 1000 / ee["mean_ms"]) < 1e-6 * ee["sentences_per_s"],
           str(j)[:600])
    b = [r for r in rows if r["engine"] == "edgebert-batch"]
    report("bench_e2e_batched_agrees", sorted(r["batch"] for r in b) == [1, 8] and all(
        r["agree_with_unbatched"] == 1.0 and r["accuracy"] == ee["accuracy"] and r["policy"] == "ee" and
        abs(r["mean_exit_layer"] - ee["mean_exit_layer"]) < 1e-9 and r["n"] == math.ceil(40 / r["batch"])
        for r in b), str(b))
    report("bench_e2e_rss", j.get("classify_peak_rss_kb", 0) > 1000, str(j.get("classify_peak_rss_kb")))
    # --ids-out: the gold label (the model's index) and the ids, [CLS] ... [SEP], one line each
    lines = open(ids).read().split("\n")[:-1] if os.path.exists(ids) else []
    gold = [int(l.split("\t")[0]) for l in lines]
    toks = [[int(x) for x in l.split("\t")[1].split()] for l in lines]
    labelled = [g for g in gold if g >= 0]
    report("bench_e2e_ids_out", len(lines) == 40 and set(gold) <= {0, 1} and
           all(t[0] == 2 and t[-1] == 3 for t in toks) and
           abs(ee["accuracy"] * len(labelled) - round(ee["accuracy"] * len(labelled))) < 1e-9,
           "%d lines %s" % (len(lines), lines[:2]))
    # the same rows in CSV and markdown: all but the times agree exactly across runs
    keep = ("engine", "precision", "policy", "threads", "batch", "sentences", "n", "accuracy",
            "mean_exit_layer", "agree_with_unbatched")
    strip = lambda rs: [{k: v for k, v in r.items() if k in keep} for r in rs]  # noqa: E731
    rc2, o2, e2 = run(args + ["--csv"])
    why = same_rows(strip(rows), strip(csv_rows(o2)), False) if rc2 == 0 else "rc %d" % rc2
    report("bench_e2e_csv_same_rows", not why, why + e2[-200:])
    rc3, o3, e3 = run(args)
    why = same_rows(strip(rows), strip(md_rows(o3)), True) if rc3 == 0 else "rc %d" % rc3
    report("bench_e2e_markdown_same_rows", not why, why + e3[-200:])
    # AdaptivFloat8: batched rows agree with one at a time, or the batched engine's refusal is a skip
    rc2, out2, err2 = run(["--e2e", "-m", d, "--data", dev, "--task", "sst2", "--limit", "10",
                           "--threads", "1", "--batches", "4", "--precision", "af8", "--json"])
    try:
        j2 = json.loads(out2)
    except ValueError:
        j2 = {}
    b2 = [r for r in j2.get("rows", []) if r["engine"] == "edgebert-batch"]
    report("bench_e2e_af8_batched", rc2 == 0 and len(j2.get("rows", [])) == 2 + len(b2) and
           all(r["precision"] == "af8" for r in j2["rows"]) and
           (all(r["agree_with_unbatched"] == 1.0 for r in b2) if b2 else
            any(s["engine"] == "edgebert-batch" and "af8" in s["reason"] for s in j2.get("skipped", []))),
           "rc %d %s %s" % (rc2, str(j2)[:300], err2[-200:]))
    rc, out, err = run(["--e2e", "-m", d, "--data", os.path.join(tmp, "missing.tsv"), "--json"])
    report("bench_e2e_missing_data", rc == 1 and "missing.tsv" in err, "rc %d %s" % (rc, err[-200:]))


def kernels():
    """--kernels: every kernel row in JSON, CSV and markdown agree on their speed-up (ref / fast),
    and bad options are refused; no timing is asserted."""
    rc, out, err = run(["--kernels", "--rounds", "1", "--calls", "3", "--json"])
    try:
        j = json.loads(out)
    except ValueError:
        report("bench_kernels_json", False, "rc %d %r %s" % (rc, out[:200], err[-300:]))
        return
    ks = j.get("kernels", [])
    names = [k["kernel"] for k in ks]
    report("bench_kernels_json", rc == 0 and j["calls"] == 3 and j["rounds"] == 1 and
           {"gelu_new", "gelu_new_backward", "layernorm", "attention", "matmul"} <= set(names) and
           all(k["fast_us"] > 0 and k["ref_us"] > 0 and
               abs(k["speedup"] - k["ref_us"] / k["fast_us"]) < 1e-9 * k["speedup"] for k in ks),
           str(j)[:600])
    rc, out, err = run(["--kernels", "--rounds", "1", "--calls", "1", "--csv"])
    rows = list(csv.DictReader(io.StringIO(out)))
    report("bench_kernels_csv", rc == 0 and [r["kernel"] for r in rows] == names and
           all(abs(float(r["speedup"]) - float(r["ref_us"]) / float(r["fast_us"])) < 0.01 + 1e-3 *
               float(r["speedup"]) for r in rows), out[:400])
    rc, out, err = run(["--kernels", "--rounds", "1", "--calls", "1"])
    report("bench_kernels_markdown", rc == 0 and out.count("\n| ") == len(names) + 1, out[:400])
    rc, out, err = run(["--kernels", "--calls", "x"])
    report("bench_kernels_bad_value", rc == 2 and "--calls" in err, err[-200:])


def main():
    if not os.path.exists(EXE):
        print("SKIP bench: %s not built" % EXE)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        dense(tmp)
        e2e(tmp)
        kernels()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
