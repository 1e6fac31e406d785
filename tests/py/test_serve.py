#!/usr/bin/env python3
"""edgebert serve end to end on loopback: the server is started on a free port by
this test and stopped by it.  Checks that
- an unbatched answer is byte for byte what `edgebert classify --json` prints (texts,
  pairs, tasks, af8, lai with a latency target);
- answers of the batched engine (concurrent requests with policies, thresholds and
  latency targets of their own, af8, pairs, and "texts" arrays) equal the object
  `classify --json` prints field for field (V/F, time, energy, deadline included), in
  input order, and batches of more than one sentence really ran (metrics);
- bad input of every kind gets a 4xx with a JSON error naming the field, and the
  server keeps answering;
- /health, /v1/models, /metrics (every metric edgebert_...);
- 64 clients at once are all served; with a cap of 2 connections, more clients wait
  and are served, not reset; an idle half-sent request is closed after --timeout, a
  trickled body after --body-timeout; a chunked body over --max-body gets 413;
- lai on a model without an exit predictor table is a 400 naming the policy;
- SIGTERM while requests are in flight: they are answered, the server exits 0;
- edgebert.Client gives what edgebert.Model gives.
Every loop is bounded; only 127.0.0.1 is used."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("EB_BUILD", "build")
EXE = os.path.join(ROOT, BUILD, "edgebert")
MODEL = os.path.join(ROOT, "models", "default.ebb")
failed = 0

SENTENCES = ["a fine film", "an utterly awful , boring mess", "it is not bad at all",
             "the acting is wooden but the story holds", "what a waste of time",
             "a gorgeous , moving film", "i do n't know what to say", "dull",
             "charming and funny from start to end", "the plot makes no sense whatsoever",
             "this movie is a triumph of style over substance , and i loved every minute",
             "meh"]


def report(name, ok, why=""):
    global failed
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))
    failed += 0 if ok else 1


class Server:
    def __init__(self, *args):
        self.p = subprocess.Popen([EXE, "serve", "-m", MODEL, "--port", "0", "--threads", "1"]
                                  + list(args), stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.port = None
        self.log = []
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.p.stderr.readline()
            if not line:
                break
            self.log.append(line)
            if "listening on http://127.0.0.1:" in line:
                self.port = int(line.split("127.0.0.1:")[1].split()[0])
                break
        if self.port is None:
            self.p.kill()
            raise RuntimeError("server did not start: %s" % "".join(self.log))
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self._drain_log, daemon=True).start()

    def _drain_log(self):
        for line in self.p.stderr:
            self.log.append(line)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                return self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                return self.p.wait()
        return self.p.returncode


def http(url, body=None, raw=None, timeout=30):
    """(status, text) of a GET (body None) or POST."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")


def classify_cli(args):
    p = subprocess.run([EXE, "classify", "-m", MODEL, "--json", "--threads", "1"] + args,
                       capture_output=True, text=True, cwd=ROOT)
    return p.stdout


def close(a, b, tol=1e-4):
    return all(abs(x - y) <= tol * max(1.0, abs(y)) for x, y in zip(a, b)) and len(a) == len(b)


def same_answer(b, full):
    """Does a served answer equal a `classify --json` object field for field?  The same
    keys; integers, strings and booleans exactly; numbers printed with 6 digits to 1e-4
    relative (a batch of several sentences may round a product differently)."""
    if sorted(b) != sorted(full):
        return "keys %s vs %s" % (sorted(b), sorted(full))
    for k, v in full.items():
        w = b[k]
        if isinstance(v, dict):
            why = same_answer(w, v)
            if why:
                return "%s: %s" % (k, why)
        elif isinstance(v, list) and v and isinstance(v[0], float):
            if not close(w, v):
                return "%s: %s vs %s" % (k, w, v)
        elif isinstance(v, float) and not isinstance(w, bool):
            if not close([w], [v]):
                return "%s: %s vs %s" % (k, w, v)
        elif w != v:
            return "%s: %r vs %r" % (k, w, v)
    return None


def cli_args(body):
    """The classify arguments of a request body."""
    args = []
    for key, opt in (("task", "--task"), ("policy", "--policy"), ("threshold", "--threshold"),
                     ("latency_target_ms", "--latency-target"), ("precision", "--precision")):
        if key in body:
            args += [opt, str(body[key])]
    return args + ["--", body["text"]] + ([body["text_b"]] if "text_b" in body else [])


