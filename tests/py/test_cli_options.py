#!/usr/bin/env python3
"""The command line's option handling, for every subcommand.

- `--opt=value` is the same as `--opt value` for every option that each
  command's --help lists (the two spellings give the same status and message),
  a flag refuses `=value`, `-mFILE` works;
- `--` ends the options: a sentence starting with '-' can be classified;
- every numeric option is range-checked: a usage error naming the option,
  exit status 2 (threshold in [0, ln C] or the word `model`, latency target
  > 0, limit >= 1, one thread limit everywhere, ...);
- classify's stdin mode answers every input line with one output line: a line
  that fails (not UTF-8, empty) gets an error line (with --json an object with
  `line` and `error`), the others their result, and the status says some failed;
- the bundle task is --task in every command; eval's --task still names the
  data layout, --layout names it when the bundle task is named otherwise, and
  the older --model-task keeps working.
A tiny random model and a small SST-2-style file are written here."""
import json
import math
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("EB_BUILD", "build")
EXE = os.path.join(ROOT, BUILD, "edgebert")
failed = 0

COMMANDS = ["classify", "eval", "tokenize", "info", "calibrate", "trace", "sim", "sweep", "bench",
            "train", "prune", "average", "pack", "compress-report", "cells", "faults", "serve", "export"]


def report(name, ok, why=""):
    global failed
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, str(why)[-600:])))
    failed += 0 if ok else 1


def run(args, stdin=None, text=True):
    p = subprocess.run([EXE] + args, input=stdin, capture_output=True, text=text, cwd=ROOT,
                       env=dict(os.environ, EDGEBERT_MODEL="/nonexistent/default.ebb"), timeout=300)
    return p.returncode, p.stdout, p.stderr


OPT_LINE = re.compile(r"^  (-[-\w]+(?:, -[-\w]+)*)(?: (\S+))?(?:\s{2,}|$)")


def options_of(cmd):
    """(names, takes_value) of every option the command's --help lists."""
    args = cmd.split()
    rc, out, err = run(args + ["--help"])
    opts = []
    for line in out.splitlines():
        m = OPT_LINE.match(line)
        if m:
            opts.append((m.group(1).split(", "), m.group(2) is not None))
    return rc, opts


def check_equals_form():
    """--opt=VALUE parses as --opt VALUE for every listed option of every command: a
    trailing unknown option makes each run stop at a usage error without doing work."""
    total = 0
    for cmd in COMMANDS + ["bench --kernels"]:
        rc, opts = options_of(cmd)
        if rc != 0 or len(opts) < 2:
            report("help_lists_options_" + cmd.replace(" ", "_"), False, "rc %d, %d options" % (rc, len(opts)))
            continue
        bad = []
        for names, takes in opts:
            for name in names:
                if not name.startswith("--") or name == "--kernels":
                    continue
                total += 1
                if takes:
                    a = run(cmd.split() + [name + "=1", "--no-such-option"])
                    b = run(cmd.split() + [name, "1", "--no-such-option"])
                    if a[0] != 2 or a != b or ("unknown option '%s" % name) in a[2]:
                        bad.append("%s: %r vs %r" % (name, a[2][:160], b[2][:160]))
                else:
                    a = run(cmd.split() + [name + "=1"])
                    if a[0] != 2 or "takes no value" not in a[2] or name not in a[2]:
                        bad.append("%s=1: rc %d %r" % (name, a[0], a[2][:160]))
        report("equals_form_" + cmd.replace(" ", "_"), not bad, "; ".join(bad))
    report("equals_form_covers_many_options", total >= 150, "only %d options seen" % total)


