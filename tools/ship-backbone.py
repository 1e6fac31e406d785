#!/usr/bin/env python3
"""Turn a masked-LM pretraining checkpoint of `edgebert train --phase mlm` into the
shipped backbone: a HuggingFace ALBERT directory (config.json, model.safetensors,
spiece.model) with the weights in bf16 (round to nearest even) or f16.

Kept: the embeddings, the encoder, the pooler and the masked-LM head
(`predictions.*`, HuggingFace's AlbertForMaskedLM names; the decoder is tied to the
word embeddings and not stored).  Left out: the classifier, the off-ramps and
anything else a task adds.  config.json gains `architectures` and `model_type` as
HuggingFace writes them; edgebert_* keys of a task are dropped.

usage: tools/ship-backbone.py SRC_DIR OUT_DIR [--dtype bf16|f16]"""
import json
import os
import shutil
import struct
import sys

import numpy as np

KEEP = ("albert.embeddings.", "albert.encoder.", "albert.pooler.", "predictions.")
DROP = ("albert.encoder.highway.",)


def fail(msg):
    sys.exit("ship-backbone: " + msg)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        fail("%s: too short for a safetensors file" % path)
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        fail("%s: header length %d runs past the end of the file" % (path, n))
    head = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            fail("%s: tensor %s has dtype %s (an F32 checkpoint expected)" % (path, name, t["dtype"]))
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(body[a:b], dtype="<f4").reshape(t["shape"])
    return out


def to_bf16(x):
    """float32 -> bf16 bits, round to nearest even."""
    u = np.ascontiguousarray(x, dtype="<f4").view("<u4").astype(np.uint64)
    r = ((u >> 16) & 1) + 0x7FFF
    return ((u + r) >> 16).astype("<u2")


def write_safetensors(path, tensors, dtype):
    head, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        x = tensors[name]
        if not np.all(np.isfinite(x)):
            fail("tensor %s holds a NaN or an infinity" % name)
        if dtype == "bf16":
            b = to_bf16(x).tobytes()
        else:
            if np.abs(x).max(initial=0) > 65504:
                fail("tensor %s does not fit f16 (largest magnitude %g)" % (name, np.abs(x).max()))
            b = np.ascontiguousarray(x, dtype="<f2").tobytes()
        head[name] = {"dtype": "BF16" if dtype == "bf16" else "F16", "shape": list(x.shape),
                      "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(head, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    dtype = "bf16"
    if "--dtype" in argv:
        i = argv.index("--dtype")
        if i + 1 >= len(argv) or argv[i + 1] not in ("bf16", "f16"):
            fail("--dtype takes bf16 or f16")
        dtype = argv[i + 1]
        args.remove(argv[i + 1])
    if len(args) != 2:
        sys.exit(__doc__)
    src, out = args
    for f in ("config.json", "model.safetensors", "spiece.model"):
        if not os.path.isfile(os.path.join(src, f)):
            fail("%s: %s missing" % (src, f))
    w = read_safetensors(os.path.join(src, "model.safetensors"))
    kept = {k: v for k, v in w.items() if k.startswith(KEEP) and not k.startswith(DROP)}
    if "predictions.bias" not in kept:
        fail("%s: no masked-LM head (predictions.*): not a --phase mlm checkpoint" % src)
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    cfg = {k: v for k, v in cfg.items() if not k.startswith("edgebert_")}
    cfg.pop("id2label", None)
    cfg.pop("label2id", None)
    cfg.pop("num_labels", None)
    if "layer_norm_eps" in cfg:  # the trainer writes the float32 value back in full
        cfg["layer_norm_eps"] = float("%.6g" % cfg["layer_norm_eps"])
    cfg["architectures"] = ["AlbertForMaskedLM"]
    cfg["model_type"] = "albert"
    cfg["torch_dtype"] = "bfloat16" if dtype == "bf16" else "float16"
    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "model.safetensors"), kept, dtype)
    tmp = os.path.join(out, "config.json.tmp")
    with open(tmp, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(out, "config.json"))
    shutil.copyfile(os.path.join(src, "spiece.model"), os.path.join(out, "spiece.model"))
    size = sum(os.path.getsize(os.path.join(out, f))
               for f in ("config.json", "model.safetensors", "spiece.model"))
    print("ship-backbone: %d tensors (%s) -> %s, %.2f MiB" % (len(kept), dtype, out, size / 2**20))


if __name__ == "__main__":
    main(sys.argv[1:])
