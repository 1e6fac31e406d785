"""Bundle checksums of the shipped models, checked with python3-xxhash (an
implementation of XXH3 independent of the C code), and through the command
line: a changed byte in each section is refused naming the section, a
version 1 file (written here from the shipped one) loads with a warning and
`edgebert pack --from` turns it back into the shipped file byte for byte;
`edgebert info` shows the format, the version and the checksums."""
import json
import os
import shutil
import struct
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXE = os.path.join(ROOT, os.environ.get("EB_BUILD", "build"), "edgebert")
MODELS = [os.path.join(ROOT, "models", m) for m in ("default.ebb", "adapters.ebb")]

fails = 0


def check(name, ok, why=""):
    global fails
    if ok:
        print("PASS " + name)
    else:
        fails += 1
        print("FAIL %s: %s" % (name, why))


def a64(x):
    return (x + 63) // 64 * 64


def parse(data):
    """Fixed header fields, the JSON directory and the payload sections
    (label as the loader names them, desc, off, bytes, end), sorted."""
    magic, version, flags, h, p, total = struct.unpack_from("<8sIIQQQ", data, 0)
    fixed = 40 if version == 1 else 64
    root = json.loads(data[fixed:fixed + h])
    secs = []
    if "tokenizer" in root:
        secs.append(("the tokenizer", root["tokenizer"]))
    for k, d in root["shared"].items():
        secs.append(("shared tensor '%s'" % k, d))
    for t in root["tasks"]:
        for k, d in t["tensors"].items():
            secs.append(("tensor '%s' of task %s" % (k, t["name"]), d))
        if "lut" in t:
            secs.append(("the exit-predictor table of task %s" % t["name"], t["lut"]))
    secs.sort(key=lambda s: (s[1]["off"], s[1]["bytes"]))
    psize = len(data) - p
    out = []
    for i, (label, d) in enumerate(secs):
        end = secs[i + 1][1]["off"] if i + 1 < len(secs) else psize
        out.append((label, d, d["off"], d["bytes"], end))
    return version, flags, h, p, total, root, out


def run(args, stdin=None):
    return subprocess.run([EXE] + args, input=stdin, capture_output=True, text=True)


