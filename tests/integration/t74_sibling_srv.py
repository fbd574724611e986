#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Siblings named by DNS SRV records (siblings.srv): nodes on 127.0.0.2-5,
one port, their members from the SRV records a DNS responder on loopback
serves (targets resolved to addresses).  Each object is fetched from the
origin once through any node; a fourth node added to the records is picked
up by every node within the records' TTL, and only about a quarter of the
keys move to it (with siblings.grace, each fetched from its previous owner,
none from the origin); a failing lookup keeps the members."""

import os
import shutil
import tempfile
import time

import harness

CC = "cc=max-age%3D600"
TTL = 1


class SiblingSrv(harness.OutpostTestCase):
    grace = "0s"   # keys that move are filled from the origin again

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="outpost-srv-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.key_file = os.path.join(self.dir, "fleet.key")
        with open(self.key_file, "wb") as f:
            f.write(os.urandom(32))
        self.port = harness.free_port()
        self.origin = self.start_origin()
        self.dns = harness.DnsResponder(self.zone(3))
        self.addCleanup(self.dns.close_and_check)
        self.nodes = [self.node(i) for i in range(3)]

    def zone(self, n):
        z = {"_outpost._tcp.pop.test": {
            "SRV": [[10, 1, self.port, "n%d.pop.test" % (k + 1)] for k in range(n)],
            "ttl": TTL}}
        for k in range(4):
            z["n%d.pop.test" % (k + 1)] = {"A": ["127.0.0.%d" % (k + 2)], "ttl": 60}
        return z

    def node(self, i):
        n = harness.OutpostAt("127.0.0.%d" % (i + 2), self.origin, port=self.port,
                              admin_port=harness.free_port(), overrides={
            "node": {"name": "node%d" % (i + 1), "workers": 1},
            "resolver": {"servers": ["127.0.0.1:%d" % self.dns.port], "min_ttl": "1s"},
            # copies stay with the owner: who holds a key says who owns it
            "siblings": {"self": "127.0.0.%d:%d" % (i + 2, self.port),
                         "srv": "_outpost._tcp.pop.test", "key_file": self.key_file,
                         "store": "small", "store_max": 0, "grace": self.grace},
        })
        self.addCleanup(n.close_and_check)
        return n

    def wait_members(self, nodes, n, timeout):
        t0 = time.monotonic()
        harness.wait_until(
            lambda: all(x.metric("outpost_sibling_members", default=0) == n for x in nodes),
            timeout, what="%d members on every node" % n)
        return time.monotonic() - t0

    def fill_and_add_a_member(self, keys):
        self.wait_members(self.nodes, 3, 10)
        for i, k in enumerate(keys):
            self.assertEqual(self.nodes[i % 3].get(k).status, 200)
        for i, k in enumerate(keys):   # every node again: all from the owners
            self.assertEqual(self.nodes[(i + 1) % 3].get(k).status, 200)
        self.assertEqual(self.origin.count(prefix="/srv/"), len(keys))
        changes0 = sum(x.metric("outpost_sibling_membership_changes_total", default=0)
                       for x in self.nodes)
        reloads0 = [x.metric("outpost_config_reloads_total") for x in self.nodes]

        self.nodes.append(self.node(3))
        self.dns.set(self.zone(4))
        took = self.wait_members(self.nodes, 4, 10)
        # the new members are a reload: in service on every node, then on its
        # worker (which takes the new configuration at its next loop)
        for x, r0 in zip(self.nodes, reloads0):
            x.wait_metric("outpost_config_reloads_total", lambda v, r0=r0: v > r0, timeout=5)
        time.sleep(0.3)
        print("# 4 members on every node %.1f s after the records changed (TTL %d s)"
              % (took, TTL))
        self.assertLess(took, TTL + 5)
        self.assertEqual(sum(x.metric("outpost_sibling_membership_changes_total", default=0)
                             for x in self.nodes[:3]), changes0 + 3)
        # then every key through the new node: the origin requests before
        before = self.origin.count(prefix="/srv/")
        for k in keys:
            self.assertEqual(self.nodes[3].get(k).status, 200)
        return before

    def test_members_from_srv_and_a_member_added(self):
        keys = ["/srv/%d?%s" % (i, CC) for i in range(200)]
        # through the new node: the keys it owns now are filled again (no
        # grace period: it does not ask their previous owners), the others
        # come from their owners' caches
        before = self.fill_and_add_a_member(keys)
        moved = self.origin.count(prefix="/srv/") - before
        print("# %d of %d keys moved to the fourth node" % (moved, len(keys)))
        self.assertGreater(moved, 200 // 4 // 2)
        self.assertLess(moved, 200 // 4 * 2)
        # and through every node: nothing more from the origin
        for i, k in enumerate(keys):
            self.assertEqual(self.nodes[i % 3].get(k).status, 200)
        self.assertEqual(self.origin.count(prefix="/srv/"), before + moved)

    def test_failed_lookup_keeps_the_members(self):
        self.wait_members(self.nodes, 3, 10)
        self.dns.set({})   # NXDOMAIN for everything
        harness.wait_until(lambda: self.nodes[0].metric("outpost_sibling_srv_failures_total",
                                                        default=0) >= 1, TTL + 5,
                           what="a failed lookup")
        for x in self.nodes:
            self.assertEqual(x.metric("outpost_sibling_members"), 3)
        for i in range(30):
            self.assertEqual(self.nodes[i % 3].get("/keep/%d?%s" % (i, CC)).status, 200)
            self.assertEqual(self.nodes[(i + 1) % 3].get("/keep/%d?%s" % (i, CC)).status, 200)
        self.assertEqual(self.origin.count(prefix="/keep/"), 30)
        for x in self.nodes:
            self.assertServing(x)


class SiblingSrvGrace(SiblingSrv):
    """siblings.grace: for a while after the membership changes, a node's
    miss of a key it owns now asks the key's previous owner for its copy
    first, so the keys that move are not fetched from the origin again."""

    grace = "60s"

    def test_members_from_srv_and_a_member_added(self):
        keys = ["/srv/%d?%s" % (i, CC) for i in range(200)]
        before = self.fill_and_add_a_member(keys)
        hits = self.nodes[3].metric("outpost_sibling_grace_hits_total")
        print("# %d of %d keys moved to the fourth node, each from its previous owner"
              % (hits, len(keys)))
        self.assertGreater(hits, 200 // 4 // 2)
        self.assertEqual(self.nodes[3].metric("outpost_sibling_grace_misses_total"), 0)
        self.assertEqual(self.origin.count(prefix="/srv/"), before)
        # the new owner keeps them: from now on every node gets them there
        for i, k in enumerate(keys):
            self.assertEqual(self.nodes[i % 3].get(k).status, 200)
        self.assertEqual(self.origin.count(prefix="/srv/"), before)
        # a key nobody holds: the previous owner says so, the origin fills it
        owned = None
        for i in range(200):
            k = "/new/%d?%s" % (i, CC)
            self.assertEqual(self.nodes[3].get(k).status, 200)
            if self.nodes[3].metric("outpost_sibling_grace_misses_total") > 0:
                owned = k
                break
        self.assertIsNotNone(owned, "no new key owned by the fourth node")
        self.assertEqual(self.origin.count(owned.split("?")[0]), 1)


if __name__ == "__main__":
    harness.main()
