#!/usr/bin/python3
"""test_average_cli.py - `edgebert average` (model soup).

Three random checkpoints of one architecture (one stored in mixed
F32/F16/BF16) are averaged; numpy reads every tensor back and checks it
against the mean of the three inputs as stored; config.json and spiece.model
come from the first; the engine runs the average like the numpy reference.
Then the refusals: another architecture, another tokenizer, other tensors,
the output among the inputs, a missing checkpoint, usage errors.  Prints
PASS/FAIL/SKIP lines; exits 1 on any FAIL.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import albert_ref as ar  # noqa: E402

ROOT = ar.ROOT
BUILD = os.environ.get("EB_BUILD", "build")
EB = os.path.join(ROOT, BUILD, "edgebert")
FAILS = []


def report(ok, name, why=""):
    if ok:
        print("PASS %s%s" % (name, (" (" + why + ")") if why else ""))
    else:
        print("FAIL %s: %s" % (name, why))
        FAILS.append(name)


def run(args):
    return subprocess.run([EB, "average"] + args, capture_output=True, text=True)


def cfg_of(layers=3, intermediate=64):
    return ar.albert_config(num_hidden_layers=layers, intermediate_size=intermediate,
                            label_names=["negative", "positive"])


def test_average(tmp):
    cfg = cfg_of()
    ins = []
    for i, dtype in enumerate(("F32", "mixed", "F32")):
        d = os.path.join(tmp, "m%d" % i)
        ar.make_checkpoint(d, cfg, seed=10 + i, dtype=dtype, offramps=True, spans=True)
        ins.append(d)
    out = os.path.join(tmp, "soup")
    r = run(["--out", out, "--json"] + ins)
    report(r.returncode == 0, "average_runs", r.stderr.strip())
    if r.returncode:
        return
    info = json.loads(r.stdout)
    stored = [ar.read_safetensors(os.path.join(d, "model.safetensors"))[0] for d in ins]
    got, _ = ar.read_safetensors(os.path.join(out, "model.safetensors"))
    report(sorted(got) == sorted(stored[0]), "average_same_tensors")
    worst = 0.0
    for name, a in got.items():
        want = np.mean([s[name] for s in stored], axis=0)
        # float32 sums: errors relative to the size of the terms, not of their mean
        scale = np.max([np.abs(s[name]) for s in stored], axis=0)
        worst = max(worst, float(np.max(np.abs(a - want) / np.maximum(scale, 1e-6))))
    report(worst < 1e-6, "average_is_the_mean", "max err %.2e of the largest term" % worst)
    nparams = sum(a.size for a in got.values())
    report(info == {"checkpoints": 3, "tensors": len(got), "parameters": nparams}, "average_json",
           json.dumps(info))
    c0 = json.load(open(os.path.join(ins[0], "config.json")))
    c1 = json.load(open(os.path.join(out, "config.json")))
    keys = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "embedding_size", "vocab_size", "id2label", "edgebert_span_ramp")
    report(all(c0[k] == c1[k] for k in keys), "average_config")
    spm = os.path.join(ins[0], "spiece.model")
    if os.path.exists(spm):
        with open(spm, "rb") as f1, open(os.path.join(out, "spiece.model"), "rb") as f2:
            report(f1.read() == f2.read(), "average_copies_spiece")
    # the engine runs the average like the numpy reference
    tool = os.path.join(ROOT, BUILD, "tests", "tools", "eb_forward")
    ids = [2, 45, 1001, 87, 3]
    p = subprocess.run([tool, out], input=ar.format_input_line(ids) + "\n", capture_output=True, text=True)
    if p.returncode == 0:
        logits = np.array(json.loads(p.stdout.splitlines()[0])["logits"])
        ref, _ = ar.forward(c1, got, ids)
        err = np.max(np.abs(logits - ref) / np.maximum(np.abs(ref), 1e-3))
        report(err < 1e-4, "average_engine_runs_it", "max rel err %.2e" % err)
    else:
        report(False, "average_engine_runs_it", p.stderr.strip())

    # refusals, each naming the file at fault
    other = os.path.join(tmp, "other_arch")
    ar.make_checkpoint(other, cfg_of(layers=4), seed=20, offramps=True, spans=True)
    r = run(["--out", os.path.join(tmp, "o1"), ins[0], other])
    report(r.returncode == 1 and "other_arch" in r.stderr and "different models" in r.stderr,
           "average_refuses_other_architecture", r.stderr.strip())
    no_ramps = os.path.join(tmp, "no_ramps")
    ar.make_checkpoint(no_ramps, cfg, seed=21, offramps=False, spans=True)
    r = run(["--out", os.path.join(tmp, "o2"), ins[0], no_ramps])
    report(r.returncode == 1 and "no_ramps" in r.stderr, "average_refuses_other_tensors", r.stderr.strip())
    if os.path.exists(spm):
        other_tok = os.path.join(tmp, "other_tok")
        ar.make_checkpoint(other_tok, cfg, seed=22, offramps=True, spans=True)
        with open(os.path.join(other_tok, "spiece.model"), "ab") as f:
            f.write(b"\0")
        r = run(["--out", os.path.join(tmp, "o3"), ins[0], other_tok])
        report(r.returncode == 1 and "spiece.model" in r.stderr and "other_tok" in r.stderr,
               "average_refuses_other_tokenizer", r.stderr.strip())
    else:
        print("SKIP average_refuses_other_tokenizer: the random checkpoints have no spiece.model "
              "(shared data not present)")
    r = run(["--out", ins[1], ins[0], ins[1]])
    r2 = run(["--out", ins[1] + "/", ins[0], os.path.join(tmp, ".", "m1")])
    report(r.returncode == 1 and "also an input" in r.stderr and r2.returncode == 1 and
           "also an input" in r2.stderr, "average_refuses_output_as_input", r.stderr.strip() + " | " + r2.stderr.strip())
    r = run(["--out", os.path.join(tmp, "o4"), ins[0], os.path.join(tmp, "nope")])
    report(r.returncode == 1 and "nope" in r.stderr, "average_missing_checkpoint", r.stderr.strip())
    codes = [run(b).returncode for b in (["--out", out], [ins[0], ins[1]], ["--bogus", "--out", out, ins[0]])]
    report(codes == [2, 2, 2], "average_usage_errors", str(codes))


def main():
    if not os.path.exists(EB):
        print("SKIP all: %s not built" % EB)
        return 0
    tmp = tempfile.mkdtemp(prefix="eb_average_cli_")
    try:
        test_average(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
