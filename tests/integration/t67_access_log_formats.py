#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The access log: JSON with the default or the configured fields (in their
order), the combined format, a syslog target (a datagram Unix socket the
test binds, RFC 5424 and RFC 3164 framing), lines in the responses' order
across workers, every line written at exit, and a writer that falls behind
(a FIFO nobody reads) drops and counts lines without slowing a request."""

import json
import os
import re
import socket
import stat
import tempfile
import time

import harness
from harness import wait_until

CC = "cc=max-age%3D600"
DEFAULT = ["time", "client", "worker", "method", "host", "path", "status", "bytes", "cache",
           "duration_ms"]


def lines_of(node, path):
    """The parsed JSON lines of the access log whose path starts with path."""
    return [ln for ln in node.access_lines() if str(ln.get("path", "")).startswith(path)]


class Formats(harness.OutpostTestCase):
    def test_default_fields_in_order(self):
        node = self.start_outpost(self.start_origin())
        self.assertEqual(node.get("/d/a?" + CC).status, 200)
        self.assertEqual(node.get("/d/a?" + CC).status, 200)
        recs = wait_until(lambda: len(lines_of(node, "/d/a")) == 2 and lines_of(node, "/d/a"),
                          5, what="two lines")
        self.assertEqual([list(r) for r in recs], [DEFAULT, DEFAULT])
        self.assertEqual([r["cache"] for r in recs], ["MISS", "HIT"])

    def test_configured_fields(self):
        fields = ["path", "query", "status", "cache", "tier", "site", "route", "pool",
                  "duration_us", "duration_ms", "tls", "protocol", "user_agent", "referer",
                  "request_id", "upstream", "upstream_ms", "method"]
        origin = self.start_origin()

        def mutate(cfg):
            cfg["log"]["fields"] = fields
        node = self.start_outpost(origin, mutate=mutate)
        hdrs = {"User-Agent": "t67 \"agent\"", "Referer": "http://ref.example/x"}
        self.assertEqual(node.get("/f/a?x=1&" + CC + "&delay_ms=50", headers=hdrs).status, 200)
        self.assertEqual(node.get("/f/a?x=1&" + CC + "&delay_ms=50").status, 200)
        self.assertEqual(node.get("/nocache/f").status, 200)
        recs = wait_until(lambda: len(lines_of(node, "/f/a")) == 2 and lines_of(node, "/f/a"),
                          5, what="two lines")
        miss, hit = recs
        self.assertEqual(list(miss), fields)
        self.assertEqual(miss["query"], "x=1&" + CC + "&delay_ms=50")
        self.assertEqual((miss["cache"], miss["tier"], hit["cache"], hit["tier"]),
                         ("MISS", None, "HIT", "ram"))
        self.assertEqual((miss["site"], miss["route"], miss["pool"]), ("main", "/", "web"))
        self.assertEqual((miss["tls"], miss["protocol"], miss["method"]),
                         (None, "HTTP/1.1", "GET"))
        self.assertEqual((miss["user_agent"], miss["referer"]),
                         ("t67 \"agent\"", "http://ref.example/x"))
        self.assertIsNone(hit["user_agent"])
        self.assertEqual(miss["upstream"], origin.address)
        self.assertGreaterEqual(miss["upstream_ms"], 50)
        self.assertLess(miss["upstream_ms"], 5000)
        self.assertGreaterEqual(miss["duration_us"], miss["upstream_ms"] * 1000)
        self.assertEqual(miss["duration_ms"], miss["duration_us"] // 1000)
        self.assertEqual((hit["upstream"], hit["upstream_ms"]), (None, None))
        p = wait_until(lambda: lines_of(node, "/nocache/f"), 5, what="pass line")[0]
        self.assertEqual((p["cache"], p["tier"], p["route"]), ("PASS", None, "/nocache/"))

    def test_combined(self):
        def mutate(cfg):
            cfg["log"]["format"] = "combined"
        node = self.start_outpost(self.start_origin(), mutate=mutate)
        self.assertEqual(node.get("/c/a?" + CC, headers={"User-Agent": "ua/1",
                                                         "Referer": "http://r/"}).status, 200)
        self.assertEqual(node.get("/c/none?status=204").status, 204)

        def lines():
            text = harness.read_text(node.access_log)
            got = [ln for ln in text.splitlines() if "/c/" in ln]
            return got if len(got) == 2 else None
        a, b = wait_until(lines, 5, what="two combined lines")
        pat = (r'^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
               r'"GET %s HTTP/1\.1" %d %s "%s" "%s"$')
        self.assertRegex(a, pat % (re.escape("/c/a?" + CC), 200, r"[1-9]\d*",
                                   re.escape("http://r/"), "ua/1"))
        # bytes: what was sent, the head included (a 204 has no body)
        self.assertRegex(b, pat % (re.escape("/c/none?status=204"), 204, r"[1-9]\d*", "-", "-"))

    def test_order_across_workers(self):
        """Each request on a new connection (the workers take turns): the
        lines follow the responses' order."""
        node = self.start_outpost(self.start_origin())
        for i in range(40):
            self.assertEqual(node.get("/o/%02d" % i).status, 200)
        recs = wait_until(lambda: len(lines_of(node, "/o/")) == 40 and lines_of(node, "/o/"),
                          5, what="40 lines")
        self.assertEqual([r["path"] for r in recs], ["/o/%02d" % i for i in range(40)])
        self.assertGreater(len({r["worker"] for r in recs}), 1, "one worker took them all")

    def test_every_line_written_at_exit(self):
        node = self.start_outpost(self.start_origin())
        for i in range(30):
            self.assertEqual(node.get("/x/%d" % i).status, 200)
        self.assertEqual(node.stop(), 0)
        self.assertEqual(len(lines_of(node, "/x/")), 30)


