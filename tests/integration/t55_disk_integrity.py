#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Disk tier integrity: bytes damaged in the LMDB file (a bad sector, a stray
write) are never served as a HIT.  Each object is checksummed; a damaged one
is a miss refilled from the origin, counted, and removed."""

import os
import random
import shutil
import tempfile
import time

import harness

WINDOW = harness.pattern_bytes(64)  # bytes 0..63: found only inside bodies


class DiskIntegrity(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="outpost-disk-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.origin = self.start_origin()
        rnd = random.Random(14)
        # bodies in leaf pages (small) and in overflow pages over several chunks
        self.objects = [("/i/o%d?cc=max-age%%3D600&size=%d" % (i, size), size)
                        for i, size in enumerate(
                            [rnd.choice((900, 3000, 40000, 150000, 300000))
                             for _ in range(40)])]

    def node(self):
        return self.start_outpost(self.origin, overrides={
            "cache": {"disk": {"path": os.path.join(self.dir, "cache"), "size": "64MiB"}}})

    def damage(self, spots):
        """Flips one byte in `spots` places of data.mdb where a body holds the
        pattern window, so the damage falls on bodies for sure."""
        path = os.path.join(self.dir, "cache", "data.mdb")
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            found = []
            at = data.find(WINDOW)
            while at != -1:
                found.append(at)
                at = data.find(WINDOW, at + len(WINDOW))
            self.assertGreater(len(found), spots, "bodies not found in data.mdb")
            for at in random.Random(5).sample(found, spots):
                data[at + 17] ^= 0x5a
            f.seek(0)
            f.write(data)

    def test_damaged_bodies_are_never_hits(self):
        n = self.node()
        for path, size in self.objects:
            self.assertEqual(n.get(path).status, 200)
        n.wait_metric("outpost_cache_disk_writes_total", lambda v: v >= len(self.objects),
                      timeout=10)
        self.assertEqual(n.stop(), 0)
        self.damage(24)

        n2 = self.node()
        misses = 0
        for path, size in self.objects:
            r = n2.get(path)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(len(r.body), size)
            self.assertTrue(r.body == harness.pattern_bytes(size),
                            "%s: a damaged body was served (X-Cache: %s)"
                            % (path, r.header("X-Cache")))
            if r.header("X-Cache") == "MISS":
                misses += 1
                self.assertEqual(self.origin.count(path.split("?")[0]), 2)
            else:
                self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertGreater(misses, 0, "no damage was detected")
        print("# %d of %d objects damaged: refilled" % (misses, len(self.objects)))
        self.assertEqual(n2.metric("outpost_cache_disk_checksum_failures_total"), misses)
        # the refilled copies are whole: hits from now on
        for path, size in self.objects:
            r = n2.get(path)
            self.assertEqual(r.header("X-Cache"), "HIT")
            self.assertTrue(r.body == harness.pattern_bytes(size))
        self.assertServing(n2)
        # the damaged records were removed, then stored again from the refill
        n2.wait_metric("outpost_cache_disk_writes_total", lambda v: v >= misses, timeout=10)
        deadline = time.monotonic() + 10
        while n2.metric("outpost_cache_disk_objects") != len(self.objects):
            self.assertLess(time.monotonic(), deadline, "disk tier did not settle")
            time.sleep(0.1)


if __name__ == "__main__":
    harness.main()
