#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Lifecycle: graceful shutdown on SIGTERM, SIGUSR1 log reopen, access-log
format, admin /healthz and /metrics."""

import os
import signal
import socket
import time

import harness
from harness import Background, add_pool, add_route, free_port, wait_until

METRICS = ("outpost_requests_total", "outpost_cache_hits_total",
           "outpost_cache_misses_total", "outpost_origin_requests_total",
           "outpost_origin_errors_total", "outpost_cache_ram_bytes",
           "outpost_cache_ram_objects", "outpost_client_errors_total")


def connect_refused(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    s.close()
    return False


class Shutdown(harness.OutpostTestCase):
    def test_sigterm_drains_in_flight_request(self):
        origin = self.start_origin()
        node = self.start_outpost(origin)
        size = 200000
        path = "/s/slow?delay_ms=1500&size=%d" % size
        bg = Background(node.stream, path, timeout=10)
        wait_until(lambda: origin.count("/s/slow") >= 1, 5, what="request at the origin")
        node.send_signal(signal.SIGTERM)
        t_term = time.monotonic()
        # new connections are refused while the old one drains
        wait_until(lambda: connect_refused(node.port), 1.0, interval=0.02,
                   what="listener closed after SIGTERM")
        self.assertTrue(node.alive(), "exited before the in-flight request finished")
        r, n, digest = bg.result(timeout=10)
        t_done = time.monotonic()
        self.assertEqual(r.status, 200)
        self.assertEqual(n, size)
        self.assertEqual(digest, harness.pattern_digest(size))
        rc = node.wait(5)
        self.assertIsNotNone(rc, "did not exit within 5 s of the last response")
        self.assertEqual(rc, 0)
        self.assertLess(time.monotonic() - t_done, 3.0)
        self.assertLess(t_done - t_term, 5.0)

    def test_sigterm_idle_exits_zero(self):
        origin = self.start_origin()
        node = self.start_outpost(origin)
        self.assertEqual(node.get("/s/idle").status, 200)
        # an idle keep-alive client connection must not hold up the exit
        with node.connect() as c:
            c.send("GET /s/idle2 HTTP/1.1\r\nHost: example.com\r\n\r\n")
            c.read_response()
            t0 = time.monotonic()
            self.assertEqual(node.stop(signal.SIGTERM, timeout=8), 0)
            self.assertLess(time.monotonic() - t0, 5.5)


class AccessLog(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)

    def lines_for(self, path, log=None):
        return [ln for ln in self.node.access_lines(log) if ln.get("path", "").startswith(path)]

    def test_access_log_json(self):
        r = self.node.get("/l/json?cc=max-age%3D60", headers={"User-Agent": "t60"})
        self.assertEqual(r.status, 200)
        self.node.get("/l/json?cc=max-age%3D60")
        lines = wait_until(lambda: len(self.lines_for("/l/json")) >= 2 and
                           self.lines_for("/l/json"), 5, what="access log lines")
        for rec in lines:
            for key in ("method", "host", "path", "status", "bytes", "cache",
                        "duration_ms", "client"):
                self.assertIn(key, rec)
            self.assertEqual(rec["method"], "GET")
            self.assertEqual(rec["host"], "example.com")
            self.assertEqual(rec["status"], 200)
            self.assertIsInstance(rec["bytes"], int)
            self.assertGreaterEqual(rec["bytes"], len(r.body))
            self.assertIsInstance(rec["duration_ms"], (int, float))
            self.assertIn("127.0.0.1", str(rec["client"]))
        self.assertEqual([str(x["cache"]).upper() for x in lines[:2]], ["MISS", "HIT"])

    def test_sigusr1_reopens(self):
        self.node.get("/l/before")
        wait_until(lambda: self.lines_for("/l/before"), 5, what="first line")
        rotated = self.node.access_log + ".1"
        os.rename(self.node.access_log, rotated)
        self.node.send_signal(signal.SIGUSR1)
        time.sleep(0.3)

        def after():
            self.assertEqual(self.node.get("/l/after").status, 200)
            return (os.path.exists(self.node.access_log) and
                    self.lines_for("/l/after"))
        wait_until(after, 5, interval=0.3, what="line in the reopened access log")
        self.assertTrue(self.lines_for("/l/before", rotated))
        self.assertTrue(self.node.alive())


class Admin(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            add_pool(cfg, "dead", "127.0.0.1:%d" % free_port())
            add_route(cfg, {"path": "/dead/", "pool": "dead"})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def test_healthz(self):
        r = self.node.admin("/healthz")
        self.assertEqual(r.status, 200)

    def test_admin_refuses_big_heads_and_bodies(self):
        # libevent's defaults buffer without limit on the main thread
        big_body = (b"GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 1099511627776\r\n"
                    b"\r\n" + b"x" * 65536)
        big_head = (b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * 100000 +
                    b"\r\n\r\n")
        for data in (big_body, big_head):
            rep = harness.raw_exchange(self.node.admin_port, data, timeout=5)
            self.assertTrue(rep.closed, rep[:200])
            rs = rep.responses()
            self.assertTrue(not rs or rs[0].status in (400, 413, 431), rep[:300])
        self.assertEqual(self.node.admin("/healthz").status, 200)

    def test_metrics_exposition(self):
        r = self.node.admin("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue((r.header("Content-Type") or "").startswith("text/plain"), r.headers)
        names = {n for n, _ in harness.parse_prometheus(r.body.decode()).keys()}
        for m in METRICS:
            self.assertIn(m, names)

    def test_counters_move_on_miss_and_hit(self):
        n = self.node
        b = {m: n.metric(m) for m in METRICS}
        self.assertEqual(n.get("/m/obj?cc=max-age%3D60").status, 200)
        n.wait_metric("outpost_cache_misses_total",
                      lambda v: v == b["outpost_cache_misses_total"] + 1)
        n.wait_metric("outpost_origin_requests_total",
                      lambda v: v == b["outpost_origin_requests_total"] + 1)
        self.assertEqual(n.get("/m/obj?cc=max-age%3D60").status, 200)
        n.wait_metric("outpost_cache_hits_total",
                      lambda v: v == b["outpost_cache_hits_total"] + 1)
        n.wait_metric("outpost_requests_total", lambda v: v >= b["outpost_requests_total"] + 2)
        self.assertEqual(n.metric("outpost_origin_requests_total"),
                         b["outpost_origin_requests_total"] + 1)
        self.assertEqual(n.metric("outpost_cache_misses_total"),
                         b["outpost_cache_misses_total"] + 1)
        self.assertGreaterEqual(n.metric("outpost_cache_ram_objects"),
                                b["outpost_cache_ram_objects"] + 1)
        self.assertGreater(n.metric("outpost_cache_ram_bytes"), b["outpost_cache_ram_bytes"])

    def test_origin_errors_counted(self):
        b = self.node.metric("outpost_origin_errors_total")
        self.assertEqual(self.node.get("/dead/x").status, 502)
        self.node.wait_metric("outpost_origin_errors_total", lambda v: v >= b + 1)

    def test_client_errors_counted(self):
        b = self.node.metric("outpost_client_errors_total")
        rep = self.node.raw(b"GET /m/bad HTTP/1.1\r\nHost: example.com\r\nX-A : b\r\n\r\n")
        self.assertEqual(rep.first().status, 400)
        self.node.wait_metric("outpost_client_errors_total", lambda v: v >= b + 1)


if __name__ == "__main__":
    harness.main()
