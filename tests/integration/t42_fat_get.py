#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""A GET or HEAD with a body on a caching route (RFC 9110 §9.3.1, §9.3.2).

The content of a GET has no defined meaning, yet an origin may read
parameters from it; its answer would be stored under the URL alone and served
to everyone (fat-GET cache poisoning).  Per route, cache.get_body:
  drop (default)  the request goes without its body; the body is never read,
                  so the connection closes after the answer and the body is
                  never parsed as a next request (no smuggling);
  reject          400, connection closed;
  pass            the body goes to the origin and the answer is not stored.
Each case runs over Content-Length and chunked bodies, GET and HEAD; the body
carries a whole request that must never reach the origin."""

import harness
from harness import add_route

INNER = b"GET /inner HTTP/1.1\r\nHost: example.com\r\n\r\n"
EVIL = b"evil=1&" + INNER


def framings(body):
    yield "length", b"Content-Length: %d\r\n" % len(body), body
    yield "chunked", b"Transfer-Encoding: chunked\r\n", b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


def fat(method, path, framing, body, extra=b""):
    return (method.encode() + b" " + path.encode() + b" HTTP/1.1\r\nHost: example.com\r\n" +
            extra + framing + b"\r\n" + body)


class FatGet(harness.OutpostTestCase):
    """The default (drop), on a route that sets no get_body."""
    ROUTES = {"drop": {}}

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            for name, extra in cls.ROUTES.items():
                add_route(cfg, {"path": "/%s/" % name, "pool": "web",
                                "cache": dict({"default_ttl": "1h"}, **extra)})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)
        # the origin reads its answer from the request body (echo)
        cls.origin.script({"/%s/*" % name: {"echo": 1} for name in cls.ROUTES})

    def cases(self, route):
        for method in ("GET", "HEAD"):
            for name, framing, body in framings(EVIL):
                yield method, name, "/%s/%s-%s" % (route, method.lower(), name), framing, body

    def test_drop(self):
        for method, name, path, framing, body in self.cases("drop"):
            with self.subTest(method=method, framing=name):
                rep = self.node.raw(fat(method, path, framing, body), timeout=5)
                rs = rep.responses(head_requests=(0,) if method == "HEAD" else ())
                self.assertEqual([r.status for r in rs], [200], rep[:400])
                self.assertIn("close", rs[0].header_tokens("Connection"))
                self.assertTrue(rep.closed, "the unread body left the connection open")
                self.assertNotIn(b"evil", rs[0].body)
                rec = self.origin.requests(path)[-1]
                self.assertEqual(rec["body_length"], 0, "the body reached the origin")
                self.assertIsNone(harness.req_header(rec, "Content-Length"), rec)
                self.assertIsNone(harness.req_header(rec, "Transfer-Encoding"), rec)
                # everyone else gets what a bodyless request gets
                if method == "GET":
                    r = self.node.get(path)
                    self.assertEqual((r.status, r.header("X-Cache")), (200, "HIT"))
                    self.assertEqual(r.body, b"")
        self.assertEqual(self.origin.count("/inner"), 0, "the body was parsed as a request")
        self.assertServing(self.node)

    def test_drop_expect_continue_gets_no_100(self):
        data = (b"GET /drop/expect HTTP/1.1\r\nHost: example.com\r\n"
                b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        rep = self.node.raw(data, timeout=5)
        self.assertNotIn(b"100 Continue", rep)
        self.assertEqual(rep.first().status, 200, rep[:300])
        self.assertEqual(self.origin.requests("/drop/expect")[-1]["body_length"], 0)

    def test_empty_length_is_no_body(self):
        # "Content-Length: 0" is sent by some clients on every GET: served,
        # cached and the connection kept
        with self.node.connect() as conn:
            for want in ("MISS", "HIT"):
                conn.send(b"GET /drop/zero HTTP/1.1\r\nHost: example.com\r\n"
                          b"Content-Length: 0\r\n\r\n")
                r = conn.read_response()
                self.assertEqual((r.status, r.header("X-Cache")), (200, want), r)
                self.assertNotIn("close", r.header_tokens("Connection"))
        self.assertEqual(self.origin.count("/drop/zero"), 1)


class FatGetModes(FatGet):
    """get_body: reject and pass."""
    ROUTES = {"reject": {"get_body": "reject"}, "pass": {"get_body": "pass"}}

    # the drop cases run in FatGet
    test_drop = test_drop_expect_continue_gets_no_100 = test_empty_length_is_no_body = None

    def test_reject(self):
        for method, name, path, framing, body in self.cases("reject"):
            with self.subTest(method=method, framing=name):
                rep = self.node.raw(fat(method, path, framing, body), timeout=5)
                r = rep.responses(head_requests=(0,) if method == "HEAD" else ())[0]
                self.assertEqual(r.status, 400, rep[:300])
                self.assertTrue(rep.closed)
                self.assertEqual(self.origin.count(path), 0)
        self.assertEqual(self.origin.count("/inner"), 0)

    def test_pass_never_stored(self):
        for method, name, path, framing, body in self.cases("pass"):
            with self.subTest(method=method, framing=name):
                rep = self.node.raw(fat(method, path, framing, body, b"Connection: close\r\n"),
                                    timeout=5)
                r = rep.responses(head_requests=(0,) if method == "HEAD" else ())[0]
                self.assertEqual(r.status, 200, rep[:300])
                self.assertEqual(r.header("Cache-Status"), "outpost; fwd=request", r)
                self.assertEqual(self.origin.requests(path)[-1]["body_length"], len(EVIL))
                # the answer to the body was not stored for the URL
                r2 = self.node.get(path)
                self.assertEqual(r2.header("X-Cache"), "MISS", r2)
                self.assertNotIn(b"evil", r2.body)
        self.assertEqual(self.origin.count("/inner"), 0)


if __name__ == "__main__":
    harness.main()
