"""edgebert - Python binding of libedgebert (ctypes, no compiled extension).

    import edgebert
    m = edgebert.Model()                         # the default model, as the CLI finds it
    m = edgebert.Model("path/to/model_dir_or_bundle.ebb")
    m.tokenize("Is it?", "It is not.")          # -> [2, ..., 3, ..., 3]
    r = m.classify("a gorgeous movie", policy="lai", latency_target=50)
    r["label"], r["probs"], r["exit_layer"], r["vdd"], r["freq_mhz"], r["energy_uj"]
    b = m.classify_batch(["a gorgeous movie", "a dull one"])   # the batched engine
    b["label"], b["probs"], b["exit_layer"]

Installed with `pip install --no-build-isolation ./python`, the package holds
its own copy of libedgebert.so and of models/default.ebb.  The library is
found through $EDGEBERT_LIB, then the package's copy, then build/ of the
source tree this package sits in, then the system's libedgebert.so.0; the
default model through $EDGEBERT_MODEL, then the package's copy, then
models/default.ebb of the source tree, then share/edgebert/models of the
prefix the library was installed to.  Parameter names are the CLI's
(max_len, latency_target); probabilities, logits and entropies are numpy
arrays.  The ctypes structures below mirror include/edgebert.h field for
field; tests/py/test_python_binding.py checks their layout against the C
compiler's.
"""
import ctypes
import ctypes.util
import os
import threading
import warnings

import numpy as np

__version__ = "0.1.0"  # EB_VERSION_STRING of include/edgebert.h (setup.py checks they agree)

__all__ = ["Model", "EdgebertError", "library_path", "default_model_path", "Client", "ServerError",
           "__version__"]

EB_MAX_LABELS = 16
EB_MAX_LAYERS = 64
EB_MAX_TOKENS = 4096
EB_LABEL_NAME_MAX = 32
EB_ERROR_MSG_MAX = 512

STATUS_NAMES = {0: "ok", 1: "io error", 2: "format error", 3: "bad argument", 4: "out of memory",
                5: "bad input", 6: "unsupported", 7: "numeric error", 8: "interrupted"}


class EbError(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("msg", ctypes.c_char * EB_ERROR_MSG_MAX)]


class EbConfig(ctypes.Structure):
    _fields_ = [
        ("vocab_size", ctypes.c_int), ("embedding_size", ctypes.c_int), ("hidden_size", ctypes.c_int),
        ("num_hidden_layers", ctypes.c_int), ("num_hidden_groups", ctypes.c_int),
        ("inner_group_num", ctypes.c_int), ("num_attention_heads", ctypes.c_int),
        ("intermediate_size", ctypes.c_int), ("max_position_embeddings", ctypes.c_int),
        ("type_vocab_size", ctypes.c_int), ("num_labels", ctypes.c_int), ("hidden_act", ctypes.c_int),
        ("layer_norm_eps", ctypes.c_float),
        ("id2label", (ctypes.c_char * EB_LABEL_NAME_MAX) * EB_MAX_LABELS),
    ]


class EbEncoding(ctypes.Structure):
    _fields_ = [("ids", ctypes.c_int32 * EB_MAX_TOKENS), ("type_ids", ctypes.c_int32 * EB_MAX_TOKENS),
                ("n", ctypes.c_int), ("truncated", ctypes.c_int)]


class EbRunParams(ctypes.Structure):
    _fields_ = [("policy", ctypes.c_int), ("threshold", ctypes.c_float), ("predict_after", ctypes.c_int),
                ("latency_target_ms", ctypes.c_double), ("mac_size", ctypes.c_int),
                ("precision", ctypes.c_int), ("max_tokens", ctypes.c_int), ("task", ctypes.c_char_p),
                ("last_ramp_only", ctypes.c_int), ("threads", ctypes.c_int)]


class EbEnergyBreakdown(ctypes.Structure):
    _fields_ = [(n, ctypes.c_double) for n in ("pu_uj", "sfu_uj", "sram_uj", "emb_mem_uj", "dvfs_uj", "leakage_uj")]


class EbHwReport(ctypes.Structure):
    _fields_ = [("vdd", ctypes.c_double), ("freq_mhz", ctypes.c_double), ("cycles", ctypes.c_double),
                ("time_ms", ctypes.c_double), ("energy_uj", ctypes.c_double), ("energy", EbEnergyBreakdown),
                ("deadline_met", ctypes.c_int)]


