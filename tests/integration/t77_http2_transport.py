#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""HTTP/2 to clients through the real node: ALPN and h2c prior knowledge,
streams as requests (cache, ranges, request bodies), 100 concurrent streams,
flow control with a stream whose client does not read, resets in flight,
rapid reset, drain, metrics and the access log.

Clients: curl (--http2, --http2-prior-knowledge) and python3-h2 (Debian's,
hence /usr/bin/python3) for scripted frame sequences.
"""
import hashlib
import re
import signal
import socket
import ssl
import subprocess
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings

import harness
import origin as origin_mod
import t60_tls

TIMEOUT = 10.0


class Client:
    """A python3-h2 client connection: plain (prior knowledge) or TLS (ALPN)."""

    def __init__(self, port, tls_ctx=None, sni="example.com", window=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        if tls_ctx is not None:
            self.sock = tls_ctx.wrap_socket(self.sock, server_hostname=sni)
        self.c = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.c.initiate_connection()
        if window is not None:
            self.c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.flush()
        self.heads = {}
        self.bodies = {}
        self.ended = set()
        self.resets = {}
        self.goaway = None
        self.closed = False
        self.hold = set()  # streams whose data is not acknowledged

    def flush(self):
        data = self.c.data_to_send()
        if data:
            self.sock.sendall(data)

    def get(self, sid, path, method="GET", authority="example.com", extra=(), end=True):
        self.c.send_headers(sid, [(":method", method), (":scheme", "http"),
                                  (":authority", authority), (":path", path)] + list(extra),
                            end_stream=end)
        self.flush()

    def pump(self, until, timeout=TIMEOUT):
        """Reads and handles events until until() or timeout (bounded)."""
        deadline = time.monotonic() + timeout
        while not until() and not self.closed and time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            if not data:
                self.closed = True
                break
            for ev in self.c.receive_data(data):
                self.on_event(ev)
            self.flush()
        return until()

    def on_event(self, ev):
        if isinstance(ev, h2.events.ResponseReceived):
            self.heads[ev.stream_id] = dict(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            self.bodies[ev.stream_id] = self.bodies.get(ev.stream_id, b"") + ev.data
            if ev.stream_id not in self.hold:
                self.c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif ev.flow_controlled_length:
                # the connection's window only: the others go on
                self.c.increment_flow_control_window(ev.flow_controlled_length)
        elif isinstance(ev, h2.events.StreamEnded):
            self.ended.add(ev.stream_id)
        elif isinstance(ev, h2.events.StreamReset):
            self.resets[ev.stream_id] = ev.error_code
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = (ev.error_code, ev.last_stream_id)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def pattern(size):
    return origin_mod.pattern_bytes(size)


def assert_calm_after_resets(case, c, n, path):
    """n streams opened and reset at once on c: GOAWAY ENHANCE_YOUR_CALM."""
    for i in range(n):
        c.get(1 + 2 * i, path)
        c.c.reset_stream(1 + 2 * i)
    try:
        c.flush()
    except OSError:
        pass   # the node may close before it read every frame
    c.pump(lambda: c.goaway is not None, timeout=5)
    case.assertIsNotNone(c.goaway)
    case.assertEqual(c.goaway[0], h2.errors.ErrorCodes.ENHANCE_YOUR_CALM)


def h2c_class_node(case, update):
    """The class's origin and node (case.origin, case.node) with an h2c
    listener on case.port; update(cfg) changes the rest."""
    cls = type(case)
    cls.origin = case.class_origin()
    cls.port = harness.free_port()

    def mutate(cfg):
        cfg["listen"].append({"address": "127.0.0.1:%d" % cls.port,
                              "http2": "prior_knowledge"})
        update(cfg)
        return cfg
    cls.node = case.class_outpost(cls.origin, mutate=mutate)


class HTTP2(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.c = t60_tls.certs()
        cls.origin = self.class_origin()
        cls.tls_port = harness.free_port()
        cls.h2c_port = harness.free_port()
        cls.tls_off_port = harness.free_port()

        def mutate(cfg):
            t60_tls.tls_config(cfg, cls.c, cls.tls_port)
            cfg["listen"].append({"address": "127.0.0.1:%d" % cls.h2c_port,
                                  "http2": "prior_knowledge"})
            cfg["listen"].append({"address": "127.0.0.1:%d" % cls.tls_off_port,
                                  "tls": True, "http2": False})
            cfg["limits"]["body"] = "4MiB"
            cfg["log"]["fields"] = ["path", "status", "cache", "protocol", "user_agent"]
            harness.add_route(cfg, {"path": "/stream/", "pool": "web",
                                    "cache": {"enabled": False}, "request_buffering": False})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def client(self, **kw):
        c = Client(self.h2c_port, **kw)
        self.addCleanup(c.close)
        return c

    def curl(self, *args):
        p = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "-", "-w",
                            "\n%{http_version} %{http_code}"] + list(args),
                           capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr.decode("utf-8", "replace"))
        body, _, tail = p.stdout.rpartition(b"\n")
        version, code = tail.decode().split()
        return version, int(code), body

    # -- negotiation -------------------------------------------------------

    def test_alpn_h2_over_tls_and_off_per_listener(self):
        args = ["--cacert", self.c.path("root.pem"), "--resolve",
                "example.com:%d:127.0.0.1" % self.tls_port, "--http2"]
        v, code, body = self.curl(*args, "https://example.com:%d/t77/alpn?size=3000&"
                                  "cc=max-age=60" % self.tls_port)
        self.assertEqual((v, code, body), ("2", 200, pattern(3000)))
        args = ["--cacert", self.c.path("root.pem"), "--resolve",
                "example.com:%d:127.0.0.1" % self.tls_off_port, "--http2"]
        v, code, body = self.curl(*args, "https://example.com:%d/t77/alpn?size=3000&"
                                  "cc=max-age=60" % self.tls_off_port)
        self.assertEqual((v, code, body), ("1.1", 200, pattern(3000)))
        ctx = t60_tls.client_ctx(self.c)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with t60_tls.tls_connect(self.tls_off_port, ctx, "example.com") as s:
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")

    def test_tls_h2_stream_with_hsts_and_sni_mismatch_421(self):
        ctx = t60_tls.client_ctx(self.c)
        ctx.set_alpn_protocols(["h2"])
        c = Client(self.tls_port, tls_ctx=ctx, sni="example.com")
        self.addCleanup(c.close)
        self.assertEqual(c.sock.selected_alpn_protocol(), "h2")
        c.get(1, "/t77/tls?size=100", authority="example.com")
        c.get(3, "/t77/tls?size=100", authority="localhost")
        self.assertTrue(c.pump(lambda: {1, 3} <= c.ended))
        self.assertEqual(c.heads[1][":status"], "200")
        self.assertEqual(c.bodies[1], pattern(100))
        self.assertIn("strict-transport-security", c.heads[1])
        self.assertEqual(c.heads[3][":status"], "421")

    def test_prior_knowledge_and_http11_on_one_listener(self):
        url = "http://127.0.0.1:%d/t77/pk?size=5000&cc=max-age=60" % self.h2c_port
        v, code, body = self.curl("--http2-prior-knowledge", "-H", "Host: example.com", url)
        self.assertEqual((v, code, body), ("2", 200, pattern(5000)))
        v, code, body = self.curl("--http1.1", "-H", "Host: example.com", url)
        self.assertEqual((v, code, body), ("1.1", 200, pattern(5000)))
        # no upgrade from HTTP/1.1: the request is answered as HTTP/1.1
        with socket.create_connection(("127.0.0.1", self.h2c_port), timeout=5) as s:
            s.sendall(b"GET /t77/pk?size=5000&cc=max-age=60 HTTP/1.1\r\nHost: example.com\r\n"
                      b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                      b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
            data = s.recv(65536)
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:80])

    def test_plain_listener_without_the_key_speaks_http11_only(self):
        with socket.create_connection(("127.0.0.1", self.node.port), timeout=5) as s:
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            data = s.recv(4096)
        # an HTTP/1.1 answer to the preface's request line (version 2.0)
        self.assertTrue(data.startswith(b"HTTP/1.1 505 "), data[:80])

    # -- streams are requests ---------------------------------------------

    def test_100_concurrent_streams_hits_and_misses_bytes_verified(self):
        c = self.client()
        sizes = {}
        # half are filled first (hits below), half are new (misses)
        for i in range(50):
            self.node.get("/t77/many%d?size=%d&cc=max-age=60" % (i, 100 + 997 * i))
        sid = 1
        for i in range(100):
            size = 100 + 997 * i
            sizes[sid] = (i, size)
            c.get(sid, "/t77/many%d?size=%d&cc=max-age=60" % (i, size))
            sid += 2
        self.assertTrue(c.pump(lambda: len(c.ended) == 100, timeout=20),
                        "%d of 100 streams ended" % len(c.ended))
        for s, (i, size) in sizes.items():
            self.assertEqual(c.heads[s][":status"], "200", s)
            self.assertEqual(c.bodies.get(s, b""), pattern(size), "stream %d" % s)
            self.assertEqual(c.heads[s]["x-cache"], "HIT" if i < 50 else "MISS", s)
            self.assertEqual(int(c.heads[s]["content-length"]), size)
            for hop in ("connection", "keep-alive", "transfer-encoding"):
                self.assertNotIn(hop, c.heads[s])

    def test_range_and_head(self):
        path = "/t77/range?size=20000&cc=max-age=60"
        self.node.get(path)
        c = self.client()
        c.get(1, path, extra=[("range", "bytes=100-199")])
        c.get(3, path, method="HEAD")
        self.assertTrue(c.pump(lambda: {1, 3} <= c.ended))
        self.assertEqual(c.heads[1][":status"], "206")
        self.assertEqual(c.bodies[1], pattern(20000)[100:200])
        self.assertEqual(c.heads[3][":status"], "200")
        self.assertEqual(c.heads[3]["content-length"], "20000")
        self.assertNotIn(3, c.bodies)

    def test_request_bodies_with_and_without_length(self):
        c = self.client()
        body = bytes(range(256)) * 1200   # 300 KiB: more than one window
        c.get(1, "/nocache/t77/up?echo=1", method="POST",
              extra=[("content-length", str(len(body)))], end=False)
        c.get(3, "/nocache/t77/up?echo=1", method="PUT", end=False)
        # streamed to the origin as it comes (request_buffering: false)
        c.get(5, "/stream/t77/up?echo=1", method="POST", end=False)
        for sid in (1, 3, 5):
            sent = 0
            while sent < len(body):
                self.assertTrue(c.pump(lambda: c.c.local_flow_control_window(sid) > 0,
                                       timeout=5), "window stays shut")
                n = min(16384, len(body) - sent, c.c.local_flow_control_window(sid))
                c.c.send_data(sid, body[sent:sent + n])
                c.flush()
                sent += n
            c.c.end_stream(sid)
            c.flush()
        self.assertTrue(c.pump(lambda: {1, 3, 5} <= c.ended, timeout=15))
        want = hashlib.sha256(body).hexdigest()
        for sid in (1, 3, 5):
            self.assertEqual(c.heads[sid][":status"], "200")
            self.assertEqual(c.heads[sid]["x-echo-length"], str(len(body)))
            self.assertEqual(c.heads[sid]["x-echo-sha256"], want)

    # -- flow control ------------------------------------------------------

    def test_a_stream_that_is_not_read_holds_up_no_other(self):
        big = 1 << 20
        self.node.get("/t77/slowreader?size=%d&cc=max-age=60" % big)
        c = self.client()
        c.hold.add(1)   # its window is never reopened until the end
        c.get(1, "/t77/slowreader?size=%d&cc=max-age=60" % big)
        for i in range(10):
            c.get(3 + 2 * i, "/t77/other%d?size=%d&cc=max-age=60" % (i, 50000 + i))
        others = {3 + 2 * i for i in range(10)}
        self.assertTrue(c.pump(lambda: others <= c.ended, timeout=10))
        for i in range(10):
            self.assertEqual(c.bodies[3 + 2 * i], pattern(50000 + i))
        self.assertNotIn(1, c.ended)
        self.assertLessEqual(len(c.bodies.get(1, b"")), 65535)
        # open its window: it completes with every byte
        c.hold.discard(1)
        c.c.increment_flow_control_window(big, 1)
        c.c.increment_flow_control_window(big)
        c.flush()
        self.assertTrue(c.pump(lambda: 1 in c.ended, timeout=10))
        self.assertEqual(c.bodies[1], pattern(big))

    # -- resets and defences -----------------------------------------------

    def test_reset_in_flight_then_others_get_the_whole_object(self):
        path = "/t77/resetfill?size=2000000&cc=max-age=60&delay_ms=200"
        c = self.client()
        for sid in (1, 3, 5):
            c.get(sid, path)
        time.sleep(0.1)
        for sid in (1, 3):
            c.c.reset_stream(sid)
        c.flush()
        self.assertTrue(c.pump(lambda: 5 in c.ended, timeout=10))
        self.assertEqual(c.bodies[5], pattern(2000000))
        d = self.client()
        d.get(1, path)
        self.assertTrue(d.pump(lambda: 1 in d.ended))
        self.assertEqual(d.heads[1]["x-cache"], "HIT")
        self.assertEqual(d.bodies[1], pattern(2000000))

    def test_rapid_reset_ends_the_connection(self):
        before = self.node.metric("outpost_h2_rapid_reset_total", default=0)
        c = self.client()
        assert_calm_after_resets(self, c, 150, "/nocache/t77/rapid?delay_ms=500")
        self.node.wait_metric("outpost_h2_rapid_reset_total", lambda v: v >= before + 1)
        self.assertServing(self.node)

    def test_continuation_flood_and_large_head(self):
        c = self.client()
        c.c.send_headers(1, [(":method", "GET"), (":scheme", "http"),
                             (":authority", "example.com"), (":path", "/t77/big"),
                             ("x-big", "v" * 70000)], end_stream=True)
        try:
            c.flush()
        except OSError:
            pass
        c.pump(lambda: 1 in c.ended or 1 in c.resets or c.goaway is not None)
        self.assertTrue(c.heads.get(1, {}).get(":status") == "431" or 1 in c.resets or
                        c.goaway is not None, (c.heads, c.resets, c.goaway))
        # HEADERS without END_HEADERS and 20 empty CONTINUATIONs: GOAWAY
        with socket.create_connection(("127.0.0.1", self.h2c_port), timeout=5) as s:
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            s.sendall(b"\x00\x00\x00\x01\x00\x00\x00\x00\x01")
            s.sendall(b"\x00\x00\x00\x09\x00\x00\x00\x00\x01" * 20)
            data = b""
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    chunk = s.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    break
                if not chunk:
                    break
                data += chunk
        self.assertIn(b"\x07\x00\x00\x00\x00\x00", data)  # a GOAWAY frame header
        self.assertServing(self.node)

    # -- metrics and log ----------------------------------------------------

    def test_metrics_and_access_log(self):
        before = self.node.metric("outpost_h2_requests_total", default=0)
        c = self.client()
        c.get(1, "/t77/logged?size=10", extra=[("user-agent", "t77-agent")])
        self.assertTrue(c.pump(lambda: 1 in c.ended))
        self.node.wait_metric("outpost_h2_requests_total", lambda v: v >= before + 1)
        self.assertGreaterEqual(self.node.metric("outpost_h2_streams_total"), 1)
        self.assertGreaterEqual(self.node.metric("outpost_h2_connections_total"), 1)

        def logged():
            return [ln for ln in self.node.access_lines()
                    if ln.get("path") == "/t77/logged?size=10"]
        harness.wait_until(lambda: logged(), 3, what="access log line")
        self.assertEqual(logged()[0]["status"], 200)
        self.assertEqual((logged()[0]["protocol"], logged()[0]["user_agent"]),
                         ("HTTP/2.0", "t77-agent"))
        heads = self.origin.requests(path="/t77/logged?size=10")
        self.assertEqual([v for k, v in heads[0]["headers"] if k.lower() == "via"],
                         ["2 test-node"])


class Timeouts(harness.OutpostTestCase):
    def setup_class_resources(self):
        h2c_class_node(self, lambda cfg: cfg["timeouts"].update(
            {"idle": "1s", "send": "1s", "header": "1s"}))

    def test_idle_connection_goes_away(self):
        c = Client(self.port)
        self.addCleanup(c.close)
        c.get(1, "/t77/idle?size=10")
        self.assertTrue(c.pump(lambda: 1 in c.ended))
        t0 = time.monotonic()
        self.assertTrue(c.pump(lambda: c.goaway is not None, timeout=5))
        self.assertEqual(c.goaway[0], h2.errors.ErrorCodes.NO_ERROR)
        self.assertGreater(time.monotonic() - t0, 0.5)

    def test_a_stream_whose_window_stays_shut_is_reset(self):
        big = 1 << 20
        c = Client(self.port)
        self.addCleanup(c.close)
        c.hold.add(1)
        c.get(1, "/t77/stall?size=%d&cc=max-age=60" % big)
        self.assertTrue(c.pump(lambda: 1 in c.resets, timeout=5), "no reset")
        # the connection goes on: another stream is served in full
        c.get(3, "/t77/after-stall?size=30000")
        self.assertTrue(c.pump(lambda: 3 in c.ended))
        self.assertEqual(c.bodies[3], pattern(30000))
        self.assertServing(self.node)


class Limits(harness.OutpostTestCase):
    """The http2 section: the limits a connection states and enforces."""

    def setup_class_resources(self):
        h2c_class_node(self, lambda cfg: cfg.update({"http2": {
            "max_concurrent_streams": 5, "reset_budget": 10,
            "max_header_list": "2KiB", "stream_window": "16KiB"}}))

    def test_stated_settings(self):
        c = Client(self.port)
        self.addCleanup(c.close)
        c.get(1, "/t77/limits?size=10")
        self.assertTrue(c.pump(lambda: 1 in c.ended))
        rs = c.c.remote_settings
        self.assertEqual(rs.max_concurrent_streams, 5)
        self.assertEqual(rs.max_header_list_size, 2048)
        self.assertEqual(rs.initial_window_size, 16384)

    def test_head_over_the_list_size_is_431(self):
        c = Client(self.port)
        self.addCleanup(c.close)
        c.get(1, "/t77/limits-big?size=10", extra=[("x-pad", "p" * 3000)])
        self.assertTrue(c.pump(lambda: 1 in c.ended or 1 in c.resets))
        self.assertEqual(c.heads.get(1, {}).get(":status"), "431")

    def test_reset_budget(self):
        c = Client(self.port)
        self.addCleanup(c.close)
        assert_calm_after_resets(self, c, 15, "/nocache/t77/rb?delay_ms=500")


class Drain(harness.OutpostTestCase):
    def test_sigterm_sends_goaway_and_finishes_the_stream(self):
        # nghttp (a client that keeps a stream the GOAWAY names) fetches a
        # slow object; SIGTERM lands while the origin delays it
        origin = self.start_origin()
        port = harness.free_port()

        def mutate(cfg):
            cfg["listen"].append({"address": "127.0.0.1:%d" % port,
                                  "http2": "prior_knowledge"})
            return cfg
        node = self.start_outpost(origin, mutate=mutate)
        p = subprocess.Popen(["nghttp", "-nv", "-t", "10", "-H", ":authority: example.com",
                              "http://127.0.0.1:%d/nocache/t77/drain?size=40000&delay_ms=800"
                              % port], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        harness.wait_until(lambda: origin.count(prefix="/nocache/t77/drain") == 1, 5,
                           what="the request at the origin")
        node.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=15)
        out = out.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("recv GOAWAY frame", out)
        self.assertIn(":status: 200", out)
        got = sum(int(n) for n in re.findall(r"recv DATA frame <length=(\d+)", out))
        self.assertEqual(got, 40000, out[-2000:])
        self.assertEqual(node.wait(8), 0)


if __name__ == "__main__":
    harness.main()
