#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Slices across siblings: each slice of a large object has its own owner
among the siblings (rendezvous hashing of the slice's key), so the slices of
one object spread over the fleet; a node that needs a slice it does not own
asks the owner, which fetches it from the origin once.  Ranges asked through
random nodes cost one origin request per slice in all; an owner that is down
costs no client an error (the origin is asked); siblings.store: small keeps
the slices with their owners only."""

import hashlib
import random
import signal

import harness
from t56_slices import MIB, digest, slice_ranges
from t74_siblings import Siblings

SLICE = MIB
SIZE = 16 * MIB


class SiblingSlices(Siblings):
    def mutate(self, cfg):
        cfg.setdefault("cache", {})["slice"] = {"size": "1MiB"}
        return cfg

    def url(self, name):
        return "/ss/%s?size=%d&ranges=1&cc=max-age%%3D600&h=ETag:%%20%%22v1%%22" % (name, SIZE)

    def get_range(self, node, url, first, last):
        r = node.get(url, {"Range": "bytes=%d-%d" % (first, last)}, timeout=30)
        self.assertEqual(r.status, 206, (node.ip, r))
        self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" % (first, last, SIZE))
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), digest(first, last - first + 1))
        return r

    def settle(self):
        harness.wait_until(
            lambda: self.metric_sum("slice_fetches_total") <=
            self.metric_sum("cache_stores_total") + self.metric_sum("slice_fallbacks_total"),
            20, what="slice fetches stored")

    def test_each_slice_from_the_origin_once_through_any_node(self):
        url = self.url("spread")
        rnd = random.Random(3)
        for _ in range(24):
            first = rnd.randrange(0, SIZE - 1)
            last = min(SIZE - 1, first + rnd.randrange(1, 3 * MIB))
            self.get_range(rnd.choice(self.nodes), url, first, last)
        # then every byte through every node
        for n in self.nodes:
            self.get_range(n, url, 0, SIZE - 1)
        self.settle()
        got = slice_ranges(self.origin.requests("/ss/spread"))
        self.assertEqual(sorted(got), [(k * SLICE, (k + 1) * SLICE - 1)
                                       for k in range(SIZE // SLICE)])
        # the owners answered for slices: more than one node owns some
        owners = [n.metric("outpost_sibling_requests_total", default=0) for n in self.nodes]
        self.assertGreater(sum(owners), 0)
        self.assertGreater(sum(1 for o in owners if o > 0), 1, owners)
        self.assertEqual(self.metric_sum("sibling_fallbacks_total"), 0)

    def test_owner_down_no_client_error(self):
        url = self.url("down")
        self.nodes[2].stop(signal.SIGKILL)
        live = self.nodes[:2]
        for k in range(SIZE // SLICE):
            self.get_range(live[k % 2], url, k * SLICE + 7, k * SLICE + SLICE // 2)
        self.assertGreater(sum(n.metric("outpost_sibling_fallbacks_total", default=0)
                               for n in live), 0)


class SiblingSlicesStoreSmall(SiblingSlices):
    store = {"store": "small", "store_max": 0}

    def test_slices_stay_with_their_owners(self):
        url = self.url("small")
        a = self.nodes[0]
        self.get_range(a, url, 0, SIZE - 1)
        harness.wait_until(lambda: self.metric_sum("cache_stores_total") >= SIZE // SLICE, 20,
                           what="each slice stored by its owner")
        n = self.origin.count("/ss/small")
        self.assertEqual(n, SIZE // SLICE)
        asked = self.metric_sum("sibling_requests_total")
        self.assertGreater(asked, 0)
        # node 0 kept only the slices it owns: the others are asked again
        self.get_range(a, url, 0, SIZE - 1)
        self.assertEqual(self.metric_sum("sibling_requests_total"), 2 * asked)
        self.assertEqual(self.origin.count("/ss/small"), n)

    test_each_slice_from_the_origin_once_through_any_node = None
    test_owner_down_no_client_error = None


if __name__ == "__main__":
    harness.main()
