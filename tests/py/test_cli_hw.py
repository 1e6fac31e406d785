#!/usr/bin/env python3
"""End-to-end checks of `edgebert trace`, `sim` and `sweep` against values
computed here from the raw files (an independent reference)."""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("EB_BUILD", "build")
EXE = os.path.join(ROOT, BUILD, "edgebert")
DATA = os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
TRACE = os.path.join(DATA, "edgebert", "sst2_dev_layer_entropies.txt")
LUT = os.path.join(DATA, "edgebert", "sst2_exit_lut.csv")

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


def reference_exit(rows, thr):
    tot = 0
    for r in rows:
        ex = len(r)
        for i, v in enumerate(r):
            if v < thr:
                ex = i + 1
                break
        tot += ex
    return tot / len(rows)


def reference_predicted(rows, lut, thr):
    tot = 0
    for r in rows:
        if r[0] < thr:
            tot += 1
            continue
        best = min(range(len(lut)), key=lambda k: abs(r[0] - lut[k][0]))
        pl = len(r)
        for j, c in enumerate(lut[best][1:]):
            if c < thr:
                pl = 2 + j
                break
        tot += pl
    return tot / len(rows)


def main():
    if not os.path.exists(EXE):
        print("SKIP cli_hw: %s not built" % EXE)
        return 0
    if not (os.path.exists(TRACE) and os.path.exists(LUT)):
        print("SKIP cli_hw: shared data missing (%s)" % TRACE)
        return 0
    rows = [[float(x) for x in l.split(",")] for l in open(TRACE) if l.strip()]
    lut = [[float(x) for x in l.split(",")] for l in open(LUT) if l.strip()]

    for thr in (0.23, 0.28, 0.46):
        rc, out, err = run("trace", "--entropies", TRACE, "--threshold", str(thr), "--json")
        ok = rc == 0
        if ok:
            d = json.loads(out)
            ok = abs(d["mean_exit_layer"] - reference_exit(rows, thr)) < 1e-9 and \
                sum(d["exit_histogram"].values()) == len(rows)
        report("trace_mean_exit_%g" % thr, ok, err or out[:200])

    for thr in (0.09, 0.16, 0.28):
        rc, out, err = run("trace", "--entropies", TRACE, "--threshold", str(thr), "--lut", LUT,
                           "--json")
        ok = rc == 0 and abs(json.loads(out)["mean_predicted_layer"] -
                             reference_predicted(rows, lut, thr)) < 1e-9
        report("trace_predicted_%g" % thr, ok, err or out[:200])

    rc, out, err = run("sim", "--entropies", TRACE, "--seq-len", "128", "--policy", "lai",
                       "--threshold", "0.16", "--lut", LUT, "--predict-after", "1",
                       "--latency-target", "50", "--mac-size", "16", "--json")
    ok = rc == 0
    if ok:
        d = json.loads(out)
        need = ["mean_exit_layer", "mean_predicted_layer", "mean_energy_uj", "mean_latency_ms",
                "deadline_miss_rate", "mean_vdd", "mean_freq_mhz"]
        ok = all(k in d for k in need) and abs(d["mean_predicted_layer"] - 4.9117) < 1e-3 \
            and 0.5 <= d["mean_vdd"] <= 0.8 and d["mean_latency_ms"] <= 50 + 1e-9
        bd = d.get("energy_breakdown_uj", {})
        ok = ok and abs(sum(bd.values()) - d["mean_energy_uj"]) < 1e-6 * d["mean_energy_uj"]
    report("sim_lai_json", ok, err or out[:300])

    rc, out, err = run("sim", "--entropies", TRACE, "--json")
    ok = rc == 0 and abs(json.loads(out)["mean_power_mw"] - 86) < 0.5
    report("sim_base_86mw", ok, err or out[:300])

    with tempfile.TemporaryDirectory() as d:
        bad = os.path.join(d, "bad.txt")
        with open(bad, "w") as f:
            f.write("0.1,0.2\n0.3,zz\n")
        rc, out, err = run("sim", "--entropies", bad)
        report("sim_bad_trace", rc == 1 and (bad + ":2:") in err, err)
        rc, out, err = run("sim", "--entropies", TRACE, "--policy", "warp")
        report("sim_bad_policy", rc == 2 and "edgebert sim:" in err, err)
        rc, out, err = run("sim", "--entropies", TRACE, "--policy", "lai", "--threshold", "0.1")
        report("sim_lai_needs_lut", rc == 2, err)

        out_dir = os.path.join(d, "rep")
        rc, out, err = run("sweep", "--entropies", TRACE, "--lut", LUT, "--out", out_dir)
        ok = rc == 0
        files = ["sweep.json", "fig8.csv", "fig9.csv", "fig11.csv", "breakdown.csv", "fig8.svg",
                 "fig9.svg", "fig11.svg", "breakdown.svg"]
        ok = ok and all(os.path.exists(os.path.join(out_dir, f)) for f in files)
        report("sweep_files", ok, err or out)
        if ok:
            good = True
            for f in files:
                if f.endswith(".svg"):
                    try:
                        root = ET.parse(os.path.join(out_dir, f)).getroot()
                        rects = root.findall(".//{http://www.w3.org/2000/svg}rect")
                        good = good and len(rects) > 8
                    except ET.ParseError as e:
                        good = False
                        print("bad svg", f, e)
            report("sweep_svg_wellformed", good)
            j = json.load(open(os.path.join(out_dir, "sweep.json")))
            h = j["headline"]
            report("sweep_best_n_16", h["best_mac_size_base"] == 16, str(h))
            report("sweep_latency_per_doubling",
                   3.0 < h["latency_ratio_per_doubling"] < 4.0, str(h))
            # Fig. 8 latencies are ordered and Base at n=16 is the calibration run
            base = [r for r in j["fig8"] if r["variant"] == "Base"]
            lat = [r["mean_latency_ms"] for r in base]
            report("sweep_fig8_monotone", all(a > b for a, b in zip(lat, lat[1:])), str(lat))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
