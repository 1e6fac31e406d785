#!/usr/bin/env python3
"""End-to-end checks of `edgebert faults` on a tiny random bundle built here
(albert_ref.py make + edgebert pack): the JSON layout, fault rates against
values computed here from the level tables, SLC/MLC2 lossless, the files,
resume after a cut checkpoint, refused options, usage errors."""
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("EB_BUILD", "build")
EXE = os.path.join(ROOT, BUILD, "edgebert")
DATA = os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
SPM = os.path.join(DATA, "albert", "spiece.model")
SST2 = os.path.join(DATA, "glue", "SST-2", "dev.tsv")
REF = os.path.join(ROOT, "tests", "py", "albert_ref.py")
PY = sys.executable

TABLES = {
    "slc": [(0, 0.008646), (1, 0.0034)],
    "mlc2": [(0, 0.008646), (0.384644, 0.033511), (0.721657, 0.027417), (1, 0.0034)],
    "mlc3": [(0, 0.008646), (0.078262, 0.013458), (0.20382, 0.030416), (0.384644, 0.033511),
             (0.54212, 0.024829), (0.721657, 0.027417), (0.886116, 0.037191), (1, 0.0034)],
}
AREA = {"slc": 0.28, "mlc2": 0.08, "mlc3": 0.04}
LATENCY = {"slc": 1.21, "mlc2": 1.54, "mlc3": 2.96}

failed = 0


def report(name, ok, why=""):
    global failed
    if ok:
        print("PASS", name)
    else:
        failed += 1
        print("FAIL %s: %s" % (name, why))


def run(*args):
    p = subprocess.run([EXE] + list(args), capture_output=True, text=True, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr


def crossing(lo, hi):
    """Where the two Gaussian densities cross between the means (bisection)."""
    (m1, s1), (m2, s2) = lo, hi

    def f(x):
        return (-math.log(s1) - 0.5 * ((x - m1) / s1) ** 2) - (-math.log(s2) - 0.5 * ((x - m2) / s2) ** 2)

    a, b = m1, m2
    for _ in range(200):
        mid = 0.5 * (a + b)
        if f(mid) > 0:
            a = mid
        else:
            b = mid
    return 0.5 * (a + b)


def upper_tail(z):
    return 0.5 * math.erfc(z / math.sqrt(2))


def fault_rate(levels):
    th = [crossing(levels[j], levels[j + 1]) for j in range(len(levels) - 1)]
    tot = 0.0
    for j, (m, s) in enumerate(levels):
        if j + 1 < len(levels):
            tot += upper_tail((th[j] - m) / s)
        if j > 0:
            tot += upper_tail((m - th[j - 1]) / s)
    return tot / len(levels), th


def close(a, b, rel=1e-6, abs_=1e-300):
    return abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))


