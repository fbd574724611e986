#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""limits.requests_per_ip: requests in progress from one client address,
over every connection and HTTP/2 stream; one more is answered 429 with
Retry-After, another address is not held back, and a finished request gives
its place back."""
import socket
import threading
import time

import harness
from t43_connection_limits import connect_from, get_on
from t77_http2_transport import Client

SLOW = "/nocache/t43/slow?size=10&delay_ms=1200"


class RequestsPerAddress(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.h2c_port = harness.free_port()

        def mutate(cfg):
            cfg["limits"]["requests_per_ip"] = 2
            cfg["listen"].append({"address": "127.0.0.1:%d" % cls.h2c_port,
                                  "http2": "prior_knowledge"})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def slow_from(self, src, out):
        s = connect_from(self.node, src)
        self.addCleanup(s.close)
        out.append(get_on(s, SLOW))

    def test_http11_over_connections(self):
        before = self.node.metric("outpost_requests_limited_total")
        done = []
        threads = [threading.Thread(target=self.slow_from, args=("127.0.0.2", done))
                   for _ in range(2)]
        for t in threads:
            t.start()
        harness.wait_until(lambda: self.origin.count(prefix="/nocache/t43/slow") >= 2, 5,
                           what="two slow requests at the origin")
        # a third from the same address: refused at once
        s = connect_from(self.node, "127.0.0.2")
        self.addCleanup(s.close)
        t0 = time.monotonic()
        r = get_on(s, "/t43/third?size=5")
        self.assertEqual(r.status, 429)
        self.assertEqual(r.header("Retry-After"), "1")
        self.assertLess(time.monotonic() - t0, 1.0)
        # another address is served meanwhile
        o = connect_from(self.node, "127.0.0.3")
        self.addCleanup(o.close)
        self.assertEqual(get_on(o, "/t43/other?size=5").status, 200)
        for t in threads:
            t.join(10)
        self.assertEqual([r.status for r in done], [200, 200])
        # their places are back
        self.assertEqual(get_on(s, "/t43/after?size=5").status, 200)
        self.node.wait_metric("outpost_requests_limited_total", lambda v: v == before + 1)

    def test_http2_streams_count_too(self):
        c = Client(self.h2c_port)
        self.addCleanup(c.close)
        for sid in (1, 3, 5):
            c.get(sid, SLOW.replace("slow", "slow%d" % sid))
        self.assertTrue(c.pump(lambda: {1, 3, 5} <= c.ended, timeout=10))
        statuses = sorted(c.heads[sid][":status"] for sid in (1, 3, 5))
        self.assertEqual(statuses, ["200", "200", "429"])
        c.get(7, "/t43/h2after?size=5")
        self.assertTrue(c.pump(lambda: 7 in c.ended))
        self.assertEqual(c.heads[7][":status"], "200")

    def test_unused_socket_is_fine(self):
        # a connection that sends nothing holds no request place
        idle = [socket.create_connection(("127.0.0.1", self.node.port), timeout=5,
                                         source_address=("127.0.0.4", 0)) for _ in range(3)]
        for s in idle:
            self.addCleanup(s.close)
        s = connect_from(self.node, "127.0.0.4")
        self.addCleanup(s.close)
        self.assertEqual(get_on(s, "/t43/idle?size=5").status, 200)


if __name__ == "__main__":
    harness.main()
