#!/usr/bin/python3
"""test_albert_ref.py - the engine's forward pass against the numpy reference.

For several tiny ALBERT shapes (groups, inner layers, activations, off-ramps,
spans, F32/F16/BF16 weights, 2 or 3 labels) a random checkpoint is written to
a temp dir and `$EB_BUILD/tests/tools/eb_forward MODEL_DIR` is run on single
sentences, pairs and padded inputs; every layer's logits and entropies must
agree with albert_ref.forward within a relative error of 1e-4 (scale
max(|ref|, 1e-3)).

Self-tests of the reference itself (these never need the engine):
  * the safetensors files parse by the format spec, with exact F16/BF16 bits;
  * albert_ref.forward agrees with the same model written in plain torch ops
    (float64: 1e-9; a float32 torch run stays within the 1e-4 criterion);
  * padding at the end does not change the reference's logits.
Prints PASS/FAIL/SKIP lines; exits 1 on any FAIL.
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import albert_ref as ar  # noqa: E402

TOL = 1e-4
FAILS = []


def report(ok, name, why=""):
    if ok:
        print("PASS %s%s" % (name, (" (" + why + ")") if why else ""))
    else:
        print("FAIL %s: %s" % (name, why))
        FAILS.append(name)


# Configurations: (name, config overrides, dtype, offramps, spans)
CONFIGS = [
    ("g1_i1_gelunew_ramps_f32_c2", dict(num_hidden_groups=1, inner_group_num=1, hidden_act="gelu_new", num_labels=2), "F32", True, False),
    ("g2_i1_gelu_ramps_f16_c3", dict(num_hidden_groups=2, inner_group_num=1, hidden_act="gelu", num_labels=3), "F16", True, False),
    ("g1_i2_relu_noramps_bf16_c2", dict(num_hidden_groups=1, inner_group_num=2, hidden_act="relu", num_labels=2), "BF16", False, False),
    ("g2_i2_gelunew_denseramps_spans_f32_c3", dict(num_hidden_groups=2, inner_group_num=2, hidden_act="gelu_new", num_labels=3), "F32", "dense", True),
    ("g1_i1_gelu_noramps_spans_bf16_c2", dict(num_hidden_groups=1, inner_group_num=1, hidden_act="gelu", num_labels=2), "BF16", False, True),
    ("g4_i1_relu_ramps_spans_mixed_c3_named", dict(num_hidden_groups=4, inner_group_num=1, hidden_act="relu", num_labels=3,
                                                    label_names=["entailment", "neutral", "contradiction"]), "mixed", True, True),
    ("shape_h48_nh3_e24_i80_l6_g3_ramps_spans_f32_c2", dict(hidden_size=48, num_attention_heads=3, embedding_size=24, intermediate_size=80,
                                                          num_hidden_layers=6, num_hidden_groups=3, inner_group_num=1, hidden_act="gelu_new",
                                                          num_labels=2, label_names=["negative", "positive"]), "F32", True, True),
    ("g2_i1_gelunew_noramps_f16_c2", dict(num_hidden_groups=2, inner_group_num=1, hidden_act="gelu_new", num_labels=2), "F16", False, False),
    # adapter-ALBERT: per-application Houlsby adapters (edgebert_adapter_size);
    # these also run the engine's *_ex fp32 path (eb_forward --ex fp32)
    ("adapters_r8_g1_i1_gelunew_ramps_f32_c2", dict(num_hidden_groups=1, inner_group_num=1, hidden_act="gelu_new", num_labels=2), "F32", True, False,
     dict(adapter=8)),
    ("adapters_r4_g2_i2_gelu_ramps_spans_f32_c3", dict(num_hidden_groups=2, inner_group_num=2, hidden_act="gelu", num_labels=3), "F32", True, True,
     dict(adapter=4)),
    ("adapters_r32_g1_i1_relu_noramps_bf16_c2", dict(num_hidden_groups=1, inner_group_num=1, hidden_act="relu", num_labels=2), "BF16", False, False,
     dict(adapter=32)),
    ("noadapters_g2_i1_gelunew_ramps_spans_f32_c2_ex", dict(num_hidden_groups=2, inner_group_num=1, hidden_act="gelu_new", num_labels=2), "F32", True, True,
     dict()),
]


def make_config(over):
    kw = dict(vocab_size=30000, embedding_size=16, hidden_size=32, num_hidden_layers=4,
              num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)
    kw.update(over)
    return ar.albert_config(**kw)


def make_inputs(cfg, seed):
    """Lines (ids, types or None, valid or None): singles, pairs, padded."""
    rng = np.random.default_rng(1000 + seed)
    V, P = cfg["vocab_size"], cfg["max_position_embeddings"]

    def toks(n):
        return [int(t) for t in rng.integers(5, V, n)]

    lines = []
    for n in (0, 3, 15, P - 2):  # [CLS] .. [SEP]: lengths 2, 5, 17, P
        ids = [2] + toks(n) + [3]
        lines.append((ids, None if n % 2 == 0 else [0] * len(ids), None))
    for na, nb in ((4, 6), (11, 1), (20, 25)):
        ids = [2] + toks(na) + [3] + toks(nb) + [3]
        lines.append((ids, [0] * (na + 2) + [1] * (nb + 1), None))
    # padded to 24 / 40 with <pad> = 0 at the end
    for base, width in ((lines[1], 24), (lines[4], 40)):
        ids, types, _ = base
        pad = width - len(ids)
        t = types if types else [0] * len(ids)
        lines.append((ids + [0] * pad, t + [0] * pad, [1] * len(ids) + [0] * pad))
    return lines


def rel_err(a, ref):
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    if a.shape != ref.shape:
        return float("inf")
    return float(np.max(np.abs(a - ref) / np.maximum(np.abs(ref), 1e-3)))


# ---------------------------------------------------------------------------
# torch twin of the model (plain torch ops)
# ---------------------------------------------------------------------------

def torch_forward(torch, cfg, w, ids, types, valid, dtype):
    F = torch.nn.functional
    T = {k: torch.tensor(v, dtype=dtype) for k, v in w.items()}
    n = len(ids)
    ids_t = torch.tensor(ids, dtype=torch.long)
    types_t = torch.tensor(types if types else [0] * n, dtype=torch.long)
    keep = torch.tensor(valid if valid else [1] * n, dtype=torch.bool)
    H, NH, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    G, K, eps = cfg["num_hidden_groups"], cfg["inner_group_num"], cfg["layer_norm_eps"]
    R = float(cfg.get("edgebert_span_ramp", 32.0))
    d = H // NH
    acts = {"gelu_new": lambda x: F.gelu(x, approximate="tanh"), "gelu": F.gelu, "relu": F.relu}
    act = acts[cfg["hidden_act"]]

    def ln(x, name):
        return F.layer_norm(x, (x.shape[-1],), T[name + ".weight"], T[name + ".bias"], eps)

    def lin(x, name):
        return F.linear(x, T[name + ".weight"], T[name + ".bias"])

    x = (F.embedding(ids_t, T["albert.embeddings.word_embeddings.weight"])
         + F.embedding(torch.arange(n), T["albert.embeddings.position_embeddings.weight"])
         + F.embedding(types_t, T["albert.embeddings.token_type_embeddings.weight"]))
    h = lin(ln(x, "albert.embeddings.LayerNorm"), "albert.encoder.embedding_hidden_mapping_in")
    pos = torch.arange(n, dtype=dtype)
    dist = (pos[:, None] - pos[None, :]).abs()
    out_logits, out_ent = [], []
    ramps = "albert.encoder.highway.0.classifier.weight" in T
    for l in range(L):
        for k in range(K):
            p = "albert.encoder.albert_layer_groups.%d.albert_layers.%d." % (l // (L // G), k)

            def heads(t):
                return t.view(n, NH, d).permute(1, 0, 2)

            q, kk, v = (heads(lin(h, p + "attention." + m)) for m in ("query", "key", "value"))
            sc = torch.matmul(q, kk.transpose(1, 2)) * (1.0 / math.sqrt(d))
            sc = sc.masked_fill(~keep[None, None, :], float("-inf"))
            pr = torch.softmax(sc, dim=-1)
            if p + "attention.span" in T:
                z = T[p + "attention.span"]
                pr = pr * torch.clamp((R + z[:, None, None] - dist[None]) / R, 0.0, 1.0)
            ctx = torch.matmul(pr, v).permute(1, 0, 2).reshape(n, H)
            # adapters of application l, inner layer k (written here from the
            # naming in albert.h, independently of albert_ref.adapter_prefix)
            ap = p + "adapters.%d." % l
            o = lin(ctx, p + "attention.dense")
            if ap + "attn.down.weight" in T:
                o = o + lin(F.gelu(lin(o, ap + "attn.down"), approximate="tanh"), ap + "attn.up")
            a = ln(h + o, p + "attention.LayerNorm")
            f = lin(act(lin(a, p + "ffn")), p + "ffn_output")
            if ap + "ffn.down.weight" in T:
                f = f + lin(F.gelu(lin(f, ap + "ffn.down"), approximate="tanh"), ap + "ffn.up")
            h = ln(a + f, p + "full_layer_layer_norm")
        if ramps and l < L - 1:
            pn = "albert.encoder.highway.%d.pooler" % l
            if pn + ".weight" not in T:
                pn += ".dense"
            o = lin(torch.tanh(lin(h[0], pn)), "albert.encoder.highway.%d.classifier" % l)
        else:
            o = lin(torch.tanh(lin(h[0], "albert.pooler")), "classifier")
        lp = torch.log_softmax(o, dim=-1)
        out_logits.append(o)
        out_ent.append(-(lp.exp() * lp).sum())
    return (torch.stack(out_logits).double().numpy(), torch.stack(out_ent).double().numpy())


# ---------------------------------------------------------------------------
# self-tests
# ---------------------------------------------------------------------------

def check_safetensors_file(path, stored):
    """Parse by the spec, independently of albert_ref.read_safetensors."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    if (8 + n) % 8:
        return "data section not 8-byte aligned"
    hdr = json.loads(raw[8:8 + n])
    if hdr.get("__metadata__") != {"format": "pt"}:
        return "metadata %r" % hdr.get("__metadata__")
    spans = []
    for name, d in hdr.items():
        if name == "__metadata__":
            continue
        size = {"F32": 4, "F16": 2, "BF16": 2}[d["dtype"]]
        a, b = d["data_offsets"]
        if b - a != size * int(np.prod(d["shape"], dtype=np.int64)):
            return "%s: size %d for shape %s" % (name, b - a, d["shape"])
        if a % size:
            return "%s: misaligned" % name
        spans.append((a, b))
        blob = raw[8 + n + a: 8 + n + b]
        if d["dtype"] == "BF16":
            v = np.frombuffer(blob, "<u2").astype(np.uint32)
            vals = np.frombuffer((v << 16).astype("<u4").tobytes(), "<f4")
        else:
            vals = np.frombuffer(blob, "<f4" if d["dtype"] == "F32" else "<f2")
        if not np.array_equal(vals.astype(np.float64).reshape(d["shape"]), stored[name]):
            return "%s: values differ" % name
    spans.sort()
    pos = 0
    for a, b in spans:
        if a != pos:
            return "gap or overlap at %d" % a
        pos = b
    if 8 + n + pos != len(raw):
        return "file has %d bytes, tensors end at %d" % (len(raw), 8 + n + pos)
    if set(hdr) - {"__metadata__"} != set(stored):
        return "tensor names differ"
    return None


