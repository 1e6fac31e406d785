"""Python binding (python/edgebert): struct layout against the C compiler's,
tokenize against SentencePiece's own encoder, classify against numpy
(softmax, entropy) and the CLI's JSON, policies, thresholds, latency target,
errors, threads.  Prints PASS/FAIL/SKIP lines (tests/run.sh)."""
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import traceback

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
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


def main():
    build = os.environ.get("EB_BUILD", "build")
    lib = os.path.join(ROOT, "build", "libedgebert.so")
    if not os.path.exists(lib):
        # sanitizer builds cannot be loaded into an uninstrumented python
        print("SKIP python_binding: %s missing (the binding loads the plain build; EB_BUILD=%s)" % (lib, build))
        return 0
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

    def layout():
        out = subprocess.run([os.path.join(tool_dir, "eb_struct_layout")], capture_output=True, text=True,
                             check=True).stdout
        classes = {"eb_error": edgebert.EbError, "eb_config": edgebert.EbConfig, "eb_encoding": edgebert.EbEncoding,
                   "eb_run_params": edgebert.EbRunParams, "eb_energy_breakdown": edgebert.EbEnergyBreakdown,
                   "eb_hw_report": edgebert.EbHwReport, "eb_result": edgebert.EbResult}
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
        lg = np.array(r["logits"], dtype=np.float64)
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
        slow = m.classify("a gorgeous movie", policy="lai", latency_target_ms=50, threshold=0.01)
        fast = m.classify("a gorgeous movie", policy="lai", latency_target_ms=1e-4, threshold=0.01)
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
        assert got == want
        m.close()

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
