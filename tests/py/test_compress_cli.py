#!/usr/bin/python3
"""test_compress_cli.py - `edgebert prune` and `edgebert compress-report`.

prune: a random checkpoint (albert_ref.make_checkpoint) is pruned and the
written safetensors is checked with numpy against the rule: every encoder
matrix keeps exactly round(keep * n) entries, the largest |w| ones,
unchanged; each embedding table and the embedding mapping lose exactly the
entries below the P-th percentile of their |w| (numpy's percentile);
everything else is copied bit for bit; spiece.model and exit_lut.csv are
copied; the engine then runs the pruned model like the numpy reference.

compress-report: on a pruned checkpoint packed into an AF8 bundle and on the
checkpoint itself, with a small SST-2-layout file: sizes against numpy's
count of the tensors and `edgebert info --json`, densities against the
pruning, the fp32 accuracy against the numpy reference's predictions on the
engine's token ids, and the af8 accuracy against `edgebert eval --precision
af8`.  Prints PASS/FAIL/SKIP lines; exits 1 on any FAIL.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import albert_ref as ar  # noqa: E402

ROOT = ar.ROOT
BUILD = os.environ.get("EB_BUILD", "build")
EB = os.path.join(ROOT, BUILD, "edgebert")
FAILS = []

ENCODER = (".attention.query.weight", ".attention.key.weight", ".attention.value.weight",
           ".attention.dense.weight", ".ffn.weight", ".ffn_output.weight")
EMBEDDING = ("albert.embeddings.word_embeddings.weight", "albert.embeddings.position_embeddings.weight",
             "albert.embeddings.token_type_embeddings.weight", "albert.encoder.embedding_hidden_mapping_in.weight")


def report(ok, name, why=""):
    if ok:
        print("PASS %s%s" % (name, (" (" + why + ")") if why else ""))
    else:
        print("FAIL %s: %s" % (name, why))
        FAILS.append(name)


def run(args, **kw):
    return subprocess.run([EB] + args, capture_output=True, text=True, **kw)


def make_model(d, spans=True, offramps=True, layers=4, seed=3):
    cfg = ar.albert_config(num_hidden_layers=layers, label_names=["negative", "positive"])
    ar.make_checkpoint(d, cfg, seed=seed, offramps=offramps, spans=spans)
    return cfg


def test_prune(tmp):
    src, out = os.path.join(tmp, "src"), os.path.join(tmp, "pruned")
    make_model(src)
    lut = "0.1,0.2\n"  # copied byte for byte (not loaded here)
    with open(os.path.join(src, "exit_lut.csv"), "w") as f:
        f.write(lut)
    keep, pct = 0.3, 40.0
    r = run(["prune", "--in", src, "--out", out, "--keep", str(keep), "--emb-percentile", str(pct), "--json"])
    report(r.returncode == 0, "prune_runs", r.stderr.strip())
    if r.returncode:
        return
    info = json.loads(r.stdout)
    before, _ = ar.read_safetensors(os.path.join(src, "model.safetensors"))
    after, _ = ar.read_safetensors(os.path.join(out, "model.safetensors"))
    report(sorted(before) == sorted(after), "prune_same_tensors")
    enc_ok, emb_ok, other_ok, n_enc = True, True, True, 0
    why = []
    for name, w in before.items():
        a = after[name]
        if name.endswith(ENCODER) and "albert_layers" in name:
            n_enc += 1
            k = int(np.floor(keep * w.size + 0.5))
            nz = a != 0
            kept_min = np.abs(w[nz]).min() if nz.any() else np.inf
            pruned_max = np.abs(w[~nz]).max() if (~nz).any() else 0
            good = nz.sum() == k and kept_min >= pruned_max and np.array_equal(a[nz], w[nz])
            if not good:
                why.append("%s: %d kept, want %d" % (name, nz.sum(), k))
            enc_ok &= bool(good)
        elif name in EMBEDDING:
            thr = np.percentile(np.abs(w), pct)
            want = np.where(np.abs(w) < thr, 0.0, w)
            good = np.array_equal(a, want)
            if not good:
                why.append("%s: %d zeros, want %d" % (name, (a == 0).sum(), (want == 0).sum()))
            emb_ok &= bool(good)
        else:
            other_ok &= bool(np.array_equal(a, w))
    report(enc_ok and n_enc == 6, "prune_encoder_keep_fraction", "; ".join(why[:3]))
    report(emb_ok, "prune_embedding_percentile", "; ".join(why[:3]))
    report(other_ok, "prune_copies_the_rest")
    report(abs(info["encoder_density"] - keep) < 1e-3 and info["encoder_matrices"] == 6, "prune_json",
           json.dumps(info))
    with open(os.path.join(out, "exit_lut.csv")) as f:
        report(f.read() == lut, "prune_copies_exit_lut")
    spm = os.path.join(src, "spiece.model")
    if os.path.exists(spm):
        with open(spm, "rb") as f1, open(os.path.join(out, "spiece.model"), "rb") as f2:
            report(f1.read() == f2.read(), "prune_copies_spiece")
    c1 = json.load(open(os.path.join(src, "config.json")))
    c2 = json.load(open(os.path.join(out, "config.json")))
    keys = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "embedding_size",
            "vocab_size", "id2label", "edgebert_span_ramp")
    report(all(c1[k] == c2[k] for k in keys), "prune_config")
    # the engine runs the pruned model like the numpy reference (all layers)
    tool = os.path.join(ROOT, BUILD, "tests", "tools", "eb_forward")
    os.remove(os.path.join(out, "exit_lut.csv"))
    ids = [2, 45, 1001, 87, 3]
    p = subprocess.run([tool, out], input=ar.format_input_line(ids) + "\n", capture_output=True, text=True)
    if p.returncode == 0:
        got = np.array(json.loads(p.stdout.splitlines()[0])["logits"])
        ref, _ = ar.forward(c2, after, ids)
        err = np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-3))
        report(err < 1e-4, "prune_engine_runs_pruned_model", "max rel err %.2e" % err)
    else:
        report(False, "prune_engine_runs_pruned_model", p.stderr.strip())
    # usage errors
    bad = [["--in", src, "--out", out, "--keep", "0"], ["--in", src, "--out", out, "--keep", "1.5"],
           ["--in", src, "--out", out], ["--in", src, "--out", src, "--keep", "0.5"],
           ["--in", src, "--out", out, "--keep", "0.5", "--emb-percentile", "100"], ["--bogus"]]
    codes = [run(["prune"] + b).returncode for b in bad]
    report(codes == [2] * len(bad), "prune_usage_errors", str(codes))
    r = run(["prune", "--in", os.path.join(tmp, "nope"), "--out", os.path.join(tmp, "o2"), "--keep", "0.5"])
    report(r.returncode == 1 and "prune" in r.stderr, "prune_missing_input", r.stderr.strip())


SENTENCES = [
    ("a charming and often affecting journey .", 1), ("unflinchingly bleak and desperate", 0),
    ("the acting , costumes , music , cinematography and sound are all astounding", 1),
    ("it 's slow -- very , very slow .", 0), ("a sometimes tedious film .", 0),
    ("the emotions are raw and will strike a nerve with anyone who 's ever had family trauma .", 1),
    ("it 's a cookie-cutter movie , a cut-and-paste job .", 0), ("an enthralling , entertaining feature .", 1),
    ("too much of it feels unfocused and underdeveloped .", 0), ("a gorgeous , witty , seductive movie .", 1),
]


def test_compress_report(tmp):
    spm = os.path.join(ar.shared_data_dir(), "albert", "spiece.model")
    if not os.path.exists(spm):
        print("SKIP compress_report: %s missing (shared data not present)" % spm)
        return
    src, pruned = os.path.join(tmp, "r_src"), os.path.join(tmp, "r_pruned")
    make_model(src, spans=True, offramps=False, seed=9)
    r = run(["prune", "--in", src, "--out", pruned, "--keep", "0.25", "--emb-percentile", "30"])
    report(r.returncode == 0, "report_prune", r.stderr.strip())
    bundle = os.path.join(tmp, "r.ebb")
    r = run(["pack", "-o", bundle, "--task", "sst2=" + pruned])
    report(r.returncode == 0, "report_pack", r.stderr.strip())
    data = os.path.join(tmp, "dev.tsv")
    with open(data, "w") as f:
        f.write("sentence\tlabel\n")
        for s, l in SENTENCES:
            f.write("%s\t%d\n" % (s, l))
    # numpy reference predictions of the pruned checkpoint on the engine's ids
    cfg, w = ar.load_checkpoint(pruned)
    tok = run(["tokenize", "--spm", spm, "--max-len", str(cfg["max_position_embeddings"]), "--json"],
              input="\n".join(s for s, _ in SENTENCES) + "\n")
    preds = []
    for line in tok.stdout.splitlines():
        ids = json.loads(line)["ids"]
        logits, _ = ar.forward(cfg, w, ids)
        preds.append(int(np.argmax(logits[-1])))
    ref_acc = np.mean([p == l for p, (_, l) in zip(preds, SENTENCES)])
    for name, model in (("bundle", bundle), ("checkpoint", pruned)):
        r = run(["compress-report", "-m", model, "--task", "sst2", "--data", data, "--json"])
        report(r.returncode == 0, "report_%s_runs" % name, r.stderr.strip())
        if r.returncode:
            continue
        j = json.loads(r.stdout)
        # fp32 bytes: every tensor of the checkpoint in float32
        fp32 = sum(v.size * 4 for v in w.values())
        report(j["fp32_bytes"] == fp32, "report_%s_fp32_bytes" % name, "%s vs %s" % (j["fp32_bytes"], fp32))
        info = json.loads(run(["info", "--json", model]).stdout)
        stored = info["shared_bytes"] + info["tasks"][0]["task_bytes"]
        report(j["stored_bytes"] == stored and j["file_bytes"] == info["file_bytes"], "report_%s_stored_bytes" % name)
        if name == "bundle":
            report(j["stored_bytes"] < fp32 / 3, "report_bundle_smaller", "%.2fx" % j["compression"])
        else:
            report(j["stored_bytes"] == fp32 and j["compression"] == 1, "report_checkpoint_uncompressed")
        we = w["albert.embeddings.word_embeddings.weight"]
        dens = np.count_nonzero(we) / we.size
        report(abs(j["word_embeddings"]["density"] - dens) < 2e-3, "report_%s_embedding_density" % name,
               "%.4f vs %.4f" % (j["word_embeddings"]["density"], dens))
        report(abs(j["encoder"]["density"] - 0.25) < 2e-3, "report_%s_encoder_density" % name,
               str(j["encoder"]["density"]))
        if name == "checkpoint":
            report(abs(j["fp32"]["accuracy"] - ref_acc) < 1e-9, "report_checkpoint_fp32_accuracy_vs_numpy",
                   "%s vs %s" % (j["fp32"]["accuracy"], ref_acc))
        ev = run(["eval", "-m", model, "--task", "sst2", "--data", data, "--precision", "af8", "--policy", "base",
                  "--json"])
        eva = json.loads(ev.stdout)["accuracy"] if ev.returncode == 0 else None
        report(eva is not None and abs(j["af8"]["accuracy"] - eva) < 1e-9, "report_%s_af8_accuracy_vs_eval" % name,
               "%s vs %s" % (j["af8"]["accuracy"], eva))
        report(0 <= j["label_agreement"] <= 1 and j["n"] == len(SENTENCES)
               and j["fp32"]["mean_flops"] < j["fp32"]["mean_flops_dense"], "report_%s_fields" % name)
    r = run(["compress-report", "-m", bundle, "--task", "sst2"])
    report(r.returncode == 2, "report_usage_error")


def main():
    if not os.path.exists(EB):
        print("SKIP all: %s not built" % EB)
        return 0
    tmp = tempfile.mkdtemp(prefix="eb_compress_cli_")
    try:
        test_prune(tmp)
        test_compress_report(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