def self_test_safetensors(tmp):
    x = np.array([1.0, 1.00390625, 1.01171875, -2.0, 3.0e-3, 65504.0])
    bf = ar.to_bf16_bits(x)
    want = [0x3F80, 0x3F80, 0x3F82, 0xC000]  # ties go to even
    ok = list(bf[:4]) == want
    f16 = np.frombuffer(ar.encode(x, "F16"), "<u2")
    ok = ok and f16[0] == 0x3C00 and f16[3] == 0xC000 and f16[5] == 0x7BFF
    report(ok, "selftest_half_bits", "" if ok else "bf16 %s f16 %s" % (list(map(hex, bf)), list(map(hex, f16))))
    for dt in ("F32", "F16", "BF16", "mixed"):
        d = os.path.join(tmp, "st_" + dt)
        cfg = make_config(dict(num_labels=2, vocab_size=50, max_position_embeddings=16))
        stored = ar.make_checkpoint(d, cfg, seed=3, dtype=dt, offramps=True, spans=True, spiece="")
        why = check_safetensors_file(os.path.join(d, "model.safetensors"), stored)
        if why is None:
            back, _ = ar.read_safetensors(os.path.join(d, "model.safetensors"))
            if any(not np.array_equal(back[k], stored[k]) for k in stored):
                why = "read_safetensors disagrees"
        with open(os.path.join(d, "config.json")) as f:
            c = json.load(f)
        for key in ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers",
                    "num_hidden_groups", "inner_group_num", "num_attention_heads",
                    "intermediate_size", "hidden_act", "max_position_embeddings",
                    "type_vocab_size", "layer_norm_eps", "num_labels", "id2label", "label2id",
                    "edgebert_span_ramp"):
            if why is None and key not in c:
                why = "config.json lacks " + key
        report(why is None, "selftest_safetensors_" + dt, why or "")


