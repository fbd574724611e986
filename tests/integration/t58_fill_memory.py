#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The cache's memory budget: fills in progress, the stored copies they build
and objects still referenced after they left the RAM tier all count against
cache.ram + cache.fill_memory; past it, fills stop storing and are paced by
their slowest reader, so slow clients on distinct large objects cannot grow
the node without bound.  One client address may pin cache.fill_per_client at
most."""

import hashlib
import socket
import time

import harness

MIB = 1 << 20
OBJ = 15 * MIB
RAM = 64 * MIB
# the budget: cache.ram + cache.fill_memory (default: the larger of
# cache.ram / 4 and 4 * cache.max_object = 64 MiB)
BUDGET = RAM + 64 * MIB
# what the process holds besides the cache: code, libraries, worker stacks,
# connection and origin buffers (40 clients), malloc's slack
OVERHEAD = 64 * MIB


def obj_path(prefix, i, size=OBJ):
    # a distinct cacheable URL per client (the query busts the cache)
    return "%s?size=%d&seed=%d&cc=max-age%%3D300&chunk_size=65536" % (prefix, size, i % 251)


def open_slow(port, path, source=None):
    """A client that sends its request and then reads nothing (a small
    receive buffer), optionally from the loopback address source."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(10)
    if source is not None:
        s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: example.com\r\n"
               "Connection: close\r\n\r\n" % path).encode())
    return s


def read_all(s, deadline):
    """The rest of a Connection: close response: (status, body digest, length)."""
    data = bytearray()
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            k = s.recv(1 << 20)
        except (socket.timeout, ConnectionError):
            break
        if not k:
            break
        data += k
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head else None
    return status, hashlib.sha256(body).hexdigest(), len(body)


def rss_kib(node):
    with open("/proc/%d/status" % node.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


class FillMemory(harness.OutpostTestCase):
    def test_slow_readers_stay_within_the_budget(self):
        """40 slow readers of 15 MiB objects on distinct URLs: without a
        budget each held twice its object (1.15 GB); with it the node stays
        within cache.ram + cache.fill_memory and a fixed overhead, and other
        clients still get correct answers."""
        origin = self.start_origin()
        node = self.start_outpost(origin, overrides={
            "node": {"workers": 2},
            # the per-address cap would stop these first (one address)
            "cache": {"ram": "64MiB", "fill_per_client": 0}})
        self.assertEqual(node.metric("outpost_cache_memory_budget_bytes"), BUDGET)
        slow = []
        peak = 0
        # a sanitizer's shadow memory and quarantine are not the node's
        rss = (lambda: 0) if node.is_sanitized() else (lambda: rss_kib(node) * 1024)
        try:
            for i in range(40):
                slow.append(open_slow(node.port, obj_path("/big", i)))
            harness.wait_until(lambda: origin.count(prefix="/big") == 40, 20,
                               what="the 40 requests at the origin")
            # the fills run (or wait for their readers) while memory is watched
            end = time.monotonic() + 6
            while time.monotonic() < end:
                peak = max(peak, rss())
                self.assertLess(peak, BUDGET + OVERHEAD,
                                "RSS %.0f MiB over the budget %d MiB + %d MiB"
                                % (peak / MIB, BUDGET // MIB, OVERHEAD // MIB))
                # past the budget each fill may still hold its window of
                # 1 MiB ahead of its slowest reader (a slow event loop, as
                # under a sanitizer, lets them all reach it at once)
                self.assertLessEqual(node.metric("outpost_cache_memory_bytes"),
                                     BUDGET + 40 * MIB + 8 * MIB)
                time.sleep(0.2)
            self.assertGreater(node.metric("outpost_cache_fills_unstored_memory_total"), 0)
            self.assertGreater(node.metric("outpost_cache_fills_paced_memory_total"), 0)
            self.assertGreater(node.metric("outpost_cache_fill_bytes"), 0)
            node.metric("outpost_cache_detached_bytes")  # exposed
            # a normal client meanwhile: correct answers, small and large
            r = node.get("/small?size=5000&cc=max-age%3D300")
            self.assertEqual((r.status, r.body), (200, harness.pattern_bytes(5000)))
            r, n, digest = node.stream("/other?size=%d&cc=max-age%%3D300" % (2 * MIB))
            self.assertEqual((r.status, n), (200, 2 * MIB))
            self.assertEqual(digest, harness.pattern_digest(2 * MIB))
            peak = max(peak, rss())
            # three of the slow readers read their object to the end
            for i in (0, 17, 39):
                st, digest, n = read_all(slow[i], time.monotonic() + 60)
                want = hashlib.sha256(bytes(
                    harness.pattern_bytes(OBJ + i % 251)[i % 251:])).hexdigest()
                self.assertEqual((st, n, digest), (200, OBJ, want), i)
            peak = max(peak, rss())
            self.assertLess(peak, BUDGET + OVERHEAD)
        finally:
            close_all(slow)
        # the readers gone, the unstored fills stop and their memory goes
        harness.wait_until(lambda: node.metric("outpost_cache_fill_bytes") < 4 * MIB, 20,
                           what="fill memory released")
        self.assertServing(node)

    def test_one_address_pins_at_most_its_cap(self):
        """Slow readers from one address on distinct objects: past
        cache.fill_per_client its fills stop storing and keep a small lead
        over it; another address still gets its objects stored."""
        size = 4 * MIB
        origin = self.start_origin()
        node = self.start_outpost(origin, overrides={
            "node": {"workers": 2},
            "cache": {"ram": "64MiB", "fill_per_client": "8MiB"}})
        slow = []
        try:
            for i in range(8):
                slow.append(open_slow(node.port, obj_path("/pin", i, size), "127.0.0.2"))
            harness.wait_until(lambda: origin.count(prefix="/pin") == 8, 20,
                               what="the 8 requests at the origin")
            harness.wait_until(
                lambda: node.metric("outpost_cache_fills_unstored_client_total") >= 6, 20,
                what="fills unstored past the address's cap")
            time.sleep(1.0)  # let the fills run as far as they may
            # two stored fills (chunks and copy), six paced ones
            self.assertLess(node.metric("outpost_cache_fill_bytes"), 2 * 2 * size + 6 * 3 * MIB)
            self.assertEqual(node.metric("outpost_cache_fills_unstored_memory_total"), 0)
            # another address: stored as usual
            path = obj_path("/elsewhere", 1, size)
            s = open_slow(node.port, path, "127.0.0.3")
            try:
                st, digest, n = read_all(s, time.monotonic() + 30)
            finally:
                s.close()
            self.assertEqual((st, n), (200, size))
            r = node.get(path)
            self.assertEqual((r.status, r.header("X-Cache")), (200, "HIT"))
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), digest)
            # at most two stored (they share the cap while they run)
            self.assertGreaterEqual(
                node.metric("outpost_cache_fills_unstored_client_total"), 6)
            # the capped address's objects are served whole all the same
            st, digest, n = read_all(slow[7], time.monotonic() + 30)
            self.assertEqual((st, n), (200, size))
        finally:
            close_all(slow)
        self.assertServing(node)


if __name__ == "__main__":
    harness.main()
