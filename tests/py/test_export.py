#!/usr/bin/python3
"""test_export.py - `edgebert export`: a bundle task back as a HuggingFace
ALBERT checkpoint directory.

A tiny random model with spans, off-ramps, thresholds and an exit predictor
table (predicting after layer 2) is packed into an AdaptivFloat8 bundle next
to a second task, and the second task is exported.  Checked:
- the exported config keeps the task's labels, thresholds, predictor layer and
  span ramp; exit_lut.csv holds the bundle's table value for value;
- the engine gives bit-identical per-layer logits on the bundle task and on the
  exported directory (eb_forward), and `edgebert eval` the same accuracy, exit
  layers and energy under base, ee and lai;
- the independent PyTorch reference (eb_torch_albert.load_model + forward,
  float64) reads the exported directory as it is and gives the engine's
  logits of every layer within 1e-4;
- the shipped models/default.ebb: exported, the same SST-2 dev accuracy with
  --policy base (and ee, lai on part of it), and the reference's logits;
- errors: an unknown task, a directory that already holds a checkpoint
  (without --force), a missing model; `train --init BUNDLE` points to export;
- the shipped models/adapters.ebb: a task exported with its adapters.
Prints PASS/FAIL/SKIP lines; exits 1 on any FAIL."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

import eb_torch_albert as ref  # noqa: E402
import tiny_model  # noqa: E402

BUILD = os.environ.get("EB_BUILD", "build")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
EB = os.path.join(ROOT, BUILD, "edgebert")
FWD = os.path.join(ROOT, BUILD, "tests", "tools", "eb_forward")
SHARED = os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
FAILS = []


def report(ok, name, why=""):
    if ok:
        print("PASS %s%s" % (name, (" (" + why + ")") if why else ""))
    else:
        print("FAIL %s: %s" % (name, why))
        FAILS.append(name)


def run(*args, **kw):
    return subprocess.run([EB] + list(args), capture_output=True, text=True, **kw)


def forward(model, lines, task=None):
    args = [FWD] + (["--task", task] if task else []) + [model]
    p = subprocess.run(args, input="".join(l + "\n" for l in lines), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("eb_forward %s: %s" % (model, p.stderr))
    return [json.loads(l) for l in p.stdout.splitlines()]


def ref_logits(d, ids_list):
    """Per-layer logits of the PyTorch reference on the exported directory."""
    cfg, w, R = ref.load_model(d)
    out = []
    for ids in ids_list:
        t = torch.tensor([ids])
        main, ramps = ref.forward(cfg, w, t, torch.zeros_like(t), torch.ones_like(t, dtype=torch.bool),
                                  ramp_R=R)
        out.append([r[0].numpy() for r in ramps] + [main[0].numpy()])
    return out


def eval_json(model, task, data, policy, limit=None):
    args = ["eval", "-m", model, "--task", task, "--data", data, "--policy", policy, "--threads", "1",
            "--json"] + (["--limit", str(limit)] if limit else [])
    p = run(*args)
    if p.returncode != 0:
        raise RuntimeError("eval %s: %s" % (model, p.stderr))
    d = json.loads(p.stdout)
    return {k: d[k] for k in ("n", "accuracy", "mean_exit_layer", "exit_histogram", "mean_energy_uj")}


def tiny_case(tmp):
    L, H, NH = 4, 16, 2
    cfg = {"architectures": ["AlbertForSequenceClassification"], "model_type": "albert",
           "vocab_size": 0, "embedding_size": 8, "hidden_size": H, "num_hidden_layers": L,
           "num_hidden_groups": 1, "inner_group_num": 1, "num_attention_heads": NH,
           "intermediate_size": 24, "max_position_embeddings": 64, "type_vocab_size": 2,
           "hidden_act": "gelu_new", "layer_norm_eps": 1e-12, "num_labels": 2,
           "id2label": {"0": "negative", "1": "positive"}, "label2id": {"negative": 0, "positive": 1},
           "edgebert_threshold": 0.6, "edgebert_lai_threshold": 0.66, "edgebert_predict_after": 2,
           "edgebert_span_ramp": 4.0}
    sp = tiny_model.make_tokenizer(os.path.join(tmp, "spiece.model"))
    import sentencepiece as spm
    cfg["vocab_size"] = spm.SentencePieceProcessor(model_file=sp).get_piece_size()
    lut = os.path.join(tmp, "lut.csv")
    with open(lut, "w") as f:
        for r in range(100):
            e = r / 100
            f.write("%r,%r,%r\n" % (e, 0.9 * e + 0.01, 0.7 * e))
    dirs = []
    for i, name in enumerate(("first", "sst2")):
        w = ref.random_model(cfg, np.random.default_rng(10 + i), span=[3.0, -9.0], ramps=True)
        if i == 1:  # the same embeddings as the first task (a bundle shares them)
            w0 = ref.random_model(cfg, np.random.default_rng(10), span=[3.0, -9.0], ramps=True)
            for k in w:
                if k.startswith("albert.embeddings.") and "LayerNorm" not in k:
                    w[k] = w0[k]
        d = os.path.join(tmp, name)
        ref.save_model(d, cfg, w)
        import shutil
        shutil.copyfile(sp, os.path.join(d, "spiece.model"))
        shutil.copyfile(lut, os.path.join(d, "exit_lut.csv"))
        dirs.append(d)
    bundle = os.path.join(tmp, "tiny.ebb")
    p = run("pack", "-o", bundle, "--task", "first=" + dirs[0], "--task", "sst2=" + dirs[1])
    report(p.returncode == 0, "pack the tiny bundle", p.stderr.strip()[-200:])
    out = os.path.join(tmp, "exported")
    p = run("export", "-m", bundle, "--task", "sst2", "--out", out)
    report(p.returncode == 0 and all(os.path.exists(os.path.join(out, f)) for f in
                                     ("config.json", "model.safetensors", "spiece.model", "exit_lut.csv")),
           "export writes config.json, model.safetensors, spiece.model, exit_lut.csv", p.stderr.strip())
    with open(os.path.join(out, "config.json")) as f:
        ec = json.load(f)
    keys_ok = (ec["id2label"] == cfg["id2label"] and abs(ec["edgebert_threshold"] - 0.6) < 1e-6
               and abs(ec["edgebert_lai_threshold"] - 0.66) < 1e-6 and ec["edgebert_predict_after"] == 2
               and ec["edgebert_span_ramp"] == 4.0 and ec["num_hidden_layers"] == L)
    report(keys_ok, "exported config keeps labels, thresholds, predictor layer, span ramp",
           json.dumps({k: v for k, v in ec.items() if k.startswith("edgebert") or k == "id2label"}))
    a = np.loadtxt(lut, delimiter=",")
    b = np.loadtxt(os.path.join(out, "exit_lut.csv"), delimiter=",")
    report(a.shape == b.shape and np.array_equal(a, b), "exit_lut.csv equals the bundle's table")
    st = ref.read_safetensors(os.path.join(out, "model.safetensors"))
    spans = [k for k in st if k.endswith("attention.span")]
    report(len(spans) == 1 and np.allclose(st[spans[0]], [3.0, -9.0]) and
           "albert.encoder.highway.0.pooler.weight" in st and "classifier.weight" in st,
           "spans, off-ramps and head are in the exported tensors", ", ".join(sorted(st))[:120])
    # the same ids through the bundle task, the exported directory, the reference
    rng = np.random.default_rng(5)
    ids_list = [[2] + list(rng.integers(4, cfg["vocab_size"], n)) + [3] for n in (3, 9, 30)]
    lines = [" ".join(map(str, ids)) for ids in ids_list]
    fb, fd = forward(bundle, lines, "sst2"), forward(out, lines)
    report(all(x["logits"] == y["logits"] for x, y in zip(fb, fd)),
           "engine: bundle task and exported directory give identical logits at every layer")
    rl = ref_logits(out, ids_list)
    err = max(float(np.max(np.abs(np.array(e["logits"]) - np.array(r)))) for e, r in zip(fd, rl))
    report(err < 1e-4, "PyTorch reference on the exported directory = engine", "max |diff| %.2e" % err)
    # a dropped span or ramp in the export would show here: the reference
    # without the span differs from the engine
    cfg2, w2, R2 = ref.load_model(out)
    del w2[spans[0]]
    t = torch.tensor([ids_list[2]])
    m2, _ = ref.forward(cfg2, w2, t, torch.zeros_like(t), torch.ones_like(t, dtype=torch.bool), ramp_R=R2)
    report(float(np.max(np.abs(m2[0].numpy() - np.array(fd[2]["logits"][-1])))) > 1e-3,
           "the comparison sees a missing span (it can fail)")
    # eval: same answers on a small labelled set
    data = os.path.join(tmp, "dev.tsv")
    with open(data, "w") as f:
        f.write("sentence\tlabel\n")
        for i, s in enumerate(tiny_model.SENTENCES):
            f.write("%s\t%d\n" % (s, i % 2))
    for pol in ("base", "ee", "lai"):
        x, y = eval_json(bundle, "sst2", data, pol), eval_json(out, "sst2", data, pol)
        report(x == y, "eval --policy %s: bundle task = exported directory" % pol, json.dumps(y))
    # errors
    p = run("export", "-m", bundle, "--task", "nosuch", "--out", os.path.join(tmp, "x"))
    report(p.returncode == 2 and "nosuch" in p.stderr and "first, sst2" in p.stderr,
           "unknown task: status 2, the task list", p.stderr.strip())
    p = run("export", "-m", bundle, "--task", "sst2", "--out", out)
    report(p.returncode == 2 and "--force" in p.stderr, "an existing checkpoint is not replaced without --force",
           p.stderr.strip())
    p = run("export", "-m", bundle, "--task", "first", "--out", out, "--force")
    report(p.returncode == 0 and forward(out, lines[:1])[0]["logits"] == forward(bundle, lines[:1], "first")[0]["logits"],
           "--force replaces it")
    p = run("export", "-m", os.path.join(tmp, "missing.ebb"), "--out", os.path.join(tmp, "y"))
    report(p.returncode == 1 and "missing.ebb" in p.stderr, "a missing model is named", p.stderr.strip())
    p = run("train", "--init", bundle, "--data", data, "--out", os.path.join(tmp, "t"))
    report(p.returncode == 2 and "edgebert export" in p.stderr and "tiny.ebb" in p.stderr,
           "train --init BUNDLE says to use edgebert export", p.stderr.strip())


def shipped_case(tmp):
    bundle = os.path.join(ROOT, "models", "default.ebb")
    dev = os.path.join(SHARED, "glue", "SST-2", "dev.tsv")
    if not os.path.exists(bundle):
        print("SKIP shipped model: models/default.ebb is missing")
        return
    out = os.path.join(tmp, "default-sst2")
    p = run("export", "-m", bundle, "--task", "sst2", "--out", out)
    report(p.returncode == 0, "export the shipped sst2 task", p.stderr.strip())
    p = run("tokenize", "-m", bundle, "--json", input="a gorgeous , witty , seductive movie .\n"
            "the film is strictly routine .\nit 's slow -- very , very slow .\n")
    ids_list = [json.loads(l)["ids"] for l in p.stdout.splitlines()]
    lines = [" ".join(map(str, ids)) for ids in ids_list]
    fb, fd = forward(bundle, lines, "sst2"), forward(out, lines)
    report(all(x["logits"] == y["logits"] for x, y in zip(fb, fd)),
           "shipped: bundle and exported directory give identical logits")
    rl = ref_logits(out, ids_list)
    err = max(float(np.max(np.abs(np.array(e["logits"]) - np.array(r)))) for e, r in zip(fd, rl))
    report(err < 1e-4, "shipped: PyTorch reference on the exported directory = engine", "max |diff| %.2e" % err)
    ad = os.path.join(ROOT, "models", "adapters.ebb")
    if os.path.exists(ad):
        out2 = os.path.join(tmp, "adapters-cola")
        p = run("export", "-m", ad, "--task", "cola", "--out", out2)
        with open(os.path.join(out2, "config.json")) as f:
            r = json.load(f).get("edgebert_adapter_size", 0)
        fa, fe = forward(ad, lines, "cola"), forward(out2, lines)
        rl = ref_logits(out2, ids_list)
        err = max(float(np.max(np.abs(np.array(e["logits"]) - np.array(q)))) for e, q in zip(fe, rl))
        report(p.returncode == 0 and r > 0 and all(x["logits"] == y["logits"] for x, y in zip(fa, fe))
               and err < 1e-4, "shipped adapters.ebb task cola: exported with its adapters, same logits",
               "adapter size %d, reference max |diff| %.2e" % (r, err))
    if not os.path.exists(dev):
        print("SKIP shipped model on SST-2 dev: %s is missing" % dev)
        return
    x, y = eval_json(bundle, "sst2", dev, "base"), eval_json(out, "sst2", dev, "base")
    report(x == y and x["n"] == 872, "shipped: SST-2 dev --policy base, bundle = exported",
           "accuracy %.4f" % y["accuracy"])
    for pol in ("ee", "lai"):
        x, y = eval_json(bundle, "sst2", dev, pol, 200), eval_json(out, "sst2", dev, pol, 200)
        report(x == y, "shipped: first 200 of SST-2 dev --policy %s, bundle = exported" % pol,
               "accuracy %.4f, mean exit %.3f" % (y["accuracy"], y["mean_exit_layer"]))


def main():
    if not os.path.exists(EB) or not os.path.exists(FWD):
        print("SKIP export: build edgebert and tests/tools/eb_forward first")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        tiny_case(tmp)
        shipped_case(tmp)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
