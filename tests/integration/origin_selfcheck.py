#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Self-check of origin.py and of the harness's raw HTTP helpers; needs no
daemon. Not part of TESTS; run by hand:  python3 tests/integration/origin_selfcheck.py"""

import hashlib
import socket
import time

import harness
from harness import OriginProcess, RawConn, http_request, http_stream, raw_exchange


class OriginSelfCheck(harness.OutpostTestCase):
    needs_outpost = False

    def setup_class_resources(self):
        type(self).o = self.class_origin(script={
            "/scripted": {"status": 203, "headers": {"X-S": "1"}, "body": "scripted\n"},
            "/pre/*": {"status": 404, "body": "prefix\n"},
        })

    def test_default_and_count(self):
        o = self.o
        r = http_request(o.port, "GET", "/a/b?x=1", headers={"Host": "h"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"origin GET /a/b?x=1 n=1\n")
        self.assertEqual(r.header("X-Origin-Count"), "1")
        http_request(o.port, "GET", "/a/b?x=2")
        self.assertEqual(o.count("/a/b"), 2)
        self.assertEqual(o.count("/a/b?x=2"), 1)
        self.assertEqual(o.count(prefix="/a/"), 2)
        reqs = o.requests("/a/b")
        self.assertEqual(reqs[0]["method"], "GET")
        self.assertEqual(harness.req_header(reqs[0], "host"), "h")
        self.assertEqual(o.count("/__count"), 0)

    def test_script_and_query(self):
        o = self.o
        r = http_request(o.port, "GET", "/scripted")
        self.assertEqual((r.status, r.header("X-S"), r.body), (203, "1", b"scripted\n"))
        r = http_request(o.port, "GET", "/pre/zz")
        self.assertEqual(r.status, 404)
        o.script({"/rt": {"status": 201}})
        self.assertEqual(http_request(o.port, "GET", "/rt").status, 201)
        r = http_request(o.port, "GET", "/q?status=410&cc=max-age%3D60&h=X-A:%20b&expires=60")
        self.assertEqual(r.status, 410)
        self.assertEqual(r.header("Cache-Control"), "max-age=60")
        self.assertEqual(r.header("X-A"), "b")
        self.assertIsNotNone(r.header("Expires"))

    def test_size_pattern_and_chunked(self):
        o = self.o
        r = http_request(o.port, "GET", "/s?size=100000")
        self.assertEqual(r.body, harness.pattern_bytes(100000))
        self.assertEqual(r.body[251], 0)
        self.assertEqual(r.body[252], 1)
        with RawConn(o.port) as c:
            c.send(b"GET /c?size=70000&chunked=1&chunk_size=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            self.assertTrue(r.chunked)
            self.assertEqual(r.body, harness.pattern_bytes(70000))
            # keep-alive: a second request on the same connection
            c.send(b"GET /c2 HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)

    def test_big_stream(self):
        size = 64 * 1024 * 1024
        t0 = time.monotonic()
        r, n, dig = http_stream(self.o.port, "GET", "/big?size=%d" % size, algo="md5")
        self.assertEqual((r.status, n), (200, size))
        self.assertEqual(dig, harness.pattern_digest(size, "md5"))
        self.assertLess(time.monotonic() - t0, 20)

    def test_delay_and_chunk_delay(self):
        t0 = time.monotonic()
        r = http_request(self.o.port, "GET", "/d?delay_ms=300")
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.assertEqual(r.status, 200)
        t0 = time.monotonic()
        r = http_request(self.o.port, "GET", "/cd?size=3000&chunk_size=1000&chunk_delay_ms=100"
                         "&chunked=1")
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)
        self.assertEqual(r.body, harness.pattern_bytes(3000))

    def test_drop_reset_raw(self):
        rep = raw_exchange(self.o.port, b"GET /x?drop=1 HTTP/1.1\r\nHost: x\r\n\r\n", 3)
        self.assertEqual((bytes(rep), rep.closed, rep.reset), (b"", True, False))
        rep = raw_exchange(self.o.port, b"GET /x?reset=1 HTTP/1.1\r\nHost: x\r\n\r\n", 3)
        self.assertTrue(rep.reset, rep)
        rep = raw_exchange(self.o.port,
                           b"GET /x?raw=HTTP/1.1%20abc%0D%0A%0D%0A HTTP/1.1\r\nHost: x\r\n\r\n", 3)
        self.assertEqual(bytes(rep), b"HTTP/1.1 abc\r\n\r\n")
        self.assertTrue(rep.closed)
        self.assertEqual(self.o.count("/x"), 3)

    def test_echo_chunked_and_100_continue(self):
        body = b"hello world" * 1000
        with RawConn(self.o.port) as c:
            c.send(b"POST /e?echo=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            c.send(b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (5000, body[:5000],
                                                        len(body) - 5000, body[5000:]))
            r = c.read_response()
            self.assertEqual(r.body, body)
            self.assertEqual(r.header("X-Echo-Length"), str(len(body)))
            self.assertEqual(r.header("X-Echo-Sha256"), hashlib.sha256(body).hexdigest())
            self.assertEqual(r.header("X-Echo-Chunked"), "1")
            c.send(b"PUT /e?echo=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                   b"Expect: 100-continue\r\n\r\n")
            interim = c.read_response(allow_interim=True)
            self.assertEqual(interim.status, 100)
            c.send(b"abcde")
            r = c.read_response()
            self.assertEqual((r.body, r.header("X-Echo-Method")), (b"abcde", "PUT"))
        rec = self.o.requests("/e")
        self.assertEqual([x["body_length"] for x in rec], [len(body), 5])

    def test_pipelining_http10_head(self):
        rep = raw_exchange(self.o.port,
                           b"GET /p1 HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"HEAD /p2 HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"GET /p3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 3)
        rs = rep.responses(head_requests=(1,))
        self.assertEqual([r.status for r in rs], [200, 200, 200])
        self.assertEqual(rs[1].body, b"")
        self.assertTrue(rs[2].body.startswith(b"origin GET /p3"))
        self.assertTrue(rep.closed)
        rep = raw_exchange(self.o.port, b"GET /ten?no_length=1 HTTP/1.0\r\n\r\n", 3)
        self.assertTrue(rep.closed)
        self.assertTrue(rep.first().body.startswith(b"origin GET /ten"))

    def test_keepalive_ms_and_close_after(self):
        with RawConn(self.o.port) as c:
            c.send(b"GET /k?keepalive_ms=200 HTTP/1.1\r\nHost: x\r\n\r\n")
            c.read_response()
            closed, _, el = c.wait_closed(3)
            self.assertTrue(closed)
            self.assertLess(el, 1.5)
        with RawConn(self.o.port) as c:
            c.send(b"GET /k?close_after=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            self.assertIsNone(r.header("Connection"))
            self.assertTrue(c.wait_closed(2)[0])

    def test_garbage_does_not_kill(self):
        for junk in (b"\x00\x01\x02garbage\r\n\r\n", b"GET\r\n\r\n", b"A" * 300000,
                     b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
            raw_exchange(self.o.port, junk, 2)
        s = socket.create_connection(("127.0.0.1", self.o.port), timeout=2)
        s.close()
        self.assertEqual(http_request(self.o.port, "GET", "/alive").status, 200)

    def test_dual_stack(self):
        o = OriginProcess(host="::")
        try:
            self.assertEqual(http_request(o.port, "GET", "/v4").status, 200)
            self.assertEqual(http_request(o.port, "GET", "/v6", host="::1").status, 200)
        finally:
            o.stop()

    def test_yaml_writer(self):
        y = harness.to_yaml(harness.base_config(1, 2, 3, "/tmp/x"))
        self.assertIn('  - address: "127.0.0.1:1"', y)
        self.assertIn('      - "*.example.com"', y)
        self.assertIn("        cache:\n          enabled: false", y)


if __name__ == "__main__":
    harness.main()