class SlowWriter(harness.OutpostTestCase):
    def test_full_buffer_drops_and_counts(self):
        d = tempfile.mkdtemp(prefix="outpost-fifo-")
        fifo = os.path.join(d, "access.fifo")
        os.mkfifo(fifo)
        # a reader that never reads: the writer's write(2) blocks once the
        # pipe is full
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)

        def cleanup():
            os.close(rfd)
            for f in os.listdir(d):
                os.unlink(os.path.join(d, f))
            os.rmdir(d)
        self.addCleanup(cleanup)

        def mutate(cfg):
            cfg["log"]["access"] = fifo
            cfg["log"]["buffer"] = "4KiB"
        node = self.start_outpost(self.start_origin(), mutate=mutate)
        self.assertTrue(stat.S_ISFIFO(os.stat(fifo).st_mode))
        deadline = time.monotonic() + 30
        n = 0
        while n < 1500 and time.monotonic() < deadline:
            self.assertEqual(node.get("/s/%d?%s" % (n % 3, CC), timeout=5).status, 200)
            n += 1
            if n % 100 == 0 and node.metric("outpost_access_log_dropped_total") > 50:
                break
        dropped = node.metric("outpost_access_log_dropped_total")
        self.assertGreater(dropped, 50, "after %d requests" % n)
        self.assertLess(dropped, n)
        # reading the pipe unblocks the writer: later lines arrive again
        got = bytearray()

        def drained():
            try:
                while True:
                    chunk = os.read(rfd, 65536)
                    if not chunk:
                        break
                    got.extend(chunk)
            except BlockingIOError:
                pass
            node.get("/s/after")
            return b'"path":"/s/after"' in got
        wait_until(drained, 10, interval=0.1, what="a line after the pipe was read")
        kept = [json.loads(ln) for ln in bytes(got).decode().splitlines() if ln]
        self.assertGreater(len(kept), 0)
        self.assertTrue(all(r["status"] == 200 for r in kept))


class Syslog(harness.OutpostTestCase):
    def run_syslog(self, framing):
        d = tempfile.mkdtemp(prefix="outpost-syslog-")
        path = os.path.join(d, "log.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(5)

        def cleanup():
            sock.close()
            os.unlink(path)
            os.rmdir(d)
        self.addCleanup(cleanup)
        syslog = {"socket": path, "facility": "local3", "tag": "edge-t67"}
        if framing:
            syslog["framing"] = framing

        def mutate(cfg):
            cfg["log"]["syslog"] = syslog
        node = self.start_outpost(self.start_origin(), mutate=mutate)
        self.assertEqual(node.get("/sy/a").status, 200)
        self.assertEqual(node.get("/sy/b").status, 200)
        msgs = []
        deadline = time.monotonic() + 5
        while len(msgs) < 2 and time.monotonic() < deadline:
            m = sock.recv(65536).decode()
            if "/sy/" in m:
                msgs.append(m)
        self.assertEqual(len(msgs), 2, msgs)
        # the file gets the same lines (its batch is written after the datagrams)
        wait_until(lambda: len(lines_of(node, "/sy/")) == 2, 5, what="the file's two lines")
        return node, msgs

    def test_rfc5424(self):
        node, msgs = self.run_syslog(None)
        for m, p in zip(msgs, ("/sy/a", "/sy/b")):
            # <local3 * 8 + info>1 TIMESTAMP HOST APP PROCID MSGID SD MSG
            mt = re.match(r"^<158>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ edge-t67 %d - - "
                          r"(\{.*\})$" % node.pid, m)
            self.assertIsNotNone(mt, m)
            self.assertEqual(json.loads(mt.group(1))["path"], p)

    def test_rfc3164(self):
        node, msgs = self.run_syslog("rfc3164")
        for m in msgs:
            mt = re.match(r"^<158>[A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d \S+ edge-t67\[%d\]: "
                          r"(\{.*\})$" % node.pid, m)
            self.assertIsNotNone(mt, m)
            self.assertEqual(json.loads(mt.group(1))["status"], 200)


if __name__ == "__main__":
    harness.main()
