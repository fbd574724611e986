#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""RAM cache: what is stored, what is not, HIT/MISS headers, key
normalization, expiry, HEAD from a stored GET, counters."""

import time

import harness

MISS, HIT = "MISS", "HIT"


class Cache(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)

    def get(self, path, **kw):
        return self.node.get(path, **kw)

    def assertMiss(self, r):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Cache"), MISS, r.headers)
        self.assertCacheStatus(r, "fwd=miss")

    def assertHit(self, r):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Cache"), HIT, r.headers)
        self.assertCacheStatus(r, "hit")
        age = r.header("Age")
        self.assertIsNotNone(age, "no Age on a hit")
        self.assertRegex(age, r"^\d+$")

    def assertCacheStatus(self, r, param):
        cs = r.header("Cache-Status")
        self.assertIsNotNone(cs, "no Cache-Status")
        parts = [p.strip() for p in cs.split(";")]
        self.assertEqual(parts[0], "outpost", cs)
        self.assertIn(param, parts[1:], cs)

    def twice(self, path, **kw):
        return self.get(path, **kw), self.get(path, **kw)

    # -- stored -----------------------------------------------------------
    def test_miss_then_hit(self):
        n = self.node
        hits0 = n.metric("outpost_cache_hits_total")
        miss0 = n.metric("outpost_cache_misses_total")
        r1 = self.get("/c/basic?cc=max-age%3D60")
        self.assertMiss(r1)
        n.wait_metric("outpost_cache_misses_total", lambda v: v == miss0 + 1)
        r2 = self.get("/c/basic?cc=max-age%3D60")
        self.assertHit(r2)
        self.assertEqual(r2.body, r1.body)
        self.assertEqual(self.origin.count("/c/basic"), 1)
        n.wait_metric("outpost_cache_hits_total", lambda v: v == hits0 + 1)
        self.assertEqual(n.metric("outpost_cache_misses_total"), miss0 + 1)
        self.assertGreaterEqual(n.metric("outpost_cache_ram_objects"), 1)
        self.assertGreaterEqual(n.metric("outpost_cache_ram_bytes"), len(r1.body))

    def test_age_grows(self):
        self.assertMiss(self.get("/c/age?cc=max-age%3D60"))
        time.sleep(1.2)
        r = self.get("/c/age?cc=max-age%3D60")
        self.assertHit(r)
        self.assertGreaterEqual(int(r.header("Age")), 1)

    def test_s_maxage_stored(self):
        r1, r2 = self.twice("/c/smaxage?cc=s-maxage%3D60")
        self.assertMiss(r1)
        self.assertHit(r2)
        self.assertEqual(self.origin.count("/c/smaxage"), 1)

    def test_expires_stored(self):
        r1, r2 = self.twice("/c/expires?expires=60")
        self.assertMiss(r1)
        self.assertHit(r2)
        self.assertEqual(self.origin.count("/c/expires"), 1)

    def test_large_body_hit(self):
        size = 4 * 1024 * 1024
        r1, r2 = self.twice("/c/large?cc=max-age%%3D60&size=%d" % size)
        self.assertMiss(r1)
        self.assertHit(r2)
        self.assertEqual(r2.body, harness.pattern_bytes(size))
        self.assertEqual(self.origin.count("/c/large"), 1)

    def test_chunked_origin_stored(self):
        r1, r2 = self.twice("/c/chunked?cc=max-age%3D60&size=50000&chunked=1&chunk_size=999")
        self.assertMiss(r1)
        self.assertHit(r2)
        self.assertEqual(r2.body, harness.pattern_bytes(50000))

    # -- not stored -------------------------------------------------------
    def assertNotStored(self, path, **kw):
        r1, r2 = self.twice(path, **kw)
        self.assertMiss(r1)
        self.assertMiss(r2)
        self.assertEqual(self.origin.count(path.split("?")[0]), 2)

    def test_no_store_not_stored(self):
        self.assertNotStored("/c/nostore?cc=no-store")

    def test_private_not_stored(self):
        self.assertNotStored("/c/private?cc=private%2C%20max-age%3D60")

    def test_no_freshness_not_stored(self):
        self.assertNotStored("/c/nofresh")

    def test_authorization_not_stored(self):
        self.assertNotStored("/c/auth?cc=max-age%3D60",
                             headers={"Authorization": "Bearer x"})

    def test_authorization_public_stored(self):
        h = {"Authorization": "Bearer x"}
        r1, r2 = self.twice("/c/auth-public?cc=public%2C%20max-age%3D60", headers=h)
        self.assertMiss(r1)
        self.assertHit(r2)
        self.assertEqual(self.origin.count("/c/auth-public"), 1)

    def test_authorization_s_maxage_stored(self):
        h = {"Authorization": "Bearer x"}
        r1, r2 = self.twice("/c/auth-smaxage?cc=s-maxage%3D60", headers=h)
        self.assertMiss(r1)
        self.assertHit(r2)
        self.assertEqual(self.origin.count("/c/auth-smaxage"), 1)

    def test_post_not_stored(self):
        for _ in range(2):
            r = self.node.request("POST", "/c/post?cc=max-age%3D60", body=b"x")
            self.assertEqual(r.status, 200)
        self.assertEqual(self.origin.count("/c/post"), 2)
        # and a POST does not fill the entry a GET would use
        self.assertMiss(self.get("/c/post?cc=max-age%3D60"))

    def test_cache_disabled_route(self):
        # RFC 9211 §2.2: the route is configured not to cache, so fwd=bypass
        for _ in range(2):
            r = self.get("/nocache/x?cc=max-age%3D60")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("X-Cache"), MISS, r.headers)
            self.assertCacheStatus(r, "fwd=bypass")
        self.assertEqual(self.origin.count("/nocache/x"), 2)

    def test_over_max_object_not_stored(self):
        size = 17 * 1024 * 1024
        path = "/c/huge?cc=max-age%%3D60&size=%d" % size
        for _ in range(2):
            r, n, _d = self.node.stream(path, timeout=20)
            self.assertEqual((r.status, n), (200, size))
        self.assertEqual(self.origin.count("/c/huge"), 2)

    def test_request_no_cache_goes_to_origin(self):
        self.assertMiss(self.get("/c/reqnocache?cc=max-age%3D60"))
        r = self.get("/c/reqnocache?cc=max-age%3D60", headers={"Cache-Control": "no-cache"})
        self.assertMiss(r)
        self.assertEqual(self.origin.count("/c/reqnocache"), 2)

    # -- keys -------------------------------------------------------------
    def test_path_normalization_shares_entry(self):
        q = "?cc=max-age%3D60"
        self.assertMiss(self.get("/n/a/../b" + q))
        self.assertHit(self.get("/n/%62" + q))
        self.assertHit(self.get("/n/b" + q))
        self.assertEqual(self.origin.count(prefix="/n/"), 1)

    def test_host_normalization_shares_entry(self):
        path = "/c/hostnorm?cc=max-age%3D60"
        self.assertMiss(self.get(path, host="EXAMPLE.com:80"))
        self.assertHit(self.get(path, host="example.com"))
        self.assertEqual(self.origin.count("/c/hostnorm"), 1)

    def test_different_hosts_different_entries(self):
        path = "/c/hosts?cc=max-age%3D60"
        self.assertMiss(self.get(path, host="example.com"))
        self.assertMiss(self.get(path, host="www.example.com"))
        self.assertEqual(self.origin.count("/c/hosts"), 2)

    def test_query_is_part_of_key(self):
        self.assertMiss(self.get("/c/q?cc=max-age%3D60&v=1"))
        self.assertMiss(self.get("/c/q?cc=max-age%3D60&v=2"))
        self.assertHit(self.get("/c/q?cc=max-age%3D60&v=1"))
        self.assertEqual(self.origin.count("/c/q"), 2)

    def test_origin_gets_the_path_the_key_names(self):
        # "/c/evil/../victim" is keyed as "/c/victim": the origin must be
        # asked for "/c/victim" too, or a path it does not normalize would
        # fill another URL's entry
        r = self.get("/c/evil/../victim?cc=max-age%3D60")
        self.assertMiss(r)
        self.assertEqual([q["target"] for q in self.origin.requests(prefix="/c/")
                          if "victim" in q["target"]], ["/c/victim?cc=max-age%3D60"])
        for same in ("/c/victim?cc=max-age%3D60", "/c/%76ictim?cc=max-age%3D60"):
            h = self.get(same)
            self.assertHit(h)
            self.assertEqual(h.body, r.body)
        self.assertEqual(self.origin.count("/c/evil/../victim"), 0)

    # -- freshness --------------------------------------------------------
    def test_expiry(self):
        path = "/c/expiry?cc=max-age%3D1"
        self.assertMiss(self.get(path))
        self.assertHit(self.get(path))
        time.sleep(2.1)
        self.assertMiss(self.get(path))
        self.assertEqual(self.origin.count("/c/expiry"), 2)

    # -- HEAD ---------------------------------------------------------------
    def test_head_after_get_is_hit(self):
        path = "/c/head?cc=max-age%3D60&size=7777"
        g = self.get(path)
        self.assertMiss(g)
        with self.node.connect() as c:
            c.send("HEAD %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % path)
            h = c.read_response(head=True)
            # the connection must be in sync: no body bytes after the HEAD head
            c.send("GET /c/head-next HTTP/1.1\r\nHost: example.com\r\n\r\n")
            nxt = c.read_response()
        self.assertHit(h)
        self.assertEqual(h.header("Content-Length"), "7777")
        self.assertEqual(h.header("Content-Length"), g.header("Content-Length"))
        self.assertEqual(nxt.body, b"origin GET /c/head-next n=1\n")
        self.assertEqual(self.origin.count("/c/head"), 1)

    def test_empty_body_stored_and_keepalive_in_sync(self):
        # "Content-Length: 0" ends the response before any body byte arrives
        path = "/c/empty?cc=max-age%3D60&body="
        with self.node.connect() as c:
            for want in ("MISS", "HIT", "HIT"):
                c.send("GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % path)
                r = c.read_response(timeout=5.0)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, b"")
                self.assertEqual(r.header("Content-Length"), "0")
                self.assertEqual(r.header("X-Cache"), want)
            c.send("GET /c/empty-next HTTP/1.1\r\nHost: example.com\r\n\r\n")
            self.assertEqual(c.read_response(timeout=5.0).body,
                             b"origin GET /c/empty-next n=1\n")
        self.assertEqual(self.origin.count("/c/empty"), 1)

    # -- answered from the cache with validators (RFC 9110 §13.2) ----------
    VALIDATED = ("?cc=max-age%3D60&h=ETag:%20%22v1%22"
                 "&h=Last-Modified:%20Sun,%2006%20Nov%201994%2008:49:37%20GMT")

    def test_if_none_match_304_from_cache(self):
        path = "/c/inm" + self.VALIDATED
        self.assertMiss(self.get(path))
        r = self.get(path, headers={"If-None-Match": '"other", W/"v1"'})
        self.assertEqual(r.status, 304, r)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("ETag"), '"v1"')
        self.assertEqual(r.header("X-Cache"), HIT)
        r = self.get(path, headers={"If-None-Match": '"v2"'})
        self.assertHit(r)
        self.assertEqual(self.origin.count("/c/inm"), 1)

    def test_if_modified_since_304_from_cache(self):
        path = "/c/ims" + self.VALIDATED
        self.assertMiss(self.get(path))
        r = self.get(path, headers={"If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"})
        self.assertEqual(r.status, 304, r)
        r = self.get(path, headers={"If-Modified-Since": "Sat, 05 Nov 1994 08:49:37 GMT"})
        self.assertHit(r)
        self.assertEqual(self.origin.count("/c/ims"), 1)

    def test_if_match_412_from_cache(self):
        path = "/c/im" + self.VALIDATED
        self.assertMiss(self.get(path))
        r = self.get(path, headers={"If-Match": '"v2"'})
        self.assertEqual(r.status, 412, r)
        self.assertHit(self.get(path, headers={"If-Match": '"v1"'}))
        self.assertEqual(self.origin.count("/c/im"), 1)

    def test_only_if_cached(self):
        r = self.get("/c/oic?cc=max-age%3D60", headers={"Cache-Control": "only-if-cached"})
        self.assertEqual(r.status, 504, r)
        self.assertEqual(self.origin.count("/c/oic"), 0)
        self.assertMiss(self.get("/c/oic?cc=max-age%3D60"))
        self.assertHit(self.get("/c/oic?cc=max-age%3D60",
                                headers={"Cache-Control": "only-if-cached"}))


class ScanResistance(harness.OutpostTestCase):
    """A scan of cold URLs 10x the RAM tier leaves the hot set's hit ratio
    within 5 points of its value before the scan (SIEVE eviction)."""

    RAM = 2 << 20
    SIZE = 8192

    def test_cold_scan_does_not_flush_the_hot_set(self):
        origin = self.start_origin()
        node = self.start_outpost(origin, overrides={"cache": {"ram": "2MiB"}})
        hot = ["/hot/%d?cc=max-age%%3D600&size=%d" % (i, self.SIZE) for i in range(40)]
        rnd = __import__("random").Random(5)

        def hot_ratio(n):
            hits = 0
            for _ in range(n):
                r = node.get(rnd.choice(hot))
                self.assertEqual(r.status, 200)
                hits += r.header("X-Cache") == "HIT"
            return hits / n

        for _ in range(2):
            for p in hot:
                node.get(p)
        before = hot_ratio(200)
        n_cold = 10 * self.RAM // self.SIZE
        for i in range(n_cold):
            self.assertEqual(node.get("/cold/%d?cc=max-age%%3D600&size=%d" % (i, self.SIZE)).status,
                             200)
            if i % 16 == 0:
                node.get(rnd.choice(hot))
        after = hot_ratio(200)
        print("# hot hit ratio before %.3f, after a %d-object cold scan %.3f" %
              (before, n_cold, after))
        self.assertGreaterEqual(node.metric("outpost_cache_ram_evictions_total", default=0) or 0,
                                n_cold // 2, "the scan did not fill the RAM tier")
        self.assertGreaterEqual(after, before - 0.05)

if __name__ == "__main__":
    harness.main()
