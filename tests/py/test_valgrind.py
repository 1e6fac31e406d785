"""The command-line tool under valgrind: `edgebert classify` over 50 stdin
lines (three policies) and `edgebert eval --limit 20` on a tiny model must
report no memory error and no leak (definite or possible).  SKIP when
valgrind is missing."""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
SHARED = os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
WORDS = ("a gorgeous witty seductive movie the film is strictly routine charming often affecting journey "
         "bleak desperate slow tedious performances keep audience riveted").split()


def main():
    vg = shutil.which("valgrind")
    tool = os.path.join(ROOT, "build", "edgebert")  # the plain build: ASan and valgrind do not mix
    if not vg:
        print("SKIP valgrind: valgrind missing")
        return 0
    if os.environ.get("EB_BUILD", "build") != "build":
        print("SKIP valgrind: runs once, with the plain build (this is the %s run)" % os.environ["EB_BUILD"])
        return 0
    if not os.path.exists(tool):
        print("SKIP valgrind: build/edgebert not built")
        return 0
    try:
        import tiny_model
    except ImportError as e:
        print("SKIP valgrind: %s" % e)
        return 0
    tmp = tempfile.mkdtemp(prefix="eb_valgrind_")
    sp = os.path.join(SHARED, "albert", "spiece.model")
    lut = os.path.join(SHARED, "edgebert", "sst2_exit_lut.csv")
    mdir = tiny_model.make_model(os.path.join(tmp, "m"), spiece=sp if os.path.exists(sp) else None, layers=12,
                                 lut=lut if os.path.exists(lut) else None, seed=7)
    lines = []
    for i in range(50):
        s = " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(3 + i % 9))
        lines.append(s + ("\tis it %s ?" % WORDS[i % len(WORDS)] if i % 5 == 0 else ""))
    stdin = "\n".join(lines) + "\n"
    tsv = os.path.join(tmp, "dev.tsv")
    with open(tsv, "w") as f:
        f.write("sentence\tlabel\n")
        for i, s in enumerate(lines[:30]):
            f.write("%s\t%d\n" % (s.split("\t")[0], i % 2))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    vcmd = [vg, "--quiet", "--leak-check=full", "--errors-for-leak-kinds=definite,possible",
            "--error-exitcode=9"]
    policies = ["base", "ee"] + (["lai"] if os.path.exists(lut) else [])
    runs = [("classify_%s" % p, [tool, "classify", "-m", mdir, "--policy", p, "--json"], stdin) for p in policies]
    runs.append(("eval", [tool, "eval", "-m", mdir, "--data", tsv, "--task", "sst2", "--limit", "20", "--json"],
                 None))
    fails = 0
    for name, cmd, inp in runs:
        r = subprocess.run(vcmd + cmd, input=inp, capture_output=True, text=True, env=env)
        nout = len([ln for ln in r.stdout.splitlines() if ln.startswith("{")])
        want = 50 if name.startswith("classify") else 1
        if r.returncode != 0 or nout != want:
            fails += 1
            print("FAIL valgrind_%s: exit %d, %d JSON lines (want %d)\n%s" % (name, r.returncode, nout, want,
                                                                            r.stderr[-3000:]))
        else:
            print("PASS valgrind_%s" % name)
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
