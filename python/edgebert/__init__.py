"""edgebert - Python binding of libedgebert (ctypes, no compiled extension).

    import edgebert
    m = edgebert.Model("path/to/model_dir_or_bundle.ebb")
    m.tokenize("Is it?", "It is not.")          # -> [2, ..., 3, ..., 3]
    r = m.classify("a gorgeous movie", policy="lai", latency_target_ms=50)
    r["label"], r["exit_layer"], r["vdd"], r["freq_mhz"], r["energy_uj"]

The shared library is found through $EDGEBERT_LIB, then build/libedgebert.so
of the source tree this package sits in, then the system's libedgebert.so.0.
The ctypes structures below mirror include/edgebert.h field for field;
tests/py/test_python_binding.py checks their layout against the C compiler's.
"""
import ctypes
import ctypes.util
import os
import threading

__all__ = ["Model", "EdgebertError", "library_path", "Client", "ServerError"]

EB_MAX_LABELS = 16
EB_MAX_LAYERS = 64
EB_MAX_TOKENS = 4096
EB_LABEL_NAME_MAX = 32
EB_ERROR_MSG_MAX = 512

POLICIES = {"base": 0, "ee": 1, "lai": 2}
PRECISIONS = {"fp32": 0, "af8": 1, "af8-bf16": 2}
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


class EdgebertError(RuntimeError):
    """A libedgebert call failed: .status is the eb_status number, .name its name."""

    def __init__(self, status, msg):
        self.status = status
        self.name = STATUS_NAMES.get(status, "error %d" % status)
        super().__init__("%s: %s" % (self.name, msg))


def _find_library():
    env = os.environ.get("EDGEBERT_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for rel in ("../../build/libedgebert.so", "../../lib/libedgebert.so.0"):
        p = os.path.normpath(os.path.join(here, rel))
        if os.path.exists(p):
            return p
    found = ctypes.util.find_library("edgebert")
    if found:
        return found
    raise OSError("libedgebert.so not found: build it (make) or set EDGEBERT_LIB")


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
            "eb_status_name": (ctypes.c_char_p, [ctypes.c_int]),
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


def _text(s, what):
    if s is None:
        return None
    if isinstance(s, bytes):
        return s
    if not isinstance(s, str):
        raise TypeError("%s must be str or bytes" % what)
    return s.encode("utf-8", "surrogatepass")


class Model:
    """A loaded checkpoint directory or bundle.  Thread-safe: calls on one
    Model are serialised on its context (load one Model per thread for
    parallel work, or share one and accept the lock)."""

    def __init__(self, path):
        self._lib = _load()
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

    def classify(self, text, text_b=None, policy="ee", threshold=None, latency_target_ms=50, mac_size=16,
                 task=None, precision="fp32", predict_after=None, max_tokens=0, threads=0):
        """Classify one sentence (or pair).  Returns a dict: label (name),
        label_id, probs, logits, exit_layer, predicted_layer (LAI; 0
        otherwise), num_layers, entropies (layers 1..exit_layer), n_tokens,
        truncated, vdd, freq_mhz, cycles, time_ms, energy_uj, energy_breakdown_uj,
        deadline_met.  threads: 0 OpenMP's team, 1 the calling thread only, n at most n."""
        self._check_open()
        if policy not in POLICIES:
            raise ValueError("policy must be one of %s" % ", ".join(POLICIES))
        if precision not in PRECISIONS:
            raise ValueError("precision must be one of %s" % ", ".join(PRECISIONS))
        p = self._lib.eb_run_params_default()
        p.policy = POLICIES[policy]
        p.threshold = -1.0 if threshold is None else float(threshold)
        p.latency_target_ms = float(latency_target_ms)
        p.mac_size = int(mac_size)
        p.precision = PRECISIONS[precision]
        p.max_tokens = int(max_tokens)
        p.threads = int(threads)
        if predict_after is not None:
            p.predict_after = int(predict_after)
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
            "probs": [float(x) for x in r.probs[:n]],
            "logits": [float(x) for x in r.logits[:n]],
            "exit_layer": r.exit_layer,
            "predicted_layer": r.predicted_layer,
            "num_layers": r.num_layers,
            "entropies": [float(x) for x in r.entropies[:r.exit_layer]],
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


from .client import Client, ServerError  # noqa: E402  (HTTP client of `edgebert serve`)
