#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The fleet purge bus (NATS JetStream): five nodes on 127.0.0.2-6 share one
nats-server.  A purge sent to one node is applied on all five (MISS after,
the origin counts a refill on each) and ?wait= reports all five acked; a
node stopped during 100 purges catches up when it starts again (the purged
objects are MISS on it, an object not purged still HIT from its disk); a
purge taken while NATS is down is published when it is back and applied
everywhere."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import harness

TOKEN = "fleet-secret-token"
CC = "cc=max-age%3D600"
NODES = 5


def nats_server_bin():
    for d in os.environ.get("PATH", "").split(":") + ["/usr/sbin", "/usr/bin"]:
        p = os.path.join(d, "nats-server")
        if os.access(p, os.X_OK):
            return p
    return None


class Nats:
    """nats-server with JetStream on 127.0.0.1, its store in a directory the
    test owns; stopped by pid."""

    def __init__(self, store):
        self.store = store
        os.makedirs(store, exist_ok=True)
        self.port = harness.free_port()
        self.proc = None
        self.log = os.path.join(store, "nats.log")
        self.start()

    def start(self):
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [nats_server_bin(), "-js", "-a", "127.0.0.1", "-p", str(self.port),
             "-sd", self.store], stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        out.close()
        harness._register(self.proc)

        def up():
            try:
                with harness.socket.create_connection(("127.0.0.1", self.port), 0.5):
                    return True
            except OSError:
                return False
        harness.wait_until(up, 10, what="nats-server listening")

    def stop(self):
        if self.proc is not None:
            harness.stop_pid(self.proc, signal.SIGTERM, 5)
            self.proc = None

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port


