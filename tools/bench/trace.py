#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""tools/bench/trace.py — trace replay of tools/bench/run (Python 3, stdlib only).

A trace is a CSV file `timestamp,object_id,size_bytes`, one request per line,
header line first.

  trace.py synth OUT REQUESTS OBJECTS ALPHA SEED
      writes a synthetic trace to OUT: REQUESTS requests over OBJECTS
      objects whose popularity follows a Zipf law of exponent ALPHA (object
      of rank r drawn with probability proportional to 1 / r^ALPHA), object
      sizes log-normal around 16 KiB (sigma 1.5, clipped to 128 B .. 4 MiB),
      one request per millisecond; the same arguments give the same file
      (Python's random.Random(SEED)).  Object ids are shuffled so that
      popularity does not follow the id.

  trace.py simulate TRACE CAPACITY MAX_REQUESTS
      simulates LRU, SIEVE and S3-FIFO (10 % small queue, ghost queue as
      large as the main one's object count, frequency capped at 3) caches of
      CAPACITY bytes over the first MAX_REQUESTS requests, cold, each object
      at its first size (as the origin serves it); prints one line
      "SIM policy=P object_hit_ratio=.. byte_hit_ratio=.." per policy: the
      references the trace scenario shows next to the node's replay.
  trace.py unique TRACE
      prints the trace's requests, unique objects and unique bytes (the size
      of an object is the size of its first request).
  trace.py origin PORT TRACE
      an HTTP/1.1 origin on 127.0.0.1:PORT: GET /t/ID answers the object's
      size in bytes (its first size in TRACE) with `Cache-Control: public,
      max-age=86400`; GET /__stats answers "requests=N bytes=M" (object
      requests and body bytes served so far).  Runs until killed.
  trace.py replay HOST PORT TRACE MAX_REQUESTS MAX_SECONDS
      replays the first MAX_REQUESTS requests of TRACE in order on one
      keep-alive connection (GET /t/ID), stopping after MAX_SECONDS at the
      latest; a response with `X-Cache: HIT` is a hit.  Prints
      "TRACE requests=.. hits=.. bytes=.. hit_bytes=.. errors=.. secs=..
      objects=.. object_bytes=..",
      bytes counted with each request's size in the trace (so an object whose
      size changed counts as the reference simulations count it: a hit at the
      new size), the distinct objects among them and their bytes (at their
      first size), then the milliseconds from request to the whole body by
      kind of answer: hit, sibling (a miss the key's owner among the
      siblings answered: "sibling" in Cache-Status) and origin (any other
      miss), as "hit_n=.. hit_p50_ms=.. hit_p99_ms=.." and the same for
      sibling_ and origin_.  HOST may be a comma-separated list of
      addresses (the nodes of a PoP, one keep-alive connection each): the
      requests go to them in turn.  Every request says
      `Host: trace.example`.  Exits 1 if any request failed.