def self_test_torch(tmp):
    try:
        import torch
    except Exception as e:  # pragma: no cover
        print("SKIP selftest_torch: torch not importable (%s)" % e)
        return
    torch.set_num_threads(1)
    for entry in CONFIGS:
        name, over, dt, ramps, spans = entry[:5]
        cfg = make_config(over)
        if len(entry) > 5 and entry[5].get("adapter"):
            cfg["edgebert_adapter_size"] = entry[5]["adapter"]
        if spans:
            cfg["edgebert_span_ramp"] = 4.0
        w = ar.random_weights(cfg, np.random.default_rng(7), ramps, spans, 4.0)
        w = {k: ar.quantize(v, "F32") for k, v in w.items()}
        worst64 = worst32 = 0.0
        pad_err = 0.0
        lines = make_inputs(cfg, 7)
        for ids, types, valid in lines:
            lg, en = ar.forward(cfg, w, ids, types, valid)
            tl, te = torch_forward(torch, cfg, w, ids, types, valid, torch.float64)
            worst64 = max(worst64, rel_err(lg, tl), rel_err(en, te))
            tl, te = torch_forward(torch, cfg, w, ids, types, valid, torch.float32)
            worst32 = max(worst32, rel_err(tl, lg), rel_err(te, en))
            if valid:
                m = sum(valid)
                ul, ue = ar.forward(cfg, w, ids[:m], types[:m] if types else None)
                pad_err = max(pad_err, rel_err(lg, ul), rel_err(en, ue))
        ok = worst64 < 1e-9 and worst32 < TOL and pad_err < 1e-9
        report(ok, "selftest_torch_" + name,
               "numpy vs torch64 %.1e, torch32 %.1e, padded vs unpadded %.1e" % (worst64, worst32, pad_err))


