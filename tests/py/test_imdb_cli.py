#!/usr/bin/python3
"""test_imdb_cli.py - the imdb task through the command.

A tiny random checkpoint (64 positions) is fine-tuned for one epoch on a few
long "reviews" in IMDB's layout:
- `train --task imdb --max-len 32` stores edgebert_truncate_head 8 (a quarter
  of the length) in the saved config; `--head-tokens 5` stores 5; an `--init`
  model's value is kept; `--head-tokens 0` is a usage error;
- `eval --task imdb` and `classify` on the result cut a long review to its
  first 8 and last 54 tokens without an option: the same logits as the ids cut
  that way by hand (edgebert tokenize, full length) through eb_forward;
- `export` keeps the key, `info --json` shows it;
- bad input through eval: a review line without a label (status 1, file:line),
  an empty review (a clear message), a 100,000-character review (classified).
Prints PASS/FAIL/SKIP lines; exits 1 on any FAIL."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_model  # noqa: E402

BUILD = os.environ.get("EB_BUILD", "build")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
EB = os.path.join(ROOT, BUILD, "edgebert")
FWD = os.path.join(ROOT, BUILD, "tests", "tools", "eb_forward")
FAILS = []


def report(ok, name, why=""):
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))
    if not ok:
        FAILS.append(name)


def run(*args, **kw):
    return subprocess.run([EB] + list(args), capture_output=True, text=True, **kw)


def key(d):
    with open(os.path.join(d, "config.json")) as f:
        return json.load(f).get("edgebert_truncate_head")


def main():
    if not os.path.exists(EB) or not os.path.exists(FWD):
        print("SKIP imdb cli: build edgebert and tests/tools/eb_forward first")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        init = tiny_model.make_model(os.path.join(tmp, "init"), layers=2, P=64)
        S = tiny_model.SENTENCES
        reviews = [" ".join(S[i % len(S)] for i in range(k, k + 6)) for k in range(12)]
        tr = os.path.join(tmp, "train.tsv")
        with open(tr, "w") as f:
            f.write("sentence\tlabel\n")
            for i, r in enumerate(reviews):
                f.write("%s\t%d\n" % (r, i % 2))
        common = ["--data", tr, "--dev", tr, "--epochs", "1", "--max-len", "32", "--batch", "4",
                  "--threads", "1"]
        p = run("train", "--init", init, "--task", "imdb", "--out", os.path.join(tmp, "m"), *common)
        report(p.returncode == 0 and key(os.path.join(tmp, "m")) == 8,
               "train --task imdb --max-len 32 stores edgebert_truncate_head 8",
               p.stderr.strip()[-300:])
        report("first 8 and last 22 tokens" in p.stderr, "train says how it cuts", p.stderr.strip()[-300:])
        p = run("train", "--init", init, "--task", "imdb", "--head-tokens", "5", "--out",
                os.path.join(tmp, "m5"), *common)
        report(p.returncode == 0 and key(os.path.join(tmp, "m5")) == 5, "--head-tokens 5 stores 5",
               p.stderr.strip()[-200:])
        p = run("train", "--init", os.path.join(tmp, "m5"), "--task", "imdb", "--out",
                os.path.join(tmp, "m5b"), *common)
        report(p.returncode == 0 and key(os.path.join(tmp, "m5b")) == 5, "an --init model's value is kept")
        p = run("train", "--init", init, "--task", "imdb", "--head-tokens", "0", "--out",
                os.path.join(tmp, "m0"), *common)
        report(p.returncode == 2 and "--head-tokens" in p.stderr, "--head-tokens 0: status 2", p.stderr.strip())
        m = os.path.join(tmp, "m")
        # classify cuts head + tail: first 8 and last 64 - 2 - 8 = 54 tokens
        long_review = reviews[0] + " " + reviews[5]
        p = run("tokenize", "--spm", os.path.join(m, "spiece.model"), "--json", "--max-len", "4096",
                long_review)
        ids = json.loads(p.stdout)["ids"][1:-1]
        report(len(ids) > 62, "the review is longer than the model", "%d tokens" % len(ids))
        cut = [2] + ids[:8] + ids[len(ids) - 54:] + [3]
        f = subprocess.run([FWD, m], input=" ".join(map(str, cut)) + "\n", capture_output=True, text=True)
        want = json.loads(f.stdout)["logits"][-1]
        p = run("classify", "-m", m, "--policy", "base", "--json", long_review)
        got = json.loads(p.stdout.splitlines()[0])
        report(p.returncode == 0 and all(abs(a - b) < 1e-5 for a, b in zip(got["logits"], want)),
               "classify cuts the first 8 and last 54 tokens (no option given)",
               "%s vs %s" % (got.get("logits"), want))
        head_only = [2] + ids[:62] + [3]
        f = subprocess.run([FWD, m], input=" ".join(map(str, head_only)) + "\n", capture_output=True, text=True)
        other = json.loads(f.stdout)["logits"][-1]
        report(any(abs(a - b) > 1e-5 for a, b in zip(other, want)), "the head-only cut would differ (it can fail)")
        dv = os.path.join(tmp, "dev.tsv")
        with open(dv, "w") as f:
            f.write("sentence\tlabel\n%s\t1\n%s\t0\n" % (long_review, reviews[1]))
        p = run("eval", "-m", m, "--task", "imdb", "--data", dv, "--policy", "base", "--json")
        ok = p.returncode == 0 and json.loads(p.stdout)["n"] == 2
        report(ok and "truncated" in p.stderr and "warning: input truncated" not in p.stderr,
               "eval --task imdb runs, the head + tail cut without a warning per review", p.stderr.strip()[-200:])
        out = os.path.join(tmp, "exported")
        p = run("export", "-m", m, "--out", out)
        report(p.returncode == 0 and key(out) == 8, "export keeps edgebert_truncate_head")
        p = run("info", "-m", out, "--json")
        report(p.returncode == 0 and json.loads(p.stdout)["tasks"][0]["truncate_head"] == 8,
               "info --json names the cut (truncate_head)")
        # bad input
        bad = os.path.join(tmp, "bad.tsv")
        with open(bad, "w") as f:
            f.write("sentence\tlabel\na fine film\t1\na review and no label\n")
        p = run("eval", "-m", m, "--task", "imdb", "--data", bad)
        report(p.returncode == 1 and "bad.tsv:3: expected 2 tab-separated fields, found 1" in p.stderr,
               "a review without a label: file:line", p.stderr.strip())
        with open(bad, "w") as f:
            f.write("sentence\tlabel\na fine film\t1\n\t0\n")
        p = run("eval", "-m", m, "--task", "imdb", "--data", bad)
        report(p.returncode == 1 and "bad.tsv:3" in p.stderr and "empty" in p.stderr,
               "an empty review: file:line, empty", p.stderr.strip())
        big = ("the film is strictly routine . " * 4000)[:100000]
        with open(bad, "w") as f:
            f.write("sentence\tlabel\n%s\t0\n" % big)
        p = run("eval", "-m", m, "--task", "imdb", "--data", bad, "--json")
        report(p.returncode == 0 and json.loads(p.stdout)["n"] == 1, "a 100,000-character review is classified",
               p.stderr.strip()[-200:])
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
