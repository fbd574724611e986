#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""outpostctl top: the live view drawn in a real terminal (tmux, 80x24,
its screen captured with capture-pane) against a node under a light
bounded load: the header, request and hit rates from /metrics deltas, cache
use, the pool's member; nothing wider than 80 columns or taller than the
screen; Ctrl-C ends it.  Against a scripted admin listener whose counters
move by known amounts per scrape: per-site rows (busiest first, hit ratio),
top hosts and latency quantiles from histogram buckets, as plain text when
stdout is not a terminal.  A node that does not answer: exit 3."""

import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import time

import harness
from harness import wait_until
from t11_outpostctl import ctl_bin

CC = "cc=max-age%3D600"


class FakeAdmin:
    """An admin listener whose /metrics counters grow by fixed steps on every
    scrape, so the ratios and quantiles top shows are known exactly."""

    def __init__(self):
        self.scrapes = 0
        fake = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path == "/metrics":
                    fake.scrapes += 1
                    body = fake.metrics(fake.scrapes).encode()
                    ctype = "text/plain; version=0.0.4"
                elif self.path == "/status.json":
                    body = json.dumps({"node": "fake-node", "version": "9.9", "workers": 4,
                                       "uptime_s": 42, "draining": False}).encode()
                    ctype = "application/json"
                else:
                    body, ctype = b"not found\n", "text/plain"
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    @staticmethod
    def metrics(k):
        lines = ["# TYPE outpost_requests_total counter"]
        # per scrape: shop +100 requests (75 hits), blog +10 (5 hits)
        for site, req, hit in (("blog", 10, 5), ("shop", 100, 75)):
            lines.append('outpost_requests_total{site="%s",host="%s.example"} %d'
                         % (site, site, req * k))
            lines.append('outpost_cache_hits_total{site="%s",host="%s.example"} %d'
                         % (site, site, hit * k))
        lines.append("outpost_cache_misses_total %d" % (30 * k))
        lines.append("outpost_cache_disk_hits_total %d" % (20 * k))
        lines.append("outpost_bytes_sent_total %d" % (1048576 * k))
        # per scrape: 100 requests, 50 <= 5 ms, 90 <= 10 ms, all <= 50 ms
        for le, n in (("0.005", 50), ("0.01", 90), ("0.05", 100), ("+Inf", 100)):
            lines.append('outpost_request_duration_seconds_bucket{le="%s"} %d' % (le, n * k))
        lines.append("outpost_request_duration_seconds_count %d" % (100 * k))
        for le, n in (("0.1", 10), ("0.5", 20), ("+Inf", 20)):
            lines.append('outpost_origin_first_byte_seconds_bucket{le="%s"} %d' % (le, n * k))
        lines.append('outpost_origin_member_up{pool="web",member="10.0.0.1:80"} 1')
        lines.append('outpost_origin_member_up{pool="web",member="10.0.0.2:80"} 0')
        lines.append("outpost_cache_ram_objects 1234")
        return "\n".join(lines) + "\n"

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class Top(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.bin = ctl_bin()
        self.assertTrue(self.bin and os.access(self.bin, os.X_OK),
                        "outpostctl not built: %s" % self.bin)

    def env(self):
        e = {k: v for k, v in os.environ.items() if k != "OUTPOST_ADMIN"}
        e["OUTPOSTCTL_CONF"] = os.devnull
        return e

    def test_live_view_in_tmux(self):
        tmux = shutil.which("tmux")
        if tmux is None:
            self.fail("tmux is not installed (tools/install-deps installs it)")
        origin = self.start_origin()
        node = self.start_outpost(origin)
        stop = threading.Event()
        done = []

        def load():   # bounded: count and time
            deadline = time.monotonic() + 20
            for i in range(20000):
                if stop.is_set() or time.monotonic() > deadline:
                    break
                node.get("/top/%d?%s" % (i % 10, CC))
                done.append(i)
                time.sleep(0.002)
        t = threading.Thread(target=load, daemon=True)
        t.start()
        sock = "outpost-top-%d" % os.getpid()
        base = [tmux, "-L", sock, "-f", os.devnull]

        def kill_server():
            subprocess.run(base + ["kill-server"], capture_output=True, timeout=10)
        self.addCleanup(kill_server)
        cmd = "%s -a 127.0.0.1:%d top" % (self.bin, node.admin_port)
        subprocess.run(base + ["new-session", "-d", "-s", "top", "-x", "80", "-y", "24",
                               "env", "OUTPOSTCTL_CONF=/dev/null", "sh", "-c", cmd],
                       check=True, timeout=10)

        def screen():
            cp = subprocess.run(base + ["capture-pane", "-p", "-t", "top"],
                                capture_output=True, text=True, timeout=10)
            return cp.stdout

        def drawn():
            s = screen()
            m = re.search(r"requests +([0-9.]+)/s", s)
            return s if m and float(m.group(1)) > 0 and "POOL" in s else None
        try:
            text = wait_until(drawn, 15, interval=0.2, what="a frame with traffic")
        finally:
            stop.set()
            t.join(25)
        lines = text.rstrip("\n").split("\n")
        self.assertLessEqual(len(lines), 24)
        for ln in lines:
            self.assertLessEqual(len(ln), 80, ln)
        self.assertRegex(lines[0], r"^outpost top +\d\d:\d\d:\d\d +node test-node ")
        self.assertRegex(text, r"hit ratio +\d+\.\d%")
        self.assertIn("127.0.0.1:%d" % origin.port, text)
        self.assertRegex(text, r"web +127\.0\.0\.1:\d+ +up")
        self.assertNotIn("\x1b", text, "escape sequences are drawn, not printed")
        # Ctrl-C ends it (the session closes with its only command)
        subprocess.run(base + ["send-keys", "-t", "top", "C-c"], check=True, timeout=10)

        def gone():
            cp = subprocess.run(base + ["has-session", "-t", "top"], capture_output=True,
                                timeout=10)
            return cp.returncode != 0
        wait_until(gone, 5, what="top to end on Ctrl-C")
        self.assertGreater(len(done), 0)

    def test_sites_hosts_latency_from_metrics(self):
        fake = FakeAdmin()
        self.addCleanup(fake.stop)
        cp = subprocess.run([self.bin, "-a", "127.0.0.1:%d" % fake.port, "top", "--once",
                             "--interval", "200ms"], env=self.env(), capture_output=True,
                            text=True, timeout=20)
        self.assertEqual(cp.returncode, 0, cp)
        out = cp.stdout
        self.assertNotIn("\x1b", out, "no escape sequences when stdout is not a terminal")
        self.assertEqual(fake.scrapes, 2)
        self.assertIn("node fake-node 9.9  up 42s  4 workers", out)
        # 80 hits of 110 lookups (80 + 30 misses), 20 of them from disk
        self.assertRegex(out, r"hit ratio +72\.7%   RAM +54\.5%  disk +18\.2%  miss +27\.3%")
        # request: 50 of 100 <= 5 ms, 90 <= 10 ms, 100 <= 50 ms; origin: 10 of
        # 20 <= 100 ms, 20 <= 500 ms (linear within a bucket)
        self.assertIn("latency  request p50 5.0 ms  p95 30 ms   "
                      "origin 1st byte p50 100 ms  p95 460 ms\n", out)
        rows = re.findall(r"^(shop|blog) +([0-9.]+) +([0-9.]+)%$", out, re.M)
        self.assertEqual([r[0] for r in rows], ["shop", "blog"], out)
        self.assertEqual([r[2] for r in rows], ["75.0", "50.0"])
        self.assertGreater(float(rows[0][1]), float(rows[1][1]))
        self.assertRegex(out, r"TOP HOSTS[^\n]*\nshop\.example +[0-9.]+\nblog\.example")
        self.assertRegex(out, r"10\.0\.0\.1:80 +up")
        self.assertRegex(out, r"10\.0\.0\.2:80 +DOWN")
        for ln in out.split("\n"):
            self.assertLessEqual(len(ln), 80, ln)

    def test_no_node(self):
        cp = subprocess.run([self.bin, "-a", "127.0.0.1:%d" % harness.free_port(), "top",
                             "--once"], env=self.env(), capture_output=True, text=True,
                            timeout=20)
        self.assertEqual(cp.returncode, 3, cp)
        self.assertIn("outpostctl: top:", cp.stderr)
        cp = subprocess.run([self.bin, "top", "--iterations", "0"], env=self.env(),
                            capture_output=True, text=True, timeout=20)
        self.assertEqual(cp.returncode, 2, cp)


if __name__ == "__main__":
    harness.main()
