#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Vary variants (RFC 9111 §4.1), invalidation by unsafe methods (§4.4),
HEAD from a stored GET and HEAD updates (§4.3.5), 304 updates of one
variant, and the stored fields a hit carries.

The origin's default body names the request and its per-path count
("origin GET /v?... n=3"), so a body tells which origin answer a client got."""

import gzip
import os
import shutil
import tempfile
import time
import urllib.parse

import harness

STALE_WAIT = 2.1  # max-age=1 is stale after this (Age counts whole seconds)


def q(value):
    return value.replace(" ", "%20").replace("=", "%3D").replace(",", "%2C")


class Base(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)

    def vpath(self, name, vary, extra=""):
        return "/v/%s?cc=max-age%%3D600&h=Vary:%%20%s%s" % (name, q(vary), extra)

    def get(self, path, headers=None):
        r = self.node.get(path, headers=headers)
        self.assertEqual(r.status, 200, r)
        return r

    def assertHit(self, r, body=None):
        self.assertEqual(r.header("X-Cache"), "HIT", r.headers)
        if body is not None:
            self.assertEqual(r.body, body)

    def assertMiss(self, r):
        self.assertEqual(r.header("X-Cache"), "MISS", r.headers)

    def raw_get(self, path, lines):
        """GET with header lines as given (repeated names allowed)."""
        head = "GET %s HTTP/1.1\r\nHost: example.com\r\n%sConnection: close\r\n\r\n" % (
            path, "".join("%s: %s\r\n" % kv for kv in lines))
        return self.node.raw(head.encode()).first()


class Vary(Base):
    def test_variants_coexist(self):
        p = self.vpath("co", "Foo")
        a = self.get(p, {"Foo": "1"})
        self.assertMiss(a)
        b = self.get(p, {"Foo": "2"})
        self.assertMiss(b)
        self.assertNotEqual(a.body, b.body)
        self.assertHit(self.get(p, {"Foo": "1"}), a.body)
        self.assertHit(self.get(p, {"Foo": "2"}), b.body)
        # a request without Foo matches only a variant stored without Foo
        c = self.get(p)
        self.assertMiss(c)
        self.assertHit(self.get(p), c.body)
        self.assertHit(self.get(p, {"Foo": "1"}), a.body)
        # headers not named in Vary are not part of the key
        self.assertHit(self.get(p, {"Foo": "2", "Other": "x"}), b.body)
        self.assertEqual(self.origin.count("/v/co"), 3)

    def test_connection_nominated_selecting_field_not_stored(self):
        # "Connection: Foo" makes Foo hop-by-hop (RFC 9110 §7.6.1): it is not
        # forwarded, so the origin's answer must not be stored as Foo's variant
        p = self.vpath("conn", "Foo")
        r = self.get(p, {"Foo": "1", "Connection": "Foo"})
        self.assertEqual(r.status, 200)
        self.assertIsNone(harness.req_header(self.origin.requests(path="/v/conn")[0], "Foo"))
        a = self.get(p, {"Foo": "1"})
        self.assertMiss(a)
        self.assertHit(self.get(p, {"Foo": "1"}), a.body)
        self.assertEqual(self.origin.count("/v/conn"), 2)

    def test_empty_value_differs_from_absent(self):
        p = self.vpath("empty", "Foo")
        self.assertMiss(self.get(p))
        r = self.raw_get(p, [("Foo", "")])
        self.assertEqual(r.header("X-Cache"), "MISS", r.headers)
        self.assertEqual(self.origin.count("/v/empty"), 2)

    def test_normalized_values(self):
        p = self.vpath("norm", "Foo")
        a = self.get(p, {"Foo": "1,2"})
        self.assertMiss(a)
        self.assertHit(self.get(p, {"Foo": " 1, 2 "}), a.body)
        r = self.raw_get(p, [("Foo", "1"), ("Foo", "2")])
        self.assertEqual((r.header("X-Cache"), r.body), ("HIT", a.body))
        self.assertMiss(self.get(p, {"Foo": "2, 1"}))
        self.assertEqual(self.origin.count("/v/norm"), 2)

    def test_two_and_three_way(self):
        p = self.vpath("two", "Foo, Bar")
        a = self.get(p, {"Foo": "1", "Bar": "abc"})
        self.assertMiss(a)
        self.assertHit(self.get(p, {"Bar": "abc", "Foo": "1"}), a.body)
        self.assertMiss(self.get(p, {"Foo": "2", "Bar": "abc"}))
        self.assertMiss(self.get(p, {"Foo": "1"}))
        # field names are case-insensitive and order-free in Vary
        p3 = self.vpath("three", "baz, FOO, Bar")
        b = self.get(p3, {"Foo": "1", "Baz": "789"})
        self.assertMiss(b)
        self.assertHit(self.get(p3, {"Foo": "1", "Baz": "789"}), b.body)
        self.assertMiss(self.get(p3, {"Foo": "1", "Bar": "abc", "Baz": "789"}))

    def test_vary_star_never_stored(self):
        for name, vary in (("s1", "*"), ("s2", "Foo, *"), ("s3", ", *"), ("s4", "*, *")):
            p = self.vpath(name, vary)
            self.assertMiss(self.get(p, {"Foo": "1"}))
            r = self.get(p, {"Foo": "1"})
            self.assertMiss(r)
            self.assertNotIn("stored", r.header("Cache-Status"))
            self.assertEqual(self.origin.count("/v/" + name), 2, vary)
        # "*" on its own line after an empty one
        p = "/v/s5?cc=max-age%3D600&h=Vary:&h=Vary:%20*"
        self.assertMiss(self.get(p))
        self.assertMiss(self.get(p))
        self.assertEqual(self.origin.count("/v/s5"), 2)

    def test_accept_encoding_normalized(self):
        p = self.vpath("ae", "Accept-Encoding")
        a = self.get(p, {"Accept-Encoding": "gzip, br"})
        self.assertMiss(a)
        self.assertHit(self.get(p, {"Accept-Encoding": "br;q=0.5, GZIP, x-unknown"}), a.body)
        self.assertMiss(self.get(p, {"Accept-Encoding": "gzip;q=0, br"}))
        self.assertMiss(self.get(p))
        self.assertEqual(self.origin.count("/v/ae"), 3)

    def test_content_coded_variant_only_for_its_clients(self):
        # a real gzip body: the node decodes it for a client that does not
        # accept gzip (t71_compression.py)
        gz = gzip.compress(b"coded variant\n", mtime=0)
        p = self.vpath("gz", "Accept-Encoding", "&h=Content-Encoding:%20gzip&body=" +
                       urllib.parse.quote(gz.decode("latin-1"), safe=""))
        a = self.get(p, {"Accept-Encoding": "gzip"})
        self.assertMiss(a)
        self.assertHit(self.get(p, {"Accept-Encoding": "gzip"}), a.body)
        self.assertMiss(self.get(p, {"Accept-Encoding": "identity"}))

    def test_oldest_variant_replaced(self):
        p = self.vpath("many", "Foo")
        bodies = {}
        for i in range(10):
            r = self.get(p, {"Foo": str(i)})
            self.assertMiss(r)
            bodies[i] = r.body
        for i in range(9, 1, -1):
            self.assertHit(self.get(p, {"Foo": str(i)}), bodies[i])
        self.assertMiss(self.get(p, {"Foo": "0"}))
        self.assertEqual(self.origin.count("/v/many"), 11)

    def test_invalidation_removes_every_variant(self):
        p = self.vpath("inv", "Foo")
        for v in ("1", "2"):
            self.assertMiss(self.get(p, {"Foo": v}))
            self.assertHit(self.get(p, {"Foo": v}))
        r = self.node.request("POST", p, body=b"x")
        self.assertEqual(r.status, 200, r)
        for v in ("1", "2"):
            self.assertMiss(self.get(p, {"Foo": v}))

    def test_plain_response_replaces_variants(self):
        path = "/v/plain"
        self.origin.script({path: {"cc": "max-age=600", "headers": {"Vary": "Foo"}}})
        self.assertMiss(self.get(path, {"Foo": "1"}))
        self.origin.script({path: {"cc": "max-age=600", "headers": {}}})
        r = self.get(path, {"Foo": "2"})
        self.assertMiss(r)
        # refresh with no-cache: the new response has no Vary
        r = self.get(path, {"Foo": "3", "Cache-Control": "no-cache"})
        self.assertMiss(r)
        self.assertHit(self.get(path, {"Foo": "1"}), r.body)

    def test_variant_revalidated_by_304(self):
        path = "/v/rv"
        self.origin.script({path: {"cc": "max-age=1", "headers": {
            "Vary": "Foo", "ETag": '"e1"', "X-V": "1"}}})
        a = self.get(path, {"Foo": "1"})
        b = self.get(path, {"Foo": "2"})
        self.assertMiss(a)
        self.assertMiss(b)
        time.sleep(STALE_WAIT)
        self.origin.script({path: {"cc": "max-age=600", "headers": {
            "Vary": "Foo", "ETag": '"e1"', "X-V": "2"}}})
        r = self.get(path, {"Foo": "1"})
        self.assertEqual((r.header("X-Cache"), r.body, r.header("X-V")), ("HIT", a.body, "2"))
        r = self.get(path, {"Foo": "1"})
        self.assertEqual((r.header("X-Cache"), r.header("X-V")), ("HIT", "2"))
        self.assertIn("hit", r.header("Cache-Status"))
        recs = self.origin.requests(path)
        self.assertEqual([x["status"] for x in recs], [200, 200, 304])
        self.assertEqual(harness.req_header(recs[2], "If-None-Match"), '"e1"')

    def test_background_revalidation_stores_the_variant(self):
        path = "/v/swr"
        self.origin.script({path: {"cc": "max-age=1, stale-while-revalidate=60",
                                   "headers": {"Vary": "Foo"}}})
        a = self.get(path, {"Foo": "1"})
        b = self.get(path, {"Foo": "2"})
        time.sleep(STALE_WAIT)
        self.origin.script({path: {"cc": "max-age=600", "headers": {"Vary": "Foo"}}})
        r = self.get(path, {"Foo": "1"})
        self.assertEqual((r.header("X-Cache"), r.body), ("HIT", a.body))
        self.assertIn("stale-while-revalidate", r.header("Cache-Status"))
        harness.wait_until(lambda: self.origin.count(path) == 3, 5.0, what="background fetch")
        harness.wait_until(lambda: self.get(path, {"Foo": "1"}).body != a.body, 3.0,
                           what="variant refreshed")
        r = self.get(path, {"Foo": "1"})
        self.assertEqual((r.header("X-Cache"), r.body), ("HIT", b"origin GET /v/swr n=3\n"))
        # the other variant is still its own (stale) response
        r = self.get(path, {"Foo": "2"})
        self.assertEqual((r.header("X-Cache"), r.body), ("HIT", b.body))


class Invalidation(Base):
    def cached(self, path):
        self.origin.script({path: {"cc": "max-age=600"}})
        self.assertMiss(self.get(path))
        self.assertHit(self.get(path))

    def test_unsafe_methods(self):
        for m in ("POST", "PUT", "DELETE", "PATCH", "M-SEARCH"):
            path = "/i/" + m.lower()
            self.cached(path)
            r = self.node.request(m, path, body=b"abc")
            self.assertEqual(r.status, 200, r)
            self.assertMiss(self.get(path))

    def test_safe_and_failed_keep(self):
        path = "/i/keep"
        self.cached(path)
        for m in ("OPTIONS", "TRACE"):
            self.assertEqual(self.node.request(m, path).status, 200)
        self.origin.script({path: {"status": 500}})
        r = self.node.request("POST", path, body=b"abc")
        self.assertEqual(r.status, 500, r)
        self.origin.script({path: {"status": 404}})
        self.assertEqual(self.node.request("DELETE", path).status, 404)
        self.origin.script({path: {"status": 200}})
        self.assertHit(self.get(path))

    def test_location_and_content_location(self):
        for t in ("/i/loc", "/i/cl", "/i/rel/x", "/i/abs"):
            self.cached(t)
        self.origin.script({"/i/post": {"status": 201, "headers": [
            ["Location", "http://EXAMPLE.com:80/i/loc"], ["Content-Location", "/i/cl"]]}})
        self.assertEqual(self.node.request("POST", "/i/post", body=b"x").status, 201)
        self.assertMiss(self.get("/i/loc"))
        self.assertMiss(self.get("/i/cl"))
        self.assertHit(self.get("/i/rel/x"))
        # a relative reference resolves against the target; a 3xx counts
        self.origin.script({"/i/rel/post": {"status": 303, "headers": [
            ["Location", "x"], ["Content-Location", "//example.com/i/abs"]]}})
        self.assertEqual(self.node.request("PUT", "/i/rel/post", body=b"x").status, 303)
        self.assertMiss(self.get("/i/rel/x"))
        self.assertMiss(self.get("/i/abs"))

    def test_other_origin_not_invalidated(self):
        for t in ("/i/o1", "/i/o2", "/i/o3"):
            self.cached(t)
        self.origin.script({"/i/opost": {"headers": [
            ["Location", "http://other.example/i/o1"],
            ["Content-Location", "https://example.com/i/o2"]]}})
        self.assertEqual(self.node.request("POST", "/i/opost", body=b"x").status, 200)
        self.origin.script({"/i/opost": {"headers": [
            ["Location", "http://example.com:8080/i/o3"], ["Content-Location", "::bad"]]}})
        self.assertEqual(self.node.request("POST", "/i/opost", body=b"x").status, 200)
        for t in ("/i/o1", "/i/o2", "/i/o3"):
            self.assertHit(self.get(t))
        self.assertServing(self.node)


class Head(Base):
    def test_head_from_stored_get(self):
        path = "/h/stored?cc=max-age%3D600&h=X-T:%201"
        g = self.get(path)
        r = self.node.head(path)
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, b"", "HIT"))
        self.assertEqual(r.header("Content-Length"), str(len(g.body)))
        self.assertEqual(r.header("X-T"), "1")
        self.assertEqual(self.origin.count("/h/stored"), 1)

    def test_head_miss_forwarded_not_stored(self):
        path = "/h/miss?cc=max-age%3D600"
        r = self.node.head(path)
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, b"", "MISS"))
        self.assertEqual([x["method"] for x in self.origin.requests("/h/miss")], ["HEAD"])
        g = self.get(path)
        self.assertMiss(g)
        self.assertNotEqual(g.body, b"")
        self.assertHit(self.get(path), g.body)

    def test_head_200_updates_stored_get(self):
        path = "/h/upd"
        # one body for GET and HEAD: a HEAD whose Content-Length differs
        # from the stored body's does not update it (RFC 9111 §4.3.5)
        self.origin.script({path: {"cc": "max-age=1", "no_cond": 1, "body": "same\n",
                                   "headers": {"ETag": '"h1"', "X-V": "1"}}})
        g = self.get(path)
        time.sleep(STALE_WAIT)
        self.origin.script({path: {"cc": "max-age=600", "no_cond": 1, "body": "same\n",
                                   "headers": {"ETag": '"h1"', "X-V": "2"}}})
        r = self.node.head(path)
        self.assertEqual((r.status, r.header("X-V")), (200, "2"))
        r = self.get(path)
        self.assertEqual((r.header("X-Cache"), r.header("X-V"), r.body), ("HIT", "2", g.body))
        self.assertEqual(r.header("Content-Length"), str(len(g.body)))

    def test_head_200_other_validator_does_not_update(self):
        path = "/h/other"
        self.origin.script({path: {"cc": "max-age=1", "no_cond": 1,
                                   "headers": {"ETag": '"a"', "X-V": "1"}}})
        self.get(path)
        time.sleep(STALE_WAIT)
        self.origin.script({path: {"cc": "max-age=600", "no_cond": 1,
                                   "headers": {"ETag": '"b"', "X-V": "2"}}})
        self.assertEqual(self.node.head(path).status, 200)
        r = self.get(path)
        self.assertMiss(r)
        self.assertEqual(r.header("ETag"), '"b"')


class StoredFields(Base):
    def test_hit_fields_as_sent(self):
        path = "/f/hyg"
        self.origin.script({path: {"cc": "max-age=600", "headers": [
            ["Connection", "a, b"], ["a", "1"], ["b", "2"], ["c", "3"],
            ["X-Multi", "x"], ["X-Multi", "y"]]}})
        self.get(path)
        r = self.get(path)
        self.assertHit(r)
        names = [k.lower() for k, _ in r.headers]
        self.assertEqual(r.header("c"), "3")
        self.assertNotIn("a", names)
        self.assertNotIn("b", names)
        self.assertEqual(r.header_all("X-Multi"), ["x", "y"])
        for one in ("date", "age", "content-length", "via", "cache-control", "x-cache"):
            self.assertEqual(names.count(one), 1, (one, r.headers))


    def test_no_cache_listed_fields_not_stored(self):
        path = "/f/ncf"
        self.origin.script({path: {"cc": 'no-cache="a, B"', "headers": [
            ["ETag", '"n1"'], ["a", "1"], ["b", "2"], ["c", "3"]]}})
        self.assertEqual(self.get(path).header("X-Cache"), "MISS")
        r = self.get(path)  # revalidated: the 304 repeats a and b
        self.assertEqual((r.header("X-Cache"), r.header("c")), ("HIT", "3"), r.headers)
        names = [k.lower() for k, _ in r.headers]
        self.assertNotIn("a", names)
        self.assertNotIn("b", names)


class DiskVary(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="outpost-vary-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.origin = self.start_origin()

    def node(self):
        return self.start_outpost(self.origin, overrides={
            "cache": {"disk": {"path": os.path.join(self.dir, "cache"), "size": "64MiB"}}})

    def test_variants_survive_restart_and_invalidation(self):
        p = "/dv/x?cc=max-age%3D600&h=Vary:%20Foo"
        n = self.node()
        bodies = {v: n.get(p, headers={"Foo": v}).body for v in ("1", "2")}
        n.admin("/healthz")
        self.assertEqual(n.stop(), 0)  # a clean stop drains the disk queue
        n2 = self.node()
        for v in ("1", "2"):
            r = n2.get(p, headers={"Foo": v})
            self.assertEqual((r.header("X-Cache"), r.body), ("HIT", bodies[v]), v)
        self.assertEqual(n2.get(p, headers={"Foo": "3"}).header("X-Cache"), "MISS")
        self.assertEqual(n2.request("DELETE", p).status, 200)
        self.assertEqual(n2.stop(), 0)
        n3 = self.node()
        for v in ("1", "2", "3"):
            self.assertEqual(n3.get(p, headers={"Foo": v}).header("X-Cache"), "MISS", v)


if __name__ == "__main__":
    harness.main()