def self_test_adapters_matter():
    """The adapter configurations test something: the same weights without
    their adapters give logits well past TOL away."""
    for entry in CONFIGS:
        if len(entry) < 6 or not entry[5].get("adapter"):
            continue
        name, over, dt, ramps, spans = entry[:5]
        cfg = make_config(over)
        cfg["edgebert_adapter_size"] = entry[5]["adapter"]
        w = ar.random_weights(cfg, np.random.default_rng(11), ramps, spans, 4.0)
        ids = [2] + list(range(10, 30)) + [3]
        lg, _ = ar.forward(cfg, w, ids)
        plain = dict(cfg, edgebert_adapter_size=0)
        lg0, _ = ar.forward(plain, w, ids)
        e = rel_err(lg0, lg)
        report(e > 100 * TOL, "selftest_adapters_matter_" + name, "without adapters: rel change %.1e" % e)


def self_test_sensitivity():
    """The comparison can fail: a changed weight moves the logits past TOL."""
    name, over, dt, ramps, spans = CONFIGS[3][:5]
    cfg = make_config(over)
    cfg["edgebert_span_ramp"] = 4.0
    w = ar.random_weights(cfg, np.random.default_rng(9), ramps, spans, 4.0)
    ids = [2] + list(range(100, 2000, 100)) + [3] + list(range(7, 3000, 300)) + [3]
    types = [0] * 21 + [1] * 11
    lg, en = ar.forward(cfg, w, ids, types)
    seen = []
    for key in ("albert.encoder.albert_layer_groups.1.albert_layers.1.ffn_output.bias",
                "albert.encoder.albert_layer_groups.0.albert_layers.0.attention.span",
                "albert.embeddings.position_embeddings.weight"):
        w2 = dict(w)
        w2[key] = w[key] + 0.05 * (1 + np.abs(w[key]))
        lg2, en2 = ar.forward(cfg, w2, ids, types)
        seen.append(max(rel_err(lg2, lg), rel_err(en2, en)))
    # gelu vs gelu_new differ by ~1e-3: must be visible too
    c2 = dict(cfg, hidden_act="gelu")
    lg2, en2 = ar.forward(c2, w, ids, types)
    seen.append(max(rel_err(lg2, lg), rel_err(en2, en)))
    ok = min(seen) > TOL
    report(ok, "selftest_sensitivity", "changes seen " + ", ".join("%.1e" % s for s in seen))