class EbResult(ctypes.Structure):
    _fields_ = [
        ("label", ctypes.c_int), ("num_labels", ctypes.c_int),
        ("logits", ctypes.c_float * EB_MAX_LABELS), ("probs", ctypes.c_float * EB_MAX_LABELS),
        ("exit_layer", ctypes.c_int), ("predicted_layer", ctypes.c_int), ("num_layers", ctypes.c_int),
        ("entropies", ctypes.c_float * EB_MAX_LAYERS), ("n_tokens", ctypes.c_int), ("truncated", ctypes.c_int),
        ("active_heads", ctypes.c_int * EB_MAX_LAYERS), ("hw", EbHwReport),
        ("layer_labels", ctypes.c_int * EB_MAX_LAYERS),
        ("flops", ctypes.c_double), ("flops_dense", ctypes.c_double),
    ]


class EbBatchResult(ctypes.Structure):
    _fields_ = [("label", ctypes.c_int), ("num_labels", ctypes.c_int), ("logits", ctypes.c_float * EB_MAX_LABELS),
                ("exit_layer", ctypes.c_int), ("entropy", ctypes.c_float)]


class EdgebertError(RuntimeError):
    """A libedgebert call failed: .status is the eb_status number, .name its
    name, .message the library's message."""

    def __init__(self, status, msg):
        self.status = status
        self.name = STATUS_NAMES.get(status, "error %d" % status)
        self.message = msg
        super().__init__("%s: %s" % (self.name, msg))


_HERE = os.path.dirname(os.path.abspath(__file__))


def _find_library():
    env = os.environ.get("EDGEBERT_LIB")
    if env:
        return env
    for rel in ("_lib/libedgebert.so", "../../build/libedgebert.so", "../../lib/libedgebert.so.0"):
        p = os.path.normpath(os.path.join(_HERE, rel))
        if os.path.exists(p):
            return p
    found = ctypes.util.find_library("edgebert")
    if found:
        return found
    raise OSError("libedgebert.so not found: build it (make), install the package "
                  "(pip install --no-build-isolation ./python) or set EDGEBERT_LIB")


def default_model_path():
    """The model Model() loads without a path, found as the CLI finds it:
    $EDGEBERT_MODEL, the package's copy of models/default.ebb, the source
    tree's, the installed prefix's share/edgebert/models/default.ebb."""
    env = os.environ.get("EDGEBERT_MODEL")
    if env:
        return env
    cands = [os.path.join(_HERE, "models", "default.ebb"), os.path.join(_HERE, "..", "..", "models", "default.ebb")]
    lib = _find_library()
    if os.path.isabs(lib):
        cands.append(os.path.join(os.path.dirname(lib), "..", "share", "edgebert", "models", "default.ebb"))
    for p in cands:
        if os.path.exists(p):
            return os.path.normpath(p)
    raise EdgebertError(1, "no default model: looked at $EDGEBERT_MODEL and %s" % ", ".join(
        os.path.normpath(p) for p in cands))


_lib = None
_lib_lock = threading.Lock()


def _load():
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        lib = ctypes.CDLL(_find_library())
        P = ctypes.c_void_p
        E = ctypes.POINTER(EbError)
        sigs = {
            "eb_model_load": (ctypes.c_int, [ctypes.c_char_p, P, ctypes.POINTER(P), E]),
            "eb_model_free": (None, [P]),
            "eb_model_tokenizer": (P, [P]),
            "eb_model_num_tasks": (ctypes.c_int, [P]),
            "eb_model_task_name": (ctypes.c_char_p, [P, ctypes.c_int]),
            "eb_model_task_config": (ctypes.POINTER(EbConfig), [P, ctypes.c_char_p]),
            "eb_model_num_offramps": (ctypes.c_int, [P]),
            "eb_context_new": (ctypes.c_int, [P, ctypes.POINTER(P), E]),
            "eb_context_free": (None, [P]),
            "eb_tokenize": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
                                           ctypes.POINTER(EbEncoding), E]),
            "eb_classify": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(EbRunParams),
                                           ctypes.POINTER(EbResult), E]),
            "eb_run_params_default": (EbRunParams, []),
            "eb_batch_new": (ctypes.c_int, [P, ctypes.c_int, ctypes.c_int, ctypes.POINTER(P), E]),
            "eb_batch_free": (None, [P]),
            "eb_batch_classify_ids": (ctypes.c_int, [P, ctypes.POINTER(ctypes.POINTER(ctypes.c_int32)),
                                                     ctypes.POINTER(ctypes.c_int), ctypes.c_int,
                                                     ctypes.POINTER(EbRunParams), ctypes.POINTER(EbBatchResult), E]),
            "eb_status_name": (ctypes.c_char_p, [ctypes.c_int]),
            # the policies and precisions: the library's tables name them
            "eb_policy_parse": (ctypes.c_int, [ctypes.c_char_p]),
            "eb_policy_names": (ctypes.c_char_p, [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                                  ctypes.c_char_p]),
            "eb_precision_parse": (ctypes.c_int, [ctypes.c_char_p]),
            "eb_precision_names": (ctypes.c_char_p, [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                                     ctypes.c_char_p]),
        }
        for name, (res, args) in sigs.items():
            fn = getattr(lib, name)
            fn.restype = res
            fn.argtypes = args
        _lib = lib
        return lib


