#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Origin responses whose framing or status is invalid: the client gets a 502
(RFC 9110 §15.6.3) while nothing of the response has reached it, the access
log says 502, and nothing is stored (the next request asks the origin again).

- a 200 head and a bad chunk in the same read (the head must not be queued
  and then dropped with the connection: an empty reply);
- HTTP/1.0 with Transfer-Encoding: chunked (RFC 9112 §6.1: faulty framing,
  not a body delimited by the close that carries the chunk framing);
- a status code outside 100..599 (RFC 9110 §15)."""

import hashlib

import harness
from harness import wait_until


FINE = {"body": "fine\n", "cc": "max-age=60"}


class OriginFraming(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)

    def access_status(self, path):
        def found():
            recs = [rec for rec in self.node.access_lines() if rec.get("path") == path]
            return recs or None
        return [rec["status"] for rec in wait_until(found, 5, what="access log line")]

    def check_bad_then_fine(self, path, raw, hold_ms=0):
        """The first request for path gets raw from the origin, the next a
        cacheable 200: the first is answered 502 and logged so, the second
        reaches the origin (nothing was stored) and is a 200."""
        bad = {"raw": raw}
        if hold_ms:
            bad["raw_hold_ms"] = hold_ms
        self.origin.script({path: {"seq": [bad, FINE]}})
        errors = self.node.metric("outpost_origin_errors_total", default=0)
        reply = self.node.raw("GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % path,
                              timeout=5)
        self.assertTrue(len(reply) > 0, "an empty reply instead of a 502")
        r = reply.first()
        self.assertEqual(r.status, 502, r)
        self.assertIn(b"bad gateway", r.body)
        self.assertEqual(self.access_status(path), [502])
        self.node.wait_metric("outpost_origin_errors_total", lambda v: v >= errors + 1)
        r = self.node.get(path)
        self.assertEqual((r.status, r.body), (200, b"fine\n"), r)
        self.assertEqual(self.origin.count(path), 2, "the bad answer was stored")
        r = self.node.get(path)
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, b"fine\n", "HIT"))
        self.assertEqual(self.origin.count(path), 2)

    def test_bad_chunk_with_the_head_is_502(self):
        # the origin keeps the connection open: no close to end anything
        self.check_bad_then_fine(
            "/f/chunk",
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nTransfer-Encoding: chunked\r\n"
            "\r\n5\r\nhello\r\nzz\r\nworld\r\n", hold_ms=1500)
        self.assertServing(self.node)

    def test_bad_first_chunk_size_is_502(self):
        self.check_bad_then_fine(
            "/f/chunk0",
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nTransfer-Encoding: chunked\r\n"
            "\r\nnot-hex\r\n", hold_ms=1500)

    def test_good_chunks_with_the_head_relayed(self):
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (b"abc", b"defgh" * 100))
        raw = ("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
               "Transfer-Encoding: chunked\r\n\r\n" + body.decode() + "0\r\n\r\n")
        self.origin.script({"/f/good": {"raw": raw}})
        r = self.node.get("/f/good")
        self.assertEqual(r.status, 200)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(),
                         hashlib.sha256(b"abc" + b"defgh" * 100).hexdigest())
        r = self.node.get("/f/good")
        self.assertEqual((r.status, r.header("X-Cache")), (200, "HIT"))
        self.assertEqual(self.origin.count("/f/good"), 1)

    def test_http10_chunked_is_502(self):
        self.check_bad_then_fine(
            "/f/http10",
            "HTTP/1.0 200 OK\r\nCache-Control: max-age=60\r\nTransfer-Encoding: chunked\r\n"
            "\r\n5\r\nhello\r\n0\r\n\r\n")

    def test_http10_close_delimited_still_served(self):
        self.origin.script({"/f/http10ok": {
            "raw": "HTTP/1.0 200 OK\r\nCache-Control: max-age=60\r\n\r\nhello"}})
        r = self.node.get("/f/http10ok")
        self.assertEqual((r.status, r.body), (200, b"hello"))

    def test_status_999_is_502(self):
        self.check_bad_then_fine(
            "/f/s999",
            "HTTP/1.1 999 Odd\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\n\r\nok")

    def test_status_600_is_502(self):
        self.check_bad_then_fine(
            "/f/s600",
            "HTTP/1.1 600 Odd\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\n\r\nok")

    def test_status_599_relayed(self):
        self.origin.script({"/f/s599": {
            "raw": "HTTP/1.1 599 Edge\r\nContent-Length: 2\r\n\r\nok"}})
        r = self.node.get("/f/s599")
        self.assertEqual((r.status, r.body), (599, b"ok"))


if __name__ == "__main__":
    harness.main()