def metric(s, prefix):
    st, m = http(s.url + "/metrics")
    found = [l for l in m.splitlines() if l.startswith(prefix)]
    return int(float(found[0].split()[-1])) if found else 0


def concurrent(s, bodies):
    """POST every body at once; the answers in order."""
    answers = [None] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def one(i):
        barrier.wait(timeout=10)
        answers[i] = http(s.url + "/v1/classify", bodies[i])

    th = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    [x.start() for x in th]
    [x.join(timeout=120) for x in th]
    return [a if a else (0, "") for a in answers]


def test_exact(s):
    cases = [({"text": t}, [t]) for t in SENTENCES[:4]]
    cases += [({"text": "a man is playing", "text_b": "a person plays", "task": "mrpc"},
               ["--task", "mrpc", "a man is playing", "a person plays"]),
              ({"text": SENTENCES[4], "task": "cola", "policy": "base"},
               ["--task", "cola", "--policy", "base", SENTENCES[4]]),
              ({"text": SENTENCES[5], "precision": "af8", "threshold": 0.2},
               ["--precision", "af8", "--threshold", "0.2", SENTENCES[5]]),
              ({"text": SENTENCES[6], "policy": "lai", "latency_target_ms": 0.03},
               ["--policy", "lai", "--latency-target", "0.03", SENTENCES[6]])]
    bad = []
    for body, args in cases:
        body = dict(body, batch=False)
        st, out = http(s.url + "/v1/classify", body)
        want = classify_cli(args)
        if st != 200 or out != want:
            bad.append("%s: %d %r vs classify --json %r" % (body, st, out, want))
    report("serve_unbatched_equals_classify_json", not bad, "; ".join(bad))


def test_batched(s):
    # concurrent single-text requests, each with settings of its own: the engine
    # batches those of one task and precision together
    bodies = []
    for i, t in enumerate(SENTENCES):
        b = {"text": t}
        if i % 4 == 1:
            b.update(policy="lai", latency_target_ms=[0.03, 0.1, 5][i % 3])
        elif i % 4 == 2:
            b.update(policy="base")
        elif i % 4 == 3:
            b.update(threshold=0.2)
        if i >= 8:
            b.update(precision="af8")  # a batch of af8 sentences (ee, lai, base)
        bodies.append(b)
    bodies += [{"text": "a man is playing", "text_b": "a person plays", "task": "mrpc"},
               {"text": "the cat sat", "text_b": "a dog ran", "task": "mrpc", "policy": "lai"},
               {"text": SENTENCES[4], "task": "cola", "policy": "base"}]
    before = sum(metric(s, 'edgebert_sentences_total{task="%s",engine="batched"}' % t)
                 for t in ("sst2", "cola", "mrpc"))
    runs0 = metric(s, "edgebert_batch_size_count")
    ones0 = metric(s, 'edgebert_batch_size_bucket{le="1"}')
    answers = concurrent(s, bodies)
    bad = []
    for body, (st, out) in zip(bodies, answers):
        if st != 200:
            bad.append("%r: HTTP %d %s" % (body, st, out))
            continue
        # against the per-sentence engine: the server's own ("batch": false) and, for
        # one text of every kind, classify --json itself
        st2, alone = http(s.url + "/v1/classify", dict(body, batch=False))
        why = same_answer(json.loads(out), json.loads(alone)) if st2 == 200 else alone
        if why:
            bad.append("%r: %s" % (body, why))
    for i in (0, 1, 2, 3, 8, 9, 12, 13):
        want = classify_cli(cli_args(bodies[i]))
        why = same_answer(json.loads(answers[i][1]), json.loads(want)) if answers[i][0] == 200 \
            else answers[i][1]
        if why:
            bad.append("%r vs classify --json: %s" % (bodies[i], why))
    after = sum(metric(s, 'edgebert_sentences_total{task="%s",engine="batched"}' % t)
                for t in ("sst2", "cola", "mrpc"))
    runs = metric(s, "edgebert_batch_size_count") - runs0
    ones = metric(s, 'edgebert_batch_size_bucket{le="1"}') - ones0
    if after - before < len(bodies) or runs - ones < 1:
        bad.append("not all batched or no batch of more than one sentence ran (batched %d of %d, "
                   "runs %d, of one %d)" % (after - before, len(bodies), runs, ones))
    report("serve_batched_equals_classify_json", not bad, "; ".join(bad))
    # a texts array: in order, equal to the single answers
    full = {}
    for t in SENTENCES[:8]:
        st, out = http(s.url + "/v1/classify", {"text": t, "batch": False})
        full[t] = json.loads(out)
    some = SENTENCES[:8]  # the test server allows 8 texts per request
    st, out = http(s.url + "/v1/classify", {"texts": some})
    bad = []
    arr = json.loads(out) if st == 200 else []
    if len(arr) != len(some):
        bad.append("HTTP %d, %d answers for %d texts" % (st, len(arr), len(some)))
    for t, a in zip(some, arr):
        why = same_answer(a, full[t])
        if why:
            bad.append("%r: %s" % (t, why))
    # "batch": false arrays with a pair answer the full objects in order
    st2, out2 = http(s.url + "/v1/classify", {"texts": SENTENCES[:3] + [["a", "b"]],
                                               "batch": False})
    arr2 = json.loads(out2) if st2 == 200 else []
    want2 = [full[t] for t in SENTENCES[:3]]
    if arr2[:3] != want2 or len(arr2) != 4 or "energy_uj" not in arr2[3]:
        bad.append("batch false array differs: %s" % out2[:300])
    report("serve_texts_array_in_order", not bad, "; ".join(bad))


