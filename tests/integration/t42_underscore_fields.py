#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Request fields whose names hold '_' are not forwarded (as nginx's
underscores_in_headers off): "Transfer_Encoding" or "Content_Length" next to
the real framing would give an origin that maps '_' and '-' to one CGI
variable two framings.  Each dropped field is logged at debug level; a route
with underscores_in_headers: true forwards them."""

import harness
from harness import add_route, req_header

FIELDS = {"Transfer_Encoding": "chunked", "Content_Length": "5", "X_Custom": "u"}


class UnderscoreFields(harness.OutpostTestCase):
    ROUTES = []

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            cfg["log"]["level"] = "debug"
            for r in cls.ROUTES:
                add_route(cfg, r)
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def send(self, path, body=None):
        hdrs = dict(FIELDS, **{"X-Custom": "dash"})
        return self.node.request("POST" if body else "GET", path, headers=hdrs, body=body)

    def test_dropped_by_default(self):
        for path, body in (("/u/get", None), ("/nocache/u/post", b"hello")):
            with self.subTest(path=path):
                r = self.send(path, body)
                self.assertEqual(r.status, 200, r)
                rec = self.origin.requests(path)[-1]
                names = [k for k, _ in rec["headers"]]
                self.assertFalse([n for n in names if "_" in n], names)
                self.assertEqual(req_header(rec, "X-Custom"), "dash")
                self.assertEqual(rec["body_length"], len(body or b""))
        harness.wait_until(lambda: "Transfer_Encoding" in self.node.log(), 3.0,
                           what="a debug line naming the dropped field")



class UnderscoreAllowed(UnderscoreFields):
    ROUTES = [{"path": "/allow/", "pool": "web", "underscores_in_headers": True}]
    test_dropped_by_default = None

    def test_forwarded_when_allowed(self):
        r = self.send("/allow/x")
        self.assertEqual(r.status, 200, r)
        rec = self.origin.requests("/allow/x")[-1]
        for name, value in FIELDS.items():
            self.assertEqual(req_header(rec, name), value)


if __name__ == "__main__":
    harness.main()
