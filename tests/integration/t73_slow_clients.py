#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Slow clients: slowloris, slow body and slow read.

Debian's slowhttptest holds a few hundred connections open (fewer than
limits.connections_per_ip) for a few seconds each way, while a second client
keeps asking for a cached object: every one of its hits must succeed within
LATENCY_BOUND seconds, and the node, not the tool, must end the slow
connections (timeouts.header, timeouts.body with limits.body_min_rate,
timeouts.send).  A reader that keeps taking a trickle of the response (so
that timeouts.send, a bound between two writes, never fires) is cut by
limits.send_min_rate.  Without slowhttptest (tools/install-deps installs
it) the runs are skipped."""

import re
import shutil
import socket
import subprocess
import threading
import time
import unittest

import harness

SLOWHTTPTEST = shutil.which("slowhttptest")
LATENCY_BOUND = 2.0   # seconds: the longest a probe hit may take during a run
RUN_SECONDS = 6       # each slowhttptest run (-l)
BIG = 3000000         # bytes: more than the kernel buffers of one loopback socket take


class Prober:
    """A second client: GET path on a new connection every 50 ms until
    stopped; each answer's status, X-Cache and time is kept, and the node's
    open client connections are sampled every few probes."""

    def __init__(self, node, path):
        self.node, self.path = node, path
        self.results = []
        self.active = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        deadline = time.monotonic() + 60  # bounded even if never stopped
        n = 0
        while not self.stop.is_set() and time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                r = self.node.get(self.path, timeout=10)
                self.results.append((r.status, r.header("X-Cache"), time.monotonic() - t0))
            except (OSError, harness.IncompleteResponse) as e:
                self.results.append((repr(e), None, time.monotonic() - t0))
            if n % 5 == 0:
                self.active.append(self.node.metric("outpost_connections_active"))
            n += 1
            self.stop.wait(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(15)


@unittest.skipIf(SLOWHTTPTEST is None,
                 "slowhttptest is not installed (tools/install-deps installs it)")
class SlowHttpTest(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            cfg["sites"][0]["hosts"].append("127.0.0.1")  # the tool's Host
            cfg["timeouts"].update({"header": "2s", "body": "2s", "send": "2s"})
            cfg["limits"].update({"body_min_rate": "1KiB", "send_min_rate": "64KiB",
                                  "connections_per_ip": 512})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)
        cls.origin.script({"/hit": {"cc": "max-age=600", "body": "hit\n"},
                           "/big": {"cc": "max-age=600", "size": BIG},
                           "/post": {"echo": 1}})

    def attack(self, mode, connections, path, *extra):
        """Runs slowhttptest (bounded: RUN_SECONDS, connections) with the
        probe going, and checks the probe and that the node itself ended the
        slow connections.  Returns the tool's exit status line."""
        self.assertEqual(self.node.get("/hit").status, 200)
        self.assertEqual(self.node.get("/big").status, 200)
        before = self.node.metric("outpost_client_timeouts_total")
        url = "http://127.0.0.1:%d%s" % (self.node.port, path)
        args = [SLOWHTTPTEST, mode, "-c", str(connections), "-r", "200",
                "-l", str(RUN_SECONDS), "-p", "2", "-u", url] + [str(a) for a in extra]
        with Prober(self.node, "/hit") as probe:
            cp = subprocess.run(args, capture_output=True, text=True, timeout=RUN_SECONDS + 30)
        self.assertEqual(cp.returncode, 0, cp.stderr[-2000:])
        self.node.check_alive()
        # every hit of the second client succeeded, within the bound
        self.assertGreater(len(probe.results), 10, probe.results)
        bad = [r for r in probe.results if r[0] != 200 or r[1] != "HIT" or r[2] > LATENCY_BOUND]
        self.assertEqual(bad, [], "probe hits failed or slower than %.1f s" % LATENCY_BOUND)
        # the connections were held open, then the node (not the tool: that
        # would be an end of file) closed them for their slowness
        self.assertGreaterEqual(max(probe.active), connections // 2, probe.active)
        self.assertGreaterEqual(
            self.node.metric("outpost_client_timeouts_total") - before, connections // 2)
        plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", cp.stdout)
        m = re.search(r"Exit status: *(.*)", plain)
        self.assertIsNotNone(m, plain[-2000:])
        return m.group(1).strip()

    def test_slowloris(self):
        # a header line a second: timeouts.header ends each after 2 s
        status = self.attack("-H", 200, "/hit", "-i", 1)
        self.assertEqual(status, "No open connections left")

    def test_slow_body(self):
        # a 64 KiB body sent 4 bytes a second: limits.body_min_rate (1 KiB/s
        # once timeouts.body has passed) ends each after about 2 s with 408
        status = self.attack("-B", 200, "/post", "-i", 1, "-s", 65536, "-x", 4)
        self.assertEqual(status, "No open connections left")

    def test_slow_read(self):
        # each reader advertises a window of at most 512 bytes and takes 32
        # bytes a second (two pipelined requests for 3 MB); few connections,
        # as each holds a socket buffer.  The tool may still read what its
        # own receive buffer holds after the node's reset.
        self.attack("-X", 30, "/big", "-w", 1, "-y", 512, "-n", 1, "-z", 32, "-k", 2)


class SlowReader(harness.OutpostTestCase):
    """A reader that takes about 400 KB/s: each write makes progress, so
    timeouts.send alone would let it keep its connection until the last byte
    of a response of any size; limits.send_min_rate (2MiB/s after 3 s) cuts
    it, with a reset."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            cfg["timeouts"]["send"] = "3s"
            cfg["limits"]["send_min_rate"] = "2MiB"
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)
        cls.origin.script({"/large": {"cc": "max-age=600", "size": 15000000}})

    def read(self, pause, limit_s):
        """Reads /large, 20000 bytes per recv with pause seconds between;
        (bytes, seconds, how it ended)."""
        s = socket.create_connection(("127.0.0.1", self.node.port), timeout=5)
        s.sendall(b"GET /large HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
        got, t0, end = 0, time.monotonic(), "time"
        try:
            while time.monotonic() - t0 < limit_s:
                try:
                    d = s.recv(20000)
                except socket.timeout:
                    continue
                if not d:
                    end = "eof"
                    break
                got += len(d)
                if pause:
                    time.sleep(pause)
        except ConnectionResetError:
            end = "reset"
        finally:
            s.close()
        return got, time.monotonic() - t0, end

    def test_fast_reader_gets_everything(self):
        got, _, end = self.read(0, 30)
        self.assertEqual(end, "eof")
        self.assertGreater(got, 15000000)

    def test_origin_pauses_do_not_count(self):
        # the origin sends 20 KB over 5 s (far below the rate): the client
        # takes each piece at once, and waiting for the origin is not its
        # slowness
        r = self.node.get("/nocache/stream?size=20000&chunk_size=1000&chunk_delay_ms=250",
                          timeout=20)
        self.assertEqual((r.status, len(r.body)), (200, 20000))

    def test_trickle_reader_is_cut(self):
        self.assertEqual(self.node.get("/large").status, 200)
        before = self.node.metric("outpost_client_timeouts_total")
        got, secs, end = self.read(0.05, 25)
        # at 400 KB/s the object takes over 30 s; the rate ends it long before
        self.assertEqual(end, "reset", (got, secs))
        self.assertLess(got, 15000000)
        self.assertEqual(self.node.metric("outpost_client_timeouts_total") - before, 1)
        self.node.check_alive()


if __name__ == "__main__":
    harness.main()
