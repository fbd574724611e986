#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Nearest-origin pools: routes[].geo_pools.

The client's country, else its continent, else `default` picks the pool; a
pool with no usable member (active health) gives way to the next of those
candidates, and after the last to the route's own pool.  A URL's objects
from the pools of one route share one cache entry.  The databases and the
client's location (from X-Forwarded-For) are t69_geo's: 192.0.2.0/24
GB/EU, 2001:db8::/32 NL/EU, 2001:db8:ffff::/48 CA/NA, 198.51.100.1
unknown."""

import os

import harness
from harness import add_pool, add_route, wait_until
from t69_geo import GeoCase

GB, NL, CA, UNKNOWN = "192.0.2.9", "2001:db8::5", "2001:db8:ffff::1", "198.51.100.1"
CC = "cc=max-age%3D600"
HEALTH = {"path": "/healthz", "interval": "200ms", "timeout": "150ms", "rise": 2, "fall": 2,
          "expect": "200-399"}


class GeoPools(GeoCase):
    def geo(self, d):
        return {"databases": [{"path": os.path.join(d, "test-city.mmdb"), "type": "city"}]}

    def routes(self, cfg):
        cls = type(self)
        cls.web = cls.origin  # the route's own pool, "web"
        cls.fra = self.class_origin()
        cls.iad = self.class_origin()
        cls.gb = self.class_origin()  # its member goes down in a test
        add_pool(cfg, "pool-fra", cls.fra.address)
        add_pool(cfg, "pool-iad", cls.iad.address)
        add_pool(cfg, "pool-gb", cls.gb.address, health=HEALTH)
        pools = {"EU": "pool-fra", "NA": "pool-iad", "GB": "pool-gb", "default": "pool-iad"}
        add_route(cfg, {"path": "/near/", "pool": "web", "geo_pools": pools,
                        "cache": {"enabled": False}})
        add_route(cfg, {"path": "/gbonly/", "pool": "web", "geo_pools": {"GB": "pool-gb"},
                        "cache": {"enabled": False}})
        add_route(cfg, {"path": "/shared/", "pool": "web", "geo_pools": pools})
        add_route(cfg, {"path": "/apart/", "pool": "web", "geo_pools": pools,
                        "cache": {"vary_geo": "country"}})

    def get(self, path, client):
        r = self.node.get(path, headers={"X-Forwarded-For": client})
        self.assertEqual(r.status, 200, r)
        return r

    def served_by(self, path, client):
        self.get(path, client)
        return [name for name, o in (("web", self.web), ("fra", self.fra), ("iad", self.iad),
                                     ("gb", self.gb)) if o.count(path=path) > 0]

    def test_location_picks_the_pool(self):
        cases = [("/near/gb", GB, ["gb"]),          # the country wins
                 ("/near/nl", NL, ["fra"]),         # the continent
                 ("/near/ca", CA, ["iad"]),
                 ("/near/unknown", UNKNOWN, ["iad"]),  # default
                 ("/gbonly/nl", NL, ["web"])]       # no key applies: the route's pool
        for path, client, want in cases:
            with self.subTest(client=client, path=path):
                self.assertEqual(self.served_by(path, client), want)

    def test_pool_down_fails_over(self):
        self.gb.script({"/healthz": {"status": 500}})
        try:
            wait_until(lambda: "member %s is down" % self.gb.address in self.node.log(), 5,
                       what="active health marks pool-gb's member down")
            self.assertEqual(self.served_by("/near/gb-down", GB), ["fra"])  # the continent's
            self.assertEqual(self.served_by("/gbonly/gb-down", GB), ["web"])  # the route's
        finally:
            self.gb.script({"/healthz": {"status": 200}})
        wait_until(lambda: "member %s is up" % self.gb.address in self.node.log(), 5,
                   what="active health marks pool-gb's member up")
        self.assertEqual(self.served_by("/near/gb-up", GB), ["gb"])

    def test_pools_share_the_cache_entry(self):
        p = "/shared/x?" + CC
        self.assertEqual(self.get(p, NL).header("X-Cache"), "MISS")
        self.assertEqual(self.get(p, CA).header("X-Cache"), "HIT")
        self.assertEqual(self.fra.count(path="/shared/x") + self.iad.count(path="/shared/x"), 1)

    def test_vary_geo_keeps_them_apart(self):
        p = "/apart/x?" + CC
        self.assertEqual(self.get(p, NL).header("X-Cache"), "MISS")
        self.assertEqual(self.get(p, CA).header("X-Cache"), "MISS")
        self.assertEqual(self.get(p, NL).header("X-Cache"), "HIT")
        self.assertEqual(self.fra.count(path="/apart/x"), 1)
        self.assertEqual(self.iad.count(path="/apart/x"), 1)


if __name__ == "__main__":
    harness.main()
