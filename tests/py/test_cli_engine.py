#!/usr/bin/env python3
"""End to end through the `edgebert` command on random-weight models: classify
(arguments, stdin, pairs, JSON fields), eval on real GLUE files (accuracy, F1,
Matthews recomputed here from classify's own answers), tokenize -m, pack/info,
and every kind of bad input a user can give."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("EB_BUILD", "build")
EXE = os.path.join(ROOT, BUILD, "edgebert")
DATA = os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
SPM = os.path.join(DATA, "albert", "spiece.model")
GLUE = os.path.join(DATA, "glue")
failed = 0


def report(name, ok, why=""):
    global failed
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))
    failed += 0 if ok else 1


def run(args, stdin=None):
    p = subprocess.run([EXE] + args, input=stdin, capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, EDGEBERT_MODEL="/nonexistent/default.ebb"))
    return p.returncode, p.stdout, p.stderr


def main():
    if not os.path.exists(EXE):
        print("SKIP cli_engine: %s not built" % EXE)
        return 0
    if not os.path.exists(SPM):
        print("SKIP cli_engine: %s missing (shared data)" % SPM)
        return 0
    try:
        import albert_ref
    except ImportError as e:
        print("SKIP cli_engine: numpy missing (%s)" % e)
        return 0
    tmp = tempfile.mkdtemp(prefix="eb_cli_engine_")
    m = os.path.join(tmp, "m")
    cfg = dict(vocab_size=30000, embedding_size=16, hidden_size=32, num_hidden_layers=4,
               num_hidden_groups=1, inner_group_num=1, num_attention_heads=4, intermediate_size=64,
               hidden_act="gelu_new", max_position_embeddings=48, type_vocab_size=2,
               layer_norm_eps=1e-12, num_labels=2)
    albert_ref.make_checkpoint(m, cfg, seed=3, offramps=True, spiece=SPM,
                               extra_config={"id2label": {"0": "negative", "1": "positive"}})

    rc, out, err = run(["classify", "-m", m, "--json", "--threshold", "0.3", "a fine film"])
    try:
        r = json.loads(out)
        keys = ["label", "probs", "logits", "exit_layer", "entropies", "predicted_layer", "vdd",
                "freq_mhz", "energy_uj", "time_ms", "deadline_met", "energy_breakdown_uj"]
        ok = rc == 0 and all(k in r for k in keys) and r["label"] in ("negative", "positive")
        ok = ok and len(r["entropies"]) == r["exit_layer"] and abs(sum(r["probs"]) - 1) < 1e-5
        # the exit rule: every entropy before the exit is >= threshold, the exit's is < it (or last)
        e = r["entropies"]
        ok = ok and all(x >= 0.3 for x in e[:-1]) and (e[-1] < 0.3 or r["exit_layer"] == 4)
        report("classify_json", ok, out + err)
    except ValueError:
        report("classify_json", False, out + err)

    rc, out, err = run(["classify", "-m", m, "--json", "--policy", "base"], stdin="one\ttwo\nthree\n")
    lines = [json.loads(l) for l in out.splitlines()]
    report("classify_stdin_pairs", rc == 0 and len(lines) == 2 and all(l["exit_layer"] == 4 for l in lines),
           out + err)
    rc1, out1, _ = run(["classify", "-m", m, "--json", "--policy", "base", "one", "two"])
    report("pair_same_as_stdin", rc1 == 0 and json.loads(out1)["logits"] == lines[0]["logits"], out1)
    # --threads: the same answer on one thread; a negative count is refused by name
    rc1, out1, err1 = run(["classify", "-m", m, "--json", "--policy", "base", "--threads", "1", "one", "two"])
    report("threads_same_answer", rc1 == 0 and json.loads(out1)["logits"] == lines[0]["logits"], out1 + err1)
    rc1, out1, err1 = run(["classify", "-m", m, "--threads", "-1", "one"])
    report("threads_refused", rc1 != 0 and "--threads" in err1, out1 + err1)

    # eval: metrics recomputed here from per-sentence classify answers
    sst = os.path.join(GLUE, "SST-2", "dev.tsv")
    rows = [l.split("\t") for l in open(sst, encoding="utf-8").read().splitlines()[1:41]]
    rc, out, err = run(["classify", "-m", m, "--json", "--threshold", "0.5"],
                       stdin="".join(r[0] + "\n" for r in rows))
    preds = [1 if json.loads(l)["label"] == "positive" else 0 for l in out.splitlines()]
    exits = [json.loads(l)["exit_layer"] for l in out.splitlines()]
    acc = sum(int(p == int(r[1])) for p, r in zip(preds, rows)) / len(rows)
    rc, out, err = run(["eval", "-m", m, "--data", sst, "--task", "sst2", "--limit", "40",
                        "--threshold", "0.5", "--json"])
    try:
        ev = json.loads(out)
        ok = rc == 0 and abs(ev["accuracy"] - acc) < 1e-9 and abs(ev["mean_exit_layer"] - sum(exits) / 40) < 1e-9
        ok = ok and sum(ev["exit_histogram"]) == 40 and ev["n"] == 40 and "mean_energy_uj" in ev
        report("eval_sst2", ok, "%s vs acc %s %s" % (out, acc, err))
    except ValueError:
        report("eval_sst2", False, out + err)

    g = os.path.join(tmp, "generic")  # LABEL_0/LABEL_1: maps onto any two-class task
    albert_ref.make_checkpoint(g, cfg, seed=4, offramps=True, spiece=SPM)
    rc, out, err = run(["eval", "-m", m, "--data", os.path.join(GLUE, "RTE", "dev.tsv"), "--task", "rte"])
    report("label_names_checked", rc == 1 and "do not match" in err, err)
    for task, d, key in (("mrpc", "MRPC", "f1"), ("cola", "CoLA", "matthews"), ("rte", "RTE", "accuracy")):
        rc, out, err = run(["eval", "-m", g, "--data", os.path.join(GLUE, d, "dev.tsv"), "--task", task,
                            "--limit", "25", "--json"])
        try:
            ev = json.loads(out)
            report("eval_" + task, rc == 0 and ev[key] is not None and ev["n"] == 25, out + err)
        except ValueError:
            report("eval_" + task, False, out + err)

    rc, out, err = run(["tokenize", "-m", m, "--json", "Hello, world"])
    report("tokenize_m", rc == 0 and json.loads(out)["ids"] == [2, 10975, 15, 126, 3], out + err)

    # bundle: pack + info + classify through it gives the same answer in fp32
    b = os.path.join(tmp, "b.ebb")
    rc, out, err = run(["pack", "-o", b, "--task", "sst2=" + m, "--weights", "f32"])
    rc2, out2, err2 = run(["info", "--json", b])
    try:
        info = json.loads(out2)
        ok = rc == 0 and rc2 == 0 and info["file_bytes"] == os.path.getsize(b)
        ok = ok and info["shared_bytes"] > 0 and info["tasks"][0]["task_bytes"] > 0
        report("pack_info", ok, err + out2 + err2)
    except ValueError:
        report("pack_info", False, err + out2 + err2)
    rc3, out3, _ = run(["classify", "-m", b, "--json", "--policy", "base", "one", "two"])
    report("bundle_same_answer", rc3 == 0 and json.loads(out3)["logits"] == lines[0]["logits"], out3)

    # --batch N: the batched engine gives eval the same accuracy, exit layers and histogram,
    # and classify the same labels, logits and exit layers (pairs included)
    def eval_json(model, data, task, extra):
        rc, out, err = run(["eval", "-m", model, "--data", data, "--task", task, "--json"] + extra)
        try:
            return rc, json.loads(out), err
        except ValueError:
            return rc, None, out + err
    shipped = [(os.path.join(ROOT, "models", f), pol) for f, pol in
               (("adapters.ebb", "ee"), ("default.ebb", "lai"))]
    cases = [(mb, sst, "sst2", ["--limit", "200", "--policy", pol, "--threads", "1"])
             for mb, pol in shipped if os.path.exists(mb)]
    cases.append((g, os.path.join(GLUE, "RTE", "dev.tsv"), "rte", ["--limit", "40", "--threshold", "0.69"]))
    for model, data, task, extra in cases:
        rc1, e1, err1 = eval_json(model, data, task, extra)
        rc2, e2, err2 = eval_json(model, data, task, extra + ["--batch", "8"])
        ok = rc1 == 0 and rc2 == 0 and e1 is not None and e2 is not None
        ok = ok and all(e1[k] == e2[k] for k in ("n", "accuracy", "f1", "mean_exit_layer", "exit_histogram"))
        ok = ok and e2["mean_energy_uj"] is None
        report("eval_batch_same_%s_%s" % (os.path.basename(model), task), ok, "%s\n%s\n%s%s" % (e1, e2, err1, err2))
    pairs = "".join(r[1] + "\t" + r[2] + "\n" for r in
                    (l.split("\t") for l in open(os.path.join(GLUE, "RTE", "dev.tsv"),
                                                  encoding="utf-8").read().splitlines()[1:12]))
    rc1, out1, err1 = run(["classify", "-m", g, "--json", "--threshold", "0.69"], stdin=pairs)
    rc2, out2, err2 = run(["classify", "-m", g, "--json", "--threshold", "0.69", "--batch", "4"], stdin=pairs)
    try:
        a = [json.loads(l) for l in out1.splitlines()]
        b2 = [json.loads(l) for l in out2.splitlines()]
        ok = rc1 == 0 and rc2 == 0 and len(a) == len(b2) == 11
        ok = ok and all(x["label"] == y["label"] and x["exit_layer"] == y["exit_layer"] and
                        all(abs(u - v) < 1e-4 for u, v in zip(x["logits"], y["logits"])) for x, y in zip(a, b2))
        report("classify_batch_same", ok, out1 + err1 + out2 + err2)
    except ValueError:
        report("classify_batch_same", False, out1 + err1 + out2 + err2)

    # a task that cuts long texts to head + tail: --batch cuts them the same way
    ht = os.path.join(tmp, "headtail")
    albert_ref.make_checkpoint(ht, cfg, seed=5, offramps=True, spiece=SPM,
                               extra_config={"edgebert_truncate_head": 3})
    long_lines = "".join(r[0] + " " + r[0] + "\n" for r in rows[:12])
    args = ["classify", "-m", ht, "--json", "--max-len", "10", "--threshold", "0.5"]
    rc1, out1, err1 = run(args, stdin=long_lines)
    rc2, out2, err2 = run(args + ["--batch", "5"], stdin=long_lines)
    try:
        a = [json.loads(l) for l in out1.splitlines()]
        b2 = [json.loads(l) for l in out2.splitlines()]
        ok = rc1 == 0 and rc2 == 0 and len(a) == len(b2) == 12 and any(x["truncated"] for x in b2)
        ok = ok and all(x["label"] == y["label"] and x["exit_layer"] == y["exit_layer"] and
                        x["n_tokens"] == y["n_tokens"] and
                        all(abs(u - v) < 1e-4 for u, v in zip(x["logits"], y["logits"])) for x, y in zip(a, b2))
        report("classify_batch_head_tail_cut", ok, out1 + err1 + out2 + err2)
    except ValueError:
        report("classify_batch_head_tail_cut", False, out1 + err1 + out2 + err2)

    # bad input: each a clear message and a non-zero status, never a crash
    def bad(name, args, want_rc, needle, stdin=None):
        rc, out, err = run(args, stdin)
        report(name, rc == want_rc and needle in err and "Segmentation" not in err,
               "rc %d, stderr %r" % (rc, err))
    bad("batch_zero", ["classify", "-m", m, "--batch", "0"], 2, "--batch")
    bad("batch_with_text", ["classify", "-m", m, "--batch", "2", "x"], 2, "stdin")
    bad("eval_batch_bad", ["eval", "-m", m, "--data", sst, "--task", "sst2", "--batch", "x"], 2, "--batch")
    bad("unknown_task", ["eval", "-m", m, "--data", sst, "--task", "sst3"], 2, "sst3")
    bad("empty_text", ["classify", "-m", m, ""], 1, "empty")
    bad("bad_utf8", ["classify", "-m", m, "caf\xe9".encode("latin-1").decode("utf-8", "surrogateescape")], 1, "UTF-8")
    bad("missing_model", ["classify", "-m", os.path.join(tmp, "nope"), "x"], 1, "nope")
    bad("no_default_model", ["classify", "x"], 1, "default")
    bad("bad_option", ["classify", "-m", m, "--threshold", "abc", "x"], 2, "abc")
    bad("unknown_bundle_task", ["classify", "-m", b, "--task", "qqp", "x"], 1, "qqp")
    bad("lai_without_table", ["classify", "-m", m, "--policy", "lai", "x"], 1, "predictor")
    long_text = " ".join(["word"] * 300)
    rc, out, err = run(["classify", "-m", m, "--json", long_text])
    report("overlong_truncated", rc == 0 and json.loads(out)["truncated"] is True and "truncated" in err, err)
    with open(os.path.join(m, "config.json"), "w") as f:
        f.write("{ not json")
    bad("hostile_config", ["classify", "-m", m, "x"], 1, "config.json")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
