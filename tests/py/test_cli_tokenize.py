#!/usr/bin/env python3
"""`edgebert tokenize`: JSON output against the upstream expected ids of
tokenizer_cases.json, pieces against 30k-clean.vocab, truncation flag, stdin mode,
exit codes.  Prints PASS/FAIL/SKIP lines."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
BUILD = os.environ.get("EB_BUILD", "build")
TOOL = os.path.join(ROOT, BUILD, "edgebert")
MODEL = os.path.join(DATA, "albert", "spiece.model")
VOCAB = os.path.join(DATA, "albert", "30k-clean.vocab")
CASES = os.path.join(DATA, "albert", "tokenizer_cases.json")

fails = 0


def check(name, ok, why=""):
    global fails
    if ok:
        print(f"PASS {name}")
    else:
        print(f"FAIL {name}: {why}")
        fails += 1


def run(args, stdin=None):
    return subprocess.run([TOOL, "tokenize"] + args, input=stdin, capture_output=True,
                          timeout=60)


def main():
    for p in (MODEL, VOCAB, CASES):
        if not os.path.exists(p):
            print(f"SKIP cli_tokenize: {p} missing (shared data not present)")
            return 0
    if not os.access(TOOL, os.X_OK):
        print(f"FAIL cli_tokenize: {TOOL} not built")
        return 1
    with open(VOCAB, encoding="utf-8") as f:
        vocab = [l.rstrip("\n").split("\t")[0] for l in f]
    with open(CASES, encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    n = 0
    for c in cases:
        ids = c["ids"]
        if c.get("keep_accents") or ids[0] != 2 or "\n" in c["text"]:
            continue  # the CLI always adds [CLS]/[SEP] and drops accents
        args = ["--spm", MODEL, "--json", c["text"]]
        if "text_pair" in c:
            args.append(c["text_pair"])
        r = run(args)
        try:
            out = json.loads(r.stdout.decode("utf-8"))
        except ValueError:
            check(f"case_{n}", False, f"not JSON: {r.stdout[:200]!r} {r.stderr[:200]!r}")
            continue
        want_types = c.get("token_type_ids", [0] * len(ids))
        ok = (r.returncode == 0 and out["ids"] == ids and out["type_ids"] == want_types
              and out["pieces"] == [vocab[i] for i in ids] and out["truncated"] is False)
        check(f"case_{n}", ok, f"got {out}")
        n += 1

    r = run(["--spm", MODEL, "--json", "--max-len", "5", "one two three", "four five"])
    out = json.loads(r.stdout)
    check("truncation", r.returncode == 0 and out["truncated"] is True and len(out["ids"]) == 5
          and out["type_ids"] == [0, 0, 0, 1, 1], f"got {out}")

    r = run(["--spm", MODEL, "--json"], stdin=b"hello world\nquestion?\tanswer\n\n")
    lines = r.stdout.decode().strip("\n").split("\n")
    objs = [json.loads(l) for l in lines]
    check("stdin", r.returncode == 1 and len(objs) == 3 and objs[0]["ids"][0] == 2
          and objs[1]["type_ids"][-1] == 1 and "error" in objs[2],
          f"rc {r.returncode}, {lines}")

    r = run(["--spm", MODEL, "hello"])
    check("readable", r.returncode == 0 and "\u2581hello" in r.stdout.decode(), r.stdout[:200])
    check("usage_exit_2", run(["-m"]).returncode == 2 and
          run(["--spm", MODEL, "--bogus", "x"]).returncode == 2 and
          run(["--spm", MODEL, "--max-len", "zz", "x"]).returncode == 2)
    r = run(["--spm", "/nonexistent/spiece.model", "x"])
    check("missing_model_exit_1", r.returncode == 1 and
          b"edgebert tokenize: /nonexistent/spiece.model" in r.stderr, r.stderr)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
