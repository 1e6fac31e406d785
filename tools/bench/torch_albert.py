#!/usr/bin/python3
"""torch_albert.py - the PyTorch side of tools/bench/compare.py.

A float32 torch.nn ALBERT (AlbertForSequenceClassification's math, main
pooler + classifier, no off-ramps) built from a HuggingFace-layout checkpoint
directory (config.json + model.safetensors, F32/F16/BF16 tensors), traced with
torch.jit.trace.  Subcommands print one JSON object on stdout:

  bench  --model DIR --tokens 16,32 --threads 1 [--runs N] [--warmup N] [--clock wall|cpu]
         median/min ms of one forward pass at batch 1 per token count
  ids    --model DIR --ids FILE --threads 1 [--warmup N] [--clock wall|cpu]
         per-sentence time of the full model over the lines of
         `edgebert bench --e2e --ids-out FILE` (a gold label, a TAB, the
         space-separated ids): mean_ms and the predicted labels
  export --model DIR --out FILE.onnx
         torch.onnx.export, opset 13, dynamic sequence length; input
         `input_ids` int64 [1, N], output `logits`

Run it with Debian's /usr/bin/python3 (python3-torch).  Debian's torch calls
the system BLAS through libblas.so.3: with libopenblas0 installed that is
OpenBLAS, otherwise the reference BLAS (about 30x slower).  The JSON says
which library was actually mapped ("blas")."""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16}


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
        raw = data[b:e]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            arr = bits.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=DTYPES[info["dtype"]]).astype(np.float32)
        out[name] = arr.reshape(info["shape"]).copy()
    return out


def blas_in_use():
    """The BLAS library mapped into this process after a matrix product."""
    import torch
    a = torch.randn(64, 64)
    (a @ a).sum().item()
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1] if len(line.split()) >= 6 else ""
                base = os.path.basename(p)
                if "blas" in base or "mkl" in base:
                    libs.add(os.path.realpath(p))
    except OSError:
        pass
    kind = "unknown"
    if any("openblas" in l for l in libs):
        kind = "openblas"
    elif any("mkl" in l for l in libs):
        kind = "mkl"
    elif libs:
        kind = "reference"
    return kind, sorted(libs)


def build(model_dir):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(model_dir, "model.safetensors"))

    def t(name):
        if name not in w and name.startswith("albert.") and name[7:] in w:
            name = name[7:]
        return torch.from_numpy(w[name])

    E, H = cfg["embedding_size"], cfg["hidden_size"]
    NH, L = cfg["num_attention_heads"], cfg["num_hidden_layers"]
    G, K = cfg["num_hidden_groups"], cfg["inner_group_num"]
    eps = cfg.get("layer_norm_eps", 1e-12)
    act = cfg.get("hidden_act", "gelu_new")
    R = float(cfg.get("edgebert_span_ramp", 32.0))

    def linear(prefix):
        o, i = t(prefix + ".weight").shape
        m = nn.Linear(i, o)
        m.weight.data.copy_(t(prefix + ".weight"))
        m.bias.data.copy_(t(prefix + ".bias"))
        return m

    def norm(prefix, n):
        m = nn.LayerNorm(n, eps=eps)
        m.weight.data.copy_(t(prefix + ".weight"))
        m.bias.data.copy_(t(prefix + ".bias"))
        return m

    class Layer(nn.Module):
        def __init__(self, p):
            super().__init__()
            self.q = linear(p + "attention.query")
            self.k = linear(p + "attention.key")
            self.v = linear(p + "attention.value")
            self.o = linear(p + "attention.dense")
            self.ln1 = norm(p + "attention.LayerNorm", H)
            self.ffn = linear(p + "ffn")
            self.ffn_out = linear(p + "ffn_output")
            self.ln2 = norm(p + "full_layer_layer_norm", H)
            # EdgeBERT adaptive span (what edgebert computes): the probabilities
            # times m(|i-j|) = clamp((R + z - |i-j|) / R, 0, 1), no renormalisation;
            # precomputed for every length up to max_position_embeddings
            self.span = None
            if any(k.endswith(p + "attention.span") for k in w):
                z = t(p + "attention.span").float().view(NH, 1, 1)
                P = cfg.get("max_position_embeddings", 512)
                idx = torch.arange(P, dtype=torch.float32)
                dist = (idx.view(P, 1) - idx.view(1, P)).abs()
                self.span = torch.clamp((R + z - dist) / R, 0.0, 1.0)

        def forward(self, x):
            n = x.shape[0]
            hs = H // NH
            q = self.q(x).view(n, NH, hs).transpose(0, 1)
            k = self.k(x).view(n, NH, hs).transpose(0, 1)
            v = self.v(x).view(n, NH, hs).transpose(0, 1)
            a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hs), dim=-1)
            if self.span is not None:
                a = a * self.span[:, :n, :n]
            c = (a @ v).transpose(0, 1).reshape(n, H)
            x = self.ln1(x + self.o(c))
            h = self.ffn(x)
            if act == "gelu_new":
                h = 0.5 * h * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * h ** 3)))
            elif act == "relu":
                h = F.relu(h)
            else:
                h = F.gelu(h)
            return self.ln2(x + self.ffn_out(h))

    class Albert(nn.Module):
        def __init__(self):
            super().__init__()
            self.word = nn.Parameter(t("albert.embeddings.word_embeddings.weight"))
            self.pos = nn.Parameter(t("albert.embeddings.position_embeddings.weight"))
            self.typ = nn.Parameter(t("albert.embeddings.token_type_embeddings.weight"))
            self.eln = norm("albert.embeddings.LayerNorm", E)
            self.map_in = linear("albert.encoder.embedding_hidden_mapping_in")
            self.layers = nn.ModuleList(
                [Layer("albert.encoder.albert_layer_groups.%d.albert_layers.%d." % (g, k))
                 for g in range(G) for k in range(K)])
            self.pooler = linear("albert.pooler")
            self.cls = linear("classifier")

        def forward(self, ids):  # ids: int64 [1, N]
            n = ids.shape[1]
            x = self.word[ids[0]] + self.pos[:n] + self.typ[0]
            x = self.map_in(self.eln(x))
            per_group = L // G
            for l in range(L):
                g = l // per_group
                for k in range(K):
                    x = self.layers[g * K + k](x)
            p = torch.tanh(self.pooler(x[0:1]))
            return self.cls(p)

    m = Albert().eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m, cfg


