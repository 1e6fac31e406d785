"""edgebert cells: thresholds and fault probabilities of the ReRAM cell model
against an independent Python computation (bisection on the log-density
difference, tail probabilities with math.erfc)."""
import json
import math
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXE = os.path.join(ROOT, os.environ.get("EB_BUILD", "build"), "edgebert")

TABLES = {
    "slc": [(0, .008646), (1, .0034)],
    "mlc2": [(0, .008646), (.384644, .033511), (.721657, .027417), (1, .0034)],
    "mlc3": [(0, .008646), (.078262, .013458), (.20382, .030416), (.384644, .033511),
             (.54212, .024829), (.721657, .027417), (.886116, .037191), (1, .0034)],
}
AREA = {"slc": 0.28, "mlc2": 0.08, "mlc3": 0.04}
LAT = {"slc": 1.21, "mlc2": 1.54, "mlc3": 2.96}

fails = 0


def check(name, ok, why=""):
    global fails
    if ok:
        print("PASS " + name)
    else:
        fails += 1
        print("FAIL %s: %s" % (name, why))


def crossing(lo, hi):
    (m1, s1), (m2, s2) = lo, hi

    def f(x):
        return (-math.log(s1) - (x - m1) ** 2 / (2 * s1 * s1)) - \
               (-math.log(s2) - (x - m2) ** 2 / (2 * s2 * s2))
    a, b = m1, m2
    for _ in range(200):
        mid = (a + b) / 2
        if f(mid) > 0:
            a = mid
        else:
            b = mid
    return (a + b) / 2


def rel_ok(got, want, tol=1e-6):
    if want == 0 or want < 1e-300:
        return got < 1e-300
    return abs(got / want - 1) < tol


def run(*args):
    return subprocess.run([EXE, *args], capture_output=True, text=True)


def main():
    if not os.access(EXE, os.X_OK):
        print("SKIP cells_cli: %s not built" % EXE)
        return 0
    r = run("cells", "--json")
    check("cells_json_rc", r.returncode == 0, r.stderr)
    out = json.loads(r.stdout)
    kinds = {k["cells"]: k for k in out["results"]}
    check("cells_kinds", sorted(kinds) == ["mlc2", "mlc3", "slc"], str(sorted(kinds)))
    for name, levels in TABLES.items():
        k = kinds[name]
        ok = k["bits"] == int(math.log2(len(levels)))
        ok &= k["area_mm2_per_mb"] == AREA[name] and k["read_latency_ns"] == LAT[name]
        worst = ""
        rate = 0.0
        for j in range(len(levels) - 1):
            th = crossing(levels[j], levels[j + 1])
            up = 0.5 * math.erfc((th - levels[j][0]) / levels[j][1] / math.sqrt(2))
            down = 0.5 * math.erfc((levels[j + 1][0] - th) / levels[j + 1][1] / math.sqrt(2))
            rate += up + down
            b = k["boundaries"][j]
            if abs(b["threshold"] - th) > 1e-9 or not rel_ok(b["p_up"], up) or \
                    not rel_ok(b["p_down"], down):
                ok = False
                worst = "boundary %d: %r vs (%g, %g, %g)" % (j, b, th, up, down)
        ok &= rel_ok(k["fault_rate"], rate / len(levels)) if rate > 0 else k["fault_rate"] == 0
        check("cells_" + name, ok, worst)
    # the facts sheet's ranges
    m3 = [p for b in kinds["mlc3"]["boundaries"] for p in (b["p_up"], b["p_down"])]
    check("cells_mlc3_range", 1.4e-4 < min(m3) < 1.6e-4 and 6.2e-3 < max(m3) < 6.4e-3,
          "%g .. %g" % (min(m3), max(m3)))
    m2 = max(p for b in kinds["mlc2"]["boundaries"] for p in (b["p_up"], b["p_down"]))
    check("cells_mlc2_range", 1.3e-8 < m2 < 1.9e-8, "%g" % m2)
    # a user table
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("# two levels, equal sigma\n0.2 0.05\n0.6, 0.05\n")
        path = f.name
    try:
        r = run("cells", "--table", path, "--json")
        b = json.loads(r.stdout)["results"][0]["boundaries"][0] if r.returncode == 0 else {}
        want = 0.5 * math.erfc(0.2 / 0.05 / math.sqrt(2))
        check("cells_user_table", r.returncode == 0 and abs(b["threshold"] - 0.4) < 1e-12
              and rel_ok(b["p_up"], want) and rel_ok(b["p_down"], want), r.stderr + str(b))
        with open(path, "w") as f:
            f.write("0.2 0.05\n0.1 0.05\n")
        r = run("cells", "--table", path)
        check("cells_bad_table", r.returncode == 2 and "edgebert cells:" in r.stderr, r.stderr)
    finally:
        os.unlink(path)
    r = run("cells", "--cells", "tlc")
    check("cells_bad_kind", r.returncode == 2 and "unknown cell kind" in r.stderr, r.stderr)
    r = run("cells", "--bogus")
    check("cells_bad_option", r.returncode == 2, r.stderr)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