# ---------------------------------------------------------------------------
# engine comparison
# ---------------------------------------------------------------------------

def engine_tests(tmp):
    build = os.environ.get("EB_BUILD", "build")
    tool = build if os.path.isabs(build) else os.path.join(ar.ROOT, build)
    tool = os.path.join(tool, "tests", "tools", "eb_forward")
    spiece = os.path.join(ar.shared_data_dir(), "albert", "spiece.model")
    runs = []
    for i, entry in enumerate(CONFIGS):
        runs.append((i, entry, None))
        if len(entry) > 5:  # the *_ex fp32 path too
            runs.append((i, entry, "fp32"))
    for i, entry, ex in runs:
        name, over, dt, ramps, spans = entry[:5]
        opts = entry[5] if len(entry) > 5 else {}
        if ex:
            name += "_ex_" + ex
        if not os.access(tool, os.X_OK):
            print("SKIP engine_%s: tool not built (%s)" % (name, tool))
            continue
        if not os.path.exists(spiece):
            print("SKIP engine_%s: shared data missing (%s)" % (name, spiece))
            continue
        cfg = make_config(over)
        if opts.get("adapter"):
            cfg["edgebert_adapter_size"] = opts["adapter"]
        mdir = os.path.join(tmp, name)
        stored = ar.make_checkpoint(mdir, cfg, seed=i, dtype=dt, offramps=ramps, spans=spans,
                                    span_ramp=4.0, spiece=spiece)
        if spans:
            cfg["edgebert_span_ramp"] = 4.0
        lines = make_inputs(cfg, i)
        text = "".join(ar.format_input_line(*ln) + "\n" for ln in lines)
        try:
            argv = [tool] + (["--ex", ex] if ex else []) + [mdir]
            r = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            report(False, "engine_" + name, "eb_forward timed out")
            continue
        if r.returncode != 0:
            report(False, "engine_" + name, "eb_forward exit %d: %s" % (r.returncode, r.stderr.strip()[-300:]))
            continue
        outs = [ln for ln in r.stdout.splitlines() if ln.strip()]
        if len(outs) != len(lines):
            report(False, "engine_" + name, "%d output lines for %d inputs" % (len(outs), len(lines)))
            continue
        worst, why = 0.0, None
        for k, ((ids, types, valid), out) in enumerate(zip(lines, outs)):
            try:
                o = json.loads(out)
                lg, en = np.array(o["logits"], np.float64), np.array(o["entropies"], np.float64)
            except Exception as e:
                why = "line %d: bad JSON (%s): %.100s" % (k + 1, e, out)
                break
            rl, re_ = ar.forward(cfg, stored, ids, types, valid)
            e = max(rel_err(lg, rl), rel_err(en, re_))
            if e > worst:
                worst = e
            if e > TOL and why is None:
                if lg.shape != rl.shape or en.shape != re_.shape:
                    why = "input %d: engine shapes %s/%s, reference %s/%s" % (
                        k + 1, lg.shape, en.shape, rl.shape, re_.shape)
                else:
                    per = [max(rel_err(lg[j], rl[j]), rel_err(en[j], re_[j])) for j in range(len(rl))]
                    j = int(np.argmax(per))
                    why = ("input %d (n=%d%s): rel err %.2e at layer %d: logits %s vs ref %s, "
                           "entropy %.7g vs ref %.7g") % (
                        k + 1, len(ids), ", padded" if valid else "", e, j + 1,
                        np.array2string(lg[j], precision=6), np.array2string(rl[j], precision=6),
                        en[j], re_[j])
        report(why is None, "engine_" + name, why or "max rel err %.1e over %d inputs" % (worst, len(lines)))


def main():
    with tempfile.TemporaryDirectory(prefix="eb_albert_ref_") as tmp:
        self_test_safetensors(tmp)
        self_test_sensitivity()
        self_test_adapters_matter()
        self_test_torch(tmp)
        engine_tests(tmp)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
