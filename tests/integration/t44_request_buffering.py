#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Request bodies are read whole before an origin member is asked
(routes[].request_buffering, default true): in memory up to
limits.body_buffer, then in an unlinked temporary file in
limits.body_temp_path.  Clients that drip their bodies no longer hold the
members' max_conns slots; request_buffering: false streams as before;
timeouts.body_total and limits.body_min_rate answer a too slow body 408."""

import hashlib
import os
import re
import shutil
import socket
import tempfile
import threading
import time

import harness
from harness import add_pool, add_route, free_port, run_outpost, wait_until


def sha(b):
    return hashlib.sha256(b).hexdigest()


def chunked(body, size):
    out = bytearray()
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return bytes(out + b"0\r\n\r\n")


def post_head(path, length=None, extra=""):
    framing = ("Content-Length: %d\r\n" % length if length is not None
               else "Transfer-Encoding: chunked\r\n")
    return ("POST %s HTTP/1.1\r\nHost: example.com\r\n%s%s\r\n" % (path, framing, extra))


class BareOrigin:
    """A listener that records the bytes each connection sends and answers
    "200 ok" once a whole request (head and Content-Length body, or a chunked
    body) has arrived: it shows when the node sends what."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []         # bytearray per accepted connection
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            buf = bytearray()
            with self.lock:
                self.conns.append(buf)
            threading.Thread(target=self._serve, args=(s, buf), daemon=True).start()

    def _serve(self, s, buf):
        s.settimeout(30)
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    return
                with self.lock:
                    buf += data
                    whole = self._complete(bytes(buf))
                if whole:
                    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n"
                              b"\r\nok")
                    return
        except OSError:
            return
        finally:
            s.close()

    @staticmethod
    def _complete(data):
        i = data.find(b"\r\n\r\n")
        if i < 0:
            return False
        m = re.search(rb"\r\ncontent-length: *(\d+)", data[:i], re.I)
        if m:
            return len(data) - i - 4 >= int(m.group(1))
        return data.endswith(b"0\r\n\r\n")

    def received(self):
        with self.lock:
            return [bytes(b) for b in self.conns]

    def close(self):
        self.closed = True
        self.sock.close()


