#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Basic proxying: routing by Host, forwarded headers, hop-by-hop hygiene, Via."""

import harness
from harness import add_pool, add_route, req_header, split_list


class Proxy(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        # a second origin reached through the name "localhost" (DNS via /etc/hosts)
        cls.origin_dns = self.class_origin(host="::" if _has_v6() else "127.0.0.1")

        def mutate(cfg):
            add_pool(cfg, "dns", "localhost:%d" % cls.origin_dns.port)
            add_route(cfg, {"path": "/dns/", "pool": "dns"})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def test_get_is_proxied(self):
        r = self.node.get("/p/basic")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"origin GET /p/basic n=1\n")
        self.assertEqual(self.origin.count("/p/basic"), 1)
        self.assertIn("1.1 test-node", split_list(r.header("Via")))

    def test_forwarded_headers_added(self):
        r = self.node.get("/p/fwd-new")
        self.assertEqual(r.status, 200)
        rec = self.origin.requests("/p/fwd-new")[-1]
        self.assertEqual(split_list(req_header(rec, "X-Forwarded-For")), ["127.0.0.1"])
        self.assertEqual(req_header(rec, "X-Forwarded-Proto"), "http")
        self.assertEqual(split_list(req_header(rec, "Via")), ["1.1 test-node"])

    def test_forwarded_headers_appended(self):
        r = self.node.get("/p/fwd-append", headers={"X-Forwarded-For": "10.1.2.3",
                                                    "Via": "1.0 client-proxy"})
        self.assertEqual(r.status, 200)
        rec = self.origin.requests("/p/fwd-append")[-1]
        self.assertEqual(split_list(req_header(rec, "X-Forwarded-For")),
                         ["10.1.2.3", "127.0.0.1"])
        self.assertEqual(split_list(req_header(rec, "Via")),
                         ["1.0 client-proxy", "1.1 test-node"])
        self.assertEqual(req_header(rec, "X-Forwarded-Proto"), "http")

    def test_hop_by_hop_not_forwarded(self):
        r = self.node.get("/p/hop", headers={
            "Connection": "keep-alive, X-Private-Hop",
            "X-Private-Hop": "secret",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Upgrade": "foo/1",
            "Proxy-Connection": "keep-alive",
            "X-End-To-End": "kept",
        })
        self.assertEqual(r.status, 200)
        rec = self.origin.requests("/p/hop")[-1]
        names = {k.lower() for k, _ in rec["headers"]}
        for hop in ("x-private-hop", "keep-alive", "te", "upgrade", "proxy-connection"):
            self.assertNotIn(hop, names, "hop-by-hop %s forwarded: %r" % (hop, rec["headers"]))
        conn = [t.lower() for t in split_list(req_header(rec, "Connection"))]
        self.assertNotIn("x-private-hop", conn)
        self.assertNotIn("upgrade", conn)
        self.assertEqual(req_header(rec, "X-End-To-End"), "kept")

    def test_unknown_host_421(self):
        before = self.origin.count()
        r = self.node.get("/p/unknown", host="unknown.test")
        self.assertEqual(r.status, 421)
        self.assertTrue(0 < len(r.body) < 1024, r.body)
        self.assertTrue((r.header("Content-Type") or "").startswith("text/plain"), r)
        self.assertEqual(self.origin.count(), before)

    def test_wildcard_and_second_site(self):
        self.assertEqual(self.node.get("/p/wild", host="www.example.com").status, 200)
        self.assertEqual(self.node.get("/p/wild", host="a.b.example.com").status, 200)
        self.assertEqual(self.node.get("/p/local", host="localhost").status, 200)
        self.assertEqual(self.origin.count("/p/wild"), 2)
        self.assertEqual(self.origin.count("/p/local"), 1)

    def test_http11_without_host_400(self):
        rep = self.node.raw(b"GET /p/nohost HTTP/1.1\r\nUser-Agent: t\r\n\r\n")
        self.assertEqual(rep.first().status, 400)
        self.assertTrue(rep.closed)
        self.assertEqual(self.origin.count("/p/nohost"), 0)
        self.assertServing(self.node)

    def test_absolute_form_routes_by_authority(self):
        rep = self.node.raw(b"GET http://example.com/p/abs HTTP/1.1\r\nHost: other\r\n"
                            b"Connection: close\r\n\r\n")
        self.assertEqual(rep.first().status, 200, rep)
        self.assertEqual(self.origin.count("/p/abs"), 1)
        rec = self.origin.requests("/p/abs")[-1]
        self.assertTrue(rec["target"] in ("/p/abs", "http://example.com/p/abs"), rec)

    def test_absolute_form_unknown_authority_421(self):
        rep = self.node.raw(b"GET http://unknown.test/p/abs2 HTTP/1.1\r\nHost: example.com\r\n"
                            b"Connection: close\r\n\r\n")
        self.assertEqual(rep.first().status, 421, rep)
        self.assertEqual(self.origin.count("/p/abs2"), 0)

    def test_member_by_name_resolves(self):
        r = self.node.get("/dns/x")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.origin_dns.count("/dns/x"), 1)
        self.assertEqual(self.origin.count("/dns/x"), 0)

    def test_keepalive_to_origin_reused(self):
        # sequential requests are all answered (pooled upstream connections)
        for i in range(5):
            self.assertEqual(self.node.get("/p/seq%d" % i).status, 200)
        self.assertEqual(self.origin.count(prefix="/p/seq"), 5)


class CatchAll(harness.OutpostTestCase):
    def test_star_site_catches_unknown_hosts(self):
        origin = self.start_origin()
        node = self.start_outpost(origin, mutate=lambda cfg: cfg["sites"].append(
            {"name": "any", "hosts": ["*"], "pool": "web"}))
        self.assertEqual(node.get("/any", host="whatever.test").status, 200)
        self.assertEqual(node.get("/any", host="example.com").status, 200)
        self.assertEqual(origin.count("/any"), 2)


def _has_v6():
    import socket
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


if __name__ == "__main__":
    harness.main()
