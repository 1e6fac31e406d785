#!/usr/bin/python3
"""test_train_bf16.py - `edgebert train --precision bf16` against fp32 on a real task.

The shipped model's SST-2 task is exported (`edgebert export`) and fine-tuned
for one epoch on 1,000 SST-2 training sentences twice, with the same seed and
batches: once in fp32, once with bf16 operands in the products.  The bf16 run
must differ from the fp32 one (the precision took effect), its loss must stay
within 0.03 of the fp32 loss at every logged step (bf16 keeps 8 significant
bits, so each product is off by at most 2^-7 of its magnitude; measured, the
two curves stay within 0.001 over the 32 steps: the band leaves room for other
CPUs' summation orders), and its final SST-2 dev accuracy within 0.5 %-points
of fp32's.  Prints PASS/FAIL/SKIP
lines; exits 1 on any FAIL.
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.environ.get("EB_BUILD", "build")
EB = os.path.join(ROOT, BUILD, "edgebert")
DATA = os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
SST2 = os.path.join(DATA, "glue", "SST-2")
BAND = 0.03
FAILS = []


def report(ok, name, why=""):
    if ok:
        print("PASS %s%s" % (name, (" (" + why + ")") if why else ""))
    else:
        print("FAIL %s: %s" % (name, why))
        FAILS.append(name)


def train(init, data, out, precision):
    r = subprocess.run([EB, "train", "--init", init, "--task", "sst2", "--data", data, "--dev",
                        os.path.join(SST2, "dev.tsv"), "--out", out, "--epochs", "1",
                        "--max-len", "48", "--batch", "32", "--lr", "3e-5", "--seed", "1",
                        "--log-every", "4", "--threads", "1", "--precision", precision],
                       capture_output=True, text=True)
    losses = [float(x) for x in re.findall(r"^step \d+/\d+ .*?loss ([0-9.]+)", r.stderr, re.M)]
    acc = re.findall(r"dev accuracy ([0-9.]+)", r.stderr)
    return r, losses, float(acc[-1]) if acc else None


def main():
    model = os.path.join(ROOT, "models", "default.ebb")
    for need in (os.path.join(SST2, "train.tsv"), os.path.join(SST2, "dev.tsv"), model):
        if not os.path.exists(need):
            print("SKIP train_bf16: %s missing" % need)
            return 0
    with tempfile.TemporaryDirectory() as tmp:
        init = os.path.join(tmp, "sst2")
        r = subprocess.run([EB, "export", "-m", model, "--task", "sst2", "--out", init],
                           capture_output=True, text=True)
        report(r.returncode == 0, "export_shipped_sst2", r.stderr.strip())
        if r.returncode:
            return 1
        data = os.path.join(tmp, "train.tsv")
        with open(os.path.join(SST2, "train.tsv")) as f, open(data, "w") as g:
            for i, line in enumerate(f):
                if i > 1000:
                    break
                g.write(line)
        runs = {}
        for p in ("fp32", "bf16"):
            r, losses, acc = train(init, data, os.path.join(tmp, p), p)
            report(r.returncode == 0 and losses and acc is not None, "train_" + p,
                   r.stderr.strip()[-300:] if r.returncode else "%d logged losses, dev %.4f"
                   % (len(losses), acc or -1))
            runs[p] = (losses, acc)
        (l32, a32), (l16, a16) = runs["fp32"], runs["bf16"]
        if not l32 or not l16 or a32 is None or a16 is None:
            return 1
        w32 = open(os.path.join(tmp, "fp32", "model.safetensors"), "rb").read()
        w16 = open(os.path.join(tmp, "bf16", "model.safetensors"), "rb").read()
        report(w32 != w16, "bf16_took_effect", "the two runs' weights differ")
        gap = max(abs(a - b) for a, b in zip(l32, l16))
        report(len(l32) == len(l16) and gap <= BAND, "loss_curve_band",
               "max |loss bf16 - loss fp32| = %.4f over %d points (band %.2f)"
               % (gap, len(l32), BAND))
        report(abs(a16 - a32) <= 0.005, "dev_accuracy",
               "SST-2 dev fp32 %.4f, bf16 %.4f" % (a32, a16))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
