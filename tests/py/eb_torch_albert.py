"""eb_torch_albert - an independent PyTorch ALBERT (functional, float64) and a
numpy safetensors writer, for the trainer's reference tests.

The model follows HuggingFace AlbertForSequenceClassification's math and
tensor names, plus EdgeBERT's off-ramps (albert.encoder.highway.{j}) and the
adaptive span mask m(x) = clamp((R + z - x) / R, 0, 1) multiplied into the
softmax output (no renormalisation)."""
import json
import math
import os
import struct

import numpy as np
import torch


def write_safetensors(path, tensors):
    """tensors: dict name -> float32 numpy array."""
    header, off, blobs = {}, 0, []
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr, dtype=np.float32)
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dt = info["dtype"]
        if dt == "F32":
            a = np.frombuffer(data[b:e], dtype="<f4")
        elif dt == "F16":
            a = np.frombuffer(data[b:e], dtype="<f2").astype(np.float32)
        elif dt == "BF16":  # the top 16 bits of a float32
            a = (np.frombuffer(data[b:e], dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError("%s: tensor %s has dtype %s (F32, F16, BF16 read)" % (path, name, dt))
        out[name] = a.reshape(info["shape"]).copy()
    return out


def random_model(cfg, rng, span=None, ramps=False, mlm=False):
    """Random weights (larger than HF init so that gradients are not tiny)."""
    V, E, H, I = cfg["vocab_size"], cfg["embedding_size"], cfg["hidden_size"], cfg["intermediate_size"]
    P, TV, K = cfg["max_position_embeddings"], cfg["type_vocab_size"], cfg["num_labels"]
    t = {}

    def lin(name, o, i):
        t[name + ".weight"] = rng.normal(0, 1 / math.sqrt(i), (o, i))
        t[name + ".bias"] = rng.normal(0, 0.1, (o,))

    def norm(name, n):
        t[name + ".weight"] = 1 + rng.normal(0, 0.1, (n,))
        t[name + ".bias"] = rng.normal(0, 0.1, (n,))

    t["albert.embeddings.word_embeddings.weight"] = rng.normal(0, 1, (V, E))
    t["albert.embeddings.position_embeddings.weight"] = rng.normal(0, 1, (P, E))
    t["albert.embeddings.token_type_embeddings.weight"] = rng.normal(0, 1, (TV, E))
    norm("albert.embeddings.LayerNorm", E)
    lin("albert.encoder.embedding_hidden_mapping_in", H, E)
    for g in range(cfg["num_hidden_groups"]):
        for i in range(cfg["inner_group_num"]):
            p = "albert.encoder.albert_layer_groups.%d.albert_layers.%d" % (g, i)
            for n in ("query", "key", "value", "dense"):
                lin(p + ".attention." + n, H, H)
            norm(p + ".attention.LayerNorm", H)
            lin(p + ".ffn", I, H)
            lin(p + ".ffn_output", H, I)
            norm(p + ".full_layer_layer_norm", H)
            if span is not None:
                t[p + ".attention.span"] = np.array(span, dtype=np.float64)
    r = cfg.get("edgebert_adapter_size", 0)
    for l in range(cfg["num_hidden_layers"] if r else 0):
        for i in range(cfg["inner_group_num"]):
            p = "albert.encoder.albert_layer_groups.%d.albert_layers.%d.adapters.%d" % (
                l // (cfg["num_hidden_layers"] // cfg["num_hidden_groups"]), i, l)
            for part in ("attn", "ffn"):
                lin(p + "." + part + ".down", r, H)
                lin(p + "." + part + ".up", H, r)
    lin("albert.pooler", H, H)
    lin("classifier", K, H)
    if ramps:
        for j in range(cfg["num_hidden_layers"] - 1):
            lin("albert.encoder.highway.%d.pooler" % j, H, H)
            lin("albert.encoder.highway.%d.classifier" % j, K, H)
    if mlm:  # AlbertMLMHead; the decoder weight is tied to the word embeddings
        lin("predictions.dense", E, H)
        norm("predictions.LayerNorm", E)
        t["predictions.bias"] = rng.normal(0, 0.1, (V,))
    return {k: v.astype(np.float32) for k, v in t.items()}


def act_fn(name, x):
    if name == "gelu":
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    if name == "relu":
        return torch.relu(x)
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def forward(cfg, w, ids, types, valid, ramp_R=None, mlm_out=None):
    """ids, types: LongTensor [B,T]; valid: bool [B,T].  Returns main logits
    [B,K] (None for a checkpoint without a classifier, such as a pretrained
    backbone) and a list of off-ramp logits (layers 1..L-1, when present).
    With a list mlm_out, the masked-LM logits [B,T,V] are appended to it."""
    H, NH = cfg["hidden_size"], cfg["num_attention_heads"]
    HS = H // NH
    eps = cfg.get("layer_norm_eps", 1e-12)
    B, T = ids.shape
    ln = torch.nn.functional.layer_norm
    x = (w["albert.embeddings.word_embeddings.weight"][ids]
         + w["albert.embeddings.position_embeddings.weight"][torch.arange(T)][None]
         + w["albert.embeddings.token_type_embeddings.weight"][types])
    x = ln(x, (x.shape[-1],), w["albert.embeddings.LayerNorm.weight"], w["albert.embeddings.LayerNorm.bias"], eps)
    lin = lambda v, n: v @ w[n + ".weight"].T + w[n + ".bias"]
    h = lin(x, "albert.encoder.embedding_hidden_mapping_in")
    L, G, IN = cfg["num_hidden_layers"], cfg["num_hidden_groups"], cfg["inner_group_num"]
    dt = w["albert.embeddings.word_embeddings.weight"].dtype
    dist = (torch.arange(T)[:, None] - torch.arange(T)[None, :]).abs().to(dt)
    mask_add = torch.where(valid[:, None, None, :], 0.0, -1e30).to(dt)
    ramps = []
    pool = lambda v, p, c: lin(torch.tanh(lin(v[:, 0], p)), c)
    for l in range(L):
        g = l // (L // G)
        for i in range(IN):
            p = "albert.encoder.albert_layer_groups.%d.albert_layers.%d" % (g, i)
            q = lin(h, p + ".attention.query").view(B, T, NH, HS).transpose(1, 2)
            k = lin(h, p + ".attention.key").view(B, T, NH, HS).transpose(1, 2)
            v = lin(h, p + ".attention.value").view(B, T, NH, HS).transpose(1, 2)
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HS) + mask_add, dim=-1)
            if p + ".attention.span" in w:
                z = w[p + ".attention.span"]
                m = ((ramp_R + z[:, None, None] - dist[None]) / ramp_R).clamp(0, 1)
                a = a * m[None]
            ctx = (a @ v).transpose(1, 2).reshape(B, T, H)
            ap = p + ".adapters.%d" % l  # adapter-ALBERT: per application l
            o = lin(ctx, p + ".attention.dense")
            if ap + ".attn.down.weight" in w:
                o = o + lin(act_fn("gelu_new", lin(o, ap + ".attn.down")), ap + ".attn.up")
            h = ln(h + o, (H,), w[p + ".attention.LayerNorm.weight"],
                   w[p + ".attention.LayerNorm.bias"], eps)
            f = lin(act_fn(cfg.get("hidden_act", "gelu_new"), lin(h, p + ".ffn")), p + ".ffn_output")
            if ap + ".ffn.down.weight" in w:
                f = f + lin(act_fn("gelu_new", lin(f, ap + ".ffn.down")), ap + ".ffn.up")
            h = ln(h + f, (H,), w[p + ".full_layer_layer_norm.weight"], w[p + ".full_layer_layer_norm.bias"], eps)
        if l < L - 1 and ("albert.encoder.highway.%d.pooler.weight" % l) in w:
            ramps.append(pool(h, "albert.encoder.highway.%d.pooler" % l, "albert.encoder.highway.%d.classifier" % l))
    if mlm_out is not None:
        x = act_fn(cfg.get("hidden_act", "gelu_new"), lin(h, "predictions.dense"))
        x = ln(x, (x.shape[-1],), w["predictions.LayerNorm.weight"], w["predictions.LayerNorm.bias"], eps)
        mlm_out.append(x @ w["albert.embeddings.word_embeddings.weight"].T + w["predictions.bias"])
    if "classifier.weight" not in w:
        return None, ramps
    return pool(h, "albert.pooler", "classifier"), ramps


def save_model(dirname, cfg, tensors):
    os.makedirs(dirname, exist_ok=True)
    with open(os.path.join(dirname, "config.json"), "w") as f:
        json.dump(cfg, f)
    write_safetensors(os.path.join(dirname, "model.safetensors"), tensors)


def load_model(dirname):
    """A HuggingFace ALBERT checkpoint directory as it is on disk: (config
    dict, tensors as float64 torch tensors, span ramp R).  F32, F16 or BF16
    safetensors (each value widened exactly)."""
    with open(os.path.join(dirname, "config.json")) as f:
        cfg = json.load(f)
    path = os.path.join(dirname, "model.safetensors")
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    for name, info in header.items():
        if name != "__metadata__" and info["dtype"] not in ("F32", "F16", "BF16"):
            raise ValueError("%s: tensor %s is %s, this reader takes F32, F16, BF16" % (path, name, info["dtype"]))
    w = {k: torch.from_numpy(v.astype(np.float64)) for k, v in read_safetensors(path).items()}
    cfg.setdefault("hidden_act", "gelu_new")
    return cfg, w, float(cfg.get("edgebert_span_ramp", 32.0))
