#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Rate limits per site and route (rate_limit: { by, rate, burst }).

A token bucket per client address (by: address), per /24 or /64 (prefix),
or per value of a request field (header:NAME); a request over the limit
gets 429 with Retry-After and a short body before the cache lookup, and
never reaches the origin.  Each route has its own buckets; the buckets live
in one table of the node and survive a reload (SIGHUP).  The rates here are
per minute, so no bucket refills while a test runs."""

import signal

import harness
from harness import add_route, to_yaml


def reload(node):
    before = node.metric("outpost_config_reloads_total")
    node.send_signal(signal.SIGHUP)
    node.wait_metric("outpost_config_reloads_total", lambda v: v > before, timeout=10)


class RateLimit(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            cfg["trusted_proxies"] = ["127.0.0.1/32"]
            nocache = {"enabled": False}
            add_route(cfg, {"path": "/addr/", "pool": "web", "cache": nocache,
                            "rate_limit": {"by": "address", "rate": "3/m"}})
            add_route(cfg, {"path": "/burst/", "pool": "web", "cache": nocache,
                            "rate_limit": {"rate": "1/m", "burst": 2}})
            add_route(cfg, {"path": "/prefix/", "pool": "web", "cache": nocache,
                            "rate_limit": {"by": "prefix", "rate": "2/m"}})
            add_route(cfg, {"path": "/key/", "pool": "web", "cache": nocache,
                            "rate_limit": {"by": "header:X-Api-Key", "rate": "2/m"}})
            add_route(cfg, {"path": "/hit/", "pool": "web", "cache": {"default_ttl": "1h"},
                            "rate_limit": {"rate": "2/m"}})
            add_route(cfg, {"path": "/reload/", "pool": "web", "cache": nocache,
                            "rate_limit": {"rate": "2/m"}})
            cfg["sites"][0]["rate_limit"] = {"rate": "2/m"}
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def get(self, path, client, **hdrs):
        h = {"X-Forwarded-For": client}
        h.update(hdrs)
        return self.node.get(path, headers=h)

    def statuses(self, path, client, n, **hdrs):
        return [self.get(path, client, **hdrs).status for _ in range(n)]

    def test_by_address(self):
        self.assertEqual(self.statuses("/addr/a", "192.0.2.1", 4), [200, 200, 200, 429])
        self.assertEqual(self.origin.count("/addr/a"), 3)
        r = self.get("/addr/a", "192.0.2.1")
        self.assertEqual(r.status, 429)
        self.assertEqual(r.body, b"too many requests\n")
        retry = int(r.header("Retry-After"))
        self.assertTrue(1 <= retry <= 20, retry)  # one token of 3/m: 20 s at most
        # another client has a bucket of its own
        self.assertEqual(self.statuses("/addr/a", "192.0.2.2", 3), [200, 200, 200])
        self.assertEqual(self.origin.count("/addr/a"), 6)
        self.assertGreaterEqual(self.node.metric("outpost_rate_limited_total"), 2)

    def test_burst(self):
        self.assertEqual(self.statuses("/burst/x", "192.0.2.10", 3), [200, 200, 429])

    def test_by_prefix(self):
        self.assertEqual(self.get("/prefix/x", "198.51.100.1").status, 200)
        self.assertEqual(self.get("/prefix/x", "198.51.100.200").status, 200)
        self.assertEqual(self.get("/prefix/x", "198.51.100.77").status, 429)
        self.assertEqual(self.get("/prefix/x", "198.51.101.1").status, 200)
        self.assertEqual(self.statuses("/prefix/x", "2001:db8:0:1::1", 2), [200, 200])
        self.assertEqual(self.get("/prefix/x", "2001:db8:0:1:ffff::9").status, 429)
        self.assertEqual(self.get("/prefix/x", "2001:db8:0:2::1").status, 200)

    def test_by_header(self):
        k1 = {"X-Api-Key": "alpha"}
        k2 = {"X-Api-Key": "beta"}
        self.assertEqual(self.statuses("/key/x", "192.0.2.20", 3, **k1), [200, 200, 429])
        # another key from the same address, and the first key from elsewhere
        self.assertEqual(self.get("/key/x", "192.0.2.20", **k2).status, 200)
        self.assertEqual(self.get("/key/x", "192.0.2.21", **k1).status, 429)

    def test_routes_have_their_own_buckets(self):
        self.assertEqual(self.statuses("/addr/r", "192.0.2.30", 4), [200, 200, 200, 429])
        self.assertEqual(self.get("/burst/r", "192.0.2.30").status, 200)
        # the site's limit covers routes without one
        self.assertEqual(self.statuses("/site", "192.0.2.30", 3), [200, 200, 429])

    def test_limited_before_the_cache(self):
        self.assertEqual(self.statuses("/hit/x", "192.0.2.40", 3), [200, 200, 429])
        self.assertEqual(self.origin.count("/hit/x"), 1)  # the second was a hit

    def test_buckets_survive_a_reload(self):
        self.assertEqual(self.statuses("/reload/x", "192.0.2.50", 3), [200, 200, 429])
        reload(self.node)
        self.assertEqual(self.get("/reload/x", "192.0.2.50").status, 429)
        self.assertEqual(self.get("/reload/x", "192.0.2.51").status, 200)


class RateLimitAddedByReload(harness.OutpostTestCase):
    """A node started without any rate_limit makes its table when a reload
    brings the first one."""

    def test_reload_adds_a_limit(self):
        origin = self.start_origin()
        node = self.start_outpost(origin)
        self.assertEqual(self.statuses(node, 3), [200, 200, 200])
        cfg = node.config
        add_route(cfg, {"path": "/late/", "pool": "web", "cache": {"enabled": False},
                        "rate_limit": {"rate": "2/m"}})
        with open(node.config_path, "w") as f:
            f.write(to_yaml(cfg) + "\n")
        reload(node)
        self.assertEqual(self.statuses(node, 3), [200, 200, 429])

    @staticmethod
    def statuses(node, n):
        return [node.get("/late/x").status for _ in range(n)]


if __name__ == "__main__":
    harness.main()
