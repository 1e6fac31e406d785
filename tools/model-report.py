#!/usr/bin/env python3
"""Print the figures README.md and docs/experiments.md give for a bundle (by default the shipped one), as markdown:
per task the metric with all layers in fp32 and AdaptivFloat8, with early exit at the bundle's
threshold, the mean exit layer and the task's bytes; the learned attention spans per head;
SST-2's energy per sentence under base / ee / lai; and the exit-layer curve
(`edgebert calibrate --curve`, written to FIG_DIR/exit_curve.{csv,svg}).
usage: tools/model-report.py [MODEL.ebb] [FIG_DIR]     (defaults: models/default.ebb, docs/figures)
Reads ../shared/data/glue (or $EB_SHARED_DATA/glue)."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EB = os.environ.get("EDGEBERT", os.path.join(ROOT, "build", "edgebert"))
GLUE = os.path.join(os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data")),
                    "glue")
DEV = {"sst2": "SST-2", "cola": "CoLA", "mrpc": "MRPC", "rte": "RTE", "qnli": "QNLI",
       "stsb": "STS-B"}


def eb(*args):
    p = subprocess.run([EB] + list(args), capture_output=True, text=True)
    if p.returncode:
        sys.exit("model-report: edgebert %s: %s" % (" ".join(args), p.stderr.strip()))
    return json.loads(p.stdout)


def metric(r, task):
    s = "%.2f %%" % (100 * r["accuracy"])
    if task == "cola":
        s += ", MCC %.2f" % (r["matthews"] or 0)
    if task == "mrpc" and r.get("f1") is not None:
        s += ", F1 %.2f" % (100 * r["f1"])
    return s


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "default.ebb")
    figs = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs", "figures")
    info = eb("info", "-m", model, "--json")
    print("| task (dev) | metric, all layers, fp32 | af8 | early exit (bundle threshold) "
          "| mean exit layer | task bytes |")
    print("|---|---|---|---|---|---|")
    spans = []
    for t in info["tasks"]:
        name = t["name"]
        dev = os.path.join(GLUE, DEV.get(name, name), "dev.tsv")
        if not os.path.exists(dev):
            continue
        cr = eb("compress-report", "-m", model, "--task", name, "--data", dev, "--json")
        ee = eb("eval", "-m", model, "--task", name, "--data", dev, "--json")
        print("| %s | %s | %s | %s | %.2f of %d | %.2f MB |" % (
            DEV.get(name, name), metric(cr["fp32"], name), metric(cr["af8"], name),
            metric(ee, name), ee["mean_exit_layer"], t["num_layers"], t["task_bytes"] / 1e6))
        spans.append((DEV.get(name, name), t))
    if not spans:
        sys.exit("model-report: no task of %s has its dev set under %s" % (model, GLUE))
    print()
    print("Learned attention spans (tokens per head; ramp R = %g; 0 = head off):" %
          spans[0][1]["span_ramp"])
    print()
    print("| task | " + " | ".join("head %d" % h for h in range(spans[0][1]["num_heads"])) +
          " | heads off | encoder density |")
    print("|---|" + "---|" * (spans[0][1]["num_heads"] + 2))
    for name, t in spans:
        for g, row in enumerate(t["span_tokens"]):
            print("| %s%s | %s | %d | %.1f %% |" % (
                name, "" if len(t["span_tokens"]) == 1 else " group %d" % g,
                " | ".join("%.1f" % v for v in row), t["heads_off"],
                100 * t["encoder_weight_density"]))
    dev = os.path.join(GLUE, "SST-2", "dev.tsv")
    if any(t["name"] == "sst2" for t in info["tasks"]) and os.path.exists(dev):
        print()
        print("| SST-2, per sentence | accuracy | mean exit layer | energy (µJ) |")
        print("|---|---|---|---|")
        for pol in ("base", "ee", "lai"):
            r = eb("eval", "-m", model, "--task", "sst2", "--data", dev, "--policy", pol, "--json")
            print("| %s | %.2f %% | %.2f | %.1f |" % (pol, 100 * r["accuracy"], r["mean_exit_layer"],
                                                     r["mean_energy_uj"]))
        os.makedirs(figs, exist_ok=True)
        prefix = os.path.join(figs, "exit_curve")
        p = subprocess.run([EB, "calibrate", "-m", model, "--task", "sst2", "--data", dev,
                            "--curve", prefix], capture_output=True, text=True)
        if p.returncode:
            sys.exit("model-report: calibrate --curve: " + p.stderr.strip())
        print()
        print("Exit-layer curve (%s.csv, every 0.05):" % os.path.relpath(prefix, ROOT))
        print()
        with open(prefix + ".csv") as f:
            head = f.readline().strip().split(",")
            rows = [dict(zip(head, l.strip().split(","))) for l in f if l.strip()]
        lai = "lai_accuracy" in head
        print("| threshold | EE accuracy | EE mean exit layer |" +
              (" LAI accuracy | LAI mean exit layer | LAI mean predicted layer |" if lai else ""))
        print("|---|---|---|" + ("---|---|---|" if lai else ""))
        for r in rows[::5]:
            s = "| %s | %.2f %% | %.2f |" % (r["threshold"], 100 * float(r["ee_accuracy"]),
                                            float(r["ee_mean_exit_layer"]))
            if lai:
                s += " %.2f %% | %.2f | %.2f |" % (100 * float(r["lai_accuracy"]),
                                                  float(r["lai_mean_exit_layer"]),
                                                  float(r["lai_mean_predicted_layer"]))
            print(s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
