#!/usr/bin/python3
"""albert_ref.py - an independent numpy reference of ALBERT for edgebert's tests.

Written from the HuggingFace ALBERT architecture and the safetensors format
description, without any code of the engine:

  * write_safetensors / read_safetensors: the safetensors file format
    (8-byte little-endian header length, JSON header {name: {dtype, shape,
    data_offsets}} plus "__metadata__", then the raw little-endian bytes),
    dtypes F32, F16 and BF16 (BF16 rounded to nearest even).
  * make_checkpoint: a random-weight HuggingFace ALBERT classifier directory
    (config.json, model.safetensors, spiece.model) with optional EdgeBERT
    off-ramps (albert.encoder.highway.{j}.pooler[.dense].{weight,bias},
    ...classifier.{weight,bias}) and optional adaptive attention spans
    (...attention.span [NH], config key edgebert_span_ramp).
  * forward: float64 forward pass returning the logits and entropy after
    every layer (off-ramp j after layer j+1; after the last layer, or without
    off-ramps, the main pooler + classifier).

Command line (for end-to-end runs):
  albert_ref.py make OUT_DIR [--layers 4] [--groups 1] [--inner 1] [--act gelu_new]
                [--dtype F32] [--labels 2] [--offramps] [--spans] [--seed 0] [--spiece PATH]
  albert_ref.py forward MODEL_DIR  < lines "ids<TAB>type_ids[<TAB>valid]"
      prints one JSON object per line: {"logits": [[..]..], "entropies": [..]}
"""
import json
import math
import os
import shutil
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def shared_data_dir():
    return os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))


# ---------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2}


def to_bf16_bits(x):
    """float array -> uint16 bfloat16 bits, round to nearest even."""
    b = np.ascontiguousarray(x, dtype="<f4").view("<u4").astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    return b.astype("<u2")


def from_bf16_bits(bits):
    return (np.asarray(bits, dtype=np.uint32) << 16).astype("<u4").view("<f4")


def quantize(x, dtype):
    """The float64 values a tensor has once stored as dtype."""
    x = np.asarray(x, dtype=np.float64)
    if dtype == "F32":
        return x.astype(np.float32).astype(np.float64)
    if dtype == "F16":
        return x.astype(np.float16).astype(np.float64)
    if dtype == "BF16":
        return from_bf16_bits(to_bf16_bits(x)).astype(np.float64).reshape(x.shape)
    raise ValueError("dtype " + dtype)


