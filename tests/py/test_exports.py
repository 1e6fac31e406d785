#!/usr/bin/env python3
"""The shared library exports exactly the public API: the functions `nm -D` lists
as defined in libedgebert.so are the functions declared in include/ (every one of
them marked EB_API), and the Python binding calls only those."""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("EB_BUILD", "build")
LIB = os.path.join(ROOT, BUILD, "libedgebert.so")
NM = os.environ.get("NM", "nm")
failed = 0


def report(name, ok, why=""):
    global failed
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))
    failed += 0 if ok else 1


def header_declarations():
    """(name, has EB_API) of every function declared in include/ (not the static inline ones)."""
    files = [os.path.join(ROOT, "include", "edgebert.h")]
    d = os.path.join(ROOT, "include", "edgebert")
    files += sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".h"))
    decls = []
    for path in files:
        text = open(path, encoding="utf-8").read()
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
        text = re.sub(r"//[^\n]*", " ", text)
        text = re.sub(r"^\s*#[^\n]*(\\\n[^\n]*)*", " ", text, flags=re.M)
        # top-level statements: cut at ';' and at braces, keep those that look like
        # `type eb_name(args);`
        depth, cur = 0, []
        for ch in text:
            if ch == "{":
                depth += 1
                cur = []
            elif ch == "}":
                depth -= 1
                cur = []
            elif ch == ";":
                stmt = "".join(cur).strip()
                cur = []
                if depth > 1 or stmt.startswith("typedef"):
                    continue
                m = re.match(r"^(EB_API\s+)?[A-Za-z_][\w\s\*]*?\b(eb_\w+)\s*\(.*\)$", stmt, re.S)
                if m:
                    decls.append((m.group(2), bool(m.group(1)), os.path.relpath(path, ROOT)))
            else:
                cur.append(ch)
    return decls


def main():
    if not os.path.exists(LIB):
        print("SKIP exports: %s not built" % LIB)
        return 0
    try:
        out = subprocess.run([NM, "-D", "--defined-only", LIB], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print("SKIP exports: %s -D failed (%s)" % (NM, e))
        return 0
    exported = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 3:
            exported[f[2].split("@")[0]] = f[1]
    decls = header_declarations()
    declared = {n for n, _, _ in decls}
    report("headers_parsed", len(declared) > 150, "%d declarations found" % len(declared))
    unmarked = sorted("%s (%s)" % (n, p) for n, api, p in decls if not api)
    report("every_public_declaration_has_EB_API", not unmarked, ", ".join(unmarked))
    extra = sorted(n for n in exported if n not in declared)
    report("exports_only_the_public_api", not extra,
           "%d exported but not in include/: %s" % (len(extra), ", ".join(extra[:40])))
    missing = sorted(n for n in declared if n not in exported)
    report("every_public_function_exported", not missing, ", ".join(missing))
    data = sorted(n for n, kind in exported.items() if kind not in ("T", "i"))
    report("exports_functions_only", not data, ", ".join(data))
    binding = open(os.path.join(ROOT, "python", "edgebert", "__init__.py"), encoding="utf-8").read()
    used = set(re.findall(r'"(eb_\w+)"\s*:', binding)) | set(re.findall(r"_lib\.(eb_\w+)", binding))
    report("binding_uses_exported_symbols", used and used <= set(exported),
           "not exported: %s" % sorted(used - set(exported)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
