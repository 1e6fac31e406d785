#!/usr/bin/env python3
"""`edgebert bench` and its runners: the PyTorch model of tools/bench against the
numpy reference forward pass (albert_ref.py), the bench's JSON / CSV / markdown
(ratios recomputed here from the rows), skipped engines, usage errors, and
--e2e on real SST-2 dev sentences (batched early exit agrees with one at a
time; the full model agrees with PyTorch on the same token ids)."""
import csv
import io
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))
BUILD = os.environ.get("EB_BUILD", "build")
EXE = os.path.join(ROOT, BUILD, "edgebert")
DATA = os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
failed = 0


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


def torch_vs_reference(tmp):
    import albert_ref
    try:
        import torch  # noqa: F401
        import torch_albert
    except ImportError as ex:
        print("SKIP torch_model_matches_reference: torch missing (%s)" % ex)
        return
    import torch
    # the three activations, then adaptive spans (one head off per layer), whose
    # mask the torch model must apply as edgebert does; the traced model (what
    # the benchmark and the ONNX export run) is checked at other lengths too
    for act, spans in (("gelu_new", False), ("gelu", False), ("relu", False), ("gelu_new", True)):
        name = act + ("_spans" if spans else "")
        d = os.path.join(tmp, "ref_" + name)
        cfg = albert_ref.albert_config(hidden_size=32, num_attention_heads=4, intermediate_size=48,
                                       num_hidden_layers=3, hidden_act=act, embedding_size=16)
        albert_ref.make_checkpoint(d, cfg, seed=3, spiece="", spans=spans, span_ramp=4.0)
        m, tcfg = torch_albert.build(d)
        tm = torch_albert.trace(m, tcfg, n=8)
        rcfg, w = albert_ref.load_checkpoint(d)
        rng = np.random.default_rng(1)
        worst = 0.0
        for n in (1, 5, 17):
            ids = rng.integers(5, cfg["vocab_size"], n)
            want = albert_ref.forward(rcfg, w, ids.tolist())[0][-1]
            x = torch.from_numpy(ids.reshape(1, -1).astype(np.int64))
            with torch.no_grad():
                for mod in (m, tm):
                    got = mod(x)[0].numpy()
                    worst = max(worst, float(np.max(np.abs(got - want) / (1 + np.abs(want)))))
        report("torch_model_matches_reference_%s" % name, worst < 1e-4, "max rel err %g" % worst)


