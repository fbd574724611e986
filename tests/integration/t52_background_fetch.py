#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""A background revalidation (stale-while-revalidate, RFC 5861 §3) is a fetch
like any other: it keeps the pool's rules — a status in retry_on counts
against the member (passive health) and goes to another member, timeouts.total
ends it, and more interim (1xx) responses than the cap end it — so the stale
entry is refreshed only by a well-formed, timely answer."""

import time

import harness

STALE_WAIT = 2.1  # max-age=1 is stale after this (Age counts whole seconds)
SWR = "max-age=1, stale-while-revalidate=60"


class BackgroundFetch(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.x = self.class_origin()
        cls.y = self.class_origin()
        x, y = cls.x.address, cls.y.address
        fast = {"connect": "1s", "first_byte": "5s", "between_bytes": "5s"}

        def mutate(cfg):
            # x first; y, the backup, only when x was tried already
            harness.add_pool(cfg, "bgretry", x, retry_on=[503], retries=1,
                             passive={"failures": 0})
            cfg["pools"][-1]["members"] = [{"address": x}, {"address": y, "backup": True}]
            harness.add_route(cfg, {"path": "/bgretry/", "pool": "bgretry"})
            harness.add_pool(cfg, "bgtotal", x, timeouts=dict(fast, total="1s"))
            harness.add_route(cfg, {"path": "/bgtotal/", "pool": "bgtotal"})
            return cfg
        cls.node = self.class_outpost(cls.x, mutate=mutate)

    def fill_then_stale(self, path, body):
        self.x.script({path: {"cc": SWR, "body": body, "headers": {"ETag": '"v1"'}}})
        r = self.node.get(path)
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, body.encode(), "MISS"))
        time.sleep(STALE_WAIT)

    def assertSWR(self, r, body):
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, body, "HIT"), r)
        self.assertIn("detail=stale-while-revalidate", r.header("Cache-Status") or "", r.headers)

    def test_retry_on_counts_against_the_member_and_tries_another(self):
        n, x, y = self.node, self.x, self.y
        path = "/bgretry/a"
        self.fill_then_stale(path, "one\n")
        failures0 = n.metric("outpost_origin_member_failures_total")
        x.script({path: {"status": 503, "body": "down\n"}})
        y.script({path: {"cc": "max-age=60", "body": "two\n"}})
        self.assertSWR(n.get(path), b"one\n")
        harness.wait_until(lambda: y.count(path) == 1, 5.0, what="the retry on the backup")
        self.assertEqual(x.count(path), 2, "the first try went to x")
        # the 503 is a failure for passive health, as in the foreground
        n.wait_metric("outpost_origin_member_failures_total", lambda v: v == failures0 + 1)
        harness.wait_until(lambda: n.get(path).body == b"two\n", 3.0, what="refreshed from y")
        r = n.get(path)
        self.assertEqual((r.status, r.header("X-Cache")), (200, "HIT"), r)
        self.assertEqual(y.count(path), 1)

    def test_total_timeout_ends_it(self):
        n, x = self.node, self.x
        path = "/bgtotal/a"
        self.fill_then_stale(path, "old\n")
        to0 = n.metric("outpost_origin_timeouts_total")
        # within first_byte (5 s), beyond timeouts.total (1 s)
        x.script({path: {"cc": "max-age=60", "body": "new\n", "delay_ms": 2500,
                         "headers": {"ETag": '"v2"'}}})
        t0 = time.monotonic()
        self.assertSWR(n.get(path), b"old\n")
        n.wait_metric("outpost_origin_timeouts_total", lambda v: v == to0 + 1, timeout=2.5)
        self.assertLess(time.monotonic() - t0, 2.4, "ended by timeouts.total")
        time.sleep(max(0.0, 3.0 - (time.monotonic() - t0)))   # the answer came and went
        self.assertSWR(n.get(path), b"old\n")
        self.assertEqual(n.metric("outpost_origin_timeouts_total"), to0 + 1)

    def interim(self, k):
        head = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" * k
        return head + ("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
                       "Content-Length: 4\r\n\r\nnew\n")

    def test_interim_cap(self):
        n, x = self.node, self.x
        path = "/1xx/over"
        self.fill_then_stale(path, "old\n")
        errors0 = n.metric("outpost_origin_errors_total")
        x.script({path: {"raw": self.interim(17)}})   # one over the cap (16)
        self.assertSWR(n.get(path), b"old\n")
        harness.wait_until(lambda: x.count(path) == 2, 5.0, what="the background request")
        n.wait_metric("outpost_origin_errors_total", lambda v: v == errors0 + 1)
        time.sleep(0.3)
        self.assertSWR(n.get(path), b"old\n")   # not refreshed

    def test_interim_within_cap_refreshes(self):
        n, x = self.node, self.x
        path = "/1xx/within"
        self.fill_then_stale(path, "old\n")
        x.script({path: {"raw": self.interim(16)}})
        self.assertSWR(n.get(path), b"old\n")
        harness.wait_until(lambda: n.get(path).body == b"new\n", 5.0, what="refreshed")


if __name__ == "__main__":
    harness.main()