def test_bad_input(s):
    u = s.url + "/v1/classify"
    cases = [
        (b'{"text": "a"', 400, "body"), (b"", 400, "body"), (b"[1]", 400, "body"),
        (b'{"text": "a"} x', 400, "body"), (b'{"text": "\xff\xfe"}', 400, "body"),
        (b'{"text": 5}', 400, "text"), (b'{"text": ""}', 400, "text"),
        (b'{"text": "a", "text_b": 3}', 400, "text_b"), (b'{"texts": "a"}', 400, "texts"),
        (b'{"texts": []}', 400, "texts"), (b'{"texts": ["a", 7]}', 400, "texts[1]"),
        (b'{"texts": ["a", ""]}', 400, "texts[1]"), (b'{"texts": [["a", "b", "c"]]}', 400, "texts[0]"),
        (b'{"text": "a", "task": "nope"}', 400, "task"), (b'{"text": "a", "task": 1}', 400, "task"),
        (b'{"text": "a", "policy": "fast"}', 400, "policy"),
        (b'{"text": "a", "policy": 1}', 400, "policy"),
        (b'{"text": "a", "precision": "int4"}', 400, "precision"),
        (b'{"text": "a", "threshold": "x"}', 400, "threshold"),
        (b'{"text": "a", "threshold": -1}', 400, "threshold"),
        (b'{"text": "a", "latency_target_ms": 0}', 400, "latency_target_ms"),
        (b'{"text": "a", "batch": 1}', 400, "batch"), (b'{"text": "a", "colour": 1}', 400, "colour"),
        (b'{"text": "a", "text": "b"}', 400, "text"), (b'{}', 400, "text"),
        (b'{"text": "a", "texts": ["b"]}', 400, "texts"),
        (('{"text": "%s"}' % ("x" * 300)).encode(), 413, "text"),
        (('{"texts": [%s]}' % ",".join(['"a"'] * 9)).encode(), 413, "texts"),
        (('{"text": "a", "pad": "%s"}' % ("x" * 5000)).encode(), 413, "body"),
    ]
    bad = []
    for raw, want, field in cases:
        st, out = http(u, raw=raw)
        try:
            err = json.loads(out)["error"]
        except (ValueError, KeyError):
            err = None
        if st != want or not err or not err.startswith(field + ":"):
            bad.append("%r: HTTP %d %r (want %d naming %s)" % (raw[:40], st, out, want, field))
    # a chunked body (no Content-Length) over --max-body
    c = socket.create_connection(("127.0.0.1", s.port), timeout=20)
    c.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
              b"Connection: close\r\n\r\n" + (b"400\r\n" + b"x" * 1024 + b"\r\n") * 6 + b"0\r\n\r\n")
    d = b""
    while len(d) < 100000:
        k = c.recv(65536)
        if not k:
            break
        d += k
    c.close()
    if not d.startswith(b"HTTP/1.1 413") or b'"error":"body:' not in d:
        bad.append("chunked body over the limit: %r" % d[:200])
    for path, method, want in (("/nope", "GET", 404), ("/v1/classify", "GET", 405),
                               ("/health", "POST", 405)):
        req = urllib.request.Request(s.url + path, data=b"{}" if method == "POST" else None,
                                     method=method)
        try:
            st = urllib.request.urlopen(req, timeout=10).status
        except urllib.error.HTTPError as e:
            st = e.code
        if st != want:
            bad.append("%s %s: %d, want %d" % (method, path, st, want))
    st, out = http(u, {"text": "still here"})
    if st != 200 or s.p.poll() is not None:
        bad.append("the server stopped answering after bad input: %d %s" % (st, out))
    report("serve_bad_input_4xx_naming_the_field", not bad, "; ".join(bad))


