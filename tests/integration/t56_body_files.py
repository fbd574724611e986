#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""cache.sendfile: cached bodies of 64 KiB or more live in memory files
(memfd) that plain HTTP/1.1 connections are sent by sendfile; off, none
does.  With it on, the gauge and the process's
descriptors show the files; whole hits, single and multi-range hits,
objects of unknown length, disk-tier hits after a restart, TLS and HTTP/2
(sent from the mapping instead) all carry the exact bytes; a slow reader
keeps its version whole while the object is replaced and other large
objects come and go; purged objects give their files back."""

import hashlib
import os
import shutil
import socket
import tempfile
import time

import harness
import t56_range
import t58_purge_method as t58
import t60_tls
import t77_http2_transport as t77
from harness import pattern_bytes

BIG = 1 << 20


def seeded(size, seed):
    """The origin's pattern for size bytes starting at seed."""
    return bytes((k + seed) % 251 for k in range(size))


def memfds(node):
    """The node's descriptors that are cached bodies' memory files."""
    d = "/proc/%d/fd" % node.proc.pid
    n = 0
    for fd in os.listdir(d):
        try:
            if os.readlink(os.path.join(d, fd)).startswith("/memfd:outpost-body"):
                n += 1
        except OSError:
            pass  # closed meanwhile
    return n


def rchar(node):
    """Bytes the node's threads read by system calls, sendfile(2)'s input
    included (/proc/PID/io): a body sent from its file counts here, one
    written from memory does not."""
    with open("/proc/%d/io" % node.proc.pid) as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar in /proc/PID/io")


