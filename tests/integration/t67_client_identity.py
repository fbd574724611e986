#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The client address behind trusted proxies (trusted_proxies).

From a peer listed in trusted_proxies, the client is the rightmost entry of
X-Forwarded-For that no trusted proxy wrote; entries left of it may be
anything the client sent and are never believed.  From any other peer, the
field is not read: the peer is the client.  That address is what the access
log, the access rules and the rate limits see.  The X-Forwarded-For sent to
the origin is unchanged: the client's list, then the peer."""

import harness
from harness import add_pool_route, add_route, req_header, split_list, wait_until


def client_of(node, path):
    def found():
        recs = [rec for rec in node.access_lines() if rec.get("path") == path]
        return recs or None
    return [rec["client"] for rec in wait_until(found, 5, what="access log line")]


class TrustedPeer(harness.OutpostTestCase):
    """The test client (127.0.0.1) is a trusted proxy, as is 10.0.0.0/8."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            cfg["trusted_proxies"] = ["127.0.0.1/32", "10.0.0.0/8"]
            add_route(cfg, {"path": "/deny/", "pool": "web", "cache": {"enabled": False},
                            "access": {"deny": ["cidr:198.51.100.0/24"]}})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def test_rightmost_untrusted_entry(self):
        cases = [
            ("/id/one", "198.51.100.9", "198.51.100.9"),
            ("/id/hops", "203.0.113.5, 10.1.2.3", "203.0.113.5"),
            ("/id/spoof", "192.0.2.66, 203.0.113.7", "203.0.113.7"),
            ("/id/v6", "2001:db8::7", "2001:db8::7"),
            ("/id/port", "203.0.113.8:4711", "203.0.113.8"),
            ("/id/all-trusted", "10.9.9.9, 10.1.1.1", "10.9.9.9"),
            ("/id/garbage", "not-an-address", "127.0.0.1"),
        ]
        for path, xff, want in cases:
            with self.subTest(xff=xff):
                r = self.node.get(path, headers={"X-Forwarded-For": xff})
                self.assertEqual(r.status, 200)
                self.assertEqual(client_of(self.node, path), [want])

    def test_several_field_lines_are_one_list(self):
        raw = (b"GET /id/lines HTTP/1.1\r\nHost: example.com\r\n"
               b"X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-For: 203.0.113.9, 10.0.0.1\r\n"
               b"Connection: close\r\n\r\n")
        self.assertEqual(self.node.raw(raw).first().status, 200)
        self.assertEqual(client_of(self.node, "/id/lines"), ["203.0.113.9"])

    def test_no_field_is_the_peer(self):
        self.assertEqual(self.node.get("/id/none").status, 200)
        self.assertEqual(client_of(self.node, "/id/none"), ["127.0.0.1"])

    def test_rules_use_the_client_address(self):
        r = self.node.get("/deny/a", headers={"X-Forwarded-For": "198.51.100.20"})
        self.assertEqual(r.status, 403)
        self.assertEqual(self.origin.count("/deny/a"), 0)
        # the same client behind one more trusted hop
        r = self.node.get("/deny/b", headers={"X-Forwarded-For": "198.51.100.20, 10.0.0.8"})
        self.assertEqual(r.status, 403)
        # a client that puts the denied address left of its own is itself
        r = self.node.get("/deny/c", headers={"X-Forwarded-For": "198.51.100.20, 203.0.113.1"})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.origin.count("/deny/c"), 1)

    def test_origin_sees_the_list_then_the_peer(self):
        self.assertEqual(
            self.node.get("/id/fwd", headers={"X-Forwarded-For": "203.0.113.3"}).status, 200)
        rec = self.origin.requests(path="/id/fwd")[-1]
        self.assertEqual(split_list(req_header(rec, "X-Forwarded-For")),
                         ["203.0.113.3", "127.0.0.1"])


class BalancedByClient(harness.OutpostTestCase):
    """ip_hash hashes the client address, not the proxy's."""

    def setup_class_resources(self):
        cls = type(self)
        cls.a = self.class_origin()
        cls.b = self.class_origin()

        def mutate(cfg):
            cfg["trusted_proxies"] = ["127.0.0.1/32"]
            add_pool_route(cfg, "iph", [(cls.a.address, {}), (cls.b.address, {})],
                           balancer="ip_hash")
            return cfg
        cls.node = self.class_outpost(cls.a, mutate=mutate)

    def test_ip_hash_on_the_client(self):
        clients = ["203.0.113.%d" % k for k in range(1, 41)]
        for rnd in range(2):
            for c in clients:
                r = self.node.get("/iph/r%d-%s" % (rnd, c), headers={"X-Forwarded-For": c})
                self.assertEqual(r.status, 200)
        per_client = {}
        for origin, tag in ((self.a, "a"), (self.b, "b")):
            for q in origin.requests(prefix="/iph/"):
                per_client.setdefault(q["path"].split("-", 1)[1], set()).add(tag)
        self.assertEqual(len(per_client), len(clients))
        # each client stays on one member; the clients (one proxy) use both
        self.assertTrue(all(len(v) == 1 for v in per_client.values()), per_client)
        self.assertEqual(set().union(*per_client.values()), {"a", "b"})


class UntrustedPeer(harness.OutpostTestCase):
    """Without trusted_proxies (or from another peer) the field is not read."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            cfg["trusted_proxies"] = ["10.0.0.0/8"]
            add_route(cfg, {"path": "/deny/", "pool": "web", "cache": {"enabled": False},
                            "access": {"deny": ["cidr:198.51.100.0/24"]}})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def test_field_ignored(self):
        r = self.node.get("/id/x", headers={"X-Forwarded-For": "198.51.100.9"})
        self.assertEqual(r.status, 200)
        self.assertEqual(client_of(self.node, "/id/x"), ["127.0.0.1"])
        # a client cannot dodge or borrow a rule with the field
        r = self.node.get("/deny/x", headers={"X-Forwarded-For": "198.51.100.9"})
        self.assertEqual(r.status, 200)


if __name__ == "__main__":
    harness.main()