def test_endpoints(s):
    bad = []
    st, out = http(s.url + "/health")
    if st != 200 or json.loads(out) != {"status": "ok"}:
        bad.append("health: %d %s" % (st, out))
    st, out = http(s.url + "/v1/models")
    mj = json.loads(out)
    names = [t["name"] for t in mj["tasks"]]
    if names != ["sst2", "cola", "mrpc"] or mj["tasks"][0]["labels"] != ["negative", "positive"] \
            or "threshold" not in mj["tasks"][0] or "task_bytes" not in mj["tasks"][0]:
        bad.append("models: %s" % out[:300])
    st, out = http(s.url + "/metrics")
    names = set()
    for line in out.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{")[0].split()[0]
        names.add(name)
        if not name.startswith("edgebert_"):
            bad.append("metric %s" % name)
        float(line.split()[-1])
    for want in ("edgebert_requests_total", "edgebert_request_duration_seconds_bucket",
                 "edgebert_batch_size_bucket", "edgebert_exit_layer_bucket",
                 "edgebert_sentence_energy_microjoules_sum", "edgebert_deadline_misses_total"):
        if want not in names:
            bad.append("no %s" % want)
    if 'edgebert_requests_total{code="400"} 0' in out:
        bad.append("the 400s were not counted")
    report("serve_health_models_metrics", not bad, "; ".join(bad))


def test_many_clients(s):
    n = 64
    res = []
    barrier = threading.Barrier(n)
    lock = threading.Lock()

    def one(i):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=60)
        barrier.wait(timeout=20)  # all 64 connections open at once
        body = json.dumps({"text": SENTENCES[i % len(SENTENCES)]}).encode()
        c.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        d = b""
        while True:
            k = c.recv(65536)
            if not k:
                break
            d += k
        c.close()
        with lock:
            res.append(d.split(b"\r\n", 1)[0])

    th = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    [x.start() for x in th]
    [x.join(timeout=120) for x in th]
    ok = len(res) == n and all(r == b"HTTP/1.1 200 OK" for r in res)
    report("serve_64_simultaneous_clients", ok, "%d answers: %s" % (len(res), set(res)))


def test_cap_and_timeout():
    s = Server("--connections", "2", "--timeout", "1", "--body-timeout", "1")
    try:
        holders = []
        for _ in range(2):  # fill the cap with two half-sent requests
            c = socket.create_connection(("127.0.0.1", s.port))
            c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            holders.append(c)
        time.sleep(0.2)
        res = []
        t0 = time.time()

        def one():
            try:
                res.append(http(s.url + "/health", timeout=20)[0])
            except Exception as e:  # noqa: BLE001  (a reset is what this test looks for)
                res.append(repr(e))

        th = [threading.Thread(target=one) for _ in range(4)]
        [x.start() for x in th]
        [x.join(timeout=30) for x in th]
        waited = time.time() - t0
        # the half-sent requests were closed by the idle timeout
        closed = 0
        for c in holders:
            c.settimeout(5)
            try:
                closed += c.recv(100) == b""
            except OSError:
                closed += 1
        ok = res == [200] * 4 and closed == 2 and waited >= 0.5
        report("serve_connection_cap_waits_and_idle_timeout", ok,
               "answers %s after %.2f s, %d of 2 idle connections closed" % (res, waited, closed))
        # a body trickled in (never idle for --timeout) is cut at --body-timeout
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        c.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        t0, cut = time.time(), False
        for _ in range(40):  # at most 12 s
            try:
                c.sendall(b'{"t')
            except OSError:
                cut = True
                break
            time.sleep(0.3)
        elapsed = time.time() - t0
        c.close()
        st, _ = http(s.url + "/health")
        report("serve_body_timeout_closes_slow_body", cut and elapsed < 6 and st == 200,
               "cut %s after %.1f s, health %d" % (cut, elapsed, st))
    finally:
        s.stop()