"""
import bisect
import collections
import csv
import http.client
import http.server
import itertools
import math
import random
import sys
import threading
import time

BODY = b"x" * (8 << 20)  # bodies are slices of this (the trace's largest object is ~4 MB)


def read_trace(path, limit=0):
    """[(object_id, size)] in request order."""
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        rd = csv.reader(f)
        next(rd)
        for row in rd:
            out.append((row[1], int(row[2])))
            if limit and len(out) >= limit:
                break
    return out


def first_sizes(reqs):
    sizes = {}
    for oid, size in reqs:
        sizes.setdefault(oid, size)
    return sizes


def cmd_synth(out, n_req, n_obj, alpha, seed):
    n_req, n_obj, alpha = int(n_req), int(n_obj), float(alpha)
    if n_req < 1 or n_obj < 1 or alpha <= 0:
        sys.stderr.write("trace.py synth: REQUESTS and OBJECTS >= 1, ALPHA > 0\n")
        return 2
    rnd = random.Random(int(seed))
    cdf = list(itertools.accumulate(1.0 / math.pow(r, alpha) for r in range(1, n_obj + 1)))
    ids = list(range(1, n_obj + 1))
    rnd.shuffle(ids)
    sizes = [min(4 << 20, max(128, int(rnd.lognormvariate(math.log(16384), 1.5))))
             for _ in range(n_obj)]
    total = cdf[-1]
    with open(out, "w", encoding="utf-8") as f:
        f.write("timestamp,object_id,size_bytes\n")
        for t in range(n_req):
            rank = min(bisect.bisect_left(cdf, rnd.random() * total), n_obj - 1)
            f.write("%d,%d,%d\n" % (t, ids[rank], sizes[rank]))
    return 0


class LRU:
    def __init__(self, cap):
        self.cap, self.used, self.q = cap, 0, collections.OrderedDict()

    def get(self, oid):
        if oid in self.q:
            self.q.move_to_end(oid)
            return True
        return False

    def put(self, oid, size):
        self.q[oid] = size
        self.used += size
        while self.used > self.cap:
            self.used -= self.q.popitem(last=False)[1]


class SIEVE:
    """A FIFO with a visited bit per object and a hand that moves from the
    oldest towards the newest, sparing (and clearing) visited objects."""

    def __init__(self, cap):
        self.cap, self.used = cap, 0
        self.size, self.visited = {}, {}
        self.newer, self.older = {}, {}  # links of the queue
        self.head = self.tail = self.hand = None  # newest, oldest

    def get(self, oid):
        if oid not in self.size:
            return False
        self.visited[oid] = True
        return True

    def _evict(self):
        h = self.hand if self.hand is not None else self.tail
        while self.visited[h]:
            self.visited[h] = False
            h = self.newer[h] if self.newer[h] is not None else self.tail
        self.hand = self.newer[h]
        n, o = self.newer.pop(h), self.older.pop(h)
        if n is not None:
            self.older[n] = o
        else:
            self.head = o
        if o is not None:
            self.newer[o] = n
        else:
            self.tail = n
        self.used -= self.size.pop(h)
        del self.visited[h]

    def put(self, oid, size):
        while self.used + size > self.cap and self.size:
            self._evict()
        self.size[oid], self.visited[oid] = size, False
        self.newer[oid], self.older[oid] = None, self.head
        if self.head is not None:
            self.newer[self.head] = oid
        else:
            self.tail = oid
        self.head = oid
        self.used += size


class S3FIFO:
    def __init__(self, cap):
        self.cap, self.s_cap = cap, cap // 10
        self.s, self.m = collections.OrderedDict(), collections.OrderedDict()  # oid -> [size, freq]
        self.s_used = self.m_used = 0
        self.ghost = collections.OrderedDict()

    def get(self, oid):
        e = self.s.get(oid) or self.m.get(oid)
        if e is None:
            return False
        e[1] = min(e[1] + 1, 3)
        return True

    def _evict_m(self):
        while self.m:
            oid, e = self.m.popitem(last=False)
            if e[1] > 0:
                e[1] -= 1
                self.m[oid] = e
                continue
            self.m_used -= e[0]
            return

    def _evict_s(self):
        while self.s:
            oid, e = self.s.popitem(last=False)
            self.s_used -= e[0]
            if e[1] > 0:
                e[1] = 0
                self.m[oid] = e
                self.m_used += e[0]
                while self.m_used > self.cap - self.s_cap and self.m:
                    self._evict_m()
                continue
            self.ghost[oid] = True
            while len(self.ghost) > max(1, len(self.m)):
                self.ghost.popitem(last=False)
            return

    def put(self, oid, size):
        if size > self.cap:
            return
        while self.s_used + self.m_used + size > self.cap:
            if self.s_used > self.s_cap or not self.m:
                self._evict_s()
            else:
                self._evict_m()
        if self.ghost.pop(oid, None):
            self.m[oid] = [size, 0]
            self.m_used += size
        else:
            self.s[oid] = [size, 0]
            self.s_used += size


def cmd_simulate(path, cap, max_req):
    reqs = read_trace(path, int(max_req))
    sizes = first_sizes(reqs)
    for name, cls in (("LRU", LRU), ("SIEVE", SIEVE), ("S3-FIFO", S3FIFO)):
        c = cls(int(cap))
        hits = hit_bytes = nbytes = 0
        for oid, _ in reqs:
            size = sizes[oid]
            nbytes += size
            if c.get(oid):
                hits += 1
                hit_bytes += size
            elif size <= int(cap):
                c.put(oid, size)
        print("SIM policy=%s object_hit_ratio=%.4f byte_hit_ratio=%.4f"
              % (name, hits / len(reqs), hit_bytes / nbytes if nbytes else 0), flush=True)
    return 0


def cmd_unique(path):
    reqs = read_trace(path)
    sizes = first_sizes(reqs)
    print("requests=%d objects=%d bytes=%d" % (len(reqs), len(sizes), sum(sizes.values())))
    return 0


def cmd_origin(port, path):
    sizes = first_sizes(read_trace(path))
    stats = {"requests": 0, "bytes": 0}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # head and body are two writes: no 40 ms delayed-ACK stall

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/__stats":
                with lock:
                    body = ("requests=%d bytes=%d\n" % (stats["requests"], stats["bytes"])).encode()
                self.send_response(200)
                self.send_header("Cache-Control", "no-store")
            else:
                n = sizes.get(self.path[3:]) if self.path.startswith("/t/") else None
                if n is None or n > len(BODY):
                    self.send_error(404)
                    return
                body = memoryview(BODY)[:n]
                with lock:
                    stats["requests"] += 1
                    stats["bytes"] += n
                self.send_response(200)
                self.send_header("Cache-Control", "public, max-age=86400")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    http.server.ThreadingHTTPServer.daemon_threads = True
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
    print("READY", flush=True)
    srv.serve_forever()
    return 0


def percentile(v, q):
    """The q-quantile of the sorted list v (nearest rank), nan when empty."""
    if not v:
        return float("nan")
    return v[min(len(v) - 1, max(0, int(math.ceil(q * len(v))) - 1))]


def cmd_replay(hosts, port, path, max_req, max_secs):
    reqs = read_trace(path, int(max_req))
    hosts = hosts.split(",")
    conns = [http.client.HTTPConnection(h, int(port), timeout=30) for h in hosts]
    n = hits = nbytes = hit_bytes = errors = 0
    seen = {}  # object -> its first size among the requests sent
    lat = {"hit": [], "sibling": [], "origin": []}
    t0 = time.monotonic()
    deadline = t0 + float(max_secs)
    for k, (oid, size) in enumerate(reqs):
        if time.monotonic() > deadline:
            break
        i = k % len(conns)
        t = time.monotonic()
        try:
            # one name for every node, as a PoP's clients send: the key is
            # the same whichever node is asked
            conns[i].request("GET", "/t/" + oid, headers={"Host": "trace.example"})
            resp = conns[i].getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as e:
            sys.stderr.write("trace.py replay: %s /t/%s: %s\n" % (hosts[i], oid, e))
            errors += 1
            conns[i].close()
            conns[i] = http.client.HTTPConnection(hosts[i], int(port), timeout=30)
            continue
        ms = (time.monotonic() - t) * 1000
        seen.setdefault(oid, size)
        n += 1
        nbytes += size
        if resp.status != 200 or not body:
            errors += 1
        elif resp.getheader("X-Cache", "") == "HIT":
            hits += 1
            hit_bytes += size
            lat["hit"].append(ms)
        elif "sibling" in resp.getheader("Cache-Status", ""):
            lat["sibling"].append(ms)
        else:
            lat["origin"].append(ms)
    for c in conns:
        c.close()
    kinds = []
    for kind, v in lat.items():
        v.sort()
        kinds.append("%s_n=%d %s_p50_ms=%.3f %s_p99_ms=%.3f"
                     % (kind, len(v), kind, percentile(v, 0.5), kind, percentile(v, 0.99)))
    print("TRACE requests=%d hits=%d bytes=%d hit_bytes=%d errors=%d secs=%.1f objects=%d "
          "object_bytes=%d %s" % (n, hits, nbytes, hit_bytes, errors, time.monotonic() - t0,
                                  len(seen), sum(seen.values()), " ".join(kinds)), flush=True)
    return 1 if errors else 0


def main(argv):
    if len(argv) == 6 and argv[0] == "synth":
        return cmd_synth(*argv[1:])
    if len(argv) == 4 and argv[0] == "simulate":
        return cmd_simulate(*argv[1:])
    if len(argv) == 2 and argv[0] == "unique":
        return cmd_unique(argv[1])
    if len(argv) == 3 and argv[0] == "origin":
        return cmd_origin(argv[1], argv[2])
    if len(argv) == 6 and argv[0] == "replay":
        return cmd_replay(*argv[1:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