def dense(tmp):
    import albert_ref
    d = os.path.join(tmp, "small")
    cfg = albert_ref.albert_config(hidden_size=32, num_attention_heads=4, intermediate_size=48,
                                   num_hidden_layers=3, embedding_size=16)
    albert_ref.make_checkpoint(d, cfg, seed=5, spiece="")
    rc, out, err = run(["-m", d, "--engines", "edgebert,torch,ort", "--tokens", "4,9",
                        "--threads", "1", "--runs", "3", "--warmup", "1", "--json", "--no-gemm"],
                       env={"EB_NODE": "/nonexistent/node"})
    try:
        j = json.loads(out)
    except ValueError:
        report("bench_json", False, "rc %d, stdout %r, stderr %s" % (rc, out[:200], err[-400:]))
        return
    rows = j.get("rows", [])
    eb = [r for r in rows if r["engine"] == "edgebert"]
    ok = rc == 0 and sorted(r["tokens"] for r in eb) == [4, 9] and all(
        r["threads"] == 1 and r["median_ms"] > 0 and r["min_ms"] <= r["median_ms"] for r in eb)
    report("bench_json_edgebert_rows", ok, "rc %d rows %s" % (rc, rows))
    sk = j.get("skipped", [])
    report("bench_ort_skipped_without_node",
           any(s["engine"] == "ort" and "node" in s["reason"] for s in sk) and
           not any(r["engine"] == "ort" for r in rows), str(sk))
    tr = [r for r in rows if r["engine"] == "torch"]
    if any(s["engine"] == "torch" for s in sk):
        print("SKIP bench_torch_rows: %s" % sk)
    else:
        good = len(tr) == 2
        for r in eb:
            t = [x for x in tr if x["tokens"] == r["tokens"]]
            good = good and t and abs(r["vs_torch"] - t[0]["median_ms"] / r["median_ms"]) < 1e-6 * (
                1 + r["vs_torch"])
        report("bench_torch_rows_and_ratios", bool(good), str(rows))
        info = j.get("engines", {}).get("torch", {})
        report("bench_torch_names_its_blas", info.get("blas") in ("openblas", "reference", "mkl", "unknown"),
               str(info))
    # FLOP/s recomputed from the shape
    H, I, E, L = 32, 48, 16, 3
    for r in eb:
        n = r["tokens"]
        fl = 2 * n * E * H + L * (8 * n * H * H + 4 * n * n * H + 4 * n * H * I) + 2 * H * H
        report("bench_gflops_%d" % n, abs(r["gflops"] - fl / (r["median_ms"] * 1e6)) < 1e-6 * (1 + r["gflops"]),
               "%s vs %g" % (r["gflops"], fl / (r["median_ms"] * 1e6)))
    rc, out, err = run(["-m", d, "--engines", "edgebert,edgebert-batch", "--tokens", "5", "--threads",
                        "1", "--runs", "3", "--warmup", "0", "--rounds", "2", "--clock", "cpu",
                        "--json", "--no-gemm", "--no-rss"])
    j = json.loads(out) if rc == 0 else {}
    eng = sorted(r["engine"] for r in j.get("rows", []))
    report("bench_cpu_clock_rounds", rc == 0 and j.get("clock") == "cpu" and j.get("rounds") == 2 and
           eng == ["edgebert", "edgebert-batch"], out + err[-300:])
    # the OpenBLAS kernels named as --version names them (OPENBLAS_CORETYPE decides them)
    ver = subprocess.run([EXE, "--version"], capture_output=True, text=True).stdout
    report("bench_openblas_kernels", bool(j.get("openblas_kernels")) and
           ("OpenBLAS kernels: %s)" % j.get("openblas_kernels")) in ver, "%s / %s" % (j.get("openblas_kernels"), ver))
    rc, out, err = run(["-m", d, "--clock", "sundial"])
    report("bench_usage_clock", rc == 2 and "--clock" in err, err[-200:])
    rc, out, err = run(["-m", d, "--engines", "edgebert", "--tokens", "3", "--threads", "1,2",
                        "--runs", "2", "--warmup", "0", "--csv", "--no-gemm", "--no-rss"])
    rd = list(csv.DictReader(io.StringIO(out)))
    report("bench_csv", rc == 0 and len(rd) == 2 and {r["threads"] for r in rd} == {"1", "2"} and
           all(float(r["median_ms"]) > 0 for r in rd), out + err[-300:])
    rc, out, err = run(["-m", d, "--engines", "edgebert", "--tokens", "3", "--threads", "1",
                        "--runs", "2", "--warmup", "0", "--no-rss"])
    report("bench_markdown", rc == 0 and "| engine | threads | tokens | median ms |" in out and
           "| edgebert | 1 | 3 |" in out and "| openblas | 1 | 1024 | 1024 | 1024 |" in out and
           "OpenBLAS's kernels: " in out, out + err[-300:])
    rc, out, err = run(["-m", d, "--engines", "edgebert", "--tokens", "200", "--threads", "1",
                        "--runs", "2", "--json", "--no-gemm", "--no-rss"])
    j = json.loads(out) if rc == 0 else {}
    report("bench_too_many_tokens_skipped", rc == 0 and not j.get("rows") and
           "positions" in j.get("skipped", [{}])[0].get("reason", ""), out + err)
    for args in (["--tokens", "4,x"], ["--tokens", "0"], ["--json", "--csv"], ["--frobnicate"],
                 ["--runs", "0"], ["--threads"], ["--e2e"]):
        rc, out, err = run(["-m", d] + args)
        report("bench_usage_%s" % "_".join(a.strip("-") for a in args), rc == 2 and "edgebert bench" in err,
               "rc %d %s" % (rc, err[-200:]))
    rc, out, err = run(["-m", os.path.join(tmp, "nope"), "--engines", "edgebert"])
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
    rc, out, err = run(["--e2e", "-m", d, "--data", dev, "--task", "sst2", "--limit", "40",
                        "--threads", "1", "--batches", "1,8", "--threshold", "0.6", "--json",
                        "--engines", "edgebert,torch"])
    try:
        j = json.loads(out)
    except ValueError:
        report("bench_e2e_json", False, "rc %d %r %s" % (rc, out[:200], err[-500:]))
        return
    rows = {(r["engine"], r["mode"]): r for r in j["rows"]}
    ee, full = rows.get(("edgebert", "early-exit")), rows.get(("edgebert", "full"))
    report("bench_e2e_rows", rc == 0 and j["sentences"] == 40 and ee and full and
           1 <= ee["mean_exit_layer"] <= 4 and full["mean_exit_layer"] == 4, str(j)[:600])
    b = j.get("batched", [])
    report("bench_e2e_batched_agrees", len(b) == 2 and all(x["agree_with_unbatched"] == 1.0 and
                                                          x["sentences_per_s"] > 0 for x in b), str(b))
    report("bench_e2e_rss", j.get("classify_peak_rss_kb", 0) > 1000, str(j.get("classify_peak_rss_kb")))
    # AdaptivFloat8: the batched engine is fp32 only, so no batched rows (they would be fp32)
    rc2, out2, err2 = run(["--e2e", "-m", d, "--data", dev, "--task", "sst2", "--limit", "10",
                           "--threads", "1", "--batches", "1", "--precision", "af8", "--json",
                           "--engines", "edgebert"])
    try:
        j2 = json.loads(out2)
    except ValueError:
        j2 = {}
    report("bench_e2e_af8_not_batched", rc2 == 0 and len(j2.get("rows", [])) == 2 and
           not j2.get("batched") and "fp32 only" in err2, "rc %d %s %s" % (rc2, str(j2)[:300], err2[-200:]))
    t = rows.get(("torch", "full"))
    if t is None:
        print("SKIP bench_e2e_torch: %s" % j.get("skipped"))
    else:
        report("bench_e2e_torch_same_accuracy", abs(t["accuracy"] - full["accuracy"]) <= 1.0 / 40 + 1e-9,
               "torch %s edgebert %s" % (t["accuracy"], full["accuracy"]))
        report("bench_e2e_ratio", abs(ee["vs_torch"] - t["mean_ms"] / ee["mean_ms"]) < 1e-6 * (1 + ee["vs_torch"]),
               str(ee))


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
        torch_vs_reference(tmp)
        dense(tmp)
        e2e(tmp)
        kernels()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
