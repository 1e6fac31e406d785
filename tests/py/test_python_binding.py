"""Python binding (python/edgebert), run from a copy installed with
`pip install --no-build-isolation ./python` into a virtual environment (in
the source tree, with a SKIP line saying why, when venv is unavailable):
the installed package finds its library and the default model from another
directory with no environment variable, __version__, struct layout against
the C compiler's, tokenize against SentencePiece's own encoder, classify
against numpy (softmax, entropy) and the CLI's JSON, numpy results, the
CLI's parameter names (old ones with a DeprecationWarning), classify_batch
against classify, policies, thresholds, latency target, errors, threads.
Prints PASS/FAIL/SKIP lines (tests/run.sh)."""
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import traceback
import warnings

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
INSTALLED = os.environ.get("EB_PYBIND_INSTALLED") == "1"  # run by the venv's python: no source-tree path
if not INSTALLED:
    sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
SHARED = os.environ.get("EB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))

failures = 0


def report(name, fn):
    global failures
    try:
        why = fn()
        if why:
            print("SKIP %s: %s" % (name, why))
        else:
            print("PASS %s" % name)
    except Exception as e:  # noqa: BLE001
        failures += 1
        print("FAIL %s: %s" % (name, e))
        traceback.print_exc(file=sys.stdout)


def install_and_rerun(lib):
    """Install the package into a fresh venv and run this script with its
    python, from another directory, without EDGEBERT_LIB/EDGEBERT_MODEL.
    Returns the exit status, or None (with a SKIP line) when no venv can be
    made here."""
    tmp = tempfile.mkdtemp(prefix="eb_pyvenv_")
    try:
        venv = os.path.join(tmp, "venv")
        r = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], capture_output=True,
                           text=True)
        if r.returncode != 0:
            print("SKIP python_binding_installed: no virtual environment (python3-venv missing?): %s" %
                  (r.stderr.strip().splitlines() or ["?"])[-1])
            return None
        py = os.path.join(venv, "bin", "python")
        env = {k: v for k, v in os.environ.items()
               if k not in ("EDGEBERT_LIB", "EDGEBERT_MODEL", "PYTHONPATH", "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
                            "MAKEOVERRIDES")}
        r = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-index", "-q",
                            os.path.join(ROOT, "python")], capture_output=True, text=True, env=env, cwd=tmp)
        if r.returncode != 0:
            print("FAIL python_binding_installed: pip install --no-build-isolation ./python: exit %d\n%s%s" %
                  (r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
            return 1
        env["EB_PYBIND_INSTALLED"] = "1"
        env["EB_SHARED_DATA"] = SHARED
        r = subprocess.run([py, os.path.abspath(__file__)], capture_output=True, text=True, env=env, cwd=tmp)
        sys.stdout.write(r.stdout + r.stderr)
        return r.returncode
    finally:
        subprocess.run(["rm", "-rf", tmp])


def main():
    build = os.environ.get("EB_BUILD", "build")
    lib = os.path.join(ROOT, "build", "libedgebert.so")
    if not os.path.exists(lib):
        # sanitizer builds cannot be loaded into an uninstrumented python
        print("SKIP python_binding: %s missing (the binding loads the plain build; EB_BUILD=%s)" % (lib, build))
        return 0
    if not INSTALLED:
        try:
            import numpy  # noqa: F401
        except ImportError as e:
            print("SKIP python_binding: %s" % e)
            return 0
        rc = install_and_rerun(lib)
        if rc is not None:
            return rc
        os.environ["EDGEBERT_LIB"] = lib
    tool_dir = os.path.join(ROOT, "build", "tests", "tools")
    cli = os.path.join(ROOT, "build", "edgebert")
    try:
        import numpy as np
        import sentencepiece as spm
    except ImportError as e:
        print("SKIP python_binding: %s" % e)
        return 0
    import edgebert
    import tiny_model

    tmp = tempfile.mkdtemp(prefix="eb_pybind_")
    lut = os.path.join(SHARED, "edgebert", "sst2_exit_lut.csv")
    lut = lut if os.path.exists(lut) else None
    real_sp = os.path.join(SHARED, "albert", "spiece.model")
    mdir = tiny_model.make_model(os.path.join(tmp, "m"), spiece=real_sp if os.path.exists(real_sp) else None,
                                 layers=12, lut=lut, seed=3)

    def installed():
        if not INSTALLED:
            return "not an installed copy (see python_binding_installed)"
        pkg = os.path.dirname(os.path.abspath(edgebert.__file__))
        assert not pkg.startswith(ROOT + os.sep), "imported from the source tree: " + pkg
        assert "EDGEBERT_LIB" not in os.environ and "EDGEBERT_MODEL" not in os.environ
        assert os.getcwd() != ROOT
        assert edgebert.library_path().startswith(pkg + os.sep), edgebert.library_path()
        assert edgebert.default_model_path().startswith(pkg + os.sep), edgebert.default_model_path()
        # the packaged default model is the shipped one, byte for byte
        assert open(edgebert.default_model_path(), "rb").read() == \
            open(os.path.join(ROOT, "models", "default.ebb"), "rb").read()
        with edgebert.Model() as m:
            text = "a gorgeous, witty, seductive movie."
            r = m.classify(text)
            cj = json.loads(subprocess.run([cli, "classify", "-m", os.path.join(ROOT, "models", "default.ebb"),
                                            "--json", text], capture_output=True, text=True, check=True).stdout)
            assert cj["label"] == r["label"] and cj["exit_layer"] == r["exit_layer"], (cj, r)
            assert np.allclose(cj["logits"], r["logits"], atol=1e-5), (cj["logits"], r["logits"])

    def version():
        h = open(os.path.join(ROOT, "include", "edgebert.h")).read()
        want = h.split('#define EB_VERSION_STRING "')[1].split('"')[0]
        assert edgebert.__version__ == want, (edgebert.__version__, want)
        out = subprocess.run([cli, "--version"], capture_output=True, text=True).stdout
        assert out.startswith("edgebert %s" % want), out

    def numpy_results():
        with edgebert.Model(mdir) as m:
            r = m.classify("a gorgeous movie", policy="base")
            for k in ("probs", "logits", "entropies"):
                assert isinstance(r[k], np.ndarray) and r[k].dtype == np.float32, (k, type(r[k]))
            assert r["probs"].shape == (2,) and r["entropies"].shape == (12,)
            try:
                m.classify(b"bad \xff")
                raise AssertionError("bad UTF-8 accepted")
            except edgebert.EdgebertError as e:
                assert e.status == 5 and e.name == "bad input" and "UTF-8" in e.message, e

    def cli_names():
        with edgebert.Model(mdir) as m:
            text = "word " * 40
            new = m.classify(text, policy="base", max_len=8)
            assert new["n_tokens"] == 8 and new["truncated"]
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                old = m.classify(text, policy="base", max_tokens=8)
            assert [x.category for x in w] == [DeprecationWarning] and "max_len" in str(w[0].message), w
            assert old["n_tokens"] == 8 and np.array_equal(old["logits"], new["logits"])
            if lut:
                a = m.classify("a gorgeous movie", policy="lai", latency_target=1e-4, threshold=0.01)
                with warnings.catch_warnings(record=True) as w:
                    warnings.simplefilter("always")
                    b = m.classify("a gorgeous movie", policy="lai", latency_target_ms=1e-4, threshold=0.01)
                assert [x.category for x in w] == [DeprecationWarning], w
                assert a["freq_mhz"] == b["freq_mhz"] and not a["deadline_met"] and not b["deadline_met"]
            try:
                m.classify("x", max_tokens_typo=3)
                raise AssertionError("unknown keyword accepted")
            except TypeError:
                pass

    def batch():
        texts = ["a gorgeous, witty, seductive movie.", "sentence number 2 is bad", "it is fine , really",
                 "the worst film of the year", "word " * 40, "ok"]
        with edgebert.Model(mdir) as m:
            for policy, th in (("ee", 0.4), ("ee", None), ("base", None)):
                for bs in (64, 2):
                    b = m.classify_batch(texts, policy=policy, threshold=th, batch_size=bs, max_len=16)
                    assert b["logits"].shape == (len(texts), 2) and b["logits"].dtype == np.float32
                    for i, t in enumerate(texts):
                        r = m.classify(t, policy=policy, threshold=th, max_len=16)
                        assert b["label"][i] == r["label"] and b["label_id"][i] == r["label_id"], (i, b, r)
                        assert b["exit_layer"][i] == r["exit_layer"], (policy, th, i, b["exit_layer"], r)
                        assert np.allclose(b["logits"][i], r["logits"], atol=1e-4), (b["logits"][i], r["logits"])
                        assert np.allclose(b["probs"][i], r["probs"], atol=1e-5)
                        assert abs(b["entropy"][i] - r["entropies"][-1]) < 1e-4
                        assert b["n_tokens"][i] == r["n_tokens"] and b["truncated"][i] == r["truncated"]
            e = m.classify_batch([])
            assert e["logits"].shape == (0, 2) and e["label"] == []
            for bad, exc, status in (([texts[0], ""], edgebert.EdgebertError, 5),
                                     ([("is it?", "no")], ValueError, None), ("one string", TypeError, None)):
                try:
                    m.classify_batch(bad)
                    raise AssertionError("accepted %r" % (bad,))
                except exc as x:
                    assert status is None or (x.status == status and "text 1" in str(x)), x
            # AdaptivFloat8 runs batched too, with classify's answers
            b = m.classify_batch(texts, precision="af8", batch_size=4, max_len=16)
            for i, t in enumerate(texts):
                r = m.classify(t, precision="af8", max_len=16)
                assert b["label_id"][i] == r["label_id"] and b["exit_layer"][i] == r["exit_layer"], (i, b, r)
                assert np.allclose(b["logits"][i], r["logits"], atol=1e-4), (b["logits"][i], r["logits"])
            for kw, exc in (({"policy": "lai2"}, ValueError), ({"precision": "af9"}, ValueError)):
                try:
                    m.classify_batch(texts, **kw)
                    raise AssertionError("accepted %r" % kw)
                except exc:
                    pass

    def layout():
        out = subprocess.run([os.path.join(tool_dir, "eb_struct_layout")], capture_output=True, text=True,
                             check=True).stdout
        classes = {"eb_error": edgebert.EbError, "eb_config": edgebert.EbConfig, "eb_encoding": edgebert.EbEncoding,
                   "eb_run_params": edgebert.EbRunParams, "eb_energy_breakdown": edgebert.EbEnergyBreakdown,
                   "eb_hw_report": edgebert.EbHwReport, "eb_result": edgebert.EbResult,
                   "eb_batch_result": edgebert.EbBatchResult}
        n = 0
        for line in out.splitlines():
            key, val = line.rsplit(" ", 1)
            val = int(val)
            if key.startswith("EB_"):
                assert getattr(edgebert, key) == val, "%s: C %d, Python %d" % (key, val, getattr(edgebert, key))
            elif key.endswith(" sizeof"):
                cls = classes[key.split()[0]]
                import ctypes
                assert ctypes.sizeof(cls) == val, "sizeof %s: C %d, ctypes %d" % (key, val, ctypes.sizeof(cls))
            else:
                s, f = key.split(".")
                off = getattr(classes[s], f).offset
                assert off == val, "offsetof(%s): C %d, ctypes %d" % (key, val, off)
            n += 1
        assert n > 50, "only %d layout lines" % n

    def tokenize():
        m = edgebert.Model(mdir)
        sp = spm.SentencePieceProcessor(model_file=os.path.join(mdir, "spiece.model"))
        for a, b in [("a gorgeous movie", None), ("is it good ?", "it is not .")]:
            ids = m.tokenize(a, b)
            want = [2] + sp.encode(a) + [3] + (sp.encode(b) + [3] if b else [])
            assert ids == want, "%r: %s, sentencepiece %s" % (a, ids, want)
        m.close()

    def classify():
        m = edgebert.Model(mdir)
        assert m.tasks == ["default"]
        r = m.classify("a gorgeous, witty, seductive movie.", policy="ee", threshold=0.4)
        lg = r["logits"].astype(np.float64)
        p = np.exp(lg - lg.max())
        p /= p.sum()
        assert np.allclose(p, r["probs"], atol=1e-5), (p, r["probs"])
        ent = float(-(p * np.log(p)).sum())
        assert len(r["entropies"]) == r["exit_layer"] and abs(r["entropies"][-1] - ent) < 1e-4, (r, ent)
        assert r["label"] == ["negative", "positive"][int(np.argmax(lg))]
        assert r["exit_layer"] == 12 or r["entropies"][-1] < 0.4
        assert all(e >= 0.4 for e in r["entropies"][:-1])
        for k in ("vdd", "freq_mhz", "energy_uj", "time_ms"):
            assert r[k] > 0, (k, r[k])
        assert isinstance(r["deadline_met"], bool)
        # the CLI's JSON for the same sentence and options
        cj = json.loads(subprocess.run([cli, "classify", "-m", mdir, "--policy", "ee", "--threshold", "0.4",
                                        "--json", "a gorgeous, witty, seductive movie."],
                                       capture_output=True, text=True, check=True).stdout)
        assert cj["exit_layer"] == r["exit_layer"] and cj["label"] == r["label"]
        assert all(abs(x - y) <= 1e-5 * max(1, abs(x)) for x, y in zip(cj["logits"], r["logits"]))
        assert abs(cj["energy_uj"] - r["energy_uj"]) <= 1e-5 * r["energy_uj"]
        # base runs every layer; threshold 0 never exits early
        rb = m.classify("a gorgeous movie", policy="base")
        assert rb["exit_layer"] == 12 and rb["predicted_layer"] == 0 and len(rb["entropies"]) == 12
        r0 = m.classify("a gorgeous movie", policy="ee", threshold=0.0)
        assert r0["exit_layer"] == 12
        r9 = m.classify("a gorgeous movie", policy="ee", threshold=10.0)
        assert r9["exit_layer"] == 1
        # a pair, the af8 precision, other mac sizes
        rp = m.classify("is it?", "it is not.", policy="base", precision="af8", mac_size=32)
        assert rp["n_tokens"] > 5
        m.close()

    def lai():
        if not lut:
            return "sst2_exit_lut.csv missing in %s" % SHARED
        m = edgebert.Model(mdir)
        slow = m.classify("a gorgeous movie", policy="lai", latency_target=50, threshold=0.01)
        fast = m.classify("a gorgeous movie", policy="lai", latency_target=1e-4, threshold=0.01)
        assert 1 < slow["predicted_layer"] <= 12, slow
        assert slow["deadline_met"] and not fast["deadline_met"]
        # a tight target runs the accelerator at least as fast and as high a voltage
        assert fast["freq_mhz"] >= slow["freq_mhz"] and fast["vdd"] >= slow["vdd"], (fast, slow)
        m.close()

    def bundle():
        if not os.path.exists(real_sp):
            return "albert/spiece.model missing in %s" % SHARED
        other = tiny_model.make_model(os.path.join(tmp, "o"), spiece=real_sp, layers=12, labels=3, seed=4)
        # same embeddings: copy them from the first model (seed 3 vs 4 differ)
        out = os.path.join(tmp, "two.ebb")
        subprocess.run([cli, "pack", "-o", out, "--task", "sst2=" + mdir, "--task", "mnli=" + other,
                        "--allow-different-embeddings"], check=True, capture_output=True)
        with edgebert.Model(out) as b:
            assert b.tasks == ["sst2", "mnli"]
            r = b.classify("is it?", "it is not.", task="mnli", policy="base")
            assert len(r["probs"]) == 3 and r["label"] in ("l0", "l1", "l2")
            r = b.classify("a gorgeous movie", task="sst2")
            assert len(r["probs"]) == 2
            try:
                b.classify("x", task="nope")
                raise AssertionError("unknown task accepted")
            except edgebert.EdgebertError as e:
                assert e.status == 3, e

    def errors():
        try:
            edgebert.Model(os.path.join(tmp, "does-not-exist"))
            raise AssertionError("missing model loaded")
        except edgebert.EdgebertError as e:
            assert e.status in (1, 2), e
        m = edgebert.Model(mdir)
        try:
            m.classify(b"bad \xff utf-8")
            raise AssertionError("invalid UTF-8 accepted")
        except edgebert.EdgebertError as e:
            assert e.status == 5, e
        try:
            m.classify("x", policy="fast")
            raise AssertionError("bad policy accepted")
        except ValueError:
            pass
        m.close()
        try:
            m.classify("x")
            raise AssertionError("closed model used")
        except ValueError:
            pass

    def threads():
        m = edgebert.Model(mdir)
        texts = ["sentence number %d is %s" % (i, "good" if i % 2 else "bad") for i in range(16)]
        want = [m.classify(t, policy="ee", threshold=0.5)["logits"] for t in texts]
        got = [None] * len(texts)

        def work(k):
            for i in range(k, len(texts), 4):
                got[i] = m.classify(texts[i], policy="ee", threshold=0.5)["logits"]

        th = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        assert all(np.array_equal(g, w) for g, w in zip(got, want))
        m.close()

    report("python_binding_installed_copy", installed)
    report("python_binding_version", version)
    report("python_binding_numpy_results", numpy_results)
    report("python_binding_cli_names", cli_names)
    report("python_binding_classify_batch", batch)
    report("python_binding_struct_layout", layout)
    report("python_binding_tokenize", tokenize)
    report("python_binding_classify", classify)
    report("python_binding_lai", lai)
    report("python_binding_bundle", bundle)
    report("python_binding_errors", errors)
    report("python_binding_threads", threads)
    subprocess.run(["rm", "-rf", tmp])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