class NodeAt(harness.OutpostAt):
    """A node of the fleet, with the purge API."""

    def purge(self, body, wait=None):
        path = "/purge" if wait is None else "/purge?wait=" + wait
        return harness.http_request(
            self.admin_port, "POST", path,
            {"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN},
            json.dumps(body).encode(), timeout=30, host=self.ip)


class FleetPurge(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        if nats_server_bin() is None:
            self.skipTest("nats-server not installed (tools/install-deps)")
        self.dir = tempfile.mkdtemp(prefix="outpost-fleet-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.nats = Nats(os.path.join(self.dir, "nats"))
        self.addCleanup(self.nats.stop)
        self.origin = self.start_origin()
        self.nodes = [self.node(i) for i in range(NODES)]

    def node(self, i, catchup="10s"):
        n = NodeAt("127.0.0.%d" % (i + 2), self.origin, overrides={
            "node": {"name": "node%d" % (i + 1), "workers": 1},
            "cache": {"disk": {"path": os.path.join(self.dir, "cache%d" % i),
                               "size": "64MiB"}},
            "purge": {"rate": 100000, "tokens": [
                {"id": "owner", "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                 "hosts": ["example.com"]}]},
            "fleet": {"nats": {"servers": [self.nats.url]}, "catchup_timeout": catchup},
        })
        self.addCleanup(n.close_and_check)
        return n

    def cache(self, node, path):
        return node.get(path).header("X-Cache")

    def warm(self, path, nodes=None):
        for n in nodes or self.nodes:
            self.assertEqual(self.cache(n, path), "MISS")
            self.assertEqual(self.cache(n, path), "HIT")

    def wait_applied(self, node, n, timeout=15):
        harness.wait_until(
            lambda: node.metric("outpost_purge_fleet_applied_total", default=0) >= n,
            timeout, what="%d fleet purges applied on %s" % (n, node.ip))

    def names(self):
        return sorted("node%d" % (i + 1) for i in range(NODES))

    def test_purge_reaches_every_node_and_wait_reports_acks(self):
        path = "/f/a?" + CC
        self.warm(path)
        self.warm("/f/keep?" + CC)
        self.assertEqual(self.origin.count("/f/a"), NODES)
        r = self.nodes[0].purge({"urls": ["http://example.com" + path]}, wait="10s")
        self.assertEqual(r.status, 200, r)
        j = json.loads(r.body)
        self.assertEqual(sorted(j["fleet"]["acked"]), self.names(), j)
        self.assertEqual(j["fleet"]["pending"], [], j)
        for n in self.nodes:
            self.assertEqual(self.cache(n, path), "MISS", n.ip)
            self.assertEqual(self.cache(n, "/f/keep?" + CC), "HIT", n.ip)
        self.assertEqual(self.origin.count("/f/a"), 2 * NODES)
        for n in self.nodes[1:]:
            self.assertEqual(n.metric("outpost_purge_fleet_applied_total"), 1)
        self.assertEqual(self.nodes[0].metric("outpost_purge_fleet_published_total"), 1)
        self.assertEqual(self.nodes[0].metric("outpost_purge_fleet_applied_total"), 0)
        # without ?wait the reply names the members not heard from yet (the
        # member list a node keeps is at most a second old)
        time.sleep(1.2)
        r = self.nodes[1].purge({"urls": ["http://example.com/f/other"]})
        j = json.loads(r.body)
        self.assertEqual(j["fleet"]["acked"], ["node2"], j)
        self.assertEqual(sorted(j["fleet"]["pending"] + j["fleet"]["acked"]), self.names())

    def test_stopped_node_catches_up_after_restart(self):
        paths = ["/c/%d?%s" % (i, CC) for i in range(100)]
        for p in paths[:100]:
            for n in self.nodes:
                n.get(p)
        self.warm("/c/keep?" + CC)
        for n in self.nodes:
            self.assertEqual(self.cache(n, paths[7]), "HIT")
        down = self.nodes[2]
        harness.wait_until(
            lambda: down.metric("outpost_cache_disk_writes_total", default=0) >= 101,
            10, what="disk writes")
        down.stop(signal.SIGKILL)  # no goodbye: JetStream keeps its place
        for i, p in enumerate(paths):
            r = self.nodes[i % 2].purge({"urls": ["http://example.com" + p]})
            self.assertEqual(r.status, 200, r)
        for n in self.nodes[:2] + self.nodes[3:]:
            self.wait_applied(n, 50)
        time.sleep(1.1)  # a refill must be younger than the purge by the disk's clock
        back = self.node(2)
        self.assertEqual(back.metric("outpost_purge_fleet_applied_total"), 100)
        before = self.origin.count()
        for p in paths:
            self.assertEqual(self.cache(back, p), "MISS", p)
        self.assertEqual(self.origin.count(), before + 100)
        self.assertEqual(self.cache(back, "/c/keep?" + CC), "HIT")
        for n in self.nodes[:2] + self.nodes[3:]:
            self.assertEqual(self.cache(n, "/c/keep?" + CC), "HIT")
            self.assertEqual(self.cache(n, paths[7]), "MISS")

    def test_nats_down_and_back_loses_nothing(self):
        self.warm("/n/a?" + CC)
        self.warm("/n/b?" + CC)
        self.nats.stop()
        r = self.nodes[0].purge({"urls": ["http://example.com/n/a?" + CC]})
        self.assertEqual(r.status, 200, r)
        r = self.nodes[4].purge({"urls": ["http://example.com/n/b?" + CC]})
        self.assertEqual(r.status, 200, r)
        # applied where they were taken, at once
        self.assertEqual(self.cache(self.nodes[0], "/n/a?" + CC), "MISS")
        self.assertEqual(self.cache(self.nodes[4], "/n/b?" + CC), "MISS")
        # the backlog gauge is updated by the fleet thread: poll it
        harness.wait_until(lambda: self.nodes[0].metric("outpost_purge_fleet_outbox") == 1, 10,
                           what="the purge waits in the outbox")
        self.nats.start()
        for n in self.nodes[1:4]:
            self.wait_applied(n, 2)
        self.wait_applied(self.nodes[0], 1)
        self.wait_applied(self.nodes[4], 1)
        harness.wait_until(lambda: self.nodes[0].metric("outpost_purge_fleet_outbox") == 0, 10,
                           what="the outbox is empty")
        for n in self.nodes[1:4]:
            self.assertEqual(self.cache(n, "/n/a?" + CC), "MISS", n.ip)
            self.assertEqual(self.cache(n, "/n/b?" + CC), "MISS", n.ip)
        self.assertEqual(self.cache(self.nodes[0], "/n/b?" + CC), "MISS")
        self.assertEqual(self.cache(self.nodes[4], "/n/a?" + CC), "MISS")


if __name__ == "__main__":
    harness.main()