def encode(x, dtype):
    if dtype == "F32":
        return np.ascontiguousarray(x, dtype="<f4").tobytes()
    if dtype == "F16":
        return np.ascontiguousarray(x, dtype="<f2").tobytes()
    if dtype == "BF16":
        return to_bf16_bits(x).tobytes()
    raise ValueError("dtype " + dtype)


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (array, dtype)}.  Tensors are laid out by dtype size
    (largest first) then name, as the reference library does, so every
    tensor stays aligned to its element size; the header is padded with
    spaces to a multiple of 8 bytes."""
    order = sorted(tensors, key=lambda n: (-DTYPE_SIZE[tensors[n][1]], n))
    header = {}
    blobs = []
    off = 0
    for name in order:
        arr, dt = tensors[name]
        arr = np.asarray(arr)
        data = encode(arr, dt)
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """{name: float64 array} and the metadata."""
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + hlen
    out = {}
    for name, d in header.items():
        a, b = d["data_offsets"]
        buf = raw[base + a: base + b]
        if d["dtype"] == "F32":
            v = np.frombuffer(buf, dtype="<f4")
        elif d["dtype"] == "F16":
            v = np.frombuffer(buf, dtype="<f2")
        elif d["dtype"] == "BF16":
            v = from_bf16_bits(np.frombuffer(buf, dtype="<u2"))
        else:
            raise ValueError("%s: dtype %s" % (name, d["dtype"]))
        out[name] = v.astype(np.float64).reshape(d["shape"])
    return out, meta


# ---------------------------------------------------------------------------
# random checkpoints
# ---------------------------------------------------------------------------

def albert_config(vocab_size=30000, embedding_size=16, hidden_size=32, num_hidden_layers=4,
                  num_hidden_groups=1, inner_group_num=1, num_attention_heads=4,
                  intermediate_size=64, hidden_act="gelu_new", max_position_embeddings=64,
                  type_vocab_size=2, layer_norm_eps=1e-12, num_labels=2, label_names=None):
    names = label_names or ["LABEL_%d" % i for i in range(num_labels)]
    return {
        "architectures": ["AlbertForSequenceClassification"],
        "model_type": "albert",
        "vocab_size": vocab_size,
        "embedding_size": embedding_size,
        "hidden_size": hidden_size,
        "num_hidden_layers": num_hidden_layers,
        "num_hidden_groups": num_hidden_groups,
        "inner_group_num": inner_group_num,
        "num_attention_heads": num_attention_heads,
        "intermediate_size": intermediate_size,
        "hidden_act": hidden_act,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "classifier_dropout_prob": 0.1,
        "max_position_embeddings": max_position_embeddings,
        "type_vocab_size": type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": layer_norm_eps,
        "position_embedding_type": "absolute",
        "pad_token_id": 0,
        "bos_token_id": 2,
        "eos_token_id": 3,
        "num_labels": num_labels,
        "id2label": {str(i): names[i] for i in range(num_labels)},
        "label2id": {names[i]: i for i in range(num_labels)},
    }


def adapter_prefix(cfg, l, k):
    """Name prefix of the adapters of layer application l, inner layer k."""
    g = l // (cfg["num_hidden_layers"] // cfg["num_hidden_groups"])
    return "albert.encoder.albert_layer_groups.%d.albert_layers.%d.adapters.%d." % (g, k, l)


def random_weights(cfg, rng, offramps=False, spans=False, span_ramp=4.0):
    """float64 weights named as in AlbertForSequenceClassification (plus
    adapters when cfg has edgebert_adapter_size > 0)."""
    V, E, H = cfg["vocab_size"], cfg["embedding_size"], cfg["hidden_size"]
    NH, I, L = cfg["num_attention_heads"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    G, K, C = cfg["num_hidden_groups"], cfg["inner_group_num"], cfg["num_labels"]
    P, T = cfg["max_position_embeddings"], cfg["type_vocab_size"]
    w = {}

    def lin(name, out, inp, gain=1.0):
        w[name + ".weight"] = rng.normal(0, gain / math.sqrt(inp), (out, inp))
        w[name + ".bias"] = rng.normal(0, 0.1, (out,))

    def norm(name, n):
        w[name + ".weight"] = 1.0 + rng.normal(0, 0.1, (n,))
        w[name + ".bias"] = rng.normal(0, 0.1, (n,))

    w["albert.embeddings.word_embeddings.weight"] = rng.normal(0, 0.5, (V, E))
    w["albert.embeddings.position_embeddings.weight"] = rng.normal(0, 0.5, (P, E))
    w["albert.embeddings.token_type_embeddings.weight"] = rng.normal(0, 0.5, (T, E))
    norm("albert.embeddings.LayerNorm", E)
    lin("albert.encoder.embedding_hidden_mapping_in", H, E)
    for g in range(G):
        for k in range(K):
            p = "albert.encoder.albert_layer_groups.%d.albert_layers.%d." % (g, k)
            for n in ("query", "key", "value"):
                lin(p + "attention." + n, H, H, 1.5)
            lin(p + "attention.dense", H, H)
            norm(p + "attention.LayerNorm", H)
            lin(p + "ffn", I, H)
            lin(p + "ffn_output", H, I, 2.0)
            norm(p + "full_layer_layer_norm", H)
            if spans:
                # one head always off (z <= -R), one always whole, the rest
                # ramping somewhere inside typical lengths
                z = rng.uniform(-span_ramp + 0.5, 12.0, NH)
                z[(g + k) % NH] = -span_ramp - 1.0
                z[(g + k + 1) % NH] = 1000.0
                w[p + "attention.span"] = z
    def classifier(name):
        # Biases of 1.2..2.5 in size with a weaker weight keep every logit well
        # away from 0, so that a float32 engine meets a relative 1e-4 with
        # margin (the hidden state still moves each logit by ~0.3).
        w[name + ".weight"] = rng.normal(0, 0.8 / math.sqrt(H), (C, H))
        w[name + ".bias"] = rng.uniform(1.2, 2.5, C) * rng.choice([-1.0, 1.0], C)

    r = cfg.get("edgebert_adapter_size", 0)
    for l in range(L if r else 0):
        for k in range(K):
            p = adapter_prefix(cfg, l, k)
            for part in ("attn", "ffn"):
                lin(p + part + ".down", r, H, 1.5)
                lin(p + part + ".up", H, r, 0.7)
    lin("albert.pooler", H, H)
    classifier("classifier")
    if offramps:
        dense = offramps == "dense"
        for j in range(L):
            p = "albert.encoder.highway.%d." % j
            lin(p + ("pooler.dense" if dense else "pooler"), H, H)
            classifier(p + "classifier")
    return w


def make_checkpoint(out_dir, cfg, seed=0, dtype="F32", offramps=False, spans=False,
                    span_ramp=4.0, spiece=None, extra_config=None):
    """Write a HuggingFace ALBERT directory; return the float64 weights the
    engine should see (after rounding to dtype).  dtype may be "mixed"
    (F32/F16/BF16 by tensor).  offramps: False, True or "dense" (the
    pooler.dense. naming).  spiece: path of spiece.model to copy (default:
    the shared one when present)."""
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    if extra_config and "edgebert_adapter_size" in extra_config:
        cfg = dict(cfg, edgebert_adapter_size=extra_config["edgebert_adapter_size"])
    w = random_weights(cfg, rng, offramps, spans, span_ramp)
    tensors, stored = {}, {}
    for i, name in enumerate(sorted(w)):
        dt = dtype if dtype != "mixed" else ("F32", "F16", "BF16")[i % 3]
        tensors[name] = (w[name], dt)
        stored[name] = quantize(w[name], dt)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors, {"format": "pt"})
    c = dict(cfg)
    if spans:
        c["edgebert_span_ramp"] = span_ramp
    if extra_config:
        c.update(extra_config)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    if spiece is None:
        spiece = os.path.join(shared_data_dir(), "albert", "spiece.model")
    if spiece and os.path.exists(spiece):
        shutil.copyfile(spiece, os.path.join(out_dir, "spiece.model"))
    return stored


def load_checkpoint(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    w, _ = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    return cfg, w


# ---------------------------------------------------------------------------
# forward pass (float64)
# ---------------------------------------------------------------------------

_erf = np.frompyfunc(math.erf, 1, 1)


def activation(name, x):
    if name == "gelu_new":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    if name == "gelu":
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))
    if name == "relu":
        return np.maximum(x, 0.0)
    raise ValueError("hidden_act " + name)


def layer_norm(x, g, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def entropy(logits):
    """ln sum e^x - sum x e^x / sum e^x, with the max subtracted first."""
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max()
    e = np.exp(x)
    s = e.sum()
    return float(np.log(s) - (x * e).sum() / s)


def span_mask(z, R, n):
    d = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :]).astype(np.float64)
    return np.clip((R + z - d) / R, 0.0, 1.0)


def forward(cfg, w, ids, type_ids=None, valid=None):
    """Logits [L, C] and entropies [L] after every layer for one sequence."""
    ids = np.asarray(ids, dtype=np.int64)
    N = len(ids)
    type_ids = np.zeros(N, np.int64) if type_ids is None or len(type_ids) == 0 else np.asarray(type_ids)
    valid = np.ones(N, bool) if valid is None or len(valid) == 0 else np.asarray(valid, bool)
    H, NH, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    G, K = cfg["num_hidden_groups"], cfg["inner_group_num"]
    eps, act = cfg["layer_norm_eps"], cfg["hidden_act"]
    R = float(cfg.get("edgebert_span_ramp", 32.0))
    HS = H // NH

    def lin(x, name):
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    adapters = cfg.get("edgebert_adapter_size", 0) > 0

    def adapter(x, name):
        """Houlsby bottleneck with its residual: x + up(gelu_new(down(x)))."""
        return x + lin(activation("gelu_new", lin(x, name + ".down")), name + ".up")

    e = (w["albert.embeddings.word_embeddings.weight"][ids]
         + w["albert.embeddings.position_embeddings.weight"][np.arange(N)]
         + w["albert.embeddings.token_type_embeddings.weight"][type_ids])
    e = layer_norm(e, w["albert.embeddings.LayerNorm.weight"], w["albert.embeddings.LayerNorm.bias"], eps)
    h = lin(e, "albert.encoder.embedding_hidden_mapping_in")
    add_mask = np.where(valid, 0.0, -np.inf)[None, None, :]  # over keys

    def ramp_name(j, part):
        p = "albert.encoder.highway.%d.%s" % (j, part)
        if part == "pooler" and p + ".weight" not in w:
            p += ".dense"
        return p

    has_ramps = "albert.encoder.highway.0.classifier.weight" in w
    logits, ents = [], []
    per_group = L // G
    for l in range(L):
        g = l // per_group
        for k in range(K):
            p = "albert.encoder.albert_layer_groups.%d.albert_layers.%d." % (g, k)
            q = lin(h, p + "attention.query").reshape(N, NH, HS).transpose(1, 0, 2)
            kk = lin(h, p + "attention.key").reshape(N, NH, HS).transpose(1, 0, 2)
            v = lin(h, p + "attention.value").reshape(N, NH, HS).transpose(1, 0, 2)
            s = q @ kk.transpose(0, 2, 1) / math.sqrt(HS) + add_mask
            s = s - s.max(axis=-1, keepdims=True)
            pr = np.exp(s)
            pr = pr / pr.sum(axis=-1, keepdims=True)
            if p + "attention.span" in w:
                z = w[p + "attention.span"]
                pr = pr * np.stack([span_mask(z[i], R, N) for i in range(NH)])
            ctx = (pr @ v).transpose(1, 0, 2).reshape(N, H)
            o = lin(ctx, p + "attention.dense")
            if adapters:
                o = adapter(o, adapter_prefix(cfg, l, k) + "attn")
            a = layer_norm(h + o,
                           w[p + "attention.LayerNorm.weight"], w[p + "attention.LayerNorm.bias"], eps)
            f = lin(activation(act, lin(a, p + "ffn")), p + "ffn_output")
            if adapters:
                f = adapter(f, adapter_prefix(cfg, l, k) + "ffn")
            h = layer_norm(f + a, w[p + "full_layer_layer_norm.weight"],
                           w[p + "full_layer_layer_norm.bias"], eps)
        cls = h[0]
        if has_ramps and l < L - 1:
            pooled = np.tanh(lin(cls, ramp_name(l, "pooler")))
            out = lin(pooled, ramp_name(l, "classifier"))
        else:
            pooled = np.tanh(lin(cls, "albert.pooler"))
            out = lin(pooled, "classifier")
        logits.append(out)
        ents.append(entropy(out))
    return np.array(logits), np.array(ents)


def parse_input_line(line):
    """"ids<TAB>type_ids[<TAB>valid]" -> (ids, type_ids or None, valid or None)."""
    parts = line.rstrip("\r\n").split("\t")
    ids = [int(t) for t in parts[0].split()]
    types = [int(t) for t in parts[1].split()] if len(parts) > 1 and parts[1].strip() else None
    valid = [int(t) for t in parts[2].split()] if len(parts) > 2 and parts[2].strip() else None
    return ids, types, valid


def format_input_line(ids, types=None, valid=None):
    s = " ".join(map(str, ids)) + "\t" + (" ".join(map(str, types)) if types else "")
    if valid is not None:
        s += "\t" + " ".join(map(str, valid))
    return s


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------

def main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="albert_ref.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="write a random ALBERT checkpoint directory")
    m.add_argument("out")
    m.add_argument("--layers", type=int, default=4)
    m.add_argument("--groups", type=int, default=1)
    m.add_argument("--inner", type=int, default=1)
    m.add_argument("--hidden", type=int, default=32)
    m.add_argument("--heads", type=int, default=4)
    m.add_argument("--embedding", type=int, default=16)
    m.add_argument("--intermediate", type=int, default=64)
    m.add_argument("--act", default="gelu_new", choices=["gelu_new", "gelu", "relu"])
    m.add_argument("--dtype", default="F32", choices=["F32", "F16", "BF16", "mixed"])
    m.add_argument("--labels", type=int, default=2)
    m.add_argument("--label-names", default=None, help="comma-separated id2label names")
    m.add_argument("--max-pos", type=int, default=128)
    m.add_argument("--offramps", action="store_true")
    m.add_argument("--spans", action="store_true")
    m.add_argument("--span-ramp", type=float, default=4.0)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--spiece", default=None)
    f = sub.add_parser("forward", help="reference logits/entropies for stdin lines")
    f.add_argument("model")
    a = ap.parse_args(argv)
    if a.cmd == "make":
        names = a.label_names.split(",") if a.label_names else None
        cfg = albert_config(embedding_size=a.embedding, hidden_size=a.hidden,
                            num_hidden_layers=a.layers, num_hidden_groups=a.groups,
                            inner_group_num=a.inner, num_attention_heads=a.heads,
                            intermediate_size=a.intermediate, hidden_act=a.act,
                            max_position_embeddings=a.max_pos, num_labels=a.labels,
                            label_names=names)
        make_checkpoint(a.out, cfg, a.seed, a.dtype, a.offramps, a.spans, a.span_ramp, a.spiece)
        return 0
    cfg, w = load_checkpoint(a.model)
    for line in sys.stdin:
        if not line.strip():
            continue
        ids, types, valid = parse_input_line(line)
        lg, en = forward(cfg, w, ids, types, valid)
        print(json.dumps({"logits": lg.tolist(), "entropies": en.tolist()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
