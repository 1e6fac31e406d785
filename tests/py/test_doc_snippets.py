"""Every code example of README.md and docs/*.md runs as written.

- Fenced ```c blocks are compiled (-std=c11 -Wall -Werror) and run from the repository root,
  once against the build tree (include/ and build/libedgebert.so) and once against an installed
  prefix (`make install PREFIX=tmp`, flags from `pkg-config --cflags --libs edgebert`); each
  must exit 0 and print something.
- Fenced ```python blocks run with /usr/bin/python3 from the repository root, against the
  build tree's library and against the installed one ($EDGEBERT_LIB); each must exit 0.
- Shell: every `edgebert SUBCOMMAND` in the ```sh blocks (README and docs) and in the README's
  inline code must be a subcommand whose `--help` exits 0, and every --option given to it
  must appear in that help.
- Every relative link of README.md and docs/*.md names a file (and heading) that exists.
- No tracked text file names a path of one machine, a date or time of a run, sessions, the lead
  or an issue number.
A block that is deliberately not runnable carries the line `<!-- snippet: skip: REASON -->`
just before its fence; the test reports each one as SKIP with its reason.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PY = "/usr/bin/python3"
failures = 0


def check(name, fn):
    global failures
    try:
        why = fn()
        print("SKIP %s: %s" % (name, why) if why else "PASS %s" % name)
    except Exception as e:  # noqa: BLE001
        failures += 1
        print("FAIL %s: %s" % (name, e))


def run(cmd, timeout=300, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if r.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout[-2000:],
                                                      r.stderr[-2000:]))
    return r


def doc_files():
    return [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


SKIP_RE = re.compile(r"<!--\s*snippet:\s*skip:\s*(.*?)\s*-->")


def blocks(path):
    """(language, first line number, code, skip reason or None) of every fenced block."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```\s*([A-Za-z0-9_+-]*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(2).lower(), i
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        code = "\n".join(lines[i + 1:j]) + "\n"
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        sm = SKIP_RE.search(lines[k]) if k >= 0 else None
        out.append((lang, start + 1, code, sm.group(1) if sm else None))
        i = j + 1
    return out


def where(path, line):
    return "%s:%d" % (os.path.relpath(path, ROOT), line)


# ---- shell: subcommands and options ---------------------------------------------------------

CMD_RE = re.compile(r"(?:^|[\s;&|(`])(?:[\w./-]*/)?(?:edgebert|\$E|\$\{E\})[ \t]+([a-z][a-z-]*)(.*)")