class RequestBuffering(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.spool_dir = tempfile.mkdtemp(prefix="outpost-spool-")
        cls.bare = BareOrigin()
        cls.origin = self.class_origin()

        def mutate(cfg):
            cfg["limits"]["body_buffer"] = "16KiB"
            cfg["limits"]["body_temp_path"] = cls.spool_dir
            # a member waits for a request body as long as for any first byte
            add_pool(cfg, "slots", "127.0.0.1:%d" % cls.origin.port, queue_timeout="1s",
                     timeouts={"connect": "1s", "first_byte": "30s"})
            cfg["pools"][-1]["members"][0]["max_conns"] = 8
            add_route(cfg, {"path": "/slots/", "pool": "slots"})
            add_route(cfg, {"path": "/stream/", "pool": "web", "request_buffering": False})
            add_pool(cfg, "bare", "127.0.0.1:%d" % cls.bare.port)
            add_route(cfg, {"path": "/bare-stream/", "pool": "bare", "request_buffering": False,
                            "cache": {"enabled": False}})
            add_route(cfg, {"path": "/bare-buffered/", "pool": "bare",
                            "cache": {"enabled": False}})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            if getattr(cls, "bare", None) is not None:
                cls.bare.close()
            shutil.rmtree(getattr(cls, "spool_dir", "/nonexistent"), True)

    def spool_fds(self):
        """The node's open files in the spool directory (readlink of
        /proc/PID/fd), and whether each is unlinked."""
        out = []
        fd_dir = "/proc/%d/fd" % self.node.pid
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith(self.spool_dir + "/"):
                out.append(target)
        return out

    def echo(self, r, body):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Echo-Length"), str(len(body)))
        self.assertEqual(r.header("X-Echo-Sha256"), sha(body), "the origin got another body")

    # ---- the finding: slow bodies must not hold the members' slots ----

    def test_dripping_bodies_do_not_starve_the_pool(self):
        n_drip, drip_s = 8, 10.0
        before_buffered = self.node.metric("outpost_request_bodies_buffered_total", default=0)
        stop_at = time.monotonic() + drip_s
        bodies = [bytes([65 + i]) * 32 for i in range(n_drip)]

        def drip(i):
            with self.node.connect(timeout=30) as c:
                c.send(post_head("/slots/up%d?echo=1" % i, len(bodies[i])))
                sent = 0
                while time.monotonic() < stop_at and sent < len(bodies[i]) - 1:
                    c.send(bodies[i][sent:sent + 1])
                    sent += 1
                    time.sleep(1.0)     # under timeouts.body (5 s)
                c.send(bodies[i][sent:])
                return c.read_response(timeout=10)

        drippers = [harness.Background(drip, i) for i in range(n_drip)]
        time.sleep(0.5)
        codes = []
        k = 0
        while time.monotonic() < stop_at - 0.5 and k < 60:
            r = self.node.get("/slots/miss%d" % k, timeout=10)
            codes.append(r.status)
            k += 1
            time.sleep(0.2)
        self.assertEqual(codes, [200] * len(codes), "legitimate misses refused")
        self.assertGreater(len(codes), 10)
        # the origin has not seen a dripped request yet: none holds a slot
        self.assertEqual(self.origin.count(prefix="/slots/up"), 0)
        results = [d.result(30) for d in drippers]
        for i, r in enumerate(results):
            self.echo(r, bodies[i])
        self.assertEqual(self.origin.count(prefix="/slots/up"), n_drip)
        self.node.wait_metric("outpost_request_bodies_buffered_total",
                              lambda v: v >= before_buffered + n_drip)
        self.assertServing(self.node)

    # ---- memory, then a temporary file ----

    def test_body_over_memory_limit_goes_to_an_unlinked_file(self):
        before = self.node.metric("outpost_request_bodies_spooled_total", default=0)
        body = os.urandom(300 * 1024)
        with self.node.connect(timeout=20) as c:
            c.send(post_head("/nocache/spill?echo=1", len(body)))
            c.send(body[:100 * 1024])
            # past limits.body_buffer (16 KiB): a file in body_temp_path,
            # open but without a name
            files = wait_until(self.spool_fds, 5, what="a spool file open in the directory")
            self.assertTrue(all(f.endswith(" (deleted)") for f in files), files)
            self.assertEqual(os.listdir(self.spool_dir), [])
            self.assertEqual(self.origin.count("/nocache/spill"), 0, "sent before whole")
            c.send(body[100 * 1024:])
            r = c.read_response(timeout=10)
        self.echo(r, body)
        rec = self.origin.requests("/nocache/spill")[-1]
        self.assertEqual(harness.req_header(rec, "Content-Length"), str(len(body)))
        self.node.wait_metric("outpost_request_bodies_spooled_total",
                              lambda v: v >= before + 1)
        wait_until(lambda: not self.spool_fds(), 5, what="the spool file closed")
        self.assertEqual(os.listdir(self.spool_dir), [])

    def test_chunked_body_spilled_goes_with_a_length(self):
        body = os.urandom(200 * 1024 + 7)
        with self.node.connect(timeout=20) as c:
            c.send(post_head("/nocache/spillc?echo=1"))
            c.send(chunked(body, 10000))
            r = c.read_response(timeout=10)
        self.echo(r, body)
        self.assertEqual(r.header("X-Echo-Chunked"), "0")
        rec = self.origin.requests("/nocache/spillc")[-1]
        self.assertFalse(rec["chunked"])
        self.assertEqual(harness.req_header(rec, "Content-Length"), str(len(body)))

    def test_small_body_in_memory(self):
        before = self.node.metric("outpost_request_bodies_spooled_total", default=0)
        body = b"x" * 1000
        r = self.node.request("POST", "/nocache/small?echo=1", body=body)
        self.echo(r, body)
        self.assertEqual(self.node.metric("outpost_request_bodies_spooled_total", default=0),
                         before)

    def test_keepalive_after_buffered_body(self):
        with self.node.connect(timeout=10) as c:
            for i in range(3):
                body = b"%d" % i * (20000 * (i + 1))
                c.send(post_head("/nocache/ka%d?echo=1" % i, len(body)).encode() + body)
                self.echo(c.read_response(), body)

    def test_expect_100_continue(self):
        body = os.urandom(40000)
        with self.node.connect(timeout=10) as c:
            c.send(post_head("/nocache/expect?echo=1", len(body), "Expect: 100-continue\r\n"))
            interim = c.read_response(timeout=5, allow_interim=True)
            self.assertEqual(interim.status, 100)
            c.send(body)
            self.echo(c.read_response(timeout=10), body)

    def test_body_over_limits_body_413(self):
        # limits.body is 1MiB; a chunked body has no length to refuse it at once
        with self.node.connect(timeout=10) as c:
            c.send(post_head("/nocache/toolarge?echo=1"))
            c.send_lenient(chunked(b"z" * (1100 * 1024), 64 * 1024))
            r = c.read_response(timeout=10)
        self.assertEqual(r.status, 413)
        self.assertEqual(self.origin.count("/nocache/toolarge"), 0)

    # ---- request_buffering: false ----

    def test_buffered_body_reaches_the_origin_whole(self):
        with self.node.connect(timeout=10) as c:
            c.send(post_head("/bare-buffered/x", 10) + "12345")
            time.sleep(1.0)
            self.assertEqual([b for b in self.bare.received() if b"/bare-buffered/" in b], [],
                             "the origin was asked before the body was whole")
            c.send("67890")
            r = c.read_response(timeout=10)
        self.assertEqual((r.status, r.body), (200, b"ok"))
        got = [b for b in self.bare.received() if b"/bare-buffered/" in b]
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].endswith(b"\r\n\r\n1234567890"), got[0][-200:])

    def test_request_buffering_false_streams(self):
        with self.node.connect(timeout=10) as c:
            c.send(post_head("/bare-stream/x", 10) + "12345")

            def first_half():
                got = [b for b in self.bare.received() if b"/bare-stream/" in b]
                return got if got and got[0].endswith(b"\r\n\r\n12345") else None
            wait_until(first_half, 5, what="the first body bytes at the origin")
            c.send("67890")
            r = c.read_response(timeout=10)
        self.assertEqual((r.status, r.body), (200, b"ok"))

    def test_request_buffering_false_keeps_chunked(self):
        body = os.urandom(50000)
        with self.node.connect(timeout=10) as c:
            c.send(post_head("/stream/chunked?echo=1"))
            c.send(chunked(body, 7000))
            r = c.read_response(timeout=10)
        self.echo(r, body)
        self.assertEqual(r.header("X-Echo-Chunked"), "1")


