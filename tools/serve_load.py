#!/usr/bin/env python3
"""A bounded load test of `clformer serve` on loopback.

    python3 tools/serve_load.py [--model DIR] [--clients 16] [--requests 200]

Makes a pool of sentences, embeds them once with `clformer embed --npy` (the
reference), starts `clformer serve --port 0` on 127.0.0.1, and runs CLIENTS
threads of REQUESTS requests each to POST /v1/embeddings, each request
1 to 32 sentences drawn from the pool; every vector of every answer is
checked against the reference row of its sentence (so a vector routed to
the wrong request or the wrong place fails). Meanwhile --disconnects times
a client sends a request and hangs up before its answer (every other one
halfway through its body): the others must not notice. At the end the server gets SIGTERM and must exit 0. Prints the
throughput and the latencies' p50 and p99; exits 1 on any failure.
Needs numpy (tools/fetch_pyenv.sh's environment has it).
"""
import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

WORDS = ("the a of to and in is that for it as was with be by on not he this are or his "
         "from at which but have an they you were her she there been one all we their "
         "river model server batch token vector quiet green morning engine paper window "
         "history music garden ocean mountain question answer simple quickly slowly").split()


def sentences(n, rng):
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40))) + "."
            for _ in range(n)]


def start_server(exe, model, extra):
    p = subprocess.Popen([exe, "serve", "-m", model, "--port", "0", *extra],
                         stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    line = p.stdout.readline()
    if not line.startswith("listening on http://127.0.0.1:"):
        p.kill()
        sys.exit(f"serve_load: the server did not start ({line!r})")
    return p, int(line.rsplit(":", 1)[1])


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--exe", default=os.path.join(root, "build", "tools", "clformer"))
    ap.add_argument("--model", default=os.path.expanduser(
        "~/.cache/clformer/models/all-MiniLM-L6-v2"))
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=200, help="per client")
    ap.add_argument("--disconnects", type=int, default=8)
    ap.add_argument("--pool", type=int, default=256, help="distinct sentences")
    ap.add_argument("--tolerance", type=float, default=1e-6,
                    help="largest |served - reference| allowed per element")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600, help="seconds for the whole run")
    ap.add_argument("serve_args", nargs="*", help="more options for clformer serve (after --)")
    a = ap.parse_args()

    rng = random.Random(a.seed)
    pool = sentences(a.pool, rng)
    with tempfile.TemporaryDirectory() as tmp:
        txt, npy = os.path.join(tmp, "pool.txt"), os.path.join(tmp, "ref.npy")
        with open(txt, "w") as f:
            f.write("\n".join(pool) + "\n")
        r = subprocess.run([a.exe, "embed", "-m", a.model, "--file", txt, "--npy", npy],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode:
            sys.exit(f"serve_load: clformer embed failed: {r.stderr}")
        ref = np.load(npy)

    server, port = start_server(a.exe, a.model, a.serve_args)
    deadline = time.monotonic() + a.timeout
    lat, errors, worst, lock = [], [], [0.0], threading.Lock()
    inputs, bad = [0], [0]

    def client(k):
        crng = random.Random(a.seed * 1000 + k)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(a.requests):
            if time.monotonic() > deadline:
                with lock:
                    errors.append(f"client {k}: out of time")
                return
            pick = [crng.randrange(a.pool) for _ in range(crng.randint(1, 32))]
            body = json.dumps({"input": [pool[i] for i in pick], "model": f"c{k}"})
            t = time.monotonic()
            try:
                conn.request("POST", "/v1/embeddings", body,
                             {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    errors.append(f"client {k}: {e!r}")
                return
            dt = time.monotonic() - t
            if resp.status != 200:
                with lock:
                    errors.append(f"client {k}: HTTP {resp.status}: {data[:200]!r}")
                continue
            d = json.loads(data)
            got = np.array([e["embedding"] for e in d["data"]], dtype=np.float64)
            ok = (d["model"] == f"c{k}" and [e["index"] for e in d["data"]] ==
                  list(range(len(pick))) and got.shape == (len(pick), ref.shape[1]))
            err = float(np.abs(got - ref[pick]).max()) if ok else float("inf")
            with lock:
                lat.append(dt)
                inputs[0] += len(pick)
                worst[0] = max(worst[0], err)
                if not ok or err > a.tolerance:
                    bad[0] += 1
                    errors.append(f"client {k}: an answer differs from its sentences' "
                                  f"vectors (max |diff| {err:.3g})")

    def disconnecter():
        drng = random.Random(a.seed + 7)
        for k in range(a.disconnects):
            time.sleep(drng.uniform(0.0, 0.2))
            body = json.dumps({"input": [pool[drng.randrange(a.pool)] for _ in range(32)]})
            req = (f"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: "
                   f"application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            # every other one hangs up halfway through its body, the rest
            # once it is sent, while the request waits for its vectors
            s.sendall(req[:len(req) // 2] if k % 2 else req)
            s.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(a.clients)]
    threads.append(threading.Thread(target=disconnecter))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/health")
    if conn.getresponse().status != 200:
        errors.append("/health is not 200 after the run")
    conn.close()
    server.send_signal(signal.SIGTERM)
    try:
        rc = server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        rc = "none (killed after 60 s)"
    if rc != 0:
        errors.append(f"the server's exit status after SIGTERM: {rc}")

    n = len(lat)
    if n:
        q = np.percentile(np.array(lat) * 1000, [50, 99])
        print(f"{a.clients} clients x {a.requests} requests of 1-32 sentences "
              f"({a.disconnects} clients hung up mid-request): {n} answered in {wall:.1f} s, "
              f"{n / wall:.1f} requests/s, {inputs[0] / wall:.0f} sentences/s; latency "
              f"p50 {q[0]:.0f} ms, p99 {q[1]:.0f} ms; every vector within {worst[0]:.2g} "
              f"of clformer embed's")
    if n != a.clients * a.requests and not errors:
        errors.append(f"{n} answers for {a.clients * a.requests} requests")
    for e in errors[:20]:
        print("FAIL:", e)
    print(f"{n - bad[0]} passed, {len(errors)} failed")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
