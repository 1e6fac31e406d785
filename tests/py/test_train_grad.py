"""The trainer's whole-model gradients (tests/tools/eb_grad) against PyTorch
autograd in float64 on small random ALBERTs: padding, shared layers applied
several times, layer groups and inner layers, off-ramps, adaptive spans in
their ramp, every activation.  Tolerance: 1e-4 relative to the largest
gradient of each tensor."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import torch  # noqa: E402

import eb_torch_albert as ref  # noqa: E402

BUILD = os.environ.get("EB_BUILD", "build")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TOOL = os.path.join(ROOT, BUILD, "tests", "tools", "eb_grad")

failed = False


def case(name, cfg, span=None, ramps=False, seed=0, mlm=False):
    global failed
    rng = np.random.default_rng(seed)
    tensors = ref.random_model(cfg, rng, span=span, ramps=ramps, mlm=mlm)
    B, lens = 4, [7, 3, 5, 1]
    T = max(lens)
    ids = rng.integers(0, cfg["vocab_size"], (B, T))
    types = rng.integers(0, cfg["type_vocab_size"], (B, T))
    labels = rng.integers(0, cfg["num_labels"], B)
    valid = np.array([[t < n for t in range(T)] for n in lens])
    # masked-LM labels: about a third of the real positions, -1 elsewhere
    mlab = np.where(valid & (rng.random((B, T)) < 0.35), rng.integers(0, cfg["vocab_size"], (B, T)), -1)
    mlab[0, 0] = 3
    lines = []
    for b in range(B):
        lines.append("%d\t%s\t%s" % (labels[b], " ".join(map(str, ids[b, :lens[b]])),
                                     " ".join(map(str, types[b, :lens[b]]))))
        if mlm:
            lines[-1] += "\t" + " ".join(map(str, mlab[b, :lens[b]]))
    with tempfile.TemporaryDirectory() as d:
        ref.save_model(d, cfg, tensors)
        r = subprocess.run([TOOL, d], input="\n".join(lines) + "\n", capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL %s: eb_grad exited %d: %s" % (name, r.returncode, r.stderr.strip()))
        failed = True
        return
    got = json.loads(r.stdout)
    w = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in tensors.items()}
    # padded positions carry id 0 / type 0 in the C tool
    ids_t = torch.tensor(np.where(valid, ids, 0))
    types_t = torch.tensor(np.where(valid, types, 0))
    R = cfg.get("edgebert_span_ramp", 32.0)
    mo = [] if mlm else None
    main, rl = ref.forward(cfg, w, ids_t, types_t, torch.tensor(valid), ramp_R=R, mlm_out=mo)
    lab = torch.tensor(labels)
    ce = torch.nn.functional.cross_entropy
    loss = ce(main, lab) + sum((ce(x, lab) for x in rl), torch.zeros((), dtype=torch.float64))
    if mlm:
        sel = torch.tensor(mlab.reshape(-1) >= 0)
        V = cfg["vocab_size"]
        loss = loss + ce(mo[0].reshape(-1, V)[sel], torch.tensor(mlab.reshape(-1))[sel])
    if span is not None:
        for k, v in w.items():
            if k.endswith("attention.span"):
                loss = loss + 0.01 * torch.clamp(v + R, min=0).sum()
    loss.backward()
    errs = []
    if abs(got["loss"] - loss.item()) > 1e-4 * max(1.0, abs(loss.item())):
        errs.append("loss %.8g vs torch %.8g" % (got["loss"], loss.item()))
    for k, v in w.items():
        if k not in got["grads"]:
            errs.append("gradient of %s missing" % k)
            continue
        g = np.array(got["grads"][k]).reshape(v.shape)
        t = v.grad.numpy()
        scale = max(np.abs(t).max(), 1e-3)  # key biases have exact zero gradient
        e = np.abs(g - t).max() / scale
        if e > 1e-4:
            errs.append("%s: max rel err %.3g (scale %.3g)" % (k, e, scale))
    if errs:
        print("FAIL %s: %s" % (name, "; ".join(errs[:6])))
        failed = True
    else:
        print("PASS %s" % name)


def main():
    if not os.path.exists(TOOL):
        print("SKIP train_grad: %s not built" % TOOL)
        return 0
    base = dict(vocab_size=30, embedding_size=6, hidden_size=12, num_hidden_layers=3,
                num_hidden_groups=1, inner_group_num=1, num_attention_heads=3,
                intermediate_size=20, max_position_embeddings=16, type_vocab_size=2,
                num_labels=2, hidden_act="gelu_new", layer_norm_eps=1e-12)
    case("grad_plain_shared_layer", base)
    case("grad_offramps", base, ramps=True, seed=1)
    c = dict(base, edgebert_span_ramp=2.0)
    case("grad_span_and_ramps", c, span=[1.3, 0.4, 3.5], ramps=True, seed=2)
    c = dict(base, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2, hidden_act="gelu",
             num_labels=3, layer_norm_eps=1e-5)
    case("grad_groups_inner_gelu", c, seed=3)
    c = dict(base, hidden_act="relu")
    case("grad_relu", c, seed=4)
    # adapter-ALBERT: per-application adapters on a shared layer, off-ramps
    c = dict(base, edgebert_adapter_size=4)
    case("grad_adapters_ramps", c, ramps=True, seed=5)
    c = dict(base, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2, hidden_act="relu",
             edgebert_adapter_size=3)
    case("grad_adapters_groups_inner", c, seed=6)
    # masked-LM pretraining head (decoder tied to the word embeddings), with off-ramps
    case("grad_mlm_head_ramps", base, ramps=True, seed=7, mlm=True)
    c = dict(base, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2, hidden_act="gelu")
    case("grad_mlm_groups_gelu", c, seed=8, mlm=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
