#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""A 1 GiB object as slices (cache.slice, 4 MiB): read by ranges from 8
concurrent clients in random order, each slice is fetched from the origin
once and stored (a slice fill waits for the disk tier's queue rather than go
unstored), every byte checked; after a restart the whole object comes from
the disk tier with no origin request."""

import hashlib
import os
import random
import shutil
import tempfile
import threading

import harness
from t56_slices import MIB, SliceCase, digest, slice_ranges


class GiBObject(SliceCase):
    def test_1gib_by_ranges_then_whole_from_disk(self):
        d = tempfile.mkdtemp(prefix="outpost-gib-")
        self.addCleanup(shutil.rmtree, d, True)
        size, slice_size = 1024 * MIB, 4 * MIB
        origin = self.start_origin()
        over = {"cache": {"ram": "256MiB", "max_object": "16MiB",
                          "disk": {"path": os.path.join(d, "cache"), "size": "2GiB"}}}
        url = self.url("gib", size=size)
        node = self.start_outpost(origin, overrides=over)
        order = list(range(size // slice_size))
        random.Random(7).shuffle(order)
        errors = []

        def client(ks, seed):
            rnd = random.Random(seed)
            for k in ks:
                first = k * slice_size + rnd.randrange(0, 4096)
                last = (k + 1) * slice_size - 1 - rnd.randrange(0, 4096)
                try:
                    r = node.get(url, {"Range": "bytes=%d-%d" % (first, last)}, timeout=60)
                    self.assertPartial(r, first, last, size)
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(repr(e))
                    return

        ts = [threading.Thread(target=client, args=(order[i::8], i)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(300)
        self.assertEqual(errors, [])
        got = slice_ranges(origin.requests("/s/gib"))
        self.assertEqual(sorted(got), [(k * slice_size, (k + 1) * slice_size - 1)
                                       for k in range(size // slice_size)])
        # every slice is stored: the fills waited for the disk queue rather
        # than go unstored
        try:
            self.settle(node, timeout=60)
        except AssertionError:
            print(node.admin("/metrics").body.decode())
            raise
        self.assertEqual(node.metric("outpost_cache_fills_unstored_memory_total"), 0)
        node.stop()
        node = self.start_outpost(origin, overrides=over)
        n = origin.count("/s/gib")
        r = node.get(url, timeout=120)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.body), size)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), digest(0, size))
        self.assertEqual(origin.count("/s/gib"), n)
        # (the first slice is read once to learn the object is kept as slices)
        self.assertGreaterEqual(node.metric("outpost_cache_disk_hits_total"),
                                size // slice_size - 1)

if __name__ == "__main__":
    harness.main()