def write_sst2(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        for s, l in rows:
            f.write("%s\t%d\n" % (s, l))


def main():
    if not os.path.exists(EXE):
        print("SKIP cli_options: %s not built" % EXE)
        return 0
    check_equals_form()
    try:
        import tiny_model
        import sentencepiece  # noqa: F401  (tiny_model trains a tokenizer)
    except ImportError as e:
        print("SKIP cli_options_model: numpy/sentencepiece missing (%s)" % e)
        return 1 if failed else 0
    tmp = tempfile.mkdtemp(prefix="eb_cli_options_")
    m = tiny_model.make_model(os.path.join(tmp, "m"), layers=4, labels=2)
    C = 2

    # ---- stdin: one output line per input line ----
    lines = ["a charming film .", "caf\xe9 bad", "", "the film is strictly routine .", "x\ty"]
    raw = "\n".join(lines).encode("latin-1") + b"\n"
    rc, out, err = run(["classify", "-m", m, "--policy", "base"], stdin=raw, text=False)
    out = out.decode("utf-8", "replace").splitlines()
    ok = rc == 1 and len(out) == 5 and out[1].startswith("error\tline 2:") and "UTF-8" in out[1]
    ok = ok and out[2].startswith("error\tline 3:") and "empty" in out[2]
    ok = ok and not out[0].startswith("error") and not out[3].startswith("error") and not out[4].startswith("error")
    report("stdin_plain_one_line_per_input", ok, "rc %d: %r %r" % (rc, out, err))
    rc, out, err = run(["classify", "-m", m, "--policy", "base", "--json"], stdin=raw, text=False)
    try:
        objs = [json.loads(l) for l in out.decode("utf-8").splitlines()]
    except ValueError:
        objs = []
    ok = rc == 1 and len(objs) == 5 and objs[1].get("line") == 2 and "UTF-8" in objs[1].get("error", "")
    ok = ok and objs[2].get("line") == 3 and "empty" in objs[2].get("error", "")
    ok = ok and all("label" in objs[k] and "error" not in objs[k] for k in (0, 3, 4))
    report("stdin_json_one_object_per_input", ok, "rc %d: %r %r" % (rc, out[:400], err[:300]))
    if ok:  # the good lines' answers are those of classifying them alone
        rc1, o1, _ = run(["classify", "-m", m, "--policy", "base", "--json", lines[3]])
        rc2, o2, _ = run(["classify", "-m", m, "--policy", "base", "--json", "x", "y"])
        report("stdin_answers_match_arguments",
               rc1 == 0 and rc2 == 0 and json.loads(o1)["logits"] == objs[3]["logits"]
               and json.loads(o2)["logits"] == objs[4]["logits"], o1 + o2)
    rc, out, err = run(["classify", "-m", m], stdin="fine\nalso fine\n")
    report("stdin_all_good_status_0", rc == 0 and len(out.splitlines()) == 2, err)

    # ---- -- ends the options; -mFILE; --opt=value ----
    rc, out, err = run(["classify", "-m", m, "--json", "--", "-5 stars, terrible"])
    rc2, out2, _ = run(["classify", "-m", m, "--json"], stdin="-5 stars, terrible\n")
    report("double_dash_classifies_dash_text",
           rc == 0 and rc2 == 0 and json.loads(out)["logits"] == json.loads(out2)["logits"], err)
    rc, out, err = run(["classify", "-m", m, "-5 stars, terrible"])
    report("dash_text_without_double_dash_refused", rc == 2 and "--" in err and "-5 stars" in err, err)
    rc, out, err = run(["classify", "-m" + m, "--threshold=0.3", "--policy=base", "--json", "--", "--x"])
    report("attached_forms", rc == 0 and json.loads(out)["exit_layer"] == 4, err)
    rc, out, err = run(["tokenize", "-m", m, "--json", "--", "-hello"])
    report("tokenize_double_dash", rc == 0 and set(json.loads(out)["type_ids"]) == {0}, out + err)

    # ---- range checks: status 2, the option named, before any work ----
    dev = os.path.join(tmp, "dev.tsv")
    write_sst2(dev, [(s, i % 2) for i, s in enumerate(tiny_model.SENTENCES[:12])])
    trace = os.path.join(tmp, "ent.csv")
    with open(trace, "w") as f:
        f.write("0.6,0.4,0.2,0.1\n0.5,0.5,0.3,0.05\n")
    cases = [
        ("threshold_negative", ["classify", "-m", m, "--threshold", "-1", "x"], "--threshold"),
        ("threshold_above_ln_c", ["classify", "-m", m, "--threshold", "%.3f" % (math.log(C) + 0.05), "x"],
         "--threshold"),
        ("threshold_not_a_number", ["classify", "-m", m, "--threshold", "mode", "x"], "--threshold"),
        ("eval_threshold_above_ln_c", ["eval", "-m", m, "--data", dev, "--task", "sst2", "--threshold", "3"],
         "--threshold"),
        ("latency_target_negative", ["classify", "-m", m, "--latency-target", "-5", "x"], "--latency-target"),
        ("latency_target_zero", ["classify", "-m", m, "--latency-target", "0", "x"], "--latency-target"),
        ("limit_zero", ["eval", "-m", m, "--data", dev, "--task", "sst2", "--limit", "0"], "--limit"),
        ("limit_negative", ["eval", "-m", m, "--data", dev, "--task", "sst2", "--limit", "-3"], "--limit"),
        ("calibrate_limit_zero", ["calibrate", "-m", m, "--data", dev, "--task", "sst2", "--limit", "0"],
         "--limit"),
        ("max_len_zero", ["classify", "-m", m, "--max-len", "0", "x"], "--max-len"),
        ("mac_size_small", ["classify", "-m", m, "--mac-size", "2", "x"], "--mac-size"),
        ("predict_after_zero", ["classify", "-m", m, "--predict-after", "0", "x"], "--predict-after"),
        ("info_max_tokens_negative", ["info", m, "--max-tokens", "-4"], "--max-tokens"),
        ("trace_threshold_negative", ["trace", "--entropies", trace, "--threshold", "-0.1"], "--threshold"),
        ("sim_latency_target_zero", ["sim", "--entropies", trace, "--latency-target", "0"], "--latency-target"),
        ("train_log_every_zero", ["train", "--config", "x.json", "--data", dev, "--out", tmp, "--log-every", "0"],
         "--log-every"),
        ("train_lr_zero", ["train", "--config", "x.json", "--data", dev, "--out", tmp, "--lr", "0"], "--lr"),
        ("train_dropout_one", ["train", "--config", "x.json", "--data", dev, "--out", tmp, "--dropout", "1"],
         "--dropout"),
        # (a trailing unknown option: a regression stops at a usage error, never benchmarks)
        ("bench_runs_zero", ["bench", "--runs", "0", "--no-such-option"], "--runs"),
        ("bench_limit_zero", ["bench", "--e2e", "--data", dev, "--limit", "0", "--no-such-option"],
         "--limit"),
    ]
    for name, args, needle in cases:
        rc, out, err = run(args)
        report("range_" + name, rc == 2 and needle in err and "must be" in err, "rc %d: %s" % (rc, err))
    # one thread limit everywhere
    msgs = []
    for args in (["classify", "-m", m, "--threads", "100000", "x"],
                 ["eval", "-m", m, "--data", dev, "--task", "sst2", "--threads", "100000"],
                 ["faults", "-m", m, "--data", dev, "--task", "sst2", "--threads", "100000"],
                 ["train", "--config", "x.json", "--data", dev, "--out", tmp, "--threads", "100000"],
                 ["serve", "-m", m, "--port", "0", "--threads", "100000", "--no-such-option"]):
        rc, out, err = run(args)
        msgs.append((rc, err.split(":", 1)[-1].strip()))
    report("threads_one_limit", all(rc == 2 for rc, _ in msgs) and len({e for _, e in msgs}) == 1
           and "0..256" in msgs[0][1], msgs)
    rc, out, err = run(["bench", "--threads", "1,100000", "--no-such-option"])
    report("bench_threads_limit", rc == 2 and "1..256" in err, err)
    # the word model and the upper end itself are accepted
    rc, out, err = run(["classify", "-m", m, "--json", "--threshold", "model", "x"])
    report("threshold_word_model", rc == 0, err)
    rc, out, err = run(["classify", "-m", m, "--json", "--threshold", "%.4f" % math.log(C), "x"])
    report("threshold_ln_c_accepted", rc == 0 and json.loads(out)["exit_layer"] == 1, err)

    # ---- the bundle task is --task everywhere ----
    b = os.path.join(tmp, "b.ebb")
    rc, out, err = run(["pack", "-o", b, "--task=mood=" + m, "--weights=f32"])
    report("pack_equals_form", rc == 0, err)
    rc1, o1, e1 = run(["eval", "-m", b, "--data", dev, "--task", "mood", "--layout", "sst2", "--json"])
    rc2, o2, e2 = run(["eval", "-m", b, "--data", dev, "--task", "sst2", "--model-task", "mood", "--json"])
    rc3, o3, e3 = run(["eval", "-m", m, "--data", dev, "--task", "sst2", "--json"])
    try:
        a1, a2, a3 = json.loads(o1), json.loads(o2), json.loads(o3)
        ok = rc1 == rc2 == rc3 == 0 and a1["accuracy"] == a2["accuracy"] == a3["accuracy"]
        ok = ok and a1["mean_exit_layer"] == a3["mean_exit_layer"] and a1["n"] == 12
    except ValueError:
        ok = False
    report("eval_task_layout_and_model_task", ok, e1 + e2 + e3)
    rc, out, err = run(["classify", "-m", b, "--task", "mood", "--json", "x"])
    report("classify_bundle_task", rc == 0 and json.loads(out)["task"] == "mood", err)
    rc, out, err = run(["eval", "-m", b, "--data", dev, "--task", "sst2", "--layout", "sst2"])
    report("eval_unknown_bundle_task_named", rc == 1 and "sst2" in err, err)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
