#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Access rules per site and route (access: { deny | allow, status, default }).

A refused request is answered by the node before the cache lookup, with a
short body and the configured status (403, or 451); it never reaches the
origin, and a stored copy is never served to it.  A route's own list
replaces its site's.  /metrics counts denials by site, route and rule."""

import harness
from harness import add_route

SITE_DENY = "cidr:203.0.113.0/24"


class AccessRules(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            # the client's address comes from X-Forwarded-For (the test
            # client is a trusted proxy), so one test client is many
            cfg["trusted_proxies"] = ["127.0.0.1/32"]
            site = cfg["sites"][0]
            site["access"] = {"deny": [SITE_DENY]}
            add_route(cfg, {"path": "/deny/", "pool": "web", "cache": {"default_ttl": "1h"},
                            "access": {"deny": ["cidr:192.0.2.0/24", "cidr:2001:db8::/32",
                                                "cidr:198.51.100.7/32"]}})
            add_route(cfg, {"path": "/legal/", "pool": "web",
                            "access": {"deny": ["cidr:192.0.2.0/24"], "status": 451}})
            add_route(cfg, {"path": "/allow/", "pool": "web",
                            "access": {"allow": ["cidr:192.0.2.128/25"]}})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def get(self, path, client):
        return self.node.get(path, headers={"X-Forwarded-For": client})

    def denials(self, rule, route="/deny/"):
        return self.node.metric("outpost_access_denials_total",
                                {"site": "main", "route": route, "rule": rule}, default=0)

    def test_deny_list(self):
        for client, want in [("192.0.2.1", 403), ("192.0.2.255", 403), ("2001:db8::5", 403),
                             ("198.51.100.7", 403), ("198.51.100.8", 200), ("192.0.3.1", 200),
                             ("2001:db9::1", 200)]:
            with self.subTest(client=client):
                path = "/deny/list-" + client.replace(":", "_")
                r = self.get(path, client)
                self.assertEqual(r.status, want)
                self.assertEqual(self.origin.count(path), 1 if want == 200 else 0)
                if want != 200:
                    self.assertEqual(r.body, b"forbidden\n")
                    self.assertEqual(r.header("Content-Type"), "text/plain; charset=utf-8")

    def test_stored_copy_not_served_to_a_denied_client(self):
        self.assertEqual(self.get("/deny/stored", "192.0.3.1").status, 200)
        r = self.get("/deny/stored", "192.0.3.1")
        self.assertEqual((r.status, r.header("X-Cache")), (200, "HIT"))
        before = self.denials("cidr:192.0.2.0/24")
        r = self.get("/deny/stored", "192.0.2.9")
        self.assertEqual(r.status, 403)
        self.assertIsNone(r.header("X-Cache"))
        self.assertEqual(self.origin.count("/deny/stored"), 1)
        self.assertEqual(self.denials("cidr:192.0.2.0/24"), before + 1)

    def test_status_451(self):
        r = self.get("/legal/x", "192.0.2.3")
        self.assertEqual(r.status, 451)
        self.assertEqual(r.body, b"unavailable for legal reasons\n")
        self.assertEqual(self.origin.count("/legal/x"), 0)

    def test_allow_list_default_denies(self):
        self.assertEqual(self.get("/allow/in", "192.0.2.200").status, 200)
        before = self.denials("default", "/allow/")
        self.assertEqual(self.get("/allow/out", "192.0.2.1").status, 403)
        self.assertEqual(self.origin.count("/allow/out"), 0)
        self.assertEqual(self.denials("default", "/allow/"), before + 1)

    def test_site_list_for_routes_without_their_own(self):
        self.assertEqual(self.get("/plain", "203.0.113.4").status, 403)
        self.assertEqual(self.origin.count("/plain"), 0)
        self.assertEqual(self.denials(SITE_DENY, ""), 1)
        # a route with its own list does not use the site's
        self.assertEqual(self.get("/deny/site", "203.0.113.4").status, 200)

    def test_denied_keeps_the_connection(self):
        with self.node.connect() as c:
            for i in range(3):
                c.send(b"GET /deny/ka%d HTTP/1.1\r\nHost: example.com\r\n"
                       b"X-Forwarded-For: 192.0.2.1\r\n\r\n" % i)
                self.assertEqual(c.read_response().status, 403)
            c.send(b"GET /deny/ka-ok HTTP/1.1\r\nHost: example.com\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)

    def test_metric_counts_rules(self):
        before = self.denials("cidr:198.51.100.7/32")
        self.assertEqual(self.get("/deny/m", "198.51.100.7").status, 403)
        self.assertEqual(self.denials("cidr:198.51.100.7/32"), before + 1)
        self.assertGreaterEqual(self.node.metric("outpost_access_denied_total"), 1)


if __name__ == "__main__":
    harness.main()
