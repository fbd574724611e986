#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""An origin's coding the client does not accept (doc/compression.md): the
node decodes it for that client, stored as that client's own variant (no
Content-Encoding, a weak ETag, Vary: Accept-Encoding), while a client that
accepts the coding gets the origin's bytes; a decompression bomb is cut
with a logged error and counted, never buffered whole."""

import gzip
import subprocess
import zlib

import harness

CC = "max-age=600"


def coded(coding, data):
    if coding == "gzip":
        return gzip.compress(data, mtime=0)
    if coding == "deflate":
        return zlib.compress(data)
    tool = {"br": ["brotli", "-c"], "zstd": ["zstd", "-cq"]}[coding]
    return subprocess.run(tool, input=data, capture_output=True, check=True,
                          timeout=30).stdout


def behaviour(body, coding):
    return {"body": body.decode("latin-1"),
            "headers": [["Content-Type", "text/html"], ["Cache-Control", CC],
                        ["Content-Encoding", coding], ["ETag", '"o1"']]}


class Decode(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)

    def test_decoded_for_a_client_that_does_not_accept_the_coding(self):
        plain = b"".join(b"line %d of an origin-coded page\n" % i for i in range(2000))
        for coding in ("gzip", "br", "zstd", "deflate"):
            with self.subTest(coding=coding):
                path = "/dec/%s" % coding
                body = coded(coding, plain)
                self.origin.script({path: behaviour(body, coding)})
                before = self.node.metric("outpost_compression_decoded_total", default=0)
                for ae in (None, "identity", "gzip, br, zstd" if coding == "deflate"
                           else "deflate"):
                    headers = {} if ae is None else {"Accept-Encoding": ae}
                    r = self.node.get(path, headers=headers)
                    self.assertEqual(r.status, 200, r)
                    self.assertIsNone(r.header("Content-Encoding"), (ae, r.headers))
                    self.assertEqual(r.body, plain, ae)
                    self.assertEqual(r.header("ETag"), 'W/"o1"')
                    self.assertIn("Accept-Encoding", r.header("Vary"))
                self.assertEqual(self.node.metric("outpost_compression_decoded_total"),
                                 before + 2)  # the third is a hit on the second's variant
                r = self.node.get(path, headers={"Accept-Encoding": coding})
                self.assertEqual(r.header("Content-Encoding"), coding)
                self.assertEqual(r.body, body)
                self.assertEqual(r.header("ETag"), '"o1"')
                self.assertIn("Accept-Encoding", r.header("Vary"))
                h = self.node.get(path, headers={"Accept-Encoding": coding})
                self.assertEqual((h.header("X-Cache"), h.body), ("HIT", body))
                h = self.node.get(path)
                self.assertEqual((h.header("X-Cache"), h.body), ("HIT", plain))
                self.assertEqual(self.origin.count(path), 3)

    def test_bomb_is_cut_and_logged(self):
        """64 MiB of zeros in about 64 KiB of gzip, to a client that does
        not accept gzip: the decoder stops at its ratio limit (200 once past
        1 MiB; cache.max_object is 16 MiB), the body is cut (the client
        sees a truncated answer, or a reset), nothing is stored, an error is logged
        and counted."""
        path = "/bomb/x"
        body = gzip.compress(b"\0" * (64 << 20), compresslevel=9, mtime=0)
        self.assertLess(len(body), 128 << 10)
        self.origin.script({path: behaviour(body, "gzip")})
        before = self.node.metric("outpost_compression_errors_total", default=0)
        for _ in range(2):
            with self.node.connect() as conn:
                conn.send(("GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % path).encode())
                closed, data, _ = conn.wait_closed(10)
            self.assertTrue(closed)
            # the head went out before the body failed (the node resets the
            # connection, which may discard what the client had not read)
            self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 200 "), data[:200])
            self.assertLess(len(data), 4 << 20)
            self.assertNotIn(b"\r\n0\r\n\r\n", data[-16:])  # no last chunk: cut
        self.node.wait_metric("outpost_compression_errors_total", lambda v: v == before + 2)
        self.assertEqual(self.origin.count(path), 2)  # cut: never stored
        harness.wait_until(lambda: "expansion ratio" in self.node.log(), 5,
                           what="the bomb's log line")
        self.assertServing(self.node)


if __name__ == "__main__":
    harness.main()
