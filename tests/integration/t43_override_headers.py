#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Unkeyed override fields on caching routes (cache poisoning).

X-HTTP-Method-Override, X-Original-URL, X-Rewrite-URL, X-Forwarded-Host,
Forwarded, X-Forwarded-Scheme, X-Forwarded-Port, X-Host and X-Forwarded-Server
change what many origins answer, yet are not in the cache key: one client's
value would be stored for everyone.  On a request whose answer may be stored
they are stripped by default; per route, cache.override_headers forwards them,
or keys on them (one stored copy per value).  Requests that are never stored
(routes without caching, POST) still carry them."""

import harness
from harness import add_route, req_header

FIELDS = ["X-HTTP-Method-Override", "X-Original-URL", "X-Rewrite-URL", "X-Forwarded-Host",
          "Forwarded", "X-Forwarded-Scheme", "X-Forwarded-Port", "X-Host",
          "X-Forwarded-Server"]
EVIL = {"X-HTTP-Method-Override": "POST", "X-Original-URL": "/admin",
        "X-Rewrite-URL": "/admin", "X-Forwarded-Host": "evil.example",
        "Forwarded": "host=evil.example;proto=http", "X-Forwarded-Scheme": "nothttps",
        "X-Forwarded-Port": "1337", "X-Host": "evil.example",
        "X-Forwarded-Server": "evil.example"}


def slug(name):
    return name.lower()


class OverrideHeaders(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)
        # each answer names the field's value as the origin saw it
        script = {}
        for f in FIELDS:
            for route in ("ov", "nocache"):
                script["/%s/%s/*" % (route, slug(f))] = {"body_from": f, "cc": "max-age=60"}
        cls.origin.script(script)

    def test_stripped_on_caching_route(self):
        for f in FIELDS:
            with self.subTest(field=f):
                path = "/ov/%s/a" % slug(f)
                r1 = self.node.get(path, headers={f: EVIL[f]})
                self.assertEqual((r1.status, r1.header("X-Cache")), (200, "MISS"), r1)
                self.assertEqual(r1.body, ("%s=-\n" % f).encode())
                rec = self.origin.requests(path)[-1]
                self.assertIsNone(req_header(rec, f), "%s reached the origin" % f)
                # the next client gets the unpoisoned answer from the cache
                r2 = self.node.get(path)
                self.assertEqual((r2.header("X-Cache"), r2.body), ("HIT", r1.body))
                self.assertEqual(self.origin.count(path), 1)

    def test_forwarded_where_nothing_is_stored(self):
        for f in FIELDS:
            with self.subTest(field=f):
                path = "/nocache/%s/a" % slug(f)
                r = self.node.get(path, headers={f: EVIL[f]})
                self.assertEqual(r.body, ("%s=%s\n" % (f, EVIL[f])).encode())
                r = self.node.request("POST", "/ov/%s/post" % slug(f), headers={f: EVIL[f]},
                                      body=b"x")
                self.assertEqual(r.body, ("%s=%s\n" % (f, EVIL[f])).encode())
                self.assertEqual(r.header("X-Cache"), "MISS")
                self.assertNotIn("stored", r.header("Cache-Status"))


class OverrideModes(harness.OutpostTestCase):
    """cache.override_headers: forward, key, and a mapping per field."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            add_route(cfg, {"path": "/fwd/", "pool": "web",
                            "cache": {"override_headers": "forward"}})
            add_route(cfg, {"path": "/key/", "pool": "web",
                            "cache": {"override_headers": "key"}})
            add_route(cfg, {"path": "/mix/", "pool": "web",
                            "cache": {"override_headers": {"default": "forward",
                                                           "X-Forwarded-Host": "key",
                                                           "X-Original-URL": "strip"}}})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)
        script = {}
        for f in FIELDS:
            for route in ("fwd", "key", "mix"):
                script["/%s/%s/*" % (route, slug(f))] = {"body_from": f, "cc": "max-age=60"}
        cls.origin.script(script)

    def test_forward(self):
        for f in FIELDS:
            with self.subTest(field=f):
                r = self.node.get("/fwd/%s/a" % slug(f), headers={f: EVIL[f]})
                self.assertEqual(r.body, ("%s=%s\n" % (f, EVIL[f])).encode())

    def test_key_stores_one_copy_per_value(self):
        for f in FIELDS:
            with self.subTest(field=f):
                path = "/key/%s/a" % slug(f)
                seq = [("one", "MISS"), ("two", "MISS"), (None, "MISS"), ("one", "HIT"),
                       (None, "HIT"), ("", "MISS"), ("two", "HIT")]
                for value, want in seq:
                    r = self.node.get(path, headers={f: value} if value is not None else {})
                    self.assertEqual(r.header("X-Cache"), want, (value, r))
                    self.assertEqual(r.body, ("%s=%s\n" % (f, value or "-")).encode())
                self.assertEqual(self.origin.count(path), 4)

    def test_key_value_cannot_pass_for_another_field(self):
        # a keyed value that looks like the next keyed field's part of the
        # key does not meet that field's copy
        path = "/key/x-forwarded-host/forge"
        a = self.node.get(path, headers={"X-Forwarded-Host": "a#forwarded=1:b"})
        b = self.node.get(path, headers={"X-Forwarded-Host": "a", "Forwarded": "b"})
        self.assertEqual((a.header("X-Cache"), b.header("X-Cache")), ("MISS", "MISS"))

    def test_mapping(self):
        r = self.node.get("/mix/x-forwarded-host/a", headers={"X-Forwarded-Host": "h1"})
        self.assertEqual((r.header("X-Cache"), r.body), ("MISS", b"X-Forwarded-Host=h1\n"))
        r = self.node.get("/mix/x-forwarded-host/a", headers={"X-Forwarded-Host": "h2"})
        self.assertEqual((r.header("X-Cache"), r.body), ("MISS", b"X-Forwarded-Host=h2\n"))
        r = self.node.get("/mix/x-original-url/a", headers={"X-Original-URL": "/admin"})
        self.assertEqual(r.body, b"X-Original-URL=-\n")
        r = self.node.get("/mix/x-host/a", headers={"X-Host": "h"})
        self.assertEqual(r.body, b"X-Host=h\n")


if __name__ == "__main__":
    harness.main()
