#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Range amplification: a Range miss asks the origin for the window the cache
may fill from (cache.range_fill_max, 1 MiB by default), not for the whole
object, so many one-byte ranges of distinct large objects cost the origin a
bounded number of bytes; a 206 holding the whole object is stored as the
200 it amounts to, a partial one never is, and an origin that ignores Range
still gets the client a correct answer."""

import hashlib
import socket
import time

import harness
from harness import pattern_bytes, req_header

MIB = 1 << 20
WINDOW = MIB  # the default cache.range_fill_max
BIG = 16 * MIB


def origin_bytes(origin, prefix):
    """Body bytes the origin sent for the requests under prefix."""
    total = 0
    for rec in origin.requests(prefix=prefix):
        if "body_sent" in rec:
            total += rec["body_sent"]
        else:  # a small body goes out with the head in one write
            for k, v in rec.get("response_headers") or []:
                if k.lower() == "content-length":
                    total += int(v)
    return total


def range_then_leave(port, path, rng):
    """GETs path with Range rng, reads the answer's head and first bytes,
    then leaves: (status line, Content-Range, the bytes after the head)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: example.com\r\nRange: %s\r\n\r\n"
                   % (path, rng)).encode())
        data = b""
        end = time.monotonic() + 20
        while b"\r\n\r\n" not in data and time.monotonic() < end:
            k = s.recv(65536)
            if not k:
                break
            data += k
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        hdrs = dict((k.strip().lower(), v.strip()) for k, _, v in
                    (ln.partition(":") for ln in lines[1:]))
        want = int(hdrs.get("content-length", "0"))
        while len(rest) < min(want, 16) and time.monotonic() < end:
            k = s.recv(65536)
            if not k:
                break
            rest += k
        return lines[0], hdrs.get("content-range"), rest
    finally:
        s.close()


class RangeAmplification(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin, overrides={"node": {"workers": 2},
                                                               "cache": {"slice": {"enabled": False}}})

    def test_one_byte_ranges_of_large_objects_cost_a_window(self):
        """N "bytes=0-0" misses on distinct 16 MiB objects, each client
        leaving once it has its byte: the origin sends at most a window
        each (it sent the whole object each, 16 MiB for a byte, before)."""
        n = 20
        for i in range(n):
            path = "/amp/%d?size=%d&ranges=1&cc=max-age%%3D300" % (i, BIG)
            st, cr, body = range_then_leave(self.node.port, path, "bytes=0-0")
            self.assertEqual((st, cr), ("HTTP/1.1 206 Partial Content", "bytes 0-0/%d" % BIG))
            self.assertEqual(body[:1], b"\x00")
        time.sleep(1.0)  # whatever the origin would still send
        sent = origin_bytes(self.origin, "/amp/")
        self.assertLessEqual(sent, n * (WINDOW + 64 * 1024),
                             "%d bytes from the origin for %d one-byte ranges" % (sent, n))
        # the window asked first, then the client's own range
        recs = self.origin.requests(prefix="/amp/0")
        self.assertEqual([req_header(r, "Range") for r in recs],
                         ["bytes=0-%d" % (WINDOW - 1), "bytes=0-0"])

    def test_partial_window_is_not_stored(self):
        size = 3 * MIB
        path = "/part?size=%d&ranges=1&cc=max-age%%3D300" % size
        r = self.node.get(path, {"Range": "bytes=100-109"})
        self.assertEqual((r.status, r.header("Content-Range")), (206, "bytes 100-109/%d" % size))
        self.assertEqual(r.body, pattern_bytes(110)[100:])
        # the 206 of the window was not stored as the object
        r, n, digest = self.node.stream(path)
        self.assertEqual((r.status, r.header("X-Cache"), n), (200, "MISS", size))
        self.assertEqual(digest, harness.pattern_digest(size))
        self.assertIsNone(r.header("Content-Range"))

    def test_whole_window_is_stored_as_a_200(self):
        size = 300000
        path = "/whole?size=%d&ranges=1&cc=max-age%%3D300" % size
        s0 = self.node.metric("outpost_cache_stores_total")
        r = self.node.get(path, {"Range": "bytes=5-9"})
        self.assertEqual((r.status, r.header("Content-Range")), (206, "bytes 5-9/%d" % size))
        self.assertEqual(r.body, pattern_bytes(10)[5:])
        self.node.wait_metric("outpost_cache_stores_total", lambda v: v >= s0 + 1, timeout=10)
        r = self.node.get(path)
        self.assertEqual((r.status, r.header("X-Cache")), (200, "HIT"))
        self.assertIsNone(r.header("Content-Range"))
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), harness.pattern_digest(size))
        r = self.node.get(path, {"Range": "bytes=-4"})
        self.assertEqual((r.status, r.header("Content-Range")),
                         (206, "bytes %d-%d/%d" % (size - 4, size - 1, size)))
        self.assertEqual(self.origin.count("/whole"), 1)

    def test_origin_ignoring_range(self):
        """An origin that answers the window with its whole 200: small, it
        is stored and cut; large, the client gets what the origin gives."""
        r = self.node.get("/ign-small?size=2000&cc=max-age%3D300", {"Range": "bytes=0-1"})
        self.assertEqual((r.status, r.body), (206, pattern_bytes(2)))
        self.assertEqual(self.node.get("/ign-small?size=2000&cc=max-age%3D300")
                         .header("X-Cache"), "HIT")
        size = 3 * MIB
        r, n, digest = self.node.stream("/ign-big?size=%d&cc=max-age%%3D300" % size,
                                        {"Range": "bytes=0-1"})
        self.assertEqual((r.status, n), (200, size))
        self.assertEqual(digest, harness.pattern_digest(size))

    def test_range_past_the_window_goes_as_it_is(self):
        path = "/past?size=%d&ranges=1&cc=max-age%%3D300" % (3 * MIB)
        r = self.node.get(path, {"Range": "bytes=2097152-2097155"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, pattern_bytes(2097156)[2097152:])
        self.assertEqual([req_header(x, "Range") for x in self.origin.requests("/past")],
                         ["bytes=2097152-2097155"])


if __name__ == "__main__":
    harness.main()
