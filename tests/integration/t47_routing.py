#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Routes inside a site: exact / regex / prefix precedence, the cache key's
query modes, rewrites and origin_host, redirects, request and response header
rules, and the canary split (share and stickiness).  Two real origin
processes (pools "web" and "web2"), the real daemon (2 workers)."""

import time

import harness
from harness import wait_until

CC = "max-age=60"


def origin_script(name):
    # every answer is cacheable and says which origin gave it
    return {"/*": {"cc": CC, "headers": {"X-Pool": name, "X-Secret-Origin": "s"}}}


def tag(name):
    return {"add": {"X-Route": name}}


ROUTES = [
    # precedence: exact, then regex (config order), then the longest prefix
    {"path": "/p/", "pool": "web", "response_headers": tag("prefix")},
    {"path": "/p/re/", "pool": "web", "response_headers": tag("prefix-long")},
    {"exact": "/p/exact", "pool": "web", "response_headers": tag("exact")},
    {"regex": r"^/p/re/.*\.png$", "pool": "web", "response_headers": tag("regex")},
    {"regex": r"^/p/re/", "pool": "web", "response_headers": tag("regex-second")},
    # query modes
    {"path": "/q/keep/", "pool": "web"},
    {"path": "/q/sort/", "pool": "web", "cache": {"query": "sort"}},
    {"path": "/q/drop/", "pool": "web", "cache": {"query": "drop"}},
    {"path": "/q/allow/", "pool": "web", "cache": {"query": "allow", "query_allow": ["v", "w"]}},
    # rewrites
    {"path": "/rw/old/", "pool": "web", "rewrite": {"prefix": {"from": "/rw/old/", "to": "/new/"}}},
    {"regex": r"^/rx/(\w+)/(\d+)$", "pool": "web",
     "rewrite": {"regex": r"^/rx/(\w+)/(\d+)$", "to": "/items/$2/$1"}},
    {"path": "/host/", "pool": "web", "origin_host": "backend.internal:8081"},
    {"path": "/swr/", "pool": "web", "origin_host": "bg.internal",
     "rewrite": {"prefix": {"from": "/swr/", "to": "/bg/"}},
     "request_headers": {"add": {"X-Added": "bg"}}},
    # redirects
    {"exact": "/old", "redirect": {"status": 301, "to": "https://new.example$request_uri"}},
    {"regex": r"^/go/(.*)$", "redirect": {"status": 308, "to": "$scheme://$host/to/$1?q=$query"}},
    {"path": "/tmp/", "redirect": {"to": "/elsewhere$path"}},
    # header rules on both sides
    {"path": "/hdr/", "pool": "web",
     "request_headers": {"add": {"X-Added": "1"}, "set": {"X-Set": "fixed"},
                         "remove": ["X-Secret"]},
     "response_headers": {"add": {"X-Resp": "added"}, "set": {"Cache-Control": "no-store"},
                          "remove": ["X-Secret-Origin"]}},
    # methods
    {"path": "/ro/", "pool": "web", "methods": ["GET", "HEAD"]},
    # canary
    {"path": "/can/", "pool": "web", "cache": {"enabled": False},
     "canary": {"pool": "web2", "weight": "20%", "sticky": "cookie:uid"}},
    {"path": "/canip/", "pool": "web", "cache": {"enabled": False},
     "canary": {"pool": "web2", "weight": "50%"}},
    {"path": "/canc/", "pool": "web",
     "canary": {"pool": "web2", "weight": "50%", "sticky": "cookie:uid"}},
]


class Routing(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.a = self.class_origin(origin_script("a"))
        cls.b = self.class_origin(origin_script("b"))

        def mutate(cfg):
            harness.add_pool(cfg, "web2", cls.b.address)
            site = cfg["sites"][0]
            site["routes"] = ROUTES + site["routes"]
            return cfg
        cls.node = self.class_outpost(cls.a, mutate=mutate)

    def route_of(self, path):
        r = self.node.get(path)
        self.assertEqual(r.status, 200, (path, r.body))
        return r.header("X-Route")

    def test_precedence(self):
        self.assertEqual(self.route_of("/p/exact"), "exact")
        self.assertEqual(self.route_of("/p/exact?x=1"), "exact")   # query not matched
        self.assertEqual(self.route_of("/p/exact/more"), "prefix")
        self.assertEqual(self.route_of("/p/re/x.png"), "regex")    # regex beats prefixes
        self.assertEqual(self.route_of("/p/re/x.txt"), "regex-second")  # config order
        self.assertEqual(self.route_of("/p/other"), "prefix")

    def hit(self, path):
        r = self.node.get(path)
        self.assertEqual(r.status, 200, (path, r.body))
        return r.header("X-Cache")

    def test_query_keep(self):
        self.assertEqual(self.hit("/q/keep/a?b=2&a=1"), "MISS")
        self.assertEqual(self.hit("/q/keep/a?a=1&b=2"), "MISS")
        self.assertEqual(self.hit("/q/keep/a?a=1&b=2"), "HIT")

    def test_query_sort(self):
        self.assertEqual(self.hit("/q/sort/a?b=2&a=1"), "MISS")
        self.assertEqual(self.hit("/q/sort/a?a=1&&b=2"), "HIT")
        self.assertEqual(self.hit("/q/sort/a?a=1&b=3"), "MISS")
        # the origin got the client's query as it was
        self.assertEqual(self.a.count(path="/q/sort/a?b=2&a=1"), 1)

    def test_query_drop(self):
        self.assertEqual(self.hit("/q/drop/a?x=1"), "MISS")
        self.assertEqual(self.hit("/q/drop/a?y=2"), "HIT")
        self.assertEqual(self.hit("/q/drop/a"), "HIT")
        self.assertEqual(self.a.count(path="/q/drop/a"), 1)

    def test_query_allow(self):
        self.assertEqual(self.hit("/q/allow/a?v=1&utm=x"), "MISS")
        self.assertEqual(self.hit("/q/allow/a?utm=y&v=1"), "HIT")
        self.assertEqual(self.hit("/q/allow/a?v=2"), "MISS")
        self.assertEqual(self.hit("/q/allow/b?utm=1"), "MISS")
        self.assertEqual(self.hit("/q/allow/b"), "HIT")   # no allowed parameter: no query

    def test_rewrite_prefix(self):
        r = self.node.get("/rw/old/x?k=1")
        self.assertEqual(r.status, 200)
        self.assertEqual([q["target"] for q in self.a.requests(prefix="/new/x")], ["/new/x?k=1"])
        self.assertEqual(self.a.count(prefix="/rw/"), 0)
        # the cache key is the client's URL: the second request is a hit
        self.assertEqual(self.hit("/rw/old/x?k=1"), "HIT")

    def test_rewrite_regex(self):
        self.assertEqual(self.node.get("/rx/shoe/42?z=1").status, 200)
        self.assertEqual([q["target"] for q in self.a.requests(prefix="/items/")],
                         ["/items/42/shoe?z=1"])
        # not matching the rewrite regex: no route (the regex route does not match
        # either), so the catch-all prefix takes it unchanged
        self.assertEqual(self.node.get("/rx/shoe/x").status, 200)
        self.assertEqual(self.a.count(path="/rx/shoe/x"), 1)

    def test_background_revalidation_is_rewritten_too(self):
        self.a.script({"/bg/*": {"cc": "max-age=1, stale-while-revalidate=30",
                                 "headers": {"ETag": '"v1"', "X-Pool": "a"}}})
        self.assertEqual(self.hit("/swr/x"), "MISS")
        time.sleep(1.2)
        r = self.node.get("/swr/x")
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertIn("stale-while-revalidate", r.header("Cache-Status"))
        wait_until(lambda: self.a.count(path="/bg/x") == 2, 5, what="background revalidation")
        bg = self.a.requests(path="/bg/x")[1]
        self.assertEqual(bg["target"], "/bg/x")
        self.assertEqual(harness.req_header(bg, "Host"), "bg.internal")
        self.assertEqual(harness.req_header(bg, "X-Added"), "bg")
        self.assertEqual(harness.req_header(bg, "If-None-Match"), '"v1"')
        self.assertEqual(self.a.count(prefix="/swr/"), 0)

    def test_origin_host(self):
        self.assertEqual(self.node.get("/host/h", host="www.example.com").status, 200)
        recs = self.a.requests(path="/host/h")
        self.assertEqual(len(recs), 1)
        self.assertEqual(harness.req_header(recs[0], "Host"), "backend.internal:8081")
        # elsewhere the client's Host goes through
        self.node.get("/p/hosted", host="www.example.com")
        self.assertEqual(harness.req_header(self.a.requests(path="/p/hosted")[0], "Host"),
                         "www.example.com")

    def test_redirects(self):
        before = self.a.count() + self.b.count()
        r = self.node.get("/old?x=1")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), "https://new.example/old?x=1")
        self.assertLess(len(r.body), 64)
        r = self.node.get("/go/a/b?c=d", host="WWW.Example.com")
        self.assertEqual(r.status, 308)
        self.assertEqual(r.header("Location"), "http://www.example.com/to/a/b?q=c=d")
        r = self.node.get("/go/x")   # empty $query
        self.assertEqual(r.header("Location"), "http://example.com/to/x?q=")
        r = self.node.get("/tmp/z?q")
        self.assertEqual(r.status, 302)   # the default status
        self.assertEqual(r.header("Location"), "/elsewhere/tmp/z")
        self.assertEqual(self.a.count() + self.b.count(), before, "no origin request")
        # HEAD: the same head, no body bytes (the next response parses cleanly)
        with harness.RawConn(self.node.port) as rc:
            rc.send(b"HEAD /old HTTP/1.1\r\nHost: example.com\r\n\r\n"
                    b"GET /old HTTP/1.1\r\nHost: example.com\r\n\r\n")
            h = rc.read_response(head=True)
            self.assertEqual((h.status, h.body), (301, b""))
            g = rc.read_response()
            self.assertEqual(g.status, 301)
            self.assertEqual(h.header("Content-Length"), g.header("Content-Length"))
        # the connection stays usable after a redirect
        with harness.RawConn(self.node.port) as rc:
            rc.send(b"GET /old HTTP/1.1\r\nHost: example.com\r\n\r\n"
                    b"GET /p/after HTTP/1.1\r\nHost: example.com\r\n\r\n")
            self.assertEqual(rc.read_response().status, 301)
            self.assertEqual(rc.read_response().status, 200)

    def test_methods(self):
        self.assertEqual(self.node.get("/ro/a").status, 200)
        r = self.node.request("POST", "/ro/a", body=b"x=1")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.header("Allow"), "GET, HEAD")
        self.assertLess(len(r.body), 64)
        self.assertEqual(self.a.count(path="/ro/a"), 1, "the POST never reached the origin")
        # routes see the normalized path: no way around the list
        for target in ("/x/../ro/a", "/%72o/a", "/./ro/a"):
            with harness.RawConn(self.node.port) as rc:
                rc.send(b"POST " + target.encode() +
                        b" HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n")
                self.assertEqual(rc.read_response().status, 405, target)
        self.assertEqual(self.a.count(prefix="/x/"), 0)
        self.assertServing(self.node)

    def test_header_rules(self):
        hdrs = {"X-Set": "client", "X-Secret": "pw", "X-Keep": "k"}
        r = self.node.get("/hdr/a", headers=hdrs)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Cache"), "MISS")
        rec = self.a.requests(path="/hdr/a")[0]
        self.assertEqual(harness.req_header(rec, "X-Added"), "1")
        self.assertEqual(harness.req_header(rec, "X-Set"), "fixed")
        self.assertIsNone(harness.req_header(rec, "X-Secret"))
        self.assertEqual(harness.req_header(rec, "X-Keep"), "k")
        for resp in (r, self.node.get("/hdr/a", headers=hdrs)):
            self.assertEqual(resp.header("X-Resp"), "added")
            self.assertEqual(resp.header_all("Cache-Control"), ["no-store"])
            self.assertIsNone(resp.header("X-Secret-Origin"))
            self.assertEqual(resp.header("X-Pool"), "a")
        # the stored object kept the origin's Cache-Control: the second was a hit
        self.assertEqual(self.node.get("/hdr/a").header("X-Cache"), "HIT")
        self.assertEqual(self.a.count(path="/hdr/a"), 1)
        # a 304 from the cache goes through the rules too
        r = self.node.get("/hdr/a", headers={"If-None-Match": "*"})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.header_all("Cache-Control"), ["no-store"])
        # and so does a 206 from the cache, one range or several
        for rng in ("bytes=0-3", "bytes=0-1,3-4"):
            r = self.node.get("/hdr/a", headers={"Range": rng})
            self.assertEqual(r.status, 206, rng)
            self.assertEqual(r.header("X-Resp"), "added", rng)
            self.assertEqual(r.header_all("Cache-Control"), ["no-store"], rng)
            self.assertIsNone(r.header("X-Secret-Origin"), rng)
        self.assertEqual(self.a.count(path="/hdr/a"), 1)

    def test_canary_share_and_stickiness(self):
        n = 1000
        for i in range(n):
            r = self.node.get("/can/x", headers={"Cookie": "a=b; uid=user%d" % i})
            self.assertEqual(r.status, 200)
        ca, cb = self.a.count(path="/can/x"), self.b.count(path="/can/x")
        self.assertEqual(ca + cb, n)
        # 20 %: binomial sd ~12.6; +-50 is about 4 sd
        self.assertLess(abs(cb - 200), 50, (ca, cb))
        # one user never flips
        for uid in ("user1", "user2", "user3"):
            pools = {self.node.get("/can/y", headers={"Cookie": "uid=" + uid}).header("X-Pool")
                     for _ in range(10)}
            self.assertEqual(len(pools), 1, (uid, pools))
        # sticky by address: one client, one pool
        pools = {self.node.get("/canip/z").header("X-Pool") for _ in range(20)}
        self.assertEqual(len(pools), 1, pools)

    def test_canary_does_not_share_the_main_cache(self):
        who = {}
        for i in range(40):
            uid = "c%d" % i
            r = self.node.get("/canc/probe-" + uid, headers={"Cookie": "uid=" + uid})
            who.setdefault(r.header("X-Pool"), uid)
        self.assertIn("a", who)
        self.assertIn("b", who)
        canary = {"Cookie": "uid=" + who["b"]}
        main = {"Cookie": "uid=" + who["a"]}
        r = self.node.get("/canc/shared", headers=canary)
        self.assertEqual((r.header("X-Pool"), r.header("X-Cache")), ("b", "MISS"))
        r = self.node.get("/canc/shared", headers=main)
        self.assertEqual((r.header("X-Pool"), r.header("X-Cache")), ("a", "MISS"))
        r = self.node.get("/canc/shared", headers=canary)
        self.assertEqual((r.header("X-Pool"), r.header("X-Cache")), ("b", "HIT"))
        r = self.node.get("/canc/shared", headers=main)
        self.assertEqual((r.header("X-Pool"), r.header("X-Cache")), ("a", "HIT"))


if __name__ == "__main__":
    harness.main()
