#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""A purge's durable commit never holds up an event loop: while the purge log
cannot be written (another writer holds its LMDB write lock, as a slow disk
would hold a synced commit), PURGEs sent to a client listener (from an address
of purge.client_listeners) and to the admin listener wait for their answer,
and meanwhile the same worker goes on answering hits and the admin listener
/healthz; once the log is written, every purge is answered 200 and takes
effect."""

import ctypes
import ctypes.util
import hashlib
import json
import os
import shutil
import tempfile
import time

import harness

TOKEN = "owner-secret-token"
CC = "cc=max-age%3D600"
N_PURGES = 8


class LmdbWriteLock:
    """Holds the write lock of an LMDB environment (a write transaction left
    open) from this process, through the system's liblmdb."""

    def __init__(self, path):
        name = ctypes.util.find_library("lmdb")
        if name is None:
            raise AssertionError("liblmdb not found")
        self.lib = ctypes.CDLL(name)
        self.env = ctypes.c_void_p()
        self.txn = ctypes.c_void_p()
        self._ok(self.lib.mdb_env_create(ctypes.byref(self.env)))
        self._ok(self.lib.mdb_env_set_maxdbs(self.env, 16))
        self._ok(self.lib.mdb_env_open(self.env, path.encode(), 0, 0o600))
        self._ok(self.lib.mdb_txn_begin(self.env, None, 0, ctypes.byref(self.txn)))

    def _ok(self, rc):
        if rc != 0:
            raise AssertionError("lmdb: error %d" % rc)

    def release(self):
        if self.txn:
            self.lib.mdb_txn_abort(self.txn)
            self.txn = ctypes.c_void_p()
        if self.env:
            self.lib.mdb_env_close(self.env)
            self.env = ctypes.c_void_p()


class PurgeOffLoop(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="outpost-purgeloop-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.origin = self.start_origin()

    def node(self):
        """One worker (so that every hit goes to the worker the PURGEs are
        sent to) and a disk tier (the purge log lives in it)."""
        cache_dir = os.path.join(self.dir, "cache")
        return self.start_outpost(self.origin, overrides={
            "node": {"workers": 1},
            "cache": {"disk": {"path": cache_dir, "size": "64MiB"}},
            "purge": {
                "client_listeners": ["127.0.0.1/32"],
                "tokens": [{"id": "example",
                            "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                            "hosts": ["example.com"]}]}}), cache_dir

    def send_purge(self, port, path):
        c = harness.RawConn(port, timeout=5)
        self.addCleanup(c.close)
        c.send(("PURGE %s HTTP/1.1\r\nHost: example.com\r\n"
                "Authorization: Bearer %s\r\n\r\n" % (path, TOKEN)).encode())
        return c

    def test_hits_go_on_while_purges_wait_for_the_log(self):
        n, cache_dir = self.node()
        paths = ["/o/%d?%s" % (i, CC) for i in range(N_PURGES)]
        hit = "/hit?%s" % CC
        for p in paths + [hit]:
            self.assertEqual(n.get(p).header("X-Cache"), "MISS")
        self.assertEqual(n.get(hit).header("X-Cache"), "HIT")

        lock = LmdbWriteLock(os.path.join(cache_dir, "purge"))
        self.addCleanup(lock.release)
        # half of the purges on the client listener (the one worker), half
        # on the admin listener
        conns = [self.send_purge(n.port if i % 2 == 0 else n.admin_port, p)
                 for i, p in enumerate(paths)]
        # the worker answers hits while its PURGEs wait for the log
        for _ in range(20):
            r = n.get(hit, timeout=5)
            self.assertEqual((r.status, r.header("X-Cache")), (200, "HIT"))
        self.assertEqual(n.admin("/healthz", timeout=5).status, 200)
        # no purge is answered before it is durable
        for c in conns:
            self.assertEqual(c.read_some(timeout=0.05), b"")
        lock.release()
        ids = set()
        for c in conns:
            r = c.read_response(timeout=10)
            self.assertEqual(r.status, 200, r)
            ids.add(json.loads(r.body)["id"])
        self.assertEqual(len(ids), N_PURGES)
        for p in paths:
            self.assertEqual(n.get(p).header("X-Cache"), "MISS")
        self.assertEqual(n.get(hit).header("X-Cache"), "HIT")
        self.assertEqual(n.metric("outpost_purge_requests_total"), N_PURGES)

    def test_a_client_gone_before_its_answer(self):
        n, cache_dir = self.node()
        path = "/gone?%s" % CC
        self.assertEqual(n.get(path).header("X-Cache"), "MISS")
        lock = LmdbWriteLock(os.path.join(cache_dir, "purge"))
        self.addCleanup(lock.release)
        for port in (n.port, n.admin_port):
            c = self.send_purge(port, path)
            time.sleep(0.05)
            c.close()
        lock.release()
        # both purges are still carried out (the commit was under way)
        harness.wait_until(lambda: n.metric("outpost_purge_requests_total") == 2, 5,
                           what="the purges")
        self.assertEqual(n.get(path).header("X-Cache"), "MISS")
        self.assertEqual(n.admin("/healthz").status, 200)


if __name__ == "__main__":
    harness.main()
