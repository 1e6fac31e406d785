#!/usr/bin/env python3
"""tools/bench/compare.py: edgebert, PyTorch and ONNX Runtime side by side. The PyTorch model of
the runners against the numpy reference forward pass (albert_ref.py); a tiny quick run whose
rows hold edgebert's rows of `edgebert bench --json` and ratios recomputed from the medians; a
missing engine is a skipped line, never a failure; usage errors exit 2; and e2e on real SST-2
dev sentences, where PyTorch and ONNX Runtime running the full model on edgebert's token ids
reach edgebert's all-layer accuracy. Parts that need torch, node or npm skip with the reason."""
import json
import os
import shutil
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
SCRIPT = os.path.join(ROOT, "tools", "bench", "compare.py")
DATA = os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
# onnxruntime-node is installed once per checkout, beside the script's default work folder
ORT_DIR = os.path.join(ROOT, "build", "bench", "ort")
failed = 0


def report(name, ok, why=""):
    global failed
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))
    failed += 0 if ok else 1


def compare(args, tmp, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(["/usr/bin/python3", SCRIPT] + args + ["--edgebert", EXE, "--work",
                       os.path.join(tmp, "work"), "--ort-dir", ORT_DIR],
                       capture_output=True, text=True, cwd=ROOT, env=e, timeout=900)
    return p.returncode, p.stdout, p.stderr


def have_torch():
    try:
        import torch  # noqa: F401
        return ""
    except ImportError as ex:
        return "torch missing (%s)" % ex


def ort_missing():
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            return "%s is not installed" % tool
    return ""


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



def quick(tmp):
    why = have_torch()
    if why:
        print("SKIP compare_quick: %s" % why)
        return
    engines = "edgebert,edgebert-batch,torch" + ("" if ort_missing() else ",ort")
    rc, out, err = compare(["--quick", "--json", "--engines", engines], tmp)
    try:
        j = json.loads(out)
    except ValueError:
        report("compare_quick_json", False, "rc %d %r %s" % (rc, out[:200], err[-500:]))
        return
    rows = {(r["engine"], r["threads"], r["tokens"]): r for r in j["rows"]}
    sk = j.get("skipped", [])
    eb = [r for r in j["rows"] if r["engine"].startswith("edgebert")]
    want = set((e, 1, n) for e in engines.split(",") for n in (4, 9)) - set(
        (s["engine"], 1, n) for s in sk for n in (4, 9))
    report("compare_quick_edgebert_rows", rc == 0 and sorted(rows) == sorted(want) and len(eb) == 4 and
        j["edgebert"].get("runs") == 3, "rc %d %s %s" % (rc, sorted(rows), sk))
    bad = []
    for r in j["rows"]:
        for base in ("torch", "ort"):
            b = rows.get((base, r["threads"], r["tokens"]))
            if r["engine"] == base or b is None:
                if "vs_" + base in r and r["engine"] == base:
                    bad.append(r)
                continue
            if abs(r.get("vs_" + base, -1) - b["median_ms"] / r["median_ms"]) > 1e-9 * b["median_ms"] / r["median_ms"]:
                bad.append((r, base))
    report("compare_quick_ratios", not bad and any("vs_torch" in r for r in eb), str(bad)[:400])
    report("compare_quick_torch_blas", j["engines"].get("torch", {}).get("blas") in
           ("openblas", "reference", "mkl", "unknown"), str(j["engines"]))
    why = ort_missing()
    if why:
        print("SKIP compare_quick_ort: %s" % why)
    elif any(s["engine"] == "ort" and "npm install" in s["reason"] for s in sk):
        print("SKIP compare_quick_ort: %s" % [s["reason"] for s in sk if s["engine"] == "ort"])
    else:
        report("compare_quick_ort_rows", ("ort", 1, 4) in rows and ("ort", 1, 9) in rows and
               j["engines"].get("ort", {}).get("version"), "%s %s" % (sorted(rows), sk))
    # markdown: the README's table (edgebert's cells carry the ratio against ONNX Runtime) and
    # the long one
    rc, out, err = compare(["--quick", "--engines", "edgebert,torch"], tmp)
    lines = out.split("\n")
    report("compare_quick_markdown", rc == 0 and "| engine | threads | 4 tokens | 9 tokens |" in lines and
           any(l.startswith("| edgebert, per-sentence path | 1 |") for l in lines) and
           any(l.startswith("| PyTorch ") for l in lines) and
           "| engine | threads | tokens | median ms | min ms | x vs torch | x vs ort |" in lines,
           out[:600] + err[-300:])


def missing_node(tmp):
    rc, out, err = compare(["--quick", "--json", "--engines", "edgebert,ort"], tmp,
                           env={"EB_NODE": "/nonexistent/node"})
    try:
        j = json.loads(out)
    except ValueError:
        j = {}
    report("compare_ort_skipped_without_node", rc == 0 and any(
        s["engine"] == "ort" and "node" in s["reason"] for s in j.get("skipped", [])) and
        not any(r["engine"] == "ort" for r in j.get("rows", [])) and
        any(r["engine"] == "edgebert" for r in j.get("rows", [])), "rc %d %s %s" % (rc, out[:300], err[-300:]))
    for args in (["--engines", "tensorflow"], ["--tokens", "4,x"], ["--runs", "0"], ["e2e", "-m", "x"],
                 ["--clock", "sundial"]):
        rc, out, err = compare(args, tmp)
        report("compare_usage_%s" % "_".join(a.strip("-") for a in args), rc == 2 and "compare.py" in err,
               "rc %d %s" % (rc, err[-200:]))


def e2e(tmp):
    import albert_ref
    spm = os.path.join(DATA, "albert", "spiece.model")
    dev = os.path.join(DATA, "glue", "SST-2", "dev.tsv")
    if not (os.path.exists(spm) and os.path.exists(dev)):
        print("SKIP compare_e2e: shared data missing (%s, %s)" % (spm, dev))
        return
    why = have_torch()
    if why:
        print("SKIP compare_e2e: %s" % why)
        return
    d = os.path.join(tmp, "ramps")
    cfg = albert_ref.albert_config(hidden_size=32, num_attention_heads=4, intermediate_size=48,
                                   num_hidden_layers=4, embedding_size=16, max_position_embeddings=128)
    albert_ref.make_checkpoint(d, cfg, seed=8, offramps=True, spiece=spm)
    engines = "edgebert,torch" + ("" if ort_missing() else ",ort")
    rc, out, err = compare(["e2e", "-m", d, "--data", dev, "--task", "sst2", "--limit", "30",
                            "--threshold", "0.6", "--engines", engines, "--json"], tmp)
    try:
        j = json.loads(out)
    except ValueError:
        report("compare_e2e_json", False, "rc %d %r %s" % (rc, out[:200], err[-500:]))
        return
    r = j["rows"][0] if j.get("rows") else {}
    ee, full = r.get("edgebert_early_exit"), r.get("edgebert_all_layers")
    report("compare_e2e_rows", rc == 0 and len(j["rows"]) == 1 and r["threads"] == 1 and ee and full and
           ee["policy"] == "ee" and full["policy"] == "base" and full["mean_exit_layer"] == 4,
           str(j)[:600])
    for e in engines.split(",")[1:]:
        if e not in r:
            print("SKIP compare_e2e_%s: %s" % (e, j.get("skipped")))
            continue
        # the full model on the very ids: the reference engines' labels are edgebert's all-layer
        # labels, up to a near-tie
        report("compare_e2e_%s_same_accuracy" % e, abs(r[e]["accuracy"] - full["accuracy"]) <= 1.0 / 30 + 1e-9,
               "%s %s edgebert %s" % (e, r[e]["accuracy"], full["accuracy"]))
        report("compare_e2e_%s_ratio" % e, abs(r["early_exit_vs_" + e] - r[e]["mean_ms"] / ee["mean_ms"]) <
               1e-9 * r["early_exit_vs_" + e], str(r))
    report("compare_e2e_ids_removed", not [f for f in os.listdir(os.path.join(tmp, "work"))
                                           if f.startswith("e2e_ids")], str(os.listdir(os.path.join(tmp, "work"))))


def main():
    if not os.path.exists(EXE):
        print("SKIP compare: %s not built" % EXE)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        torch_vs_reference(tmp)
        missing_node(tmp)
        quick(tmp)
        e2e(tmp)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
