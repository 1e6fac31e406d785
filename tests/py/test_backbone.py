#!/usr/bin/python3
"""test_backbone.py - the pretrained backbone: tools/ship-backbone.py and the
shipped models/movie-albert.

tools/ship-backbone.py is run on a masked-LM checkpoint that the trainer makes
here (a small config, a few steps on SST-2 sentences), and the checks below
run on its output; then on models/movie-albert when it is in the tree (a SKIP
line says so when it is not), where the quality check is added.

Checked:
- layout: config.json, model.safetensors and spiece.model (a README.md beside
  them is allowed), at most 10 MiB in all; every tensor BF16 or F16; the tensor
  names are exactly HuggingFace AlbertForMaskedLM's for the config (embeddings,
  the layer groups, the pooler, the `predictions.*` masked-LM head whose decoder
  is tied to the word embeddings), none missing and none extra; config.json says
  model_type albert and architectures AlbertForMaskedLM; the SentencePiece model
  has config.vocab_size pieces with ALBERT's special pieces at 0..4;
- the independent PyTorch reference (eb_torch_albert, float64) reads the
  directory as it is, and its masked-LM logits on IMDB dev reviews equal the
  trainer's (tests/tools/eb_grad --mlm, float32) within 2e-3 of the logits'
  scale, with the same masked-LM loss within 1e-3;
- it is pretrained: on 64 IMDB dev reviews with every 7th piece masked, the
  reference's top-1 accuracy at the masked positions is at least 30 % and at
  least four times that of always answering the most frequent piece of the
  batch (a model on the unigram plateau scores the latter);
- `edgebert train --init` fine-tunes it (a few steps on SST-2 train) and
  `edgebert eval` runs the result;
- `edgebert eval -m` on the backbone itself says it has no classifier and
  points to `train --init`.
Prints PASS/FAIL/SKIP lines; exits 1 on any FAIL.  The IMDB and SST-2 parts
skip, saying why, when ../shared/data is missing."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

import eb_torch_albert as ref  # noqa: E402

BUILD = os.environ.get("EB_BUILD", "build")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
EB = os.path.join(ROOT, BUILD, "edgebert")
GRAD = os.path.join(ROOT, BUILD, "tests", "tools", "eb_grad")
SHIPPED = os.environ.get("EB_BACKBONE", os.path.join(ROOT, "models", "movie-albert"))
SHIP = os.path.join(ROOT, "tools", "ship-backbone.py")
MODEL = SHIPPED  # the directory under test
SHARED = os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))

failed = False


def check(name, ok, detail=""):
    global failed
    print("%s %s%s" % ("PASS" if ok else "FAIL", name, (": " + detail) if detail else ""))
    if not ok:
        failed = True


def hf_names(cfg):
    """Every tensor name of HuggingFace's AlbertForMaskedLM for this config."""
    n = []
    lin = lambda p: n.extend([p + ".weight", p + ".bias"])
    n.append("albert.embeddings.word_embeddings.weight")
    n.append("albert.embeddings.position_embeddings.weight")
    n.append("albert.embeddings.token_type_embeddings.weight")
    lin("albert.embeddings.LayerNorm")
    lin("albert.encoder.embedding_hidden_mapping_in")
    for g in range(cfg["num_hidden_groups"]):
        for i in range(cfg["inner_group_num"]):
            p = "albert.encoder.albert_layer_groups.%d.albert_layers.%d" % (g, i)
            for s in ("attention.query", "attention.key", "attention.value", "attention.dense",
                      "attention.LayerNorm", "ffn", "ffn_output", "full_layer_layer_norm"):
                lin(p + "." + s)
    lin("albert.pooler")
    lin("predictions.dense")
    lin("predictions.LayerNorm")
    n.append("predictions.bias")
    return set(n)


def header(path):
    with open(path, "rb") as f:
        (k,) = struct.unpack("<Q", f.read(8))
        h = json.loads(f.read(k))
    h.pop("__metadata__", None)
    return h


