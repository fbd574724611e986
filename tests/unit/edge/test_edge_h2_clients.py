#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""tests/unit/edge/test_edge_h2_clients.py — the HTTP/2 session module with
real clients over a loopback socket: curl (--http2-prior-knowledge), nghttp
and h2load (Debian's nghttp2-client) against tests/unit/edge/h2_serve (built
by make check, found next to $OUTPOST_BIN in the build tree).  Bodies are
checked byte for byte; flow control is exercised with small client windows.
Prints TAP; a missing client is a skip.  Every run is bounded in time.
"""
import os
import shutil
import subprocess
import sys

TIMEOUT_S = 60


def serve_path():
    bin_ = os.environ.get("OUTPOST_BIN")
    if bin_:
        p = os.path.join(os.path.dirname(bin_), "tests", "unit", "edge", "h2_serve")
        if os.access(p, os.X_OK):
            return p
    here = os.path.dirname(os.path.abspath(__file__))
    p = os.path.join(here, "h2_serve")
    return p if os.access(p, os.X_OK) else None


def pattern(n):
    return bytes((ord("a") + i % 26) for i in range(n))


def run(argv, data=None):
    p = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT_S)
    return p.returncode, p.stdout, p.stderr


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, what, detail=""):
        self.n += 1
        print("%sok %d - %s" % ("" if cond else "not ", self.n, what))
        if not cond:
            self.failed += 1
            for line in str(detail).splitlines()[:10]:
                print("#   " + line)

    def skip(self, what, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, what, why))


def main():
    tap = Tap()
    exe = serve_path()
    if exe is None:
        print("1..0 # SKIP h2_serve not built")
        return 0
    srv = subprocess.Popen([exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        line = srv.stdout.readline().decode()
        port = int(line.split()[1])
        base = "http://127.0.0.1:%d" % port
        curl = shutil.which("curl")
        if curl:
            rc, out, err = run([curl, "-sS", "--http2-prior-knowledge", "-m", "30",
                                "-w", "\n%{http_version} %{response_code}",
                                base + "/bytes/300000"])
            body, _, tail = out.rpartition(b"\n")
            tap.ok(rc == 0 and tail == b"2 200" and body == pattern(300000),
                   "curl: GET over HTTP/2, 300000 bytes verified", (rc, tail, err))
            data = bytes(range(256)) * 1200
            rc, out, err = run([curl, "-sS", "--http2-prior-knowledge", "-m", "30",
                                "--data-binary", "@-", base + "/echo"], data)
            tap.ok(rc == 0 and out == b"received %d" % len(data),
                   "curl: POST body of 307200 bytes through the windows", (rc, out, err))
            # Multiplexing is nghttp's and h2load's part below: Debian 12's
            # curl (7.88.1) does not reuse a prior-knowledge connection (its
            # second request fails with "Error in the HTTP2 framing layer",
            # against nginx as well).
            rc, out, err = run([curl, "-sS", "--http2-prior-knowledge", "-m", "30",
                                "-o", "/dev/null", "-w", "%{response_code}",
                                base + "/nothing"])
            tap.ok(rc == 0 and out == b"404", "curl: 404", (rc, out, err))
        else:
            for what in ("GET", "POST", "404"):
                tap.skip("curl: " + what, "curl not installed")
        nghttp = shutil.which("nghttp")
        if nghttp:
            # window bits 10 and 16: a 1 KiB stream window, 64 KiB connection
            rc, out, err = run([nghttp, "-w", "10", "-W", "16", "-t", "30",
                                base + "/bytes/200000"])
            tap.ok(rc == 0 and out == pattern(200000),
                   "nghttp: a 1 KiB stream window, 200000 bytes verified", (rc, len(out), err))
            rc, out, err = run([nghttp, "-n", "-s", "-m", "100", "-t", "30",
                                base + "/bytes/20000"])
            done = out.decode(errors="replace").count("/bytes/20000")
            tap.ok(rc == 0 and done == 100, "nghttp: 100 concurrent streams on one connection",
                   (rc, done, err))
        else:
            for what in ("small window", "100 streams"):
                tap.skip("nghttp: " + what, "nghttp2-client not installed")
        h2load = shutil.which("h2load")
        if h2load:
            rc, out, err = run([h2load, "-n", "2000", "-c", "4", "-m", "20", "-T", "30",
                                base + "/bytes/1024"])
            text = out.decode(errors="replace")
            tap.ok(rc == 0 and "2000 succeeded, 0 failed, 0 errored" in text,
                   "h2load: 2000 requests, 4 connections, 20 streams each", text[-600:])
        else:
            tap.skip("h2load", "nghttp2-client not installed")
    finally:
        srv.stdin.close()
        try:
            code = srv.wait(timeout=10)
        except subprocess.TimeoutExpired:
            srv.kill()
            code = srv.wait()
    tap.ok(code == 0, "h2_serve exited cleanly (no body reference left)", code)
    print("1..%d" % tap.n)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
