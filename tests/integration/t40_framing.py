#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Message framing: keep-alive, pipelining, chunked both ways, HTTP/1.0,
100-continue, a large streamed body, body limits, methods."""

import hashlib
import os
import time

import harness
from harness import pattern_bytes, pattern_digest

H = "Host: example.com\r\n"


class Framing(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)

    def test_keepalive_several_requests(self):
        with self.node.connect() as c:
            for i in range(4):
                c.send("GET /f/ka%d HTTP/1.1\r\n%s\r\n" % (i, H))
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, b"origin GET /f/ka%d n=1\n" % i)
                self.assertNotIn("close", r.header_tokens("Connection"))
        self.assertEqual(self.origin.count(prefix="/f/ka"), 4)

    def test_pipelining_in_order(self):
        data = "".join("GET /f/pipe%d?size=%d HTTP/1.1\r\n%s\r\n" % (i, 1000 * (i + 1), H)
                       for i in range(3))
        with self.node.connect() as c:
            c.send(data)   # one write
            rs = [c.read_response() for _ in range(3)]
        for i, r in enumerate(rs):
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, pattern_bytes(1000 * (i + 1)), "response %d" % i)
        self.assertEqual(self.origin.count(prefix="/f/pipe"), 3)

    def test_pipelining_with_head(self):
        data = ("GET /f/ph1 HTTP/1.1\r\n%s\r\nHEAD /f/ph2?size=5000 HTTP/1.1\r\n%s\r\n"
                "GET /f/ph3 HTTP/1.1\r\n%s\r\n" % (H, H, H))
        with self.node.connect() as c:
            c.send(data)
            r1 = c.read_response()
            r2 = c.read_response(head=True)
            r3 = c.read_response()
        self.assertEqual(r1.body, b"origin GET /f/ph1 n=1\n")
        self.assertEqual(r2.status, 200)
        self.assertEqual(r2.header("Content-Length"), "5000")
        self.assertEqual(r3.body, b"origin GET /f/ph3 n=1\n")

    def test_chunked_request_body_forwarded(self):
        body = os.urandom(50000)
        pieces = [body[:1], body[1:20000], body[20000:]]
        with self.node.connect() as c:
            c.send("POST /f/echo-chunked?echo=1 HTTP/1.1\r\n%sTransfer-Encoding: chunked\r\n"
                   "\r\n" % H)
            for p in pieces:
                c.send(b"%x\r\n%s\r\n" % (len(p), p))
                time.sleep(0.05)
            c.send(b"0\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Echo-Length"), str(len(body)))
        self.assertEqual(r.header("X-Echo-Sha256"), hashlib.sha256(body).hexdigest())
        self.assertEqual(r.body, body)

    def test_chunked_response_relayed(self):
        size = 300000
        with self.node.connect() as c:
            c.send("GET /f/chunked?size=%d&chunked=1&chunk_size=7000 HTTP/1.1\r\n%s\r\n"
                   % (size, H))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertFalse(r.chunked and r.header("Content-Length"),
                             "both chunked and Content-Length: %r" % r.headers)
            self.assertEqual(r.body, pattern_bytes(size))
            # still usable afterwards
            c.send("GET /f/after-chunked HTTP/1.1\r\n%s\r\n" % H)
            self.assertEqual(c.read_response().status, 200)

    def _http10(self, query):
        path = "/f/ten" + query
        rep = self.node.raw("GET %s HTTP/1.0\r\n%s\r\n" % (path, H), timeout=8)
        self.assertTrue(rep.closed, "HTTP/1.0 connection not closed")
        r = rep.first()
        self.assertEqual(r.status, 200)
        self.assertFalse(r.chunked, "chunked sent to an HTTP/1.0 client")
        self.assertNotIn(b"chunked", r.head.lower())
        return rep, r

    def test_http10_content_length_body(self):
        rep, r = self._http10("?size=12345")
        self.assertEqual(r.body, pattern_bytes(12345))
        if r.header("Content-Length") is not None:
            self.assertEqual(int(r.header("Content-Length")), 12345)

    def test_http10_from_chunked_origin(self):
        rep, r = self._http10("-c?size=40000&chunked=1&chunk_size=3000")
        self.assertEqual(r.body, pattern_bytes(40000))

    def test_http10_from_close_delimited_origin(self):
        rep, r = self._http10("-n?size=30000&no_length=1")
        self.assertEqual(r.body, pattern_bytes(30000))

    def test_expect_100_continue(self):
        body = b"0123456789" * 100
        with self.node.connect() as c:
            c.send("PUT /f/expect?echo=1 HTTP/1.1\r\n%sContent-Length: %d\r\n"
                   "Expect: 100-continue\r\n\r\n" % (H, len(body)))
            interim = c.read_response(allow_interim=True, timeout=3)
            self.assertEqual(interim.status, 100, "no 100 Continue before the body was sent")
            c.send(body)
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Echo-Length"), str(len(body)))
        self.assertEqual(r.body, body)

    def test_large_streamed_response(self):
        size = 256 * 1024 * 1024
        expected = pattern_digest(size, "md5")
        r, n, digest = self.node.stream("/f/large?size=%d" % size, timeout=30, algo="md5")
        self.assertEqual(r.status, 200)
        self.assertEqual(n, size)
        self.assertEqual(digest, expected)
        hwm_mib = self.node.vm_hwm_kib() / 1024.0
        limit = float(os.environ.get("OUTPOST_RSS_LIMIT_MIB", "128"))
        if self.node.is_sanitized() and "OUTPOST_RSS_LIMIT_MIB" not in os.environ:
            limit += 512   # sanitizer shadow memory and quarantine
        self.assertLess(hwm_mib, limit, "VmHWM %.0f MiB: the body was buffered" % hwm_mib)

    def test_body_over_limit_413(self):
        n = 2 * 1024 * 1024
        with self.node.connect() as c:
            c.send("POST /f/toobig?echo=1 HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n" % (H, n))
            c.send_lenient(b"x" * 65536)
            r = c.read_response(timeout=5)
        self.assertEqual(r.status, 413)
        self.assertServing(self.node)

    def test_body_at_limit_accepted(self):
        body = os.urandom(1024 * 1024)
        r = self.node.request("POST", "/f/atlimit?echo=1", body=body,
                              headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Echo-Sha256"), hashlib.sha256(body).hexdigest())

    def test_methods_with_bodies(self):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            body = os.urandom(300 * 1024)
            path = "/f/m-%s" % method.lower()
            r = self.node.request(method, path + "?echo=1", body=body)
            self.assertEqual(r.status, 200, method)
            self.assertEqual(r.header("X-Echo-Method"), method)
            self.assertEqual(r.body, body, method)
            rec = self.origin.requests(path)[-1]
            self.assertEqual(rec["method"], method)
            self.assertEqual(rec["body_length"], len(body))
            self.assertEqual(rec["body_sha256"], hashlib.sha256(body).hexdigest())

    def test_extension_method(self):
        with self.node.connect() as c:
            c.send("M-SEARCH /f/msearch HTTP/1.1\r\n%s\r\n" % H)
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"origin M-SEARCH /f/msearch n=1\n")
        self.assertEqual(self.origin.requests("/f/msearch")[-1]["method"], "M-SEARCH")


if __name__ == "__main__":
    harness.main()
