#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The client address from the Forwarded field (RFC 7239).

client_address_header: forwarded makes the node read Forwarded, and only
Forwarded, from its trusted proxies: the client is the "for" node of the
rightmost element that no trusted proxy wrote.  X-Forwarded-For is then not
read at all (a client could send it past proxies that do not touch it), and
with the default (x-forwarded-for) Forwarded is not read.  An element the
walk cannot use (unknown, an obfuscated identifier, a malformed element)
stops it at the last trusted hop: the socket peer when it is the rightmost
element."""

import harness
from harness import add_route, wait_until


def client_of(node, path):
    def found():
        recs = [rec for rec in node.access_lines() if rec.get("path") == path]
        return recs or None
    return [rec["client"] for rec in wait_until(found, 5, what="access log line")]


def deny_route(cfg):
    add_route(cfg, {"path": "/deny/", "pool": "web", "cache": {"enabled": False},
                    "access": {"deny": ["cidr:198.51.100.0/24", "cidr:2001:db8:dead::/48"]}})


class ForwardedFromTrustedPeer(harness.OutpostTestCase):
    """The test client (127.0.0.1) is a trusted proxy, as is 10.0.0.0/8."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            cfg["trusted_proxies"] = ["127.0.0.1/32", "10.0.0.0/8"]
            cfg["client_address_header"] = "forwarded"
            deny_route(cfg)
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def check(self, cases):
        for path, fwd, want in cases:
            with self.subTest(forwarded=fwd):
                r = self.node.get(path, headers={"Forwarded": fwd})
                self.assertEqual(r.status, 200)
                self.assertEqual(client_of(self.node, path), [want])

    def test_rightmost_untrusted_element(self):
        self.check([
            ("/f/one", "for=198.51.100.9", "198.51.100.9"),
            ("/f/pairs", "for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
            ("/f/ows", "for=192.0.2.61; proto=https", "192.0.2.61"),
            ("/f/case", "For=192.0.2.62", "192.0.2.62"),
            ("/f/hops", "for=203.0.113.5, for=10.1.2.3", "203.0.113.5"),
            ("/f/spoof", "for=192.0.2.66, for=203.0.113.7", "203.0.113.7"),
            ("/f/all-trusted", "for=10.9.9.9, for=10.1.1.1", "10.9.9.9"),
            ("/f/v4-port", 'for="203.0.113.8:4711"', "203.0.113.8"),
            ("/f/quoted-v4", 'for="203.0.113.10"', "203.0.113.10"),
        ])

    def test_ipv6(self):
        self.check([
            ("/f/v6", 'for="[2001:db8::7]"', "2001:db8::7"),
            ("/f/v6-port", 'for="[2001:db8::1]:443"', "2001:db8::1"),
            ("/f/v6-obf-port", 'for="[2001:db8::2]:_p1"', "2001:db8::2"),
            ("/f/v6-hops", 'for="[2001:db8::3]:80", for=10.0.0.4', "2001:db8::3"),
        ])

    def test_quoted_comma_does_not_split(self):
        # the comma inside the quoted host value is not an element boundary:
        # split there, the right part would be an element without "for"
        self.check([
            ("/f/qcomma", 'for=203.0.113.9;host="a.example,b.example"', "203.0.113.9"),
            ("/f/qescape", r'for=203.0.113.11;host="x\",y"', "203.0.113.11"),
        ])

    def test_unusable_rightmost_element_is_the_peer(self):
        # obfuscated, unknown or malformed: the walk stops on the socket
        # peer, and never reads the client's words further left
        self.check([
            ("/f/obf", "for=_hidden", "127.0.0.1"),
            ("/f/obf-left", "for=198.51.100.9, for=_hidden", "127.0.0.1"),
            ("/f/unknown", "for=unknown", "127.0.0.1"),
            ("/f/unknown-left", "for=198.51.100.9, for=unknown", "127.0.0.1"),
            ("/f/bare-v6", "for=2001:db8::1", "127.0.0.1"),
            ("/f/unclosed", 'for="[2001:db8::1"', "127.0.0.1"),
            ("/f/no-for", "by=203.0.113.1;proto=https", "127.0.0.1"),
            ("/f/two-for", "for=203.0.113.1;for=203.0.113.2", "127.0.0.1"),
            ("/f/no-value", "for=", "127.0.0.1"),
            ("/f/bad-pair", "for=203.0.113.1;junk", "127.0.0.1"),
            ("/f/bad-port", "for=203.0.113.1:http", "127.0.0.1"),
            ("/f/hostname", "for=client.example", "127.0.0.1"),
            ("/f/bad-obf", "for=_a/b", "127.0.0.1"),
        ])

    def test_unusable_element_behind_trusted_hops(self):
        # the walk stands on 10.0.0.5 (trusted, written by the peer) when it
        # meets the unusable element: that hop is the client
        self.check([
            ("/f/obf-mid", "for=198.51.100.9, for=_hidden, for=10.0.0.5", "10.0.0.5"),
            ("/f/bad-mid", "for=198.51.100.9, for=bogus, for=10.0.0.6", "10.0.0.6"),
        ])

    def test_several_field_lines_are_one_list(self):
        raw = (b"GET /f/lines HTTP/1.1\r\nHost: example.com\r\n"
               b"Forwarded: for=192.0.2.1\r\nForwarded: for=203.0.113.9, for=10.0.0.1\r\n"
               b"Connection: close\r\n\r\n")
        self.assertEqual(self.node.raw(raw).first().status, 200)
        self.assertEqual(client_of(self.node, "/f/lines"), ["203.0.113.9"])

    def test_x_forwarded_for_is_not_read(self):
        self.check([("/f/xff-ignored-none", "for=10.0.0.9", "10.0.0.9")])
        r = self.node.get("/f/xff-only", headers={"X-Forwarded-For": "198.51.100.9"})
        self.assertEqual(r.status, 200)
        self.assertEqual(client_of(self.node, "/f/xff-only"), ["127.0.0.1"])
        r = self.node.get("/f/xff-both", headers={"X-Forwarded-For": "198.51.100.9",
                                                  "Forwarded": "for=203.0.113.20"})
        self.assertEqual(r.status, 200)
        self.assertEqual(client_of(self.node, "/f/xff-both"), ["203.0.113.20"])

    def test_rules_use_the_client_address(self):
        r = self.node.get("/deny/a", headers={"Forwarded": "for=198.51.100.20"})
        self.assertEqual(r.status, 403)
        r = self.node.get("/deny/v6", headers={"Forwarded": 'for="[2001:db8:dead::5]:1234"'})
        self.assertEqual(r.status, 403)
        r = self.node.get("/deny/b", headers={"Forwarded": "for=198.51.100.20, for=10.0.0.8"})
        self.assertEqual(r.status, 403)
        # a client that puts the denied address left of its own is itself
        r = self.node.get("/deny/c", headers={"Forwarded": "for=198.51.100.20, for=203.0.113.1"})
        self.assertEqual(r.status, 200)
        # ... and cannot borrow it from X-Forwarded-For either
        r = self.node.get("/deny/d", headers={"X-Forwarded-For": "198.51.100.20"})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.origin.count("/deny/a"), 0)
        self.assertEqual(self.origin.count("/deny/c"), 1)