def library_path():
    """Path of the shared library the binding loads."""
    return _find_library()


def _named(lib, kind, value):
    """The row of the library's policy or precision table named `value`, or ValueError."""
    parse, names = getattr(lib, "eb_%s_parse" % kind), getattr(lib, "eb_%s_names" % kind)
    k = parse(value.encode("utf-8")) if isinstance(value, str) else -1
    if k < 0:
        buf = ctypes.create_string_buffer(128)
        raise ValueError("%s must be one of %s" % (kind, names(buf, 128, b", ", None).decode()))
    return k


def _text(s, what):
    if s is None:
        return None
    if isinstance(s, bytes):
        return s
    if not isinstance(s, str):
        raise TypeError("%s must be str or bytes" % what)
    return s.encode("utf-8", "surrogatepass")


class Model:
    """A loaded checkpoint directory or bundle (None: the default model, see
    default_model_path()).  Thread-safe: calls on one Model are serialised
    on its context (load one Model per thread for parallel work, or share
    one and accept the lock).  Errors raise EdgebertError with .status."""

    def __init__(self, path=None):
        self._lib = _load()
        if path is None:
            path = default_model_path()
        self._m = ctypes.c_void_p()
        self._ctx = ctypes.c_void_p()
        self._lock = threading.Lock()
        err = EbError()
        s = self._lib.eb_model_load(os.fsencode(path), None, ctypes.byref(self._m), ctypes.byref(err))
        if s:
            raise EdgebertError(s, err.msg.decode("utf-8", "replace"))
        s = self._lib.eb_context_new(self._m, ctypes.byref(self._ctx), ctypes.byref(err))
        if s:
            self.close()
            raise EdgebertError(s, err.msg.decode("utf-8", "replace"))
        self.path = str(path)

    def close(self):
        """Free the model now (also done when the object is collected)."""
        lib = getattr(self, "_lib", None)
        if lib is None:
            return
        if self._ctx:
            lib.eb_context_free(self._ctx)
            self._ctx = ctypes.c_void_p()
        if self._m:
            lib.eb_model_free(self._m)
            self._m = ctypes.c_void_p()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_open(self):
        if not self._m:
            raise ValueError("the model is closed")

    @property
    def tasks(self):
        """Task names (a checkpoint directory has one, "default")."""
        self._check_open()
        n = self._lib.eb_model_num_tasks(self._m)
        return [self._lib.eb_model_task_name(self._m, i).decode() for i in range(n)]

    def config(self, task=None):
        """The task's configuration as a dict (id2label as a list)."""
        self._check_open()
        c = self._lib.eb_model_task_config(self._m, _text(task, "task"))
        if not c:
            raise EdgebertError(3, "unknown task %r" % (task,))
        c = c.contents
        d = {n: getattr(c, n) for n, _ in EbConfig._fields_ if n != "id2label"}
        d["id2label"] = [c.id2label[i].value.decode() for i in range(max(c.num_labels, 1))]
        return d

    def tokenize(self, text, text_b=None, max_len=None):
        """ALBERT token ids of text ([CLS] text [SEP] (text_b [SEP]))."""
        self._check_open()
        tok = self._lib.eb_model_tokenizer(self._m)
        if not tok:
            raise EdgebertError(3, "%s has no tokenizer (spiece.model)" % self.path)
        if max_len is None:
            max_len = min(self.config()["max_position_embeddings"], EB_MAX_TOKENS)
        enc = EbEncoding()
        err = EbError()
        s = self._lib.eb_tokenize(tok, _text(text, "text"), _text(text_b, "text_b"), int(max_len),
                                  ctypes.byref(enc), ctypes.byref(err))
        if s:
            raise EdgebertError(s, err.msg.decode("utf-8", "replace"))
        return list(enc.ids[:enc.n])

    def _params(self, policy, threshold, latency_target, mac_size, task, precision, predict_after, max_len,
                threads):
        pol, prec = _named(self._lib, "policy", policy), _named(self._lib, "precision", precision)
        p = self._lib.eb_run_params_default()
        p.policy = pol
        p.threshold = -1.0 if threshold is None else float(threshold)
        p.latency_target_ms = float(latency_target)
        p.mac_size = int(mac_size)
        p.precision = prec
        p.max_tokens = 0 if max_len is None else int(max_len)
        p.threads = int(threads)
        if predict_after is not None:
            p.predict_after = int(predict_after)
        return p

    def classify(self, text, text_b=None, policy="ee", threshold=None, latency_target=50, mac_size=16,
                 task=None, precision="fp32", predict_after=None, max_len=None, threads=0, *,
                 max_tokens=None, latency_target_ms=None):
        """Classify one sentence (or pair).  The options are the CLI's
        (classify --help): policy "base" | "ee" | "lai", threshold (None: the
        model's own), latency_target (ms, lai), mac_size, task (a bundle's;
        None: the first), precision "fp32" | "af8" | "af8-bf16", max_len
        (None: the model's positions), threads (0 OpenMP's team, 1 the calling
        thread only, n at most n).  max_tokens and latency_target_ms are the
        old names of max_len and latency_target (DeprecationWarning).

        Returns a dict: label (name), label_id, probs and logits (numpy
        float32 arrays, one per label), exit_layer, predicted_layer (LAI; 0
        otherwise), num_layers, entropies (numpy float32, layers
        1..exit_layer), n_tokens, truncated, vdd, freq_mhz, cycles, time_ms,
        energy_uj, energy_breakdown_uj, deadline_met."""
        if max_tokens is not None:
            warnings.warn("classify(max_tokens=...) is now max_len=... (as the CLI's --max-len)",
                          DeprecationWarning, stacklevel=2)
            max_len = max_tokens if max_len is None else max_len
        if latency_target_ms is not None:
            warnings.warn("classify(latency_target_ms=...) is now latency_target=... (as the CLI's "
                          "--latency-target)", DeprecationWarning, stacklevel=2)
            latency_target = latency_target_ms
        self._check_open()
        p = self._params(policy, threshold, latency_target, mac_size, task, precision, predict_after, max_len,
                         threads)
        task_b = _text(task, "task")
        p.task = task_b
        r = EbResult()
        err = EbError()
        a, b = _text(text, "text"), _text(text_b, "text_b")
        with self._lock:
            s = self._lib.eb_classify(self._ctx, a, b, ctypes.byref(p), ctypes.byref(r), ctypes.byref(err))
        if s:
            raise EdgebertError(s, err.msg.decode("utf-8", "replace"))
        names = self.config(task)["id2label"]
        n = r.num_labels
        hw = r.hw
        return {
            "label": names[r.label] if 0 <= r.label < len(names) else str(r.label),
            "label_id": r.label,
            "probs": np.array(r.probs[:n], dtype=np.float32),
            "logits": np.array(r.logits[:n], dtype=np.float32),
            "exit_layer": r.exit_layer,
            "predicted_layer": r.predicted_layer,
            "num_layers": r.num_layers,
            "entropies": np.array(r.entropies[:r.exit_layer], dtype=np.float32),
            "n_tokens": r.n_tokens,
            "truncated": bool(r.truncated),
            "vdd": hw.vdd,
            "freq_mhz": hw.freq_mhz,
            "cycles": hw.cycles,
            "time_ms": hw.time_ms,
            "energy_uj": hw.energy_uj,
            "energy_breakdown_uj": {k[:-3]: getattr(hw.energy, k) for k, _ in EbEnergyBreakdown._fields_},
            "deadline_met": bool(hw.deadline_met),
        }

    def classify_batch(self, texts, policy="ee", threshold=None, task=None, max_len=None, precision="fp32",
                       batch_size=64):
        """Classify many sentences on the batched engine
        (include/edgebert/batch.h): the sentences of a batch go through each
        layer together and leave it when their off-ramp is sure enough; the
        answers are classify()'s, sentence by sentence.  texts: a list of
        strings (single sentences: the engine takes no token types, so pairs
        go through classify).  policy "ee" (default), "base" or "lai" (the
        predictor's exit layer; no accelerator model is run); threshold (None:
        the model's own), task, max_len and precision ("fp32", "af8" or
        "af8-bf16") as for classify.  batch_size: sentences per engine call.

        Returns a dict of arrays, one row per text: label (list of names),
        label_id (int32), probs and logits (float32 [n, labels]), exit_layer
        (int32), entropy (float32: the answering off-ramp's), n_tokens
        (int32), truncated (bool)."""
        self._check_open()
        if isinstance(texts, (str, bytes)):
            raise TypeError("classify_batch takes a list of texts (use classify for one)")
        if int(batch_size) < 1:
            raise ValueError("batch_size must be >= 1")
        p = self._params(policy, threshold, 50, 16, task, precision, None, max_len, 0)
        task_b = _text(task, "task")
        p.task = task_b
        names = self.config(task)["id2label"]
        tok = self._lib.eb_model_tokenizer(self._m)
        if not tok:
            raise EdgebertError(3, "%s has no tokenizer (spiece.model)" % self.path)
        if max_len is None:
            max_len = min(self.config(task)["max_position_embeddings"], EB_MAX_TOKENS)
        encs = []
        err = EbError()
        for i, t in enumerate(texts):
            if isinstance(t, (tuple, list)):
                raise ValueError("classify_batch: text %d is a pair; the batched engine takes single sentences "
                                 "(no token types): classify pairs with classify()" % i)
            enc = EbEncoding()
            s = self._lib.eb_tokenize(tok, _text(t, "text"), None, int(max_len), ctypes.byref(enc),
                                      ctypes.byref(err))
            if s:
                raise EdgebertError(s, "text %d: %s" % (i, err.msg.decode("utf-8", "replace")))
            encs.append(enc)
        n = len(encs)
        C = len(names)
        out = {"label": [], "label_id": np.zeros(n, np.int32), "probs": np.zeros((n, C), np.float32),
               "logits": np.zeros((n, C), np.float32), "exit_layer": np.zeros(n, np.int32),
               "entropy": np.zeros(n, np.float32), "n_tokens": np.array([e.n for e in encs], np.int32),
               "truncated": np.array([bool(e.truncated) for e in encs], bool)}
        if n == 0:
            return out
        bs = min(int(batch_size), n)
        rows = max(sum(e.n for e in encs[k:k + bs]) for k in range(0, n, bs))
        batch = ctypes.c_void_p()
        s = self._lib.eb_batch_new(self._m, bs, rows, ctypes.byref(batch), ctypes.byref(err))
        if s:
            raise EdgebertError(s, err.msg.decode("utf-8", "replace"))
        try:
            for k in range(0, n, bs):
                chunk = encs[k:k + bs]
                m = len(chunk)
                ids = (ctypes.POINTER(ctypes.c_int32) * m)(*[ctypes.cast(e.ids, ctypes.POINTER(ctypes.c_int32))
                                                             for e in chunk])
                lens = (ctypes.c_int * m)(*[e.n for e in chunk])
                res = (EbBatchResult * m)()
                s = self._lib.eb_batch_classify_ids(batch, ids, lens, m, ctypes.byref(p), res, ctypes.byref(err))
                if s:
                    raise EdgebertError(s, err.msg.decode("utf-8", "replace"))
                for j, r in enumerate(res):
                    out["label_id"][k + j] = r.label
                    out["logits"][k + j] = r.logits[:C]
                    out["exit_layer"][k + j] = r.exit_layer
                    out["entropy"][k + j] = r.entropy
        finally:
            self._lib.eb_batch_free(batch)
        out["label"] = [names[i] if 0 <= i < C else str(i) for i in out["label_id"]]
        if C > 1:  # softmax, as the library computes it per sentence
            z = out["logits"].astype(np.float64)
            z = np.exp(z - z.max(axis=1, keepdims=True))
            out["probs"] = (z / z.sum(axis=1, keepdims=True)).astype(np.float32)
        else:  # regression: the value itself
            out["probs"] = out["logits"].copy()
        return out


from .client import Client, ServerError  # noqa: E402  (HTTP client of `edgebert serve`)