class SlowBody:
    """Helpers: drip a body, expect 408 and a close within bounds."""

    def assertTimedOut(self, c, lo, hi, t0):
        closed, data, _ = c.wait_closed(hi + 2 - (time.monotonic() - t0))
        el = time.monotonic() - t0
        self.assertTrue(closed, "connection still open after %.1f s" % el)
        self.assertGreaterEqual(el, lo, "closed too early (%.2f s)" % el)
        self.assertLessEqual(el, hi, "closed too late (%.2f s)" % el)
        rs = harness.parse_responses(data)
        self.assertTrue(rs and rs[0].status == 408, data[:300])

    def check_min_rate_408(self, path):
        """1 byte every 0.3 s: ~3 B/s, far below 100 B/s once timeouts.body
        (2 s) has passed, and never idle for timeouts.body: 408 at ~2 s."""
        with self.node.connect(timeout=15) as c:
            t0 = time.monotonic()
            c.send(post_head(path, 1000))
            bg = harness.Background(self.drip, c, b"r", 0.3, t0 + 7)
            self.assertTimedOut(c, 1.8, 4.0, t0)
            bg.result(10)
        self.assertServing(self.node)

    @staticmethod
    def drip(c, piece, every, until):
        """Sends piece every `every` seconds until the node closes or `until`."""
        while time.monotonic() < until:
            if not c.send_lenient(piece):
                return
            time.sleep(every)


