#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""tools/bench/trace.py — trace replay of tools/bench/run (Python 3, stdlib only).

A trace is a CSV file `timestamp,object_id,size_bytes`, one request per line,
header line first (/work/shared/traces/README.md).

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
      "TRACE requests=.. hits=.. bytes=.. hit_bytes=.. errors=.. secs=..",
      bytes counted with each request's size in the trace (so an object whose
      size changed counts as the reference simulations count it: a hit at the
      new size).  Exits 1 if any request failed.
"""
import csv
import http.client
import http.server
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


def cmd_replay(host, port, path, max_req, max_secs):
    reqs = read_trace(path, int(max_req))
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    n = hits = nbytes = hit_bytes = errors = 0
    t0 = time.monotonic()
    deadline = t0 + float(max_secs)
    for oid, size in reqs:
        if time.monotonic() > deadline:
            break
        try:
            conn.request("GET", "/t/" + oid)
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as e:
            sys.stderr.write("trace.py replay: /t/%s: %s\n" % (oid, e))
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            continue
        n += 1
        nbytes += size
        if resp.status != 200 or not body:
            errors += 1
        elif resp.getheader("X-Cache", "") == "HIT":
            hits += 1
            hit_bytes += size
    conn.close()
    print("TRACE requests=%d hits=%d bytes=%d hit_bytes=%d errors=%d secs=%.1f"
          % (n, hits, nbytes, hit_bytes, errors, time.monotonic() - t0), flush=True)
    return 1 if errors else 0


def main(argv):
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
