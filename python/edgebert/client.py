"""edgebert.Client - the calls of edgebert.Model against an `edgebert serve` server.

    import edgebert
    c = edgebert.Client("http://127.0.0.1:8080")
    c.tasks                                   # ["sst2", "cola", "mrpc"]
    r = c.classify("a gorgeous movie", task="sst2", policy="lai", latency_target_ms=50)
    r["label"], r["exit_layer"], r["energy_uj"]
    c.classify_many(["good", "bad", ("a man", "a person")])   # one request, answers in order

Only the standard library (urllib, json); no shared library is loaded.  Every
answer has the fields of `edgebert classify --json` (those of Model.classify and
flops) with the values Model.classify gives, whether the server ran the sentence
in a batch with others (the default) or alone (classify_many(..., batch=False)).
Errors the server reports raise ServerError (HTTP status, message naming the
field)."""
import json
import urllib.error
import urllib.request

__all__ = ["Client", "ServerError"]


class ServerError(RuntimeError):
    """An answer other than 200: .status is the HTTP status, .msg the server's error."""

    def __init__(self, status, msg):
        super().__init__("HTTP %d: %s" % (status, msg))
        self.status = status
        self.msg = msg


class Client:
    """A server at url (http://host:port).  Thread-safe (one HTTP request per call)."""

    def __init__(self, url, timeout=30):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._models = None

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, path, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                raw = r.read()
                ctype = r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                msg = json.loads(raw.decode("utf-8"))["error"]
            except (ValueError, KeyError, TypeError):
                msg = raw.decode("utf-8", "replace")
            raise ServerError(e.code, msg) from None
        if ctype.startswith("application/json"):
            return json.loads(raw.decode("utf-8"))
        return raw.decode("utf-8")

    def models(self):
        """GET /v1/models: the model's tasks, labels, thresholds and sizes."""
        if self._models is None:
            self._models = self._call("/v1/models")
        return self._models

    @property
    def tasks(self):
        """Task names, as Model.tasks."""
        return [t["name"] for t in self.models()["tasks"]]

    def config(self, task=None):
        """What the server tells of a task (the first when None): name, labels (as
        id2label), num_labels, num_layers, hidden_size, max_tokens, thresholds, sizes."""
        ts = self.models()["tasks"]
        for t in ts:
            if task is None or t["name"] == task:
                d = dict(t)
                d["id2label"] = list(t.get("labels", []))
                return d
        raise ServerError(400, "task: unknown task %r" % (task,))

    def health(self):
        return self._call("/health")

    def metrics(self):
        """The Prometheus text of GET /metrics."""
        return self._call("/metrics")

    @staticmethod
    def _params(policy, threshold, latency_target_ms, task, precision, mac_size, predict_after,
                max_tokens):
        if mac_size != 16 or predict_after is not None or max_tokens:
            raise ValueError("the server runs with mac_size 16, its model's predict_after and "
                             "max_tokens: leave them at their defaults")
        body = {"policy": policy, "precision": precision, "latency_target_ms": latency_target_ms}
        if threshold is not None:
            body["threshold"] = threshold
        if task is not None:
            body["task"] = task
        return body

    def classify(self, text, text_b=None, policy="ee", threshold=None, latency_target_ms=50,
                 mac_size=16, task=None, precision="fp32", predict_after=None, max_tokens=0,
                 threads=0):
        """Classify one sentence (or pair) as Model.classify does; the dict has the
        fields of `edgebert classify --json` (those of Model.classify and flops).
        threads is the server's (--threads) and is ignored here."""
        body = self._params(policy, threshold, latency_target_ms, task, precision, mac_size,
                            predict_after, max_tokens)
        body["text"] = text
        if text_b is not None:
            body["text_b"] = text_b
        return self._call("/v1/classify", body)

    def classify_many(self, texts, policy="ee", threshold=None, latency_target_ms=50, task=None,
                      precision="fp32", batch=True):
        """Several sentences in one request (a text or a (text, text_b) pair each);
        the answers in input order."""
        items = [list(t) if isinstance(t, (tuple, list)) else t for t in texts]
        body = self._params(policy, threshold, latency_target_ms, task, precision, 16, None, 0)
        body["texts"] = items
        body["batch"] = bool(batch)
        return self._call("/v1/classify", body)