class BodyDeadlines(SlowBody, harness.OutpostTestCase):
    """timeouts.body_total and limits.body_min_rate: 408, then close."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin, overrides={
            "timeouts": {"body": "2s", "body_total": "4s"},
            "limits": {"body_min_rate": "100B"}})

    def test_below_min_rate_408(self):
        self.check_min_rate_408("/nocache/rate?echo=1")
        self.assertEqual(self.origin.count("/nocache/rate"), 0)

    def test_over_body_total_408(self):
        # 400 B/s keeps above the minimum rate; the whole body is not here
        # after timeouts.body_total (4 s)
        with self.node.connect(timeout=15) as c:
            t0 = time.monotonic()
            c.send(post_head("/nocache/total?echo=1", 100000))
            bg = harness.Background(self.drip, c, b"t" * 100, 0.25, t0 + 9)
            self.assertTimedOut(c, 3.8, 6.5, t0)
            bg.result(10)
        self.assertEqual(self.origin.count("/nocache/total"), 0)

    def test_fast_body_ok(self):
        body = os.urandom(200 * 1024)
        r = self.node.request("POST", "/nocache/fast?echo=1", body=body)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Echo-Sha256"), sha(body))


class StreamedBodyDeadline(SlowBody, harness.OutpostTestCase):
    """The deadlines also hold a streamed body (request_buffering: false)."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            add_route(cfg, {"path": "/s/", "pool": "web", "request_buffering": False,
                            "cache": {"enabled": False}})
            # the origin waits for the body: its first byte is not the limit
            cfg["pools"][0]["timeouts"]["first_byte"] = "10s"
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate, overrides={
            "timeouts": {"body": "2s"}, "limits": {"body_min_rate": "100B"}})

    def test_streamed_body_below_min_rate_408(self):
        self.check_min_rate_408("/s/rate?echo=1")


VALID = """\
node: { name: test-node, workers: 1 }
listen: [{ address: "127.0.0.1:PORT" }]
admin: { listen: "127.0.0.1:ADMIN" }
sites:
  - name: main
    hosts: ["example.com"]
    routes:
      - { path: /, pool: web }
pools:
  - { name: web, members: [{ address: "127.0.0.1:ORIGIN" }] }
"""


class ConfigErrors(harness.OutpostTestCase):
    """Each new key: a bad value is FILE:LINE:COLUMN: key: reason, exit 1."""

    CASES = [
        ("limits:\n  body_temp_path: tmp/bodies\n", 12, "limits.body_temp_path",
         "not an absolute path"),
        ("limits:\n  body_temp_path: /nonexistent/outpost\n", 12, "limits.body_temp_path",
         "not a directory"),
        ("limits:\n  body_temp_path: /etc/hostname\n", 12, "limits.body_temp_path",
         "not a directory"),
        ("limits:\n  body_buffer: 2GiB\n", 12, "limits.body_buffer", "out of range"),
        ("limits:\n  body_min_rate: fast\n", 12, "limits.body_min_rate", ""),
        ("timeouts:\n  body_total: 5\n", 12, "timeouts.body_total", ""),
    ]

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="outpost-cfg-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def run_config(self, text):
        text = (text.replace("ADMIN", str(free_port())).replace("ORIGIN", str(free_port()))
                .replace("PORT", str(free_port())))
        path = os.path.join(self.dir, "c.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path, run_outpost(["-t", "-c", path], timeout=5)

    def test_valid(self):
        _, cp = self.run_config(VALID + "limits: { body_buffer: 0, body_temp_path: %s, "
                                "body_min_rate: 1KiB }\ntimeouts: { body_total: 0s }\n"
                                % self.dir)
        self.assertEqual(cp.returncode, 0, cp.stderr)

    def test_errors(self):
        for text, line, key, why in self.CASES:
            with self.subTest(key=key, text=text):
                path, cp = self.run_config(VALID + text)
                self.assertEqual(cp.returncode, 1, cp.stderr)
                m = re.search(r"^%s:(\d+):(\d+): %s: (.*)$" % (re.escape(path), re.escape(key)),
                              cp.stderr, re.M)
                self.assertTrue(m, cp.stderr)
                self.assertEqual(int(m.group(1)), line, cp.stderr)
                self.assertIn(why, m.group(3))

    def test_route_request_buffering_not_bool(self):
        text = VALID.replace("      - { path: /, pool: web }",
                             "      - { path: /, pool: web, request_buffering: maybe }")
        path, cp = self.run_config(text)
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertRegex(cp.stderr, r"%s:8:\d+: sites\[0\]\.routes\[0\]\.request_buffering: "
                         % re.escape(path))


if __name__ == "__main__":
    harness.main()