class BodyFiles(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.c = t60_tls.certs()
        cls.origin = self.class_origin()
        cls.tls_port = harness.free_port()
        cls.h2c_port = harness.free_port()
        cls.dir = self.class_tmpdir("outpost-bodyfiles-")

        def mutate(cfg):
            t60_tls.tls_config(cfg, cls.c, cls.tls_port)
            cfg["listen"].append({"address": "127.0.0.1:%d" % cls.h2c_port,
                                  "http2": "prior_knowledge"})
            cfg["cache"]["max_object"] = "32MiB"
            cfg["cache"]["sendfile"] = True
            cfg["purge"] = {"audit_log": os.path.join(cls.dir, "audit.log"), "tokens": [
                {"id": "t", "sha256": hashlib.sha256(t58.TOKEN.encode()).hexdigest(),
                 "hosts": ["example.com"]}]}
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def fill(self, path, size, extra=""):
        url = "%s?size=%d&cc=max-age%%3D600%s" % (path, size, extra)
        r = self.node.get(url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, pattern_bytes(size))
        return url

    def purge(self, url):
        r = t58.purge_raw(self.node.port, url)
        self.assertEqual(r.status, 200, r)

    def files(self):
        return self.node.metric("outpost_cache_body_files")

    def test_large_body_has_a_file_small_one_not(self):
        f0 = self.files()
        self.fill("/bf/small", 60000)
        self.assertEqual(self.files(), f0)
        url = self.fill("/bf/big", BIG)
        self.assertEqual(self.files(), f0 + 1)
        self.assertGreaterEqual(memfds(self.node), self.files())
        read0 = rchar(self.node)
        r = self.node.get(url)
        self.assertEqual(r.header("X-Cache"), "HIT", r.headers)
        self.assertEqual(r.header("Content-Length"), str(BIG))
        self.assertEqual(r.body, pattern_bytes(BIG))
        self.assertGreaterEqual(rchar(self.node) - read0, BIG)  # by sendfile
        self.assertEqual(self.origin.count("/bf/big"), 1)
        # the small body is written from memory
        read0 = rchar(self.node)
        self.assertEqual(self.node.get("/bf/small?size=60000&cc=max-age%3D600").body,
                         pattern_bytes(60000))
        self.assertLess(rchar(self.node) - read0, 60000)

    def test_many_hits_on_one_connection(self):
        url = self.fill("/bf/keepalive", 300000)
        want = pattern_bytes(300000)
        with harness.RawConn(self.node.port) as c:
            for _ in range(2):
                c.send(("GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % url).encode() * 3)
                for _ in range(3):
                    r = c.read_response()
                    self.assertEqual(r.status, 200)
                    self.assertEqual(r.body, want)
            c.send(("HEAD %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % url).encode())
            r = c.read_response(head=True)
            self.assertEqual(r.header("Content-Length"), "300000")
            self.assertEqual(r.body, b"")

    def test_ranges_from_the_file(self):
        url = self.fill("/bf/ranges", BIG)
        want = pattern_bytes(BIG)
        for rng, first, last in (("bytes=100000-299999", 100000, 299999),
                                 ("bytes=-70000", BIG - 70000, BIG - 1),
                                 ("bytes=1000000-", 1000000, BIG - 1),
                                 ("bytes=5-10", 5, 10)):
            r = self.node.get(url, {"Range": rng})
            self.assertEqual(r.status, 206, r)
            self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" % (first, last, BIG))
            self.assertEqual(r.body, want[first:last + 1], rng)
        r = self.node.get(url, {"Range": "bytes=0-99,20000-89999,900000-1000099"})
        parts = t56_range.parse_multipart(r)
        self.assertEqual([d for _, d in parts],
                         [want[0:100], want[20000:90000], want[900000:1000100]])

    def test_unknown_length_body_moves_to_a_file(self):
        f0 = self.files()
        url = self.fill("/bf/chunked", 700000, "&chunked=1")
        self.assertEqual(self.files(), f0 + 1)
        r = self.node.get(url)
        self.assertEqual(r.header("X-Cache"), "HIT", r.headers)
        self.assertEqual(r.body, pattern_bytes(700000))

    def test_tls_and_http2_send_the_same_bytes(self):
        url = self.fill("/bf/xport", BIG)
        want = pattern_bytes(BIG)
        with t60_tls.tls_connect(self.tls_port, t60_tls.client_ctx(self.c),
                                 "example.com") as s:
            for cache in ("MISS", "HIT"):  # https has keys of its own
                r = t60_tls.tls_get(s, url, "example.com")
                self.assertEqual(r.header("X-Cache"), cache, r.headers)
                self.assertEqual(r.body, want)
        cl = t77.Client(self.h2c_port)
        try:
            cl.get(1, url)
            cl.get(3, url, extra=[("range", "bytes=65536-200000")])
            cl.pump(lambda: {1, 3} <= cl.ended)
            self.assertEqual(bytes(cl.bodies[1]), want)
            self.assertEqual(bytes(cl.bodies[3]), want[65536:200001])
        finally:
            cl.close()

    def test_slow_reader_keeps_its_version(self):
        size = 8 << 20
        url = "/bf/slow?size=%d&seed=%d&cc=max-age%%3D1"
        r = self.node.get(url % (size, 1))
        self.assertEqual(r.status, 200)
        # a reader with a small window: most of the body waits in the node
        # and in the kernel while the object is replaced
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.settimeout(harness.IO_TIMEOUT)
        s.connect(("127.0.0.1", self.node.port))
        try:
            s.sendall(("GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n"
                       % (url % (size, 1))).encode())
            got = bytearray(s.recv(4096))
            time.sleep(1.2)  # stale now: the next request fills another version
            r2 = self.node.get(url % (size, 1), {"Cache-Control": "no-cache"})
            self.assertEqual(r2.status, 200)
            for i in range(6):  # other large objects come and go meanwhile
                self.fill("/bf/churn%d" % i, BIG)
                self.purge("/bf/churn%d?size=%d&cc=max-age%%3D600" % (i, BIG))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # bounded: 30 s
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                got += chunk
                end = got.find(b"\r\n\r\n")
                if end >= 0 and len(got) - end - 4 >= size:
                    break
            head, _, body = bytes(got).partition(b"\r\n\r\n")
            self.assertIn(b"200", head.split(b"\r\n")[0])
            self.assertEqual(len(body), size)
            self.assertEqual(hashlib.sha256(body).hexdigest(),
                             hashlib.sha256(seeded(size, 1)).hexdigest())
        finally:
            s.close()
        self.node.get("/")  # the process answers

    def test_purge_gives_the_file_back(self):
        url = self.fill("/bf/purged", BIG)
        f1 = self.files()
        self.purge(url)
        self.node.wait_metric("outpost_cache_body_files", lambda v: v == f1 - 1)


class SendfileOff(harness.OutpostTestCase):
    def test_off_by_default(self):
        node = self.start_outpost(self.start_origin())
        url = "/bf/off?size=%d&cc=max-age%%3D600" % BIG
        for cache in ("MISS", "HIT"):
            read0 = rchar(node)
            r = node.get(url)
            self.assertEqual(r.header("X-Cache"), cache, r.headers)
            self.assertEqual(r.body, pattern_bytes(BIG))
        self.assertLess(rchar(node) - read0, BIG)
        self.assertEqual(node.metric("outpost_cache_body_files"), 0)
        self.assertEqual(memfds(node), 0)


class DiskBodyFiles(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="outpost-bodyfiles-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.origin = self.start_origin()

    def node(self):
        return self.start_outpost(self.origin, overrides={
            "cache": {"sendfile": True,
                      "disk": {"path": os.path.join(self.dir, "cache"), "size": "64MiB"}}})

    def test_disk_hit_after_restart_is_a_file(self):
        url = "/bfd/x?size=%d&cc=max-age%%3D600" % BIG
        n = self.node()
        self.assertEqual(n.get(url).status, 200)
        n.wait_metric("outpost_cache_disk_writes_total", lambda v: v >= 1, timeout=5)
        self.assertEqual(n.stop(), 0)
        n2 = self.node()
        self.assertEqual(n2.metric("outpost_cache_body_files"), 0)
        for _ in range(2):
            r = n2.get(url)
            self.assertEqual(r.header("X-Cache"), "HIT", r.headers)
            self.assertEqual(r.body, pattern_bytes(BIG))
        self.assertEqual(n2.metric("outpost_cache_body_files"), 1)
        self.assertEqual(self.origin.count("/bfd/x"), 1)


if __name__ == "__main__":
    harness.main()
