#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Client-side timeouts: slowloris (header), idle keep-alive, stalled body."""

import time

import harness


class Timeouts(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)

    def assertClosedAfter(self, c, lo, hi, allow=(408,)):
        closed, data, el = c.wait_closed(hi + 2)
        self.assertTrue(closed, "connection still open after %.1f s" % el)
        self.assertGreaterEqual(el, lo, "closed too early (%.2f s)" % el)
        self.assertLessEqual(el, hi, "closed too late (%.2f s)" % el)
        if data:
            rs = harness.parse_responses(data)
            self.assertTrue(rs and rs[0].status in allow, data[:300])
        return el

    def test_slowloris_half_head(self):
        with self.node.connect() as c:
            c.send("GET /t/slow HTTP/1.1\r\nHost: exa")
            self.assertClosedAfter(c, 1.0, 2.0 + 1.5)
        self.assertEqual(self.origin.count("/t/slow"), 0)
        self.assertServing(self.node)

    def test_many_slowloris_do_not_block_service(self):
        conns = []
        try:
            for _ in range(50):
                c = self.node.connect()
                c.send("GET /t/many HTTP/1.1\r\nHost: example.com\r\nX-A: ")
                conns.append(c)
            t0 = time.monotonic()
            self.assertServing(self.node)
            self.assertLess(time.monotonic() - t0, 1.5)
            for c in conns:
                self.assertTrue(c.wait_closed(4.0)[0], "a slowloris connection stayed open")
        finally:
            for c in conns:
                c.close()

    def test_idle_keepalive_closed(self):
        with self.node.connect(timeout=10) as c:
            c.send("GET /t/idle HTTP/1.1\r\nHost: example.com\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)
            self.assertClosedAfter(c, 4.0, 5.0 + 2.0)
        self.assertServing(self.node)

    def test_stalled_request_body(self):
        with self.node.connect(timeout=10) as c:
            c.send("POST /t/body?echo=1 HTTP/1.1\r\nHost: example.com\r\n"
                   "Content-Length: 100\r\n\r\n0123456789")
            self.assertClosedAfter(c, 1.0, 5.0 + 2.0, allow=(408, 502, 504))
        self.assertServing(self.node)


if __name__ == "__main__":
    harness.main()
