#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Active health checks read the response head as fetches do (the HTTP/1
client's reader): interim 1xx responses before the final one are skipped
and the final status is judged; a head that is malformed after a good status
line, or larger than the probe's limit, fails the check.  Real origin
processes, the real daemon (2 workers)."""

import harness
from harness import wait_until

pool = harness.add_pool_route

FINAL_200 = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
PROBES = {
    # 100 Continue and 103 Early Hints, then the final 200: up
    "hints": "HTTP/1.1 100 Continue\r\n\r\n"
             "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + FINAL_200,
    # the same final 200 without interim responses: up (the control)
    "plain": FINAL_200,
    # a good status line, then a field line without a colon: down
    "badhead": "HTTP/1.1 200 OK\r\nthis is no field line\r\n\r\n",
    # a good status line, then a head beyond the probe's limit: down
    "bighead": "HTTP/1.1 200 OK\r\nX-Pad: " + "a" * 20000 + "\r\n\r\n",
}


class HealthProbeHead(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.o = self.class_origin()
        o = cls.o.address

        def mutate(cfg):
            for name in PROBES:
                pool(cfg, name, [(o, {})],
                     health={"path": "/%s/healthz" % name, "interval": "200ms",
                             "timeout": "200ms", "rise": 1, "fall": 1})
            return cfg
        cls.o.script({"/%s/healthz" % n: {"raw": raw} for n, raw in PROBES.items()})
        cls.node = self.class_outpost(cls.o, mutate=mutate)

    def down(self, name):
        return 'pool "%s" member %s is down' % (name, self.o.address) in self.node.log()

    def test_interim_responses_are_skipped(self):
        wait_until(lambda: self.o.count("/hints/healthz") >= 5, 10,
                   what="five checks of the member")
        self.assertFalse(self.down("hints"), self.node.log())
        r = self.node.get("/hints/x")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.o.count("/hints/x"), 1)

    def test_plain_final_status_is_up(self):
        wait_until(lambda: self.o.count("/plain/healthz") >= 5, 10,
                   what="five checks of the member")
        self.assertFalse(self.down("plain"), self.node.log())
        self.assertEqual(self.node.get("/plain/x").status, 200)

    def test_malformed_head_after_a_good_status_line_is_down(self):
        wait_until(lambda: self.down("badhead"), 10, what="the member marked down")
        self.assertIn("malformed response", self.node.log())
        r = self.node.get("/badhead/x")
        self.assertEqual(r.status, 503, r)
        self.assertIn(b"no healthy origin", r.body)
        self.assertEqual(self.o.count("/badhead/x"), 0)

    def test_oversized_head_is_down(self):
        wait_until(lambda: self.down("bighead"), 10, what="the member marked down")
        r = self.node.get("/bighead/x")
        self.assertEqual(r.status, 503, r)
        self.assertEqual(self.o.count("/bighead/x"), 0)


if __name__ == "__main__":
    harness.main()