def main():
    if not os.path.exists(EXE):
        print("SKIP all: %s not built" % EXE)
        return
    try:
        import xxhash
    except ImportError:
        xxhash = None
        print("SKIP xxh3 values: python3-xxhash missing (tools/install-deps.sh installs it)")
    for path in MODELS:
        name = os.path.basename(path)
        data = open(path, "rb").read()
        version, flags, h, p, total, root, secs = parse(data)
        check(name + " format version 2", version == 2 and root["version"] == 2 and
              root["format"] == "edgebert-bundle" and flags == 0 and total == len(data),
              "version %d / %s, flags %d" % (version, root.get("version"), flags))
        # the sections tile the payload: every byte in exactly one checksum
        covered, ok = 0, True
        for label, d, off, n, end in secs:
            ok &= off == covered and end >= off + n and end - off - n < 64
            ok &= data[p + off + n:p + end] == b"\0" * (end - off - n)
            covered = end
        check(name + " sections cover the payload", ok and covered == len(data) - p)
        if xxhash:
            x3 = xxhash.xxh3_64_intdigest
            fixed_ok = struct.unpack_from("<Q", data, 56)[0] == x3(data[:56])
            json_ok = struct.unpack_from("<Q", data, 40)[0] == x3(data[64:p])
            bad = [label for label, d, off, n, end in secs
                   if d.get("xxh3") != "%016x" % x3(data[p + off:p + end])]
            check(name + " checksums are XXH3-64 of the documented ranges",
                  fixed_ok and json_ok and not bad, "fixed %s json %s, sections %s" % (fixed_ok, json_ok, bad[:3]))

    data = open(MODELS[0], "rb").read()
    version, flags, h, p, total, root, secs = parse(data)
    tmp = tempfile.mkdtemp()
    try:
        ref = run(["classify", "-m", MODELS[0], "--json", "a gorgeous, witty film"])
        check("shipped bundle classifies", ref.returncode == 0 and not ref.stderr, ref.stderr)
        info = run(["info", "--json", MODELS[0]])
        ij = json.loads(info.stdout) if info.returncode == 0 else {}
        check("info --json shows format, version, checksums",
              ij.get("format") == "edgebert-bundle" and ij.get("format_version") == 2 and
              ij.get("checksums") == "xxh3-64" and ij.get("checksums_verified") is True, str(ij)[:200])
        txt = run(["info", MODELS[0]]).stdout
        check("info shows them", "format: edgebert-bundle version 2, checksums: xxh3-64" in txt, txt[:300])

        # one changed byte per section (a tensor of each kind, the padding)
        bad = os.path.join(tmp, "bad.ebb")
        cases = [(20, "checksum mismatch in the fixed header"), (64 + h // 2, "checksum mismatch in the JSON header"),
                 (p - 1, "checksum mismatch in the JSON header")]
        first = root["tasks"][0]["name"]
        wanted = ["the tokenizer", "shared tensor 'albert.embeddings.word_embeddings.weight'",
                  "tensor 'albert.encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight' of task " + first,
                  "tensor 'classifier.weight' of task " + first, "the exit-predictor table of task " + first]
        padded = None
        for label, d, off, n, end in secs:
            if label in wanted:
                cases.append((p + off + n // 2, "checksum mismatch in " + label))
            if end > off + n and padded is None:
                padded = (p + off + n, "checksum mismatch in " + label)  # its padding
        cases.append(padded)
        check("cases cover every kind of section", len(cases) == 9 and None not in cases, str(cases))
        for at, needle in cases:
            c = bytearray(data)
            c[at] ^= 0x20
            open(bad, "wb").write(c)
            r = run(["classify", "-m", bad, "fine"])
            check("byte %d changed: %s" % (at, needle[21:]),
                  r.returncode == 1 and needle in r.stderr and bad in r.stderr, r.stderr.strip()[:300])
        open(bad, "wb").write(data[:-100])
        r = run(["classify", "-m", bad, "fine"])
        check("truncated file refused", r.returncode == 1 and "truncated" in r.stderr, r.stderr.strip())

        # a version 1 file: 40-byte fixed header, no checksums
        for label, d, off, n, end in secs:
            del d["xxh3"]
        root["version"] = 1
        js = json.dumps(root, separators=(",", ":")).encode()
        p1 = a64(40 + len(js))
        old = struct.pack("<8sIIQQQ", b"EBBUNDLE", 1, 0, len(js), p1, p1 + len(data) - p) + js + \
            b" " * (p1 - 40 - len(js)) + data[p:]
        oldp = os.path.join(tmp, "old.ebb")
        open(oldp, "wb").write(old)
        r = run(["classify", "-m", oldp, "--json", "a gorgeous, witty film"])
        check("version 1 loads with a warning", r.returncode == 0 and "version 1 has no checksums" in r.stderr,
              r.stderr.strip()[:300])
        check("version 1 answers as the shipped file", r.stdout == ref.stdout, r.stdout + ref.stdout)
        txt = run(["info", oldp]).stdout
        check("info shows an old file has none", "version 1, checksums: none" in txt, txt[:300])
        new = os.path.join(tmp, "new.ebb")
        r = run(["pack", "--from", oldp, "-o", new])
        check("pack --from rewrites it into the shipped file byte for byte",
              r.returncode == 0 and open(new, "rb").read() == data, r.stderr.strip()[:300])
        r = run(["pack", "--from", bad, "-o", new])
        check("pack --from refuses a damaged file", r.returncode == 1 and "truncated" in r.stderr, r.stderr)
        r = run(["pack", "--from", oldp])
        check("pack --from without -o is a usage error", r.returncode == 2, str(r.returncode))
    finally:
        shutil.rmtree(tmp)
    if fails:
        raise SystemExit(1)


main()