def test_model_without_lut():
    """A checkpoint without an exit predictor table: lai is refused naming the policy,
    ee is served."""
    try:
        sys.path.insert(0, HERE)
        import tiny_model
        import tempfile
        d = os.path.join(tempfile.mkdtemp(prefix="eb_serve_"), "m")
        tiny_model.make_model(d, layers=4, lut=None)
    except Exception as e:  # noqa: BLE001  (sentencepiece or numpy missing)
        print("SKIP serve_lai_without_table: cannot write a tiny model (%s)" % e)
        return
    s = Server("-m", d)  # a later -m replaces the default model
    try:
        st, out = http(s.url + "/v1/classify", {"text": "a b", "policy": "lai"})
        st2, _ = http(s.url + "/v1/classify", {"text": "a b"})
        ok = st == 400 and json.loads(out)["error"].startswith("policy:") and st2 == 200
        report("serve_lai_without_table", ok, "%d %s, ee %d" % (st, out, st2))
    finally:
        s.stop()


def test_sigterm_drain():
    s = Server("--batch-wait-ms", "400", "--max-batch", "64")
    res = []

    def one(t):
        res.append(http(s.url + "/v1/classify", {"text": t})[0])

    th = [threading.Thread(target=one, args=(t,)) for t in SENTENCES[:6]]
    [x.start() for x in th]
    time.sleep(0.15)  # the requests wait for their batch
    s.p.send_signal(signal.SIGTERM)
    [x.join(timeout=30) for x in th]
    try:
        rc = s.p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        s.p.kill()
        rc = "hung"
    refused = None
    try:
        socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
    except OSError:
        refused = True
    ok = rc == 0 and res == [200] * 6 and refused
    report("serve_sigterm_drains_and_exits_0", ok,
           "rc %s, answers %s, port closed %s; log %s" % (rc, res, refused, "".join(s.log)[-300:]))


def test_client(s):
    sys.path.insert(0, os.path.join(ROOT, "python"))
    try:
        import edgebert
    except (ImportError, OSError) as e:
        print("SKIP serve_python_client: %s" % e)
        return
    c = edgebert.Client(s.url)
    bad = []
    try:
        m = edgebert.Model(MODEL)
    except (OSError, edgebert.EdgebertError) as e:
        print("SKIP serve_python_client: %s" % e)
        return
    if c.tasks != m.tasks:
        bad.append("tasks %s vs %s" % (c.tasks, m.tasks))
    if c.config("cola")["id2label"] != m.config("cola")["id2label"]:
        bad.append("config id2label")
    for kw in ({}, {"task": "cola"}, {"policy": "lai", "latency_target_ms": 0.03},
               {"precision": "af8"}):
        a = c.classify(SENTENCES[2], **kw)
        b = m.classify(SENTENCES[2], threads=1, **kw)
        for k, v in b.items():
            v = v.tolist() if hasattr(v, "tolist") else v  # Model gives numpy arrays, the server JSON lists
            same = close(a[k], v) if isinstance(v, list) and v and isinstance(v[0], float) else \
                (close([a[k]], [v]) if isinstance(v, float) else
                 (all(abs(a[k][j] - v[j]) <= 1e-4 * max(1, abs(v[j])) for j in v)
                  if isinstance(v, dict) else a[k] == v))
            if not same:
                bad.append("%s %s: %r vs %r" % (kw, k, a[k], v))
    many = c.classify_many(SENTENCES[:3] + [("a man", "a person")])
    if [r["label"] for r in many[:3]] != [m.classify(t, threads=1)["label"] for t in SENTENCES[:3]]:
        bad.append("classify_many labels")
    try:
        c.classify("a", task="nope")
        bad.append("no error for an unknown task")
    except edgebert.ServerError as e:
        if e.status != 400 or not e.msg.startswith("task:"):
            bad.append("error %s %s" % (e.status, e.msg))
    m.close()
    report("serve_python_client_equals_model", not bad, "; ".join(bad))


def main():
    if not os.path.exists(EXE):
        print("SKIP serve: %s not built" % EXE)
        return 0
    if not os.path.exists(MODEL):
        print("SKIP serve: %s missing" % MODEL)
        return 0
    s = Server("--batch-wait-ms", "50", "--max-text-bytes", "200", "--max-texts", "8",
               "--max-body", "4096")
    try:
        test_exact(s)
        test_batched(s)
        test_bad_input(s)
        test_endpoints(s)
        test_many_clients(s)
        test_client(s)
    finally:
        rc = s.stop()
    report("serve_stops_with_0", rc == 0, "exit status %s" % rc)
    test_cap_and_timeout()
    test_model_without_lut()
    test_sigterm_drain()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
