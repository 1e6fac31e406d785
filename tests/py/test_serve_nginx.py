#!/usr/bin/env python3
"""Scale-out: two `edgebert serve` instances behind nginx on loopback (the
load-balancer configuration of docs/serving.md).  Every request through nginx is
answered, and both instances answered some (their own /metrics).  Skips when
nginx is not installed.  Only 127.0.0.1; every loop is bounded."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("EB_BUILD", "build")
EXE = os.path.join(ROOT, BUILD, "edgebert")
MODEL = os.path.join(ROOT, "models", "default.ebb")

CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream edgebert {{
        server 127.0.0.1:{p1};
        server 127.0.0.1:{p2};
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://edgebert;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def start_server():
    p = subprocess.Popen([EXE, "serve", "-m", MODEL, "--port", "0", "--threads", "1"],
                         stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = p.stderr.readline()
        if not line:
            break
        if "listening on http://127.0.0.1:" in line:
            return p, int(line.split("127.0.0.1:")[1].split()[0])
    p.kill()
    raise RuntimeError("edgebert serve did not start")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def served(port):
    st, m = get("http://127.0.0.1:%d/metrics" % port)
    for line in m.splitlines():
        if line.startswith('edgebert_requests_total{code="200"}'):
            return int(line.split()[-1])
    return 0


def main():
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if not nginx:
        print("SKIP serve_nginx_two_instances: nginx is not installed (tools/install-deps.sh)")
        return 0
    if not os.path.exists(EXE) or not os.path.exists(MODEL):
        print("SKIP serve_nginx_two_instances: %s or %s missing" % (EXE, MODEL))
        return 0
    tmp = tempfile.mkdtemp(prefix="eb_nginx_")
    os.chmod(tmp, 0o755)
    servers, ng = [], None
    try:
        servers = [start_server(), start_server()]
        ok, why = False, ""
        for attempt in range(3):  # the free port may be taken between the probe and nginx
            port = free_port()
            with open(os.path.join(tmp, "nginx.conf"), "w") as f:
                f.write(CONF.format(tmp=tmp, p1=servers[0][1], p2=servers[1][1], port=port))
            ng = subprocess.Popen([nginx, "-p", tmp, "-e", os.path.join(tmp, "error.log"), "-c",
                                   os.path.join(tmp, "nginx.conf"), "-g", "daemon off;"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            up = False
            for _ in range(100):
                if ng.poll() is not None:
                    break
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    up = True
                    break
                except OSError:
                    time.sleep(0.05)
            if up:
                break
            err = ng.stderr.read().decode() if ng.poll() is not None else ""
            ng.kill()
            ng.wait()
            ng = None
            why = "nginx did not start: %s" % err[-300:]
        if ng is None:
            print("FAIL serve_nginx_two_instances: %s" % why)
            return 1
        url = "http://127.0.0.1:%d" % port
        answers = [get(url + "/v1/classify", {"text": "a fine film %d" % i}) for i in range(20)]
        bad = [a for a in answers if a[0] != 200 or "label" not in json.loads(a[1])]
        n1, n2 = served(servers[0][1]), served(servers[1][1])
        health = get(url + "/health")
        ok = not bad and n1 > 0 and n2 > 0 and n1 + n2 >= 20 and health[0] == 200
        if ok:
            print("PASS serve_nginx_two_instances")
        else:
            print("FAIL serve_nginx_two_instances: %d bad answers (%s), instance answers %d and "
                  "%d, health %s" % (len(bad), bad[:1], n1, n2, health))
        return 0 if ok else 1
    finally:
        if ng is not None:
            ng.send_signal(signal.SIGQUIT)
            try:
                ng.wait(timeout=10)
            except subprocess.TimeoutExpired:
                ng.kill()
                ng.wait()
        for p, _ in servers:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
