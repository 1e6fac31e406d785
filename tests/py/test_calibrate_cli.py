#!/usr/bin/env python3
"""`edgebert calibrate --curve`: the exit-layer curve (CSV + SVG) of a random-weight model
with off-ramps and an exit predictor table, checked row by row against `edgebert eval` at the
same thresholds (eval runs the policy engine sentence by sentence; calibrate replays one
all-layer pass), for conventional early exit and for latency-aware inference."""
import csv
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
ROOT = os.path.dirname(os.path.dirname(HERE))
EXE = os.path.join(ROOT, os.environ.get("EB_BUILD", "build"), "edgebert")
DATA = os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
SPM = os.path.join(DATA, "albert", "spiece.model")
DEV = os.path.join(DATA, "glue", "SST-2", "dev.tsv")
failed = 0


def report(name, ok, why=""):
    global failed
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))
    failed += 0 if ok else 1


def run(args):
    return subprocess.run([EXE] + args, capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, EDGEBERT_MODEL="/nonexistent/default.ebb"))


def main():
    for path, what in ((EXE, "edgebert not built"), (SPM, "shared data missing"),
                       (DEV, "shared data missing")):
        if not os.path.exists(path):
            print("SKIP calibrate_curve: %s (%s)" % (what, path))
            return 0
    try:
        import albert_ref
    except ImportError as e:
        print("SKIP calibrate_curve: numpy missing (%s)" % e)
        return 0
    tmp = tempfile.mkdtemp(prefix="eb_calib_curve_")
    m = os.path.join(tmp, "m")
    L = 4
    cfg = dict(vocab_size=30000, embedding_size=16, hidden_size=32, num_hidden_layers=L,
               num_hidden_groups=1, inner_group_num=1, num_attention_heads=4, intermediate_size=64,
               hidden_act="gelu_new", max_position_embeddings=64, type_vocab_size=2,
               layer_norm_eps=1e-12, num_labels=2)
    albert_ref.make_checkpoint(m, cfg, seed=11, offramps=True, spiece=SPM,
                               extra_config={"id2label": {"0": "negative", "1": "positive"}})
    # predictor after layer 1: entropy -> predicted entropies of layers 2..L-1 (a made-up ramp)
    with open(os.path.join(m, "exit_lut.csv"), "w") as f:
        for r in range(100):
            e = r / 100
            f.write("%.2f,%.4f,%.4f\n" % (e, 0.9 * e, 0.8 * e))
    n = 60
    prefix = os.path.join(tmp, "curve")
    p = run(["calibrate", "-m", m, "--data", DEV, "--task", "sst2", "--limit", str(n),
             "--curve", prefix, "--json"])
    report("curve_runs", p.returncode == 0, p.stderr.strip()[-300:])
    if p.returncode:
        return 1
    base = json.loads(p.stdout)["base_accuracy"]
    with open(prefix + ".csv") as f:
        rows = list(csv.DictReader(f))
    ts = [float(r["threshold"]) for r in rows]
    report("curve_grid", ts == [k / 100 for k in range(len(ts))] and len(ts) > 2, str(ts[:5]))
    first, last = rows[0], rows[-1]
    report("curve_threshold_0_runs_all_layers",
           float(first["ee_mean_exit_layer"]) == L and abs(float(first["ee_accuracy"]) - base) < 1e-6,
           str(first))
    report("curve_last_threshold_exits_at_1", float(last["ee_mean_exit_layer"]) == 1.0, str(last))
    # thresholds where the exits spread over several layers, and both ends
    mid = [r for r in rows if 1 < float(r["ee_mean_exit_layer"]) < L]
    pick = [first, last] + mid[:: max(1, len(mid) // 3)][:3]
    report("curve_has_a_middle", len(mid) > 0, "every threshold exits all at one layer")
    for r in pick:
        t = r["threshold"]
        for pol, acc_k, exit_k in (("ee", "ee_accuracy", "ee_mean_exit_layer"),
                                   ("lai", "lai_accuracy", "lai_mean_exit_layer")):
            q = run(["eval", "-m", m, "--data", DEV, "--task", "sst2", "--limit", str(n),
                     "--threshold", t, "--policy", pol, "--json"])
            if q.returncode:
                report("curve_vs_eval_%s_%s" % (pol, t), False, q.stderr.strip()[-300:])
                continue
            e = json.loads(q.stdout)
            ok = abs(e["accuracy"] - float(r[acc_k])) < 1e-6 and \
                abs(e["mean_exit_layer"] - float(r[exit_k])) < 1e-3
            report("curve_vs_eval_%s_%s" % (pol, t), ok,
                   "eval %s / %s, curve %s / %s" % (e["accuracy"], e["mean_exit_layer"], r[acc_k],
                                                    r[exit_k]))
    with open(prefix + ".svg") as f:
        svg = f.read()
    report("curve_svg", svg.startswith("<?xml") and "mean exit layer" in svg and
           "latency-aware" in svg and svg.rstrip().endswith("</svg>"), svg[:80])
    bad = run(["calibrate", "-m", m, "--data", DEV, "--task", "sst2", "--limit", "5", "--curve",
               os.path.join(tmp, "no", "such", "dir", "c")])
    report("curve_unwritable", bad.returncode != 0 and "cannot write" in bad.stderr, bad.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
