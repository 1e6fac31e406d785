"""make install into a temporary prefix: library (static, shared with
soname), headers, tool, pkg-config file, man page, models; a tiny C program
(tests/install/hello.c) built with `pkg-config --cflags --libs edgebert`
against the installed library runs a tiny model; every subcommand has a
complete --help and a section in the man page naming all its options."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
failures = 0


def check(name, fn):
    global failures
    try:
        why = fn()
        print("SKIP %s: %s" % (name, why) if why else "PASS %s" % name)
    except Exception as e:  # noqa: BLE001
        failures += 1
        print("FAIL %s: %s" % (name, e))


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    return r


def main():
    tool = os.path.join(ROOT, "build", "edgebert")
    if not os.path.exists(os.path.join(ROOT, "build", "libedgebert.so")) or not os.path.exists(tool):
        print("SKIP install: build/ not built (the install test uses the plain build)")
        return 0
    tmp = tempfile.mkdtemp(prefix="eb_install_")
    prefix = os.path.join(tmp, "prefix")

    def install():
        # a clean make environment: not the SAN=1 / jobserver flags of an enclosing `make test`
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
        run(["make", "-s", "install", "PREFIX=" + prefix, "BUILD=build", "SAN=0", "TSAN=0"], cwd=ROOT, env=env)
        for rel in ("lib/libedgebert.a", "lib/libedgebert.so", "lib/libedgebert.so.0", "include/edgebert.h",
                    "include/edgebert/hw.h", "bin/edgebert", "lib/pkgconfig/edgebert.pc",
                    "share/man/man1/edgebert.1", "share/edgebert/models/accelerator.params"):
            assert os.path.exists(os.path.join(prefix, rel)), rel + " not installed"
        so = run(["readelf", "-d", os.path.join(prefix, "lib", "libedgebert.so")]).stdout
        assert "Library soname: [libedgebert.so.0]" in so, so
        assert os.path.islink(os.path.join(prefix, "lib", "libedgebert.so"))
        run([os.path.join(prefix, "bin", "edgebert"), "--help"])

    def hello():
        if not shutil.which("pkg-config"):
            return "pkg-config missing"
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
        flags = run(["pkg-config", "--cflags", "--libs", "edgebert"], env=env).stdout.split()
        assert "-ledgebert" in flags and any(f == "-I" + os.path.join(prefix, "include") for f in flags), flags
        exe = os.path.join(tmp, "hello")
        run(["cc", "-std=c11", "-Wall", "-Werror", os.path.join(ROOT, "tests", "install", "hello.c"), "-o", exe]
            + flags)
        need = run(["readelf", "-d", exe]).stdout
        assert "libedgebert.so.0" in need, need
        try:
            import tiny_model
            mdir = tiny_model.make_model(os.path.join(tmp, "model"), layers=4)
        except ImportError as e:
            return "numpy/sentencepiece missing: %s" % e
        env["LD_LIBRARY_PATH"] = os.path.join(prefix, "lib")
        out = run([exe, mdir, "a gorgeous movie"], env=env).stdout
        m = re.match(r"label=(negative|positive) exit_layer=4 layers=4 energy_uj=([0-9.e+-]+)\n$", out)
        assert m and float(m.group(2)) > 0, out
        # the installed tool on the same model says the same
        js = run([os.path.join(prefix, "bin", "edgebert"), "classify", "-m", mdir, "--policy", "base", "--json",
                  "a gorgeous movie"]).stdout
        assert '"label": "%s"' % m.group(1) in js, js

    def helps():
        top = run([tool, "--help"]).stdout
        cmds = re.findall(r"^  ([a-z]+) ", top, re.M)
        assert len(cmds) >= 9, top
        man = open(os.path.join(ROOT, "docs", "edgebert.1")).read().replace("\\-", "-")
        for c in cmds:
            r = subprocess.run([tool, c, "--help"], capture_output=True, text=True)
            text = r.stdout + r.stderr
            assert r.returncode == 0, "%s --help: exit %d" % (c, r.returncode)
            assert ("usage: edgebert " + c) in text, "%s --help has no usage line" % c
            assert re.search(r"^\.SS %s$" % c, man, re.M), "man page has no section for " + c
            for opt in set(re.findall(r"--[a-z][a-z0-9-]*", text)):
                assert opt in man, "man page lacks %s of %s" % (opt, c)

    check("install_layout", install)
    check("install_pkgconfig_hello", hello)
    check("install_help_and_man", helps)
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