def shell_commands(text):
    """(subcommand, [--options]) of every edgebert invocation in shell text."""
    text = re.sub(r"\\\n", " ", text)
    found = []
    for line in text.split("\n"):
        line = re.sub(r"(^|\s)#.*$", "", line)          # comments
        line = re.sub(r'"[^"]*"', '""', line)           # quoted sentences
        for m in CMD_RE.finditer(line):
            rest = re.split(r"[;&|`]|\$\(", m.group(2))[0]
            found.append((m.group(1), re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", rest)))
    return found


def inline_commands(path):
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    found = []
    for span in re.findall(r"`([^`\n]+)`", text):
        if re.match(r"^(?:[\w./-]*/)?edgebert [a-z]", span):
            found.extend(shell_commands(span))
    return found


def check_shell(tool, readme):
    helps = {}
    problems = []
    n = 0
    sources = []
    for path in doc_files():
        for lang, line, code, skip in blocks(path):
            if lang in ("sh", "bash", "shell", "console") and not skip:
                sources.append((where(path, line), shell_commands(code)))
    sources.append((os.path.relpath(readme, ROOT) + " (inline code)", inline_commands(readme)))
    for src, cmds in sources:
        for sub, opts in cmds:
            n += 1
            if sub not in helps:
                r = subprocess.run([tool, sub, "--help"], capture_output=True, text=True, timeout=60)
                text = r.stdout + r.stderr
                ok = r.returncode == 0 and ("usage: edgebert " + sub) in text
                helps[sub] = text if ok else None
            if helps[sub] is None:
                problems.append("%s: `edgebert %s` is not a subcommand (its --help fails)" % (src, sub))
                continue
            for o in opts:
                if o != "--help" and not re.search(re.escape(o) + r"(?![a-z0-9-])", helps[sub]):
                    problems.append("%s: `edgebert %s` has no option %s" % (src, sub, o))
    assert n >= 20, "only %d edgebert commands found in the docs: is the extraction broken?" % n
    assert not problems, "\n".join(problems)


# ---- text of the tracked files --------------------------------------------------------------

# What user-facing text must not carry: paths of one machine, dates and times of runs, talk of
# development sessions or issue numbers.
CHATTER = [
    (re.compile(r"(?<![\w.])/(?:work|root|srv|mnt)/[\w.-]"), "a path of one machine"),
    (re.compile(r"(?<![\w.])/home/[a-z]"), "a path of one machine"),
    (re.compile(r"\b20[0-9]{2}-[01][0-9]-[0-3][0-9]\b"), "a date"),
    (re.compile(r"\b[0-2][0-9]:[0-5][0-9] UTC\b"), "a time of a run"),
    (re.compile(r"\bissue #?[0-9]+", re.I), "an issue number"),
    (re.compile(r"\bthe lead\b|\blead's\b", re.I), "talk of the lead"),
]
# only in prose: documentation, the man page, and comments of code and scripts (code may well
# name a session of its own)
PROSE_CHATTER = [
    (re.compile(r"\bsessions?\b", re.I), "talk of sessions"),
]
COMMENT_RE = re.compile(r"^\s*(#|//|/\*|\*|\"\"\"|- |\.\\\")")


def check_tracked_text():
    if not shutil.which("git") or not os.path.exists(os.path.join(ROOT, ".git")):
        return "not a git checkout (the tracked files are unknown)"
    r = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        return "git ls-files failed: " + r.stderr.strip()
    problems = []
    for rel in r.stdout.split("\n"):
        if not rel or rel.startswith("tests/data/") or rel.startswith("models/") or \
                rel == "tests/py/test_doc_snippets.py":
            continue
        path = os.path.join(ROOT, rel)
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue  # binary
        prose = rel.endswith((".md", ".1", ".txt"))
        for n, line in enumerate(text.split("\n"), 1):
            rules = CHATTER + (PROSE_CHATTER if prose or COMMENT_RE.match(line) else [])
            for rx, what in rules:
                m = rx.search(line)
                if m:
                    problems.append("%s:%d: %s: %s" % (rel, n, what, m.group(0)))
    assert not problems, "\n".join(problems[:40])


# ---- links ----------------------------------------------------------------------------------

def slug(heading):
    """GitHub's anchor of a markdown heading."""
    h = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return h.replace(" ", "-")


def check_links():
    problems = []
    for path in doc_files():
        text = open(path, encoding="utf-8").read()
        text = re.sub(r"```.*?```", "", text, flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue  # http:, mailto:
            file, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
            if not os.path.exists(dest):
                problems.append("%s: link to %s: no such file" % (os.path.relpath(path, ROOT), target))
            elif anchor and dest.endswith(".md"):
                heads = re.findall(r"^#+\s+(.*)$", open(dest, encoding="utf-8").read(), re.M)
                if anchor not in [slug(h) for h in heads]:
                    problems.append("%s: link to %s: no such heading" % (os.path.relpath(path, ROOT), target))
    assert not problems, "\n".join(problems)


# ---- C and Python ---------------------------------------------------------------------------

def snippets(lang):
    out = []
    for path in doc_files():
        for l, line, code, skip in blocks(path):
            if l in lang:
                out.append((where(path, line), code, skip))
    return out


def run_c(code, tag, tmp, cflags, env):
    src = os.path.join(tmp, tag + ".c")
    exe = os.path.join(tmp, tag)
    with open(src, "w") as f:
        f.write(code)
    run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", src, "-o", exe] + cflags)
    r = run([exe], cwd=ROOT, env=env, timeout=600)
    assert r.stdout.strip(), "%s printed nothing" % tag
    return r.stdout


def run_py(code, env):
    r = run([PY, "-c", code], cwd=ROOT, env=env, timeout=600)
    return r.stdout


def main():
    build = os.path.join(ROOT, "build")
    tool = os.path.join(build, "edgebert")
    lib = os.path.join(build, "libedgebert.so")
    readme = os.path.join(ROOT, "README.md")
    if not os.path.exists(tool) or not os.path.exists(lib):
        print("SKIP doc_snippets: build/ not built (the snippets run against the plain build)")
        return 0

    check("doc_shell_commands_exist", lambda: check_shell(tool, readme))
    check("tracked_text_has_no_machine_paths_or_run_notes", check_tracked_text)
    check("doc_links_resolve", check_links)

    cs, pys = snippets(("c",)), snippets(("python", "py"))
    tmp = tempfile.mkdtemp(prefix="eb_snippets_")
    # the build tree: the shared library under its soname, next to nothing else
    libdir = os.path.join(tmp, "buildlib")
    os.makedirs(libdir)
    os.symlink(lib, os.path.join(libdir, "libedgebert.so.0"))
    benv = dict(os.environ, LD_LIBRARY_PATH=libdir, EDGEBERT_LIB=lib)
    benv.pop("EDGEBERT_MODEL", None)
    bflags = ["-I" + os.path.join(ROOT, "include"), lib]

    prefix = os.path.join(tmp, "prefix")
    install_state = {}

    def installed():
        """flags and environment for the installed prefix (installed once)."""
        if "err" in install_state:
            raise AssertionError(install_state["err"])
        if "flags" not in install_state:
            try:
                env = {k: v for k, v in os.environ.items()
                       if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
                run(["make", "-s", "install", "PREFIX=" + prefix, "BUILD=build", "SAN=0", "TSAN=0"],
                    cwd=ROOT, env=env)
                penv = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
                flags = run(["pkg-config", "--cflags", "--libs", "edgebert"], env=penv).stdout.split()
                assert "-ledgebert" in flags, flags
                ienv = dict(os.environ, LD_LIBRARY_PATH=os.path.join(prefix, "lib"),
                            EDGEBERT_LIB=os.path.join(prefix, "lib", "libedgebert.so"))
                ienv.pop("EDGEBERT_MODEL", None)
                install_state["flags"], install_state["env"] = flags, ienv
            except Exception as e:  # noqa: BLE001
                install_state["err"] = "make install / pkg-config: %s" % e
                raise
        return install_state["flags"], install_state["env"]

    have_pc = shutil.which("pkg-config") is not None
    for i, (src, code, skip) in enumerate(cs):
        if skip:
            check("doc_c %s" % src, lambda skip=skip: skip)
            continue
        tag = "c%d" % i
        check("doc_c_build %s" % src, lambda code=code, tag=tag: run_c(code, tag + "b", tmp, bflags, benv) and None)

        def inst(code=code, tag=tag):
            if not have_pc:
                return "pkg-config missing"
            flags, ienv = installed()
            exe_out = run_c(code, tag + "i", tmp, flags, ienv)
            need = run(["readelf", "-d", os.path.join(tmp, tag + "i")]).stdout
            assert "libedgebert.so.0" in need, need
            return None if exe_out else "no output"
        check("doc_c_installed %s" % src, inst)

    for i, (src, code, skip) in enumerate(pys):
        if skip:
            check("doc_python %s" % src, lambda skip=skip: skip)
            continue
        check("doc_python_build %s" % src, lambda code=code: run_py(code, benv) and None)

        def inst_py(code=code):
            if not have_pc:
                return "pkg-config missing"
            _, ienv = installed()
            run_py(code, ienv)
        check("doc_python_installed %s" % src, inst_py)

    def counted():
        assert len(cs) >= 2 and len(pys) >= 2, "found %d C and %d Python blocks" % (len(cs), len(pys))
    check("doc_snippets_found", counted)
    nskip = sum(1 for _, _, s in cs + pys if s)
    print("doc snippets: %d C, %d Python, %d skipped (marked not runnable)" % (len(cs), len(pys), nskip))
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
