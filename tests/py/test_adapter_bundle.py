#!/usr/bin/python3
"""test_adapter_bundle.py - adapter-ALBERT bundles.

Three tasks are written as HuggingFace checkpoints that share one backbone
(embeddings, embedding mapping, shared layer: bit-identical) and differ in
their adapters, spans, heads and off-ramps.  `edgebert pack` must store the
backbone once; `edgebert info --json` must report shared_bytes, per task
task_bytes and adapter_bytes, and the separate / EdgeBERT footprints, all
checked against byte counts computed here from the tensors (f32 bundle:
4 bytes a value).  The engine must run every task of the bundle like the
numpy reference (albert_ref.forward) within 1e-4.  A bundle of tasks whose
encoders differ keeps every encoder with its task.  Checkpoints with a
missing or misshapen adapter tensor, or an adapter size above hidden_size,
are refused with a message naming it.
Prints PASS/FAIL/SKIP lines; exits 1 on any FAIL."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import albert_ref as ar  # noqa: E402

BUILD = os.environ.get("EB_BUILD", "build")
ROOT = ar.ROOT
EB = os.path.join(ROOT, BUILD, "edgebert")
FWD = os.path.join(ROOT, BUILD, "tests", "tools", "eb_forward")
FAILS = []


def report(ok, name, why=""):
    if ok:
        print("PASS %s%s" % (name, (" (" + why + ")") if why else ""))
    else:
        print("FAIL %s: %s" % (name, why))
        FAILS.append(name)


def is_backbone(name):
    if ".adapters." in name or name.endswith("attention.span"):
        return False
    return (name.startswith("albert.embeddings.")
            or name.startswith("albert.encoder.embedding_hidden_mapping_in.")
            or name.startswith("albert.encoder.albert_layer_groups."))


def make_tasks(tmp, spiece, r=4, differ=False):
    """Three checkpoints: one backbone (unless differ), own adapters/heads."""
    cfg = ar.albert_config(num_hidden_layers=3, num_labels=2)
    cfg["edgebert_adapter_size"] = r
    base = ar.random_weights(cfg, np.random.default_rng(100), offramps=True)
    dirs, weights = [], []
    for i, name in enumerate(("sst2", "cola", "mrpc")):
        c = dict(cfg, num_labels=3) if name == "mrpc" else dict(cfg)
        if name == "mrpc":
            c.update(ar.albert_config(num_hidden_layers=3, num_labels=3))
            c["edgebert_adapter_size"] = r
        w = ar.random_weights(c, np.random.default_rng(200 + i), offramps=True, spans=(i == 1),
                              span_ramp=4.0)
        for k in w:
            if is_backbone(k) and not (differ and k.startswith("albert.encoder.albert_layer_groups")):
                w[k] = base[k]
        d = os.path.join(tmp, name)
        os.makedirs(d, exist_ok=True)
        ar.write_safetensors(os.path.join(d, "model.safetensors"),
                             {k: (v, "F32") for k, v in w.items()}, {"format": "pt"})
        if i == 1:
            c["edgebert_span_ramp"] = 4.0
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(c, f)
        import shutil
        shutil.copyfile(spiece, os.path.join(d, "spiece.model"))
        dirs.append((name, d, c))
        weights.append({k: ar.quantize(v, "F32") for k, v in w.items()})
    return dirs, weights


def pack_and_info(tmp, dirs, fmt):
    out = os.path.join(tmp, "b_%s.ebb" % fmt)
    args = [EB, "pack", "-o", out, "--weights", fmt]
    for name, d, _ in dirs:
        args += ["--task", "%s=%s" % (name, d)]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        return out, None, "pack exit %d: %s" % (r.returncode, r.stderr[-300:])
    r = subprocess.run([EB, "info", "-m", out, "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        return out, None, "info exit %d: %s" % (r.returncode, r.stderr[-300:])
    return out, json.loads(r.stdout), None


def bad_checkpoints(tmp):
    """A config with edgebert_adapter_size needs every adapter tensor of the
    right shape, and a size up to hidden_size; the loader says which."""
    cfg = ar.albert_config(num_hidden_layers=2)
    cfg["edgebert_adapter_size"] = 4
    w = ar.random_weights(cfg, np.random.default_rng(1))
    cases = []
    missing = dict(w)
    gone = "albert.encoder.albert_layer_groups.0.albert_layers.0.adapters.1.ffn.up.weight"
    del missing[gone]
    cases.append(("missing", cfg, missing, gone))
    shape = dict(w)
    bad = "albert.encoder.albert_layer_groups.0.albert_layers.0.adapters.0.attn.down.weight"
    shape[bad] = np.zeros((5, cfg["hidden_size"]))
    cases.append(("shape", cfg, shape, bad))
    big = dict(cfg, edgebert_adapter_size=cfg["hidden_size"] + 1)
    cases.append(("too_large", big, w, "edgebert_adapter_size"))
    for name, c, ws, want in cases:
        d = os.path.join(tmp, "bad_" + name)
        os.makedirs(d)
        ar.write_safetensors(os.path.join(d, "model.safetensors"),
                             {k: (v, "F32") for k, v in ws.items()}, {"format": "pt"})
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(c, f)
        r = subprocess.run([FWD, d], input="2 7 3\n", capture_output=True, text=True)
        report(r.returncode == 1 and want in r.stderr, "adapter_load_error_" + name,
               "exit %d: %s" % (r.returncode, r.stderr.strip()[-160:]))


def main():
    spiece = os.path.join(ar.shared_data_dir(), "albert", "spiece.model")
    if not os.access(EB, os.X_OK):
        print("SKIP adapter_bundle: %s not built" % EB)
        return 0
    if not os.path.exists(spiece):
        print("SKIP adapter_bundle: shared data missing (%s)" % spiece)
        return 0
    with tempfile.TemporaryDirectory(prefix="eb_adapter_bundle_") as tmp:
        bad_checkpoints(tmp)
        dirs, weights = make_tasks(tmp, spiece)
        out, info, why = pack_and_info(tmp, dirs, "f32")
        if info is None:
            report(False, "adapter_bundle_pack_info", why)
            return 1
        # byte counts from the tensors themselves (f32: 4 bytes a value)
        w0 = weights[0]
        shared = sum(4 * v.size for k, v in w0.items() if is_backbone(k))
        emb = sum(4 * w0[k].size for k in w0 if k.endswith("_embeddings.weight"))
        own = [sum(4 * v.size for k, v in w.items() if not is_backbone(k)) for w in weights]
        ad = [sum(4 * v.size for k, v in w.items() if ".adapters." in k) for w in weights]
        errs = []
        if info["shared_bytes"] != shared:
            errs.append("shared_bytes %d, want %d" % (info["shared_bytes"], shared))
        for t, want, a in zip(info["tasks"], own, ad):
            if t["task_bytes"] != want:
                errs.append("%s task_bytes %d, want %d" % (t["name"], t["task_bytes"], want))
            if t["adapter_bytes"] != a or t["adapter_size"] != 4:
                errs.append("%s adapter_bytes %d / size %s, want %d / 4" % (
                    t["name"], t["adapter_bytes"], t.get("adapter_size"), a))
        sep = sum(shared + o - a for o, a in zip(own, ad))
        edg = emb + sum(shared - emb + o - a for o, a in zip(own, ad))
        if info["separate_bytes"] != sep:
            errs.append("separate_bytes %d, want %d" % (info["separate_bytes"], sep))
        if info["edgebert_bytes"] != edg:
            errs.append("edgebert_bytes %d, want %d" % (info["edgebert_bytes"], edg))
        if info["multi_task_bytes"] != shared + sum(own):
            errs.append("multi_task_bytes %d" % info["multi_task_bytes"])
        names = {e["name"] for e in info["shared"]}
        if any(".adapters." in n or "span" in n or "highway" in n or "classifier" in n for n in names):
            errs.append("task tensors under shared: %s" % sorted(n for n in names if "adapters" in n)[:3])
        fsize = os.path.getsize(out)
        if not fsize < info["tokenizer_bytes"] + shared + sum(own) + 64 * 1024:
            errs.append("file %d bytes: the backbone is stored more than once?" % fsize)
        # task switch: the adapter arrangement reloads the task's own part, the
        # EdgeBERT one its encoder too; the same cost a byte
        for t, o, a in zip(info["tasks"], own, ad):
            sa, se = t["task_switch"]["adapter"], t["task_switch"]["edgebert"]
            if sa["bytes"] != o or se["bytes"] != shared - emb + o - a:
                errs.append("%s reload bytes %d / %d" % (t["name"], sa["bytes"], se["bytes"]))
            elif abs(sa["energy_uj"] / sa["bytes"] - se["energy_uj"] / se["bytes"]) > 1e-12 or \
                    not 0 < sa["time_us"] < se["time_us"]:
                errs.append("%s reload costs %s" % (t["name"], t["task_switch"]))
        mem = info["accelerator_memory"]
        if mem["adapter"]["reram_bytes"] != shared or mem["edgebert"]["reram_bytes"] != emb:
            errs.append("accelerator_memory %s" % mem)
        report(not errs, "adapter_bundle_footprints",
               "; ".join(errs) if errs else "shared %d B, per task %s B, separate %d B" % (
                   shared, own, sep))

        # every task of the bundle runs like numpy (f32 bundle: exact weights)
        rng = np.random.default_rng(4)
        lines = [[2] + [int(t) for t in rng.integers(5, 30000, n)] + [3] for n in (3, 11, 30)]
        text = "".join(" ".join(map(str, ids)) + "\n" for ids in lines)
        for (name, d, c), w in zip(dirs, weights):
            for mode in ([], ["--ex", "fp32"]):
                r = subprocess.run([FWD] + mode + ["--task", name, out], input=text,
                                   capture_output=True, text=True)
                tag = "adapter_bundle_engine_%s%s" % (name, "_ex" if mode else "")
                if r.returncode != 0:
                    report(False, tag, r.stderr[-300:])
                    continue
                worst = 0.0
                for ids, o in zip(lines, r.stdout.splitlines()):
                    lg = np.array(json.loads(o)["logits"])
                    ref, _ = ar.forward(c, w, ids)
                    worst = max(worst, float(np.abs(lg - ref).max() / max(np.abs(ref).max(), 1e-3)))
                report(worst < 1e-4, tag, "max rel err %.1e" % worst)

        # af8 bundle: still one backbone; the af8 path runs every task
        out8, info8, why = pack_and_info(tmp, dirs, "af8")
        ok = info8 is not None and info8["shared_bytes"] < shared / 3
        if ok:
            for name, _, _ in dirs:
                r = subprocess.run([FWD, "--ex", "af8", "--task", name, out8], input=text,
                                   capture_output=True, text=True)
                ok &= r.returncode == 0 and len(r.stdout.splitlines()) == len(lines)
        report(ok, "adapter_bundle_af8", why or ("shared %d B" % info8["shared_bytes"]
                                                 if info8 else ""))

        # tasks whose encoders differ: only the embeddings are shared
        dd, wd = make_tasks(os.path.join(tmp, "differ"), spiece, differ=True)
        _, infod, why = pack_and_info(tmp, dd, "f32")
        if infod is None:
            report(False, "adapter_bundle_different_encoders", why)
        else:
            wd0 = wd[0]
            want = sum(4 * v.size for k, v in wd0.items()
                       if is_backbone(k) and not k.startswith("albert.encoder.albert_layer_groups"))
            report(infod["shared_bytes"] == want, "adapter_bundle_different_encoders",
                   "shared_bytes %d, want %d" % (infod["shared_bytes"], want))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
