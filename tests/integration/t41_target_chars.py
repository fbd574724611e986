#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Request-target characters outside RFC 3986 (web cache deception).

A path holding one of \\ " < > { } | ^ ` [ ] is rejected with 400 before
routing, keying or the origin (RFC 9112 §3.2, RFC 3986 §3.3): the key reads
"/static/..\\account" as a path under /static/, an IIS-style origin reads the
backslash as "/" and answers for /account, and a route with default_ttl would
store the victim's page for anyone.  The query (RFC 3986 §3.4) refuses the same
characters but '[' and ']', which clients send raw (a[]=1) and which key and
origin both see unchanged."""

import harness
from harness import add_route

PATH_CHARS = [b"\\", b'"', b"<", b">", b"{", b"}", b"|", b"^", b"`", b"[", b"]"]
QUERY_CHARS = [b"\\", b'"', b"<", b">", b"{", b"}", b"|", b"^", b"`"]


def get(target, extra=b""):
    return (b"GET " + target + b" HTTP/1.1\r\nHost: example.com\r\n" + extra + b"\r\n")


class TargetChars(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            add_route(cfg, {"path": "/static/", "pool": "web",
                            "cache": {"default_ttl": "1h"}})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def check_400(self, data):
        before = self.origin.count()
        rep = self.node.raw(data, timeout=5)
        resp = rep.first()
        self.assertEqual(resp.status, 400, rep[:300])
        self.assertIn("close", resp.header_tokens("Connection"), resp)
        self.assertTrue(rep.closed)
        self.assertEqual(self.origin.count(), before, "the request reached the origin")

    def test_deception_through_backslash(self):
        # the victim's request, with its cookie, is never forwarded nor stored
        self.check_400(get(b"/static/..\\account", b"Cookie: session=victim\r\n"))
        # the attacker's request without a cookie does not get the victim's page
        self.check_400(get(b"/static/..\\account"))
        self.assertServing(self.node)

    def test_path_chars_rejected(self):
        for ch in PATH_CHARS:
            with self.subTest(char=ch):
                self.check_400(get(b"/static/a" + ch + b"b"))
                self.check_400(get(b"http://example.com/static/c" + ch + b"d"))

    def test_query_chars_rejected(self):
        for ch in QUERY_CHARS:
            with self.subTest(char=ch):
                self.check_400(get(b"/static/q?x=" + ch))

    def test_legitimate_targets_served(self):
        # percent-encoded forms, sub-delims and brackets in the query pass as
        # they are, and each is fetched once and then served from the cache
        for target in (b"/static/%5Caccount", b"/static/a%7Cb%22c%3C%3E",
                       b"/static/q?ids[]=1&ids[]=2", b"/static/s!$&'()*+,;=:@~",
                       b"http://example.com/static/lit?x[0]=y"):
            with self.subTest(target=target):
                for want in ("MISS", "HIT"):
                    rep = self.node.raw(get(target, b"Connection: close\r\n"), timeout=5)
                    resp = rep.first()
                    self.assertEqual(resp.status, 200, rep[:300])
                    self.assertEqual(resp.header("X-Cache"), want, resp)
                self.assertServing(self.node)
        recs = self.origin.requests(prefix="/static/q")
        self.assertEqual([r["target"] for r in recs], ["/static/q?ids[]=1&ids[]=2"])


if __name__ == "__main__":
    harness.main()
