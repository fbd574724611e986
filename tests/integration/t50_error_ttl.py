#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""routes[].cache.default_ttl gives freshness to 2xx/3xx answers without
any; 4xx/5xx answers get cache.error_ttl instead (default 0s: the origin's
freshness or RFC 9111 heuristics only), so one request the origin fails
cannot keep a URL failing for a TTL meant for content."""

import harness
from harness import add_route


class ErrorTtl(harness.OutpostTestCase):
    ROUTES = [{"path": "/ttl/", "pool": "web", "cache": {"default_ttl": "1h"}}]

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            for r in cls.ROUTES:
                add_route(cfg, r)
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def twice(self, path):
        r1, r2 = self.node.get(path), self.node.get(path)
        return r1, r2, self.origin.count(path.split("?")[0])

    def test_default_ttl_for_content(self):
        for st in (200, 301, 308):
            with self.subTest(status=st):
                r1, r2, n = self.twice("/ttl/ok%d?status=%d" % (st, st))
                self.assertEqual((r1.status, r2.status), (st, st))
                self.assertEqual((r2.header("X-Cache"), n), ("HIT", 1), r2)

    def test_errors_not_stored_for_default_ttl(self):
        for st in (404, 405, 410, 414, 501):
            with self.subTest(status=st):
                r1, r2, n = self.twice("/ttl/e%d?status=%d" % (st, st))
                self.assertEqual((r1.status, r2.status), (st, st))
                self.assertEqual((r2.header("X-Cache"), n), ("MISS", 2), r2)



class ErrorTtlSet(ErrorTtl):
    ROUTES = [{"path": "/err/", "pool": "web",
               "cache": {"default_ttl": "1h", "error_ttl": "30s"}}]
    test_default_ttl_for_content = test_errors_not_stored_for_default_ttl = None

    def test_error_ttl(self):
        for st in (404, 410, 501):
            with self.subTest(status=st):
                r1, r2, n = self.twice("/err/e%d?status=%d" % (st, st))
                self.assertEqual((r2.status, r2.header("X-Cache"), n), (st, "HIT", 1), r2)
                age = int(r2.header("Age") or 0)
                self.assertLessEqual(age, 30)
                self.assertEqual(r2.header("Cache-Status"), "outpost; hit")


if __name__ == "__main__":
    harness.main()
