#!/usr/bin/env python3
"""The LMDB disk tier: objects survive a clean restart and a kill -9, a disk
hit is promoted to RAM, and what comes back is byte-for-byte what the origin
sent."""

import os
import shutil
import signal
import tempfile
import time

import harness

SIZE = 300000          # three 128 KiB chunks: the body spans several LMDB values


class Disk(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="outpost-disk-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.origin = self.start_origin()

    def node(self):
        return self.start_outpost(self.origin, overrides={
            "cache": {"disk": {"path": os.path.join(self.dir, "cache"), "size": "64MiB"}}})

    def path(self, name, size=SIZE):
        return "/d/%s?cc=max-age%%3D600&size=%d" % (name, size)

    def assertHit(self, r, size=SIZE):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Cache"), "HIT", r.headers)
        self.assertEqual(r.body, harness.pattern_bytes(size))

    def wait_disk_writes(self, node, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (node.metric("outpost_cache_disk_writes_total", default=0) or 0) >= n:
                return
            time.sleep(0.05)
        self.fail("the disk tier did not write %d objects within %.0f s" % (n, timeout))

    def test_warm_after_restart(self):
        n = self.node()
        r = n.get(self.path("warm"))
        self.assertEqual(r.header("X-Cache"), "MISS")
        self.assertEqual(n.stop(), 0)
        n2 = self.node()
        self.assertHit(n2.get(self.path("warm")))
        self.assertEqual(self.origin.count("/d/warm"), 1)

    def test_warm_after_kill9(self):
        n = self.node()
        names = ["k%d" % i for i in range(5)]
        for i, name in enumerate(names):
            self.assertEqual(n.get(self.path(name, SIZE + i)).status, 200)
        self.wait_disk_writes(n, len(names))
        n.stop(signal.SIGKILL)
        n2 = self.node()
        for i, name in enumerate(names):
            self.assertHit(n2.get(self.path(name, SIZE + i)), SIZE + i)
            self.assertEqual(self.origin.count("/d/" + name), 1)

    def test_disk_hit_promoted_to_ram(self):
        n = self.node()
        n.get(self.path("promo"))
        self.wait_disk_writes(n, 1)
        self.assertEqual(n.stop(), 0)
        n2 = self.node()
        self.assertHit(n2.get(self.path("promo")))
        self.assertHit(n2.get(self.path("promo")))
        self.assertEqual(n2.metric("outpost_cache_disk_hits_total"), 1)
        self.assertEqual(n2.metric("outpost_cache_hits_total"), 2)

    def test_invalidation_reaches_disk(self):
        n = self.node()
        n.get(self.path("inval"))
        self.wait_disk_writes(n, 1)
        r = n.request("POST", self.path("inval"), body=b"x")
        self.assertEqual(r.status, 200)
        self.assertEqual(n.stop(), 0)
        n2 = self.node()
        r = n2.get(self.path("inval"))
        self.assertEqual(r.header("X-Cache"), "MISS")


if __name__ == "__main__":
    harness.main()