def layout():
    files = sorted(os.listdir(MODEL))
    need = ["config.json", "model.safetensors", "spiece.model"]
    check("layout: the HuggingFace files", all(f in files for f in need)
          and set(files) <= set(need + ["README.md"]), " ".join(files))
    size = sum(os.path.getsize(os.path.join(MODEL, f)) for f in files)
    check("layout: at most 10 MiB", size <= 10 * 2**20, "%.2f MiB" % (size / 2**20))
    with open(os.path.join(MODEL, "config.json")) as f:
        cfg = json.load(f)
    check("config: model_type albert, AlbertForMaskedLM",
          cfg.get("model_type") == "albert" and cfg.get("architectures") == ["AlbertForMaskedLM"])
    h = header(os.path.join(MODEL, "model.safetensors"))
    dts = {t["dtype"] for t in h.values()}
    check("safetensors: BF16 or F16 only", dts <= {"BF16", "F16"}, str(sorted(dts)))
    want = hf_names(cfg)
    check("safetensors: exactly AlbertForMaskedLM's names", set(h) == want,
          "missing %s extra %s" % (sorted(want - set(h))[:3], sorted(set(h) - want)[:3]))
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(MODEL, "spiece.model"))
    check("spiece.model: config.vocab_size pieces", sp.get_piece_size() == cfg["vocab_size"],
          "%d vs %d" % (sp.get_piece_size(), cfg["vocab_size"]))
    check("spiece.model: ALBERT's special pieces at 0..4",
          [sp.id_to_piece(i) for i in range(5)] == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"],
          str([sp.id_to_piece(i) for i in range(5)]))
    return cfg


def tokenize(texts, max_len):
    p = subprocess.run([EB, "tokenize", "--spm", os.path.join(MODEL, "spiece.model"), "--json",
                        "--max-len", str(max_len)],
                       input="\n".join(texts) + "\n", capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    return [json.loads(l)["ids"] for l in p.stdout.splitlines() if l.strip()]


def masked(ids, every=7):
    """[MASK] (id 4) at every `every`-th piece after [CLS] (never [SEP])."""
    x, lab = list(ids), [-1] * len(ids)
    for t in range(every, len(ids) - 1, every):
        lab[t], x[t] = ids[t], 4
    return x, lab


def ref_mlm(cfg, w, batch):
    T = max(len(x) for x, _ in batch)
    ids = torch.zeros(len(batch), T, dtype=torch.long)
    valid = torch.zeros(len(batch), T, dtype=torch.bool)
    for b, (x, _) in enumerate(batch):
        ids[b, :len(x)] = torch.tensor(x)
        valid[b, :len(x)] = True
    out = []
    with torch.no_grad():
        ref.forward(cfg, w, ids, torch.zeros_like(ids), valid, mlm_out=out)
    rows, labels = [], []
    for b, (_, lab) in enumerate(batch):
        for t, y in enumerate(lab):
            if y >= 0:
                rows.append(out[0][b, t].numpy())
                labels.append(y)
    return np.array(rows), np.array(labels)


def engine_mlm(batch):
    lines = "".join("0\t%s\t\t%s\n" % (" ".join(map(str, x)), " ".join(map(str, lab)))
                    for x, lab in batch)
    p = subprocess.run([GRAD, "--mlm", MODEL], input=lines, capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    return json.loads(p.stdout)


def xent(logits, labels):
    z = logits - logits.max(1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(labels)), labels]))


def reference_and_quality(cfg, quality):
    dev = os.path.join(SHARED, "imdb", "dev.tsv")
    if not os.path.exists(dev):
        print("SKIP reference and quality: %s missing" % dev)
        return
    with open(dev, encoding="utf-8") as f:
        texts = [l.split("\t")[0] for l in f.read().split("\n")[1:] if l.strip()][:64]
    toks = tokenize(texts, min(128, cfg["max_position_embeddings"]))
    batch = [masked(t) for t in toks]
    _, w, _ = ref.load_model(MODEL)
    lg, lab = ref_mlm(cfg, w, batch)
    # the same logits in the engine's trainer, on 8 reviews (V values a position)
    e = engine_mlm(batch[:8])
    n8 = sum(sum(y >= 0 for y in l) for _, l in batch[:8])
    el = np.array(e["mlm_logits"])
    scale = float(np.abs(lg[:n8]).max())
    err = float(np.abs(el - lg[:n8]).max()) / scale if el.shape == lg[:n8].shape else float("inf")
    check("engine == reference: masked-LM logits", err < 2e-3,
          "max |diff| %.2e of the scale %.1f, %d positions" % (err, scale, n8))
    rl = xent(lg[:n8], lab[:n8])
    check("engine == reference: masked-LM loss", abs(e["mlm_loss"] - rl) < 1e-3,
          "%.5f vs %.5f" % (e["mlm_loss"], rl))
    if not quality:
        return
    acc = float(np.mean(lg.argmax(1) == lab))
    vals, counts = np.unique(lab, return_counts=True)
    base = counts.max() / len(lab)
    check("pretrained: masked-LM accuracy", acc >= 0.30 and acc >= 4 * base,
          "%.1f %% at %d positions (most frequent piece: %.1f %%), loss %.3f"
          % (100 * acc, len(lab), 100 * base, xent(lg, lab)))


