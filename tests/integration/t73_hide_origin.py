#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Hiding the origin: the fields that name the origin's software or host
(Server and X-Powered-By by default, and hide_origin.fields) never reach a
client — not on a miss, not from the cache, not after a 304 refreshed the
stored head, not on an uncached route; the node's own error pages never
name an origin address, pool member or port; Via names the node only.
hide_origin.enabled: false relays Server and X-Powered-By as the origin
sent them."""

import json
import urllib.parse

import harness
from harness import add_pool, add_route

IDENTITY = [["Server", "Apache/2.4.1 (Unix) PHP/5.3"], ["X-Powered-By", "PHP/5.3.29"],
            ["X-Backend-Host", "app-7.internal.example.net"], ["X-Keep", "kept"]]


def ident_path(path, cc="max-age=60", extra=()):
    q = [("cc", cc)] + [("h", "%s: %s" % (n, v)) for n, v in IDENTITY + list(extra)]
    return path + "?" + urllib.parse.urlencode(q)


class HideOriginDefault(harness.OutpostTestCase):
    HIDE = None

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.dead = harness.free_port()

        def mutate(cfg):
            if cls.HIDE is not None:
                cfg["hide_origin"] = cls.HIDE
            add_pool(cfg, "gone", "127.0.0.1:%d" % cls.dead)
            add_route(cfg, {"path": "/gone/", "pool": "gone"})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def hidden(self):
        return {"server", "x-powered-by"}

    def check_fields(self, r, what):
        names = {k.lower() for k, _ in r.headers}
        for name in self.hidden():
            self.assertNotIn(name, names, "%s: %s relayed: %r" % (what, name, r.headers))
        self.assertEqual(r.header("X-Keep"), "kept", what)
        for n, v in IDENTITY:
            if n.lower() not in self.hidden():
                self.assertEqual(r.header(n), v, what)
        self.assertEqual(r.header_all("Via"), ["1.1 test-node"], what)

    def test_miss_hit_and_pass(self):
        p = ident_path("/id/a")
        r = self.node.get(p)
        self.assertEqual((r.status, r.header("X-Cache")), (200, "MISS"), r)
        self.check_fields(r, "miss")
        r = self.node.get(p)
        self.assertEqual((r.status, r.header("X-Cache")), (200, "HIT"), r)
        self.check_fields(r, "hit")
        r = self.node.get(ident_path("/nocache/id/b"))
        self.assertEqual(r.status, 200, r)
        self.check_fields(r, "uncached route")
        self.assertEqual(self.origin.count("/id/a"), 1)

    def test_revalidated_head(self):
        # stored without the fields, then a 304 carrying them refreshes it
        path = "/id/reval"
        self.origin.script({path: {"cc": "max-age=1", "headers": dict(IDENTITY, ETag='"v1"')}})
        r = self.node.get(path)
        self.assertEqual(r.status, 200, r)
        self.check_fields(r, "first")
        def revalidated():
            self.node.get(path)
            return any(rec["status"] == 304 for rec in self.origin.requests(path))
        harness.wait_until(revalidated, 6.0, interval=0.2, what="a 304 from the origin")
        r = self.node.get(path)
        self.assertEqual(r.status, 200, r)
        self.check_fields(r, "after a 304")

    def test_error_pages_name_no_origin(self):
        r = self.node.get("/gone/x")
        self.assertEqual(r.status, 502, r)
        r2 = self.node.get("/id/slow?delay_ms=4000")
        self.assertEqual(r2.status, 504, r2)
        for resp in (r, r2):
            text = resp.body.decode("latin-1") + json.dumps(resp.headers)
            for leak in ("127.0.0.1", str(self.dead), str(self.origin.port), "gone", "web"):
                self.assertNotIn(leak, text, resp)
            self.assertEqual(resp.header_all("Via"), ["1.1 test-node"], resp)
        self.assertIsNone(self.node.proc.poll())


class HideOriginFields(HideOriginDefault):
    HIDE = {"fields": ["X-Backend-Host"]}

    def hidden(self):
        return {"server", "x-powered-by", "x-backend-host"}


class HideOriginOff(HideOriginDefault):
    HIDE = {"enabled": False, "fields": ["X-Backend-Host"]}
    test_error_pages_name_no_origin = None

    def hidden(self):
        return {"x-backend-host"}

    def test_relayed_when_off(self):
        r = self.node.get(ident_path("/id/off"))
        self.assertEqual(r.header("Server"), IDENTITY[0][1], r)
        self.assertEqual(r.header("X-Powered-By"), IDENTITY[1][1], r)
        r = self.node.get(ident_path("/id/off"))
        self.assertEqual((r.header("X-Cache"), r.header("Server")), ("HIT", IDENTITY[0][1]), r)


if __name__ == "__main__":
    harness.main()