def main():
    if not os.path.exists(EXE):
        print("SKIP all: %s not built" % EXE)
        return 0
    if not os.path.exists(SPM) or not os.path.exists(SST2):
        print("SKIP all: shared data missing (%s, %s)" % (SPM, SST2))
        return 0
    tmp = tempfile.mkdtemp(prefix="eb_faults_")
    try:
        ck = os.path.join(tmp, "ck")
        r = subprocess.run([PY, REF, "make", ck, "--labels", "2", "--label-names", "negative,positive",
                            "--seed", "5", "--spiece", SPM], capture_output=True, text=True)
        if r.returncode != 0:
            report("make_model", False, r.stderr[-500:])
            return 1
        bundle = os.path.join(tmp, "m.ebb")
        rc, _, err = run("pack", "-o", bundle, "--task", "sst2=" + ck, "--emb-keep", "0.4")
        report("pack", rc == 0, err)
        dev = os.path.join(tmp, "dev.tsv")
        with open(SST2, encoding="utf-8") as f:
            lines = f.read().splitlines()
        with open(dev, "w", encoding="utf-8") as f:
            f.write("\n".join(lines[:41]) + "\n")  # header + 40 sentences
        out = os.path.join(tmp, "out")
        args = ["faults", "-m", bundle, "--task", "sst2", "--data", dev, "--cells", "slc,mlc2,mlc3",
                "--trials", "4", "--seed", "5", "--out", out, "--threads", "2"]
        rc, so, se = run(*args, "--json")
        report("json_run", rc == 0, se[-500:])
        if rc != 0:
            return 1
        d = json.loads(so)
        res = d["results"]
        report("json_cells", [x["cells"] for x in res] == ["slc", "mlc2", "mlc3"], str([x["cells"] for x in res]))
        keys = {"cells", "mean_accuracy", "min_accuracy", "fault_rate", "bits_per_cell", "area_mm2_per_mb",
                "read_latency_ns", "accuracies", "boundaries"}
        report("json_keys", all(keys <= set(x) for x in res), str(sorted(res[0])))
        report("json_n", d["n_examples"] == 40 and d["trials"] == 4 and d["complete"] is True, str(d["n_examples"]))
        # fault rates and thresholds against values computed here
        ok, why = True, ""
        for x in res:
            rate, th = fault_rate(TABLES[x["cells"]])
            if not close(x["fault_rate"], rate):
                ok, why = False, "%s rate %r vs %r" % (x["cells"], x["fault_rate"], rate)
            for j, b in enumerate(x["boundaries"]):
                if abs(b["threshold"] - th[j]) > 1e-9:
                    ok, why = False, "%s threshold %d %r vs %r" % (x["cells"], j, b["threshold"], th[j])
            if x["bits_per_cell"] != {"slc": 1, "mlc2": 2, "mlc3": 3}[x["cells"]]:
                ok, why = False, "bits"
            if x["area_mm2_per_mb"] != AREA[x["cells"]] or x["read_latency_ns"] != LATENCY[x["cells"]]:
                ok, why = False, "area/latency of %s" % x["cells"]
        report("fault_rates_independent", ok, why)
        # the fault-free accuracy equals `edgebert eval` with every layer
        rc, eo, ee = run("eval", "-m", bundle, "--task", "sst2", "--data", dev, "--policy", "base", "--json")
        clean = json.loads(eo)["accuracy"] if rc == 0 else None
        report("fault_free_matches_eval", clean is not None and abs(d["fault_free"]["accuracy"] - clean) < 1e-9,
               "%r vs %r" % (d["fault_free"]["accuracy"], clean))
        # SLC and MLC2 (p ~ 1e-8 per cell: the count injector flips none) lose nothing
        for x in res[:2]:
            report("lossless_" + x["cells"],
                   x["mean_accuracy"] == x["min_accuracy"] == d["fault_free"]["accuracy"]
                   and x["mean_value_faults"] == 0 and len(x["accuracies"]) == 4, str(x))
        m3 = res[2]
        report("mlc3_faults", m3["mean_value_faults"] > 0 and m3["mean_changed_rows"] > 0
               and abs(m3["mean_accuracy"] - sum(m3["accuracies"]) / 4) < 1e-12
               and m3["min_accuracy"] == min(m3["accuracies"]), str(m3["accuracies"]))
        # files
        with open(os.path.join(out, "faults.csv")) as f:
            rows = list(csv.DictReader(f))
        report("csv_trials", len(rows) == 12 and [float(r["accuracy"]) for r in rows if r["cells"] == "mlc3"]
               == m3["accuracies"], str(len(rows)))
        with open(os.path.join(out, "faults_summary.csv")) as f:
            srows = list(csv.DictReader(f))
        report("csv_summary", [r["cells"] for r in srows] == ["slc", "mlc2", "mlc3"]
               and abs(float(srows[2]["mean_accuracy"]) - m3["mean_accuracy"]) < 1e-9, str(srows[:1]))
        try:
            svg = ET.parse(os.path.join(out, "faults.svg")).getroot()
            circles = [e for e in svg.iter() if e.tag.endswith("circle")]
            report("svg", len(circles) == 12, "%d circles" % len(circles))
        except Exception as e:  # noqa: BLE001
            report("svg", False, str(e))
        with open(os.path.join(out, "faults.json")) as f:
            fj = json.load(f)
        report("json_file", fj["results"] == d["results"], "differs from stdout")
        # resume after an interruption: cut the checkpoint's last trials
        ck_path = os.path.join(out, "faults.ckpt")
        with open(ck_path) as f:
            ck_lines = f.read().splitlines()
        report("checkpoint_lines", len(ck_lines) == 2 + 12, str(len(ck_lines)))
        with open(ck_path, "w") as f:
            f.write("\n".join(ck_lines[:2 + 7]) + "\n")
        rc, so2, se2 = run(*args, "--json", "--resume")
        d2 = json.loads(so2) if rc == 0 else {}
        report("resume_identical", rc == 0 and d2.get("results") == d["results"] and d2.get("resumed_trials") == 7,
               se2[-300:])
        # other options: refused
        bad = list(args)
        bad[bad.index("--seed") + 1] = "6"
        rc, _, se3 = run(*bad, "--resume")
        report("resume_other_options", rc == 1 and "other options" in se3, se3[-300:])
        # text layout
        rc, so4, se4 = run(*args)
        report("text_table", rc == 0 and "area density (mm2/MB)" in so4 and "read latency (ns)" in so4
               and "MLC3" in so4 and "P(lower->upper)" in so4 and "mean accuracy (%)" in so4, so4[-800:] + se4[-300:])
        # a user level table (MLC3's values) and the bitmask in the same kind
        lv = os.path.join(tmp, "mytable.txt")
        with open(lv, "w") as f:
            f.write("# mean sigma\n" + "".join("%r %r\n" % lvl for lvl in TABLES["mlc3"]))
        rc, so5, se5 = run("faults", "-m", bundle, "--task", "sst2", "--data", dev, "--levels", lv, "--trials", "2",
                           "--out", os.path.join(tmp, "o5"), "--mask-cells", "same", "--json")
        d5 = json.loads(so5) if rc == 0 else {"results": [{}]}
        x5 = d5["results"][0]
        report("user_levels_mask_same",
               rc == 0 and x5.get("cells") == "mytable" and close(x5["fault_rate"], fault_rate(TABLES["mlc3"])[0])
               and x5["area_mm2_per_mb"] is None and x5["mean_mask_faults"] > 0
               and x5["mask_fault_rate"] == x5["fault_rate"], se5[-300:] + str(x5)[:300])
        # usage errors
        for name, extra in (("no_data", ["faults", "-m", bundle, "--task", "sst2"]),
                            ("bad_cells", args[:7] + ["--cells", "mlc9"]),
                            ("bad_mask", args + ["--mask-cells", "dram"]),
                            ("bad_trials", args + ["--trials", "0"]),
                            ("no_value", args + ["--seed"])):
            rc, _, e = run(*extra)
            report("usage_" + name, rc == 2 and "edgebert faults:" in e, "rc %d: %s" % (rc, e[-200:]))
        rc, _, e = run("faults", "-m", os.path.join(tmp, "missing.ebb"), "--task", "sst2", "--data", dev,
                       "--out", os.path.join(tmp, "o6"))
        report("missing_model", rc == 1 and "edgebert faults:" in e, e[-200:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