def fine_tune():
    train = os.path.join(SHARED, "glue", "SST-2", "train.tsv")
    if not os.path.exists(train):
        print("SKIP fine-tuning: %s missing" % train)
        return
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "train.tsv")
        with open(train, encoding="utf-8") as f:
            open(data, "w", encoding="utf-8").write("".join(f.readlines()[:161]))
        out = os.path.join(d, "ft")
        p = subprocess.run([EB, "train", "--init", MODEL, "--task", "sst2", "--data", data,
                            "--out", out, "--steps", "5", "--batch", "32", "--max-len", "64",
                            "--threads", "1"], capture_output=True, text=True, timeout=600)
        check("train --init the backbone", p.returncode == 0,
              p.stderr.strip()[-300:] if p.returncode else "")
        if p.returncode != 0:
            return
        p = subprocess.run([EB, "eval", "-m", out, "--task", "sst2", "--data", data, "--json",
                            "--policy", "base"], capture_output=True, text=True, timeout=300)
        ok = p.returncode == 0 and 0 <= json.loads(p.stdout).get("accuracy", -1) <= 100
        check("eval the fine-tuned model", ok, (p.stdout + p.stderr).strip()[-300:])
    p = subprocess.run([EB, "eval", "-m", MODEL, "--task", "sst2", "--data", train, "--limit", "1"],
                       capture_output=True, text=True, timeout=60)
    check("eval on the backbone itself: a clear error", p.returncode != 0
          and "classifier" in p.stderr and "train --init" in p.stderr, p.stderr.strip()[-300:])


def small_checkpoint(d):
    """A masked-LM checkpoint of a small config, made by the trainer here."""
    train = os.path.join(SHARED, "glue", "SST-2", "train.tsv")
    spm = os.path.join(ROOT, "models", "default.ebb")
    text = os.path.join(d, "text.txt")
    with open(train, encoding="utf-8") as f:
        open(text, "w", encoding="utf-8").write(
            "".join(l.split("\t")[0] + "\n" for l in f.readlines()[1:401]))
    tok = os.path.join(d, "spiece.model")
    p = subprocess.run([EB, "export", "-m", spm, "--out", os.path.join(d, "x")],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    shutil.copyfile(os.path.join(d, "x", "spiece.model"), tok)
    cfg = {"vocab_size": 8000, "embedding_size": 32, "hidden_size": 48, "num_hidden_layers": 3,
           "num_hidden_groups": 1, "inner_group_num": 1, "num_attention_heads": 4,
           "intermediate_size": 96, "hidden_act": "gelu_new", "max_position_embeddings": 64,
           "type_vocab_size": 2, "layer_norm_eps": 1e-12, "num_labels": 2}
    cj = os.path.join(d, "config.json")
    json.dump(cfg, open(cj, "w"))
    out = os.path.join(d, "mlm")
    p = subprocess.run([EB, "train", "--phase", "mlm", "--config", cj, "--tokenizer", tok,
                        "--data", text, "--out", out, "--steps", "20", "--batch", "16",
                        "--max-len", "32", "--threads", "1"],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    return out


def main():
    global MODEL
    if not os.path.exists(os.path.join(SHARED, "glue", "SST-2", "train.tsv")):
        print("SKIP ship-backbone on a small checkpoint: %s missing" % SHARED)
    else:
        with tempfile.TemporaryDirectory() as d:
            src = small_checkpoint(d)
            MODEL = os.path.join(d, "shipped")
            p = subprocess.run(["/usr/bin/python3", SHIP, src, MODEL], capture_output=True,
                               text=True, timeout=120)
            check("ship-backbone.py on a small masked-LM checkpoint", p.returncode == 0,
                  (p.stdout + p.stderr).strip()[-300:])
            if p.returncode == 0:
                cfg = layout()
                reference_and_quality(cfg, quality=False)
                fine_tune()
            p = subprocess.run(["/usr/bin/python3", SHIP, os.path.join(d, "x"),
                                os.path.join(d, "bad")], capture_output=True, text=True,
                               timeout=120)
            check("ship-backbone.py refuses a checkpoint without the masked-LM head",
                  p.returncode != 0 and "predictions" in p.stderr, p.stderr.strip()[-200:])
    MODEL = SHIPPED
    if not os.path.isdir(MODEL):
        print("SKIP the shipped backbone: %s is not in the tree" % MODEL)
    else:
        cfg = layout()
        reference_and_quality(cfg, quality=True)
        fine_tune()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
