#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Geo in the cache key: routes[].cache.vary_geo (country | continent).

A route with vary_geo keeps one stored copy per country (or continent) of
the client, the origin sending no Vary; a client whose location is not
known has its own copy ("--").  A purge by URL or by prefix removes every
geo copy of the URL.  The databases and the client's location (from
X-Forwarded-For) are t69_geo's: 192.0.2.0/24 GB/EU, 2001:db8::/32 NL/EU,
2001:db8:ffff::/48 CA/NA, 198.51.100.1 unknown."""

import hashlib
import json
import os
import time

import harness
from harness import add_route
from t69_geo import GeoCase

TOKEN = "geo-purge-token"
CC = "cc=max-age%3D600"
GB, GB2, NL, CA, UNKNOWN = "192.0.2.9", "192.0.2.77", "2001:db8::5", "2001:db8:ffff::1", \
    "198.51.100.1"


class GeoCache(GeoCase):
    def geo(self, d):
        return {"databases": [{"path": os.path.join(d, "test-city.mmdb"), "type": "city"}]}

    def routes(self, cfg):
        add_route(cfg, {"path": "/country/", "pool": "web", "cache": {"vary_geo": "country"}})
        add_route(cfg, {"path": "/continent/", "pool": "web",
                        "cache": {"vary_geo": "continent"}})
        add_route(cfg, {"path": "/plain/", "pool": "web"})
        cfg["purge"] = {"tokens": [{"id": "t", "hosts": ["*"],
                                    "sha256": hashlib.sha256(TOKEN.encode()).hexdigest()}]}

    def get(self, path, client):
        r = self.node.get(path + "?" + CC, headers={"X-Forwarded-For": client})
        self.assertEqual(r.status, 200)
        return r.header("X-Cache")

    def fetched(self, path):
        return len(self.origin.requests(path=path))

    def purge(self, body):
        r = harness.http_request(self.node.admin_port, "POST", "/purge",
                                 {"Content-Type": "application/json",
                                  "Authorization": "Bearer " + TOKEN},
                                 json.dumps(body).encode())
        self.assertEqual(r.status, 200, r)
        pid = json.loads(r.body)["id"]

        def done():
            s = self.node.admin("/purge/" + pid)
            return s.status == 200 and json.loads(s.body)["done"]
        harness.wait_until(done, 10, what="purge carried out")

    def test_a_copy_per_country(self):
        p = "/country/a"
        self.assertEqual(self.get(p, GB), "MISS")
        self.assertEqual(self.get(p, NL), "MISS")
        self.assertEqual(self.fetched(p), 2)
        self.assertEqual(self.get(p, GB2), "HIT")  # another client in GB
        self.assertEqual(self.get(p, NL), "HIT")
        self.assertEqual(self.get(p, UNKNOWN), "MISS")  # its own copy, "--"
        self.assertEqual(self.get(p, UNKNOWN), "HIT")
        self.assertEqual(self.fetched(p), 3)

    def test_a_copy_per_continent(self):
        p = "/continent/a"
        self.assertEqual(self.get(p, GB), "MISS")
        self.assertEqual(self.get(p, NL), "HIT")  # Europe too
        self.assertEqual(self.get(p, CA), "MISS")
        self.assertEqual(self.get(p, CA), "HIT")
        self.assertEqual(self.fetched(p), 2)

    def test_without_vary_geo_one_copy(self):
        p = "/plain/a"
        self.assertEqual(self.get(p, GB), "MISS")
        self.assertEqual(self.get(p, NL), "HIT")
        self.assertEqual(self.fetched(p), 1)

    def warm_all(self, p):
        for c in (GB, NL, UNKNOWN):
            self.get(p, c)
            self.assertEqual(self.get(p, c), "HIT")

    def test_purge_url_reaches_every_copy(self):
        p = "/country/purged"
        self.warm_all(p)
        self.assertEqual(self.fetched(p), 3)
        self.purge({"urls": ["http://example.com%s?%s" % (p, CC)]})
        time.sleep(1.1)  # a refill in the purge's own second would count as older
        for c in (GB, NL, UNKNOWN):
            self.assertEqual(self.get(p, c), "MISS")
        self.assertEqual(self.fetched(p), 6)
        self.assertEqual(self.get(p, GB2), "HIT")  # the refills stay

    def test_purge_prefix_reaches_every_copy(self):
        p = "/country/prefix/x"
        self.warm_all(p)
        self.purge({"prefixes": ["http://example.com/country/prefix/"]})
        time.sleep(1.1)
        for c in (GB, NL, UNKNOWN):
            self.assertEqual(self.get(p, c), "MISS")
        self.assertEqual(self.fetched(p), 6)


if __name__ == "__main__":
    harness.main()