def trace(m, cfg, n=16):
    import torch
    ids = torch.randint(5, cfg["vocab_size"], (1, n), dtype=torch.int64)
    with torch.no_grad():
        return torch.jit.trace(m, ids, check_trace=False)


def cmd_bench(a):
    import torch
    torch.set_num_threads(a.threads)
    kind, libs = blas_in_use()
    m, cfg = build(a.model)
    rng = np.random.default_rng(0)
    rows = []
    with torch.no_grad():
        tm = trace(m, cfg)
        for n in [int(x) for x in a.tokens.split(",")]:
            ids = torch.from_numpy(rng.integers(5, cfg["vocab_size"], (1, n)).astype(np.int64))
            for _ in range(a.warmup):
                tm(ids)
            ts = []
            clock = time.process_time if a.clock == "cpu" else time.perf_counter
            for _ in range(a.runs):
                t0 = clock()
                tm(ids)
                ts.append((clock() - t0) * 1e3)
            ts.sort()
            rows.append({"engine": "torch", "threads": a.threads, "tokens": n,
                         "median_ms": ts[len(ts) // 2], "min_ms": ts[0], "runs": len(ts)})
    print(json.dumps({"engine": "torch", "version": torch.__version__, "blas": kind,
                      "blas_libs": libs, "threads": torch.get_num_threads(), "clock": a.clock,
                      "rows": rows}))
    return 0


def cmd_ids(a):
    import torch
    torch.set_num_threads(a.threads)
    kind, _ = blas_in_use()
    m, cfg = build(a.model)
    seqs = []
    with open(a.ids) as f:
        for line in f:
            if line.strip():  # GOLD<TAB>ids (the gold label is compare.py's business)
                seqs.append([int(x) for x in line.split("\t")[-1].split()])
    labels, total = [], 0.0
    with torch.no_grad():
        # eager: a traced module re-specialises on every new length, which
        # costs PyTorch more than it gains on a stream of varying sentences
        tm = m
        for s in seqs[: a.warmup]:
            tm(torch.tensor([s], dtype=torch.int64))
        clock = time.process_time if a.clock == "cpu" else time.perf_counter
        for s in seqs:
            ids = torch.tensor([s], dtype=torch.int64)
            t0 = clock()
            lg = tm(ids)
            total += clock() - t0
            labels.append(int(torch.argmax(lg[0]).item()))
    print(json.dumps({"engine": "torch", "version": torch.__version__, "blas": kind,
                      "threads": a.threads, "n": len(seqs),
                      "mean_ms": total * 1e3 / max(1, len(seqs)), "labels": labels}))
    return 0


def cmd_export(a):
    import torch
    m, cfg = build(a.model)
    ids = torch.randint(5, cfg["vocab_size"], (1, 16), dtype=torch.int64)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp"
    with torch.no_grad():
        torch.onnx.export(m, (ids,), tmp, opset_version=13, input_names=["input_ids"],
                          output_names=["logits"], dynamic_axes={"input_ids": {1: "seq"}})
    os.replace(tmp, a.out)
    print(json.dumps({"onnx": a.out, "opset": 13, "bytes": os.path.getsize(a.out)}))
    return 0


def main(argv):
    ap = argparse.ArgumentParser(prog="torch_albert.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--model", required=True)
    b.add_argument("--tokens", default="16,32,64,128")
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--runs", type=int, default=20)
    b.add_argument("--warmup", type=int, default=3)
    b.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="cpu: process CPU time per run (all threads), robust to other load")
    i = sub.add_parser("ids")
    i.add_argument("--model", required=True)
    i.add_argument("--ids", required=True)
    i.add_argument("--threads", type=int, default=1)
    i.add_argument("--warmup", type=int, default=3)
    i.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    e = sub.add_parser("export")
    e.add_argument("--model", required=True)
    e.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError as ex:
        print(json.dumps({"error": "torch is not importable: %s" % ex}))
        return 3
    return {"bench": cmd_bench, "ids": cmd_ids, "export": cmd_export}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