class DefaultReadsXForwardedFor(harness.OutpostTestCase):
    """Without client_address_header, Forwarded is never read."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            cfg["trusted_proxies"] = ["127.0.0.1/32"]
            deny_route(cfg)
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def test_forwarded_ignored(self):
        r = self.node.get("/d/fwd", headers={"Forwarded": "for=198.51.100.9"})
        self.assertEqual(r.status, 200)
        self.assertEqual(client_of(self.node, "/d/fwd"), ["127.0.0.1"])
        r = self.node.get("/deny/x", headers={"Forwarded": "for=198.51.100.9"})
        self.assertEqual(r.status, 200)
        r = self.node.get("/d/xff", headers={"X-Forwarded-For": "198.51.100.10"})
        self.assertEqual(client_of(self.node, "/d/xff"), ["198.51.100.10"])


class ForwardedFromUntrustedPeer(harness.OutpostTestCase):
    """From a peer outside trusted_proxies the field is not read."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            cfg["trusted_proxies"] = ["10.0.0.0/8"]
            cfg["client_address_header"] = "forwarded"
            deny_route(cfg)
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def test_field_ignored(self):
        r = self.node.get("/u/x", headers={"Forwarded": "for=198.51.100.9"})
        self.assertEqual(r.status, 200)
        self.assertEqual(client_of(self.node, "/u/x"), ["127.0.0.1"])
        r = self.node.get("/deny/x", headers={"Forwarded": "for=198.51.100.9"})
        self.assertEqual(r.status, 200)


if __name__ == "__main__":
    harness.main()
