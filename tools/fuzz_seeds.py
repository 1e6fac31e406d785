#!/usr/bin/python3
"""fuzz_seeds.py OUT EDGEBERT [SHARED_DATA] - seed corpora for fuzz/fuzz_*.

Writes OUT/<harness>/<seed> from the real files in SHARED_DATA (default
$EB_SHARED_DATA or ../shared/data; skipped when missing), from models/ and
from a tiny random model written here (tests/py/tiny_model.py) and packed
into bundles with EDGEBERT pack.  Nothing here is committed: `make fuzz`
regenerates it under build-fuzz/seeds.
"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "py"))
import tiny_model  # noqa: E402

TASKS = ["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"]  # eb_task order
GLUE = {"cola": "CoLA/dev.tsv", "sst2": "SST-2/dev.tsv", "mrpc": "MRPC/dev.tsv", "stsb": "STS-B/dev.tsv",
        "qnli": "QNLI/dev_even.tsv", "rte": "RTE/dev.tsv"}


def head(path, lines, max_bytes=None):
    with open(path, "rb") as f:
        data = b"".join(f.readline() for _ in range(lines))
    return data[:max_bytes] if max_bytes else data


def put(out, harness, name, data):
    d = os.path.join(out, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, tool = sys.argv[1], sys.argv[2]
    shared = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("EB_SHARED_DATA", "../shared/data")
    have = os.path.isdir(shared)
    if not have:
        print("fuzz_seeds: %s missing: seeds from our own files only" % shared)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    lut = os.path.join(shared, "edgebert", "sst2_exit_lut.csv")
    lut = lut if os.path.exists(lut) else None
    # tiny models: two tasks sharing embeddings (same seed for the embeddings
    # is not possible with independent seeds, so --allow-different-embeddings)
    work = os.path.join(out, "_work")
    a = tiny_model.make_model(os.path.join(work, "a"), layers=12, lut=lut, seed=1)
    b = tiny_model.make_model(os.path.join(work, "b"), spiece=os.path.join(a, "spiece.model"),
                              layers=4, labels=3, seed=2)
    for f in ("config.json",):
        put(out, "config", "tiny12_" + f, open(os.path.join(a, f), "rb").read())
        put(out, "config", "tiny4_" + f, open(os.path.join(b, f), "rb").read())
    # bodies of POST /v1/classify (edgebert serve)
    for i, body in enumerate([
            b'{"text": "a fine film"}',
            b'{"text": "a man", "text_b": "a person", "task": "mrpc", "policy": "lai", '
            b'"threshold": 0.3, "latency_target_ms": 20, "precision": "af8", "batch": false}',
            b'{"texts": ["good", ["a", "b"], "bad \\u00e9"]}',
            b'{"text": null}', b'{"texts": []}', b'[1, 2]', b'{"text": "x", "text": "y"}']):
        put(out, "serve_request", "body%d.json" % i, body)
    put(out, "safetensors", "tiny4.safetensors", open(os.path.join(b, "model.safetensors"), "rb").read())
    for name, d in (("tiny4", b), ("tiny12", a)):
        cfg = open(os.path.join(d, "config.json"), "rb").read()
        st = open(os.path.join(d, "model.safetensors"), "rb").read()
        put(out, "modeldir", name, len(cfg).to_bytes(4, "little") + cfg + st)
    put(out, "spiece", "tiny.model", open(os.path.join(a, "spiece.model"), "rb").read())
    for w in ("f32", "af8"):
        dst = os.path.join(work, "t_%s.ebb" % w)
        subprocess.run([tool, "pack", "-o", dst, "--task", "sst2=" + a, "--task", "mnli=" + b, "--weights", w,
                        "--allow-different-embeddings"], check=True, stdout=subprocess.DEVNULL)
        put(out, "bundle", "tiny_%s.ebb" % w, open(dst, "rb").read())
    params = os.path.join(HERE, "..", "models", "accelerator.params")
    if os.path.exists(params):
        put(out, "hwparams", "accelerator.params", open(params, "rb").read())
    put(out, "hwparams", "small.params", b"# comment\nvdd_min = 0.5\nfreq_max_mhz=1000\n\n")
    put(out, "trace", "small.txt", b"0.69, 0.5, 0.1\n0.3,0.2,0.01\n\n0.6,0.6,0.6\n")
    put(out, "lut", "small.csv", b"\x02" + b"0.0,0.5,0.4\n0.5,0.3,0.1\n")
    for i, t in enumerate(TASKS):
        put(out, "glue", "small_%s.tsv" % t, bytes([i]) + b"sentence\tlabel\nit is good .\t1\n")
    if have:
        sp = os.path.join(shared, "albert", "spiece.model")
        if os.path.exists(sp):
            put(out, "spiece", "albert.model", open(sp, "rb").read())
        ent = os.path.join(shared, "edgebert", "sst2_dev_layer_entropies.txt")
        if os.path.exists(ent):
            put(out, "trace", "sst2_dev_head.txt", head(ent, 40))
        if lut:
            put(out, "lut", "sst2_exit_lut.csv", b"\x02" + open(lut, "rb").read())
        for t, rel in GLUE.items():
            p = os.path.join(shared, "glue", rel)
            if os.path.exists(p):
                put(out, "glue", t + "_dev_head.tsv", bytes([TASKS.index(t)]) + head(p, 25, 8192))
    shutil.rmtree(work)
    n = sum(len(fs) for _, _, fs in os.walk(out))
    print("fuzz_seeds: %d seeds in %s" % (n, out))


if __name__ == "__main__":
    main()
