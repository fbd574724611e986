#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""A drain announced before it starts, for load balancers: with
timeouts.drain_announce (or POST /drain?announce=D, outpostctl drain
--announce D) /healthz answers 503 at once while the node goes on accepting
connections and serving; only when the announce is over do the listeners
close, the requests in flight finish and the process exit 0.  A second
SIGTERM during the announce drains at once; a bad announce= is a 400 and
changes nothing."""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import harness
from t11_outpostctl import ctl_bin

OPS = "ops-secret-token"
CC = "cc=max-age%3D600"


class DrainAnnounce(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.origin = self.start_origin()

    def node(self, announce=None):
        over = {"purge": {"tokens": [
            {"id": "ops", "sha256": hashlib.sha256(OPS.encode()).hexdigest(),
             "hosts": ["*"], "all": True}]}}
        if announce is not None:
            over["timeouts"] = {"drain_announce": announce}
        return self.start_outpost(self.origin, overrides=over)

    def post(self, node, path):
        return harness.http_request(node.admin_port, "POST", path,
                                    {"Authorization": "Bearer " + OPS}, b"")

    def refused(self, node):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", node.port))
            return False
        except ConnectionRefusedError:
            return True
        finally:
            s.close()

    def serving_while_announced(self, node, seconds):
        """During the announce: /healthz is 503 and new connections get
        answers (a hit and a miss), for about `seconds`."""
        self.assertEqual(node.get("/a?%s" % CC).status, 200)
        deadline = time.monotonic() + seconds
        rounds = 0
        while time.monotonic() < deadline and rounds < 50:
            self.assertEqual(node.admin("/healthz").status, 503)
            r = node.get("/a?%s" % CC)                     # a new connection each time
            self.assertEqual(r.status, 200, r)
            self.assertEqual(node.get("/m/%d" % rounds).status, 200)
            rounds += 1
            time.sleep(0.05)
        self.assertGreater(rounds, 2)

    def test_post_drain_with_announce(self):
        n = self.node()
        self.assertEqual(n.get("/a?%s" % CC).status, 200)
        r = self.post(n, "/drain?announce=1500ms")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(json.loads(r.body)["announce_ms"], 1500)
        self.serving_while_announced(n, 1.0)
        self.assertEqual(n.wait(10), 0)
        self.assertTrue(self.refused(n))

    def test_sigterm_announces_the_configured_time(self):
        n = self.node(announce="30s")
        n.send_signal(signal.SIGTERM)
        self.serving_while_announced(n, 0.8)
        self.assertTrue(n.alive())
        # a second SIGTERM does not wait for the rest of the 30 s
        n.send_signal(signal.SIGTERM)
        self.assertEqual(n.wait(8), 0)

    def test_request_in_flight_at_the_end_of_the_announce(self):
        n = self.node(announce="300ms")
        slow = harness.Background(n.get, "/slow?delay_ms=900")
        time.sleep(0.1)
        n.send_signal(signal.SIGTERM)
        self.assertEqual(slow.result().status, 200)
        self.assertEqual(n.wait(8), 0)

    def test_bad_announce_is_400_and_changes_nothing(self):
        n = self.node()
        for q in ("announce=soon", "announce=2h", "announce=-1s", "announce="):
            r = self.post(n, "/drain?" + q)
            self.assertEqual(r.status, 400, (q, r))
            self.assertIn(b"announce", r.body)
        self.assertEqual(n.admin("/healthz").status, 200)
        self.assertEqual(n.get("/a?%s" % CC).status, 200)
        self.assertTrue(n.alive())

    def test_no_announce_drains_at_once(self):
        n = self.node()
        r = self.post(n, "/drain")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(json.loads(r.body)["announce_ms"], 0)
        self.assertEqual(n.wait(8), 0)

    def test_outpostctl_drain_announce(self):
        b = ctl_bin()
        if not b or not os.access(b, os.X_OK):
            self.skipTest("outpostctl not built")
        n = self.node()
        d = tempfile.mkdtemp(prefix="outpost-drain-")
        self.addCleanup(shutil.rmtree, d, True)
        env = {k: v for k, v in os.environ.items()
               if k not in ("OUTPOST_ADMIN", "OUTPOST_TOKEN", "OUTPOSTCTL_CONF")}
        env["OUTPOSTCTL_CONF"] = os.path.join(d, "outpostctl.conf")
        with open(env["OUTPOSTCTL_CONF"], "w") as f:
            f.write("# no settings\n")
        env["OUTPOST_TOKEN"] = OPS
        args = [b, "-a", "127.0.0.1:%d" % n.admin_port]
        cp = subprocess.run(args + ["status", "--announce", "1s"], env=env,
                            capture_output=True, text=True, timeout=20)
        self.assertEqual(cp.returncode, 2, cp)                # an option of drain only
        cp = subprocess.run(args + ["drain", "--announce", "1s"], env=env,
                            capture_output=True, text=True, timeout=20)
        self.assertEqual(cp.returncode, 0, cp)
        self.assertIn("serves on for 1000 ms", cp.stdout)
        self.serving_while_announced(n, 0.5)
        self.assertEqual(n.wait(10), 0)


if __name__ == "__main__":
    harness.main()
