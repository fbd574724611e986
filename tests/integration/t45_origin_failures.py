#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Origin failures: refused, slow first byte, reset, malformed, dropped,
stalled body, and an origin that closes idle keep-alive connections."""

import time

import harness
from harness import add_pool, add_route, free_port


class OriginFailures(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.dead_port = free_port()    # nothing listens here

        def mutate(cfg):
            add_pool(cfg, "dead", "127.0.0.1:%d" % cls.dead_port)
            add_route(cfg, {"path": "/dead/", "pool": "dead"})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def assertBadGateway(self, r, status=502):
        self.assertEqual(r.status, status, r)
        self.assertTrue(0 < len(r.body) < 1024, r.body[:200])

    def test_refused_502(self):
        before = self.node.metric("outpost_origin_errors_total")
        t0 = time.monotonic()
        r = self.node.get("/dead/x")
        self.assertBadGateway(r)
        self.assertLess(time.monotonic() - t0, 3.0)
        self.node.wait_metric("outpost_origin_errors_total", lambda v: v >= before + 1)
        self.assertServing(self.node)

    def test_first_byte_timeout_504(self):
        t0 = time.monotonic()
        r = self.node.get("/o/slow?delay_ms=3500")
        el = time.monotonic() - t0
        self.assertBadGateway(r, 504)
        self.assertGreater(el, 1.5, "504 before first_byte (2 s)")
        self.assertLess(el, 3.4, "504 long after first_byte (2 s)")
        self.assertServing(self.node)

    def test_within_first_byte_ok(self):
        r = self.node.get("/o/slowish?delay_ms=800")
        self.assertEqual(r.status, 200)

    def test_reset_502(self):
        r = self.node.get("/o/reset?reset=1")
        self.assertBadGateway(r)
        self.assertGreaterEqual(self.origin.count("/o/reset"), 1)
        self.assertServing(self.node)

    def test_malformed_502(self):
        for i, raw in enumerate(("HTTP/1.1 abc\r\n\r\n", "garbage\r\n\r\n",
                                 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6"
                                 "\r\n\r\nhello!",
                                 "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
                                 # a transfer-coding we would pass on undecoded
                                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                                 "5\r\nhello\r\n0\r\n\r\n",
                                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello")):
            path = "/o/malformed%d" % i
            r = self.node.get(path + "?raw=" + _q(raw))
            self.assertBadGateway(r)
        self.assertServing(self.node)

    def test_drop_without_response_502(self):
        r = self.node.get("/o/drop?drop=1")
        self.assertBadGateway(r)
        self.assertServing(self.node)

    def test_between_bytes_timeout_aborts(self):
        # headers and a first chunk, then a 4 s stall (between_bytes is 2 s):
        # the client must see the connection end with an incomplete body.
        with self.node.connect(timeout=8) as c:
            c.send("GET /o/stall?size=60000&chunk_size=20000&chunk_delay_ms=4000 HTTP/1.1\r\n"
                   "Host: example.com\r\n\r\n")
            t0 = time.monotonic()
            try:
                r = c.read_response(timeout=8)
                self.fail("complete response despite a 4 s stall: %r" % r)
            except harness.IncompleteResponse:
                pass
            el = time.monotonic() - t0
        self.assertLess(el, 3.9, "stalled body not aborted after between_bytes")
        self.assertServing(self.node)

    def test_origin_closes_idle_keepalive(self):
        # every response is followed by a silent close on the origin side, so the
        # pooled connection is dead when the next request wants it
        for i in range(6):
            r = self.node.get("/o/ka-close%d?close_after=1" % i)
            self.assertEqual(r.status, 200, "request %d" % i)
            time.sleep(0.1)
        # and an origin whose idle keep-alive timeout (200 ms) is shorter than ours
        for i in range(4):
            r = self.node.get("/o/ka-idle%d?keepalive_ms=200" % i)
            self.assertEqual(r.status, 200, "request %d" % i)
            time.sleep(0.4)
        self.assertEqual(self.origin.count(prefix="/o/ka-"), 10)


def _q(s):
    import urllib.parse
    return urllib.parse.quote(s, safe="")


if __name__ == "__main__":
    harness.main()
