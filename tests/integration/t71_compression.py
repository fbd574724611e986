#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Compression at the edge (doc/compression.md): on a miss a compressible
answer is coded as it streams for a client that accepts a coding and stored
as its own variant (Vary: Accept-Encoding, Content-Encoding, a weak ETag, no
Content-Length on the miss); a hit on it does no coding work; HEAD and Range
are served from it; the negotiation table (RFC 9110 §12.5.3); what is never
compressed; each coding decodes byte for byte with Debian's brotli, zstd and
gzip tools; collapsed waiters get the leader's coding only when they accept
it; `compression: { enabled: false }` turns it off."""

import re
import subprocess
import threading
import time
import zlib

import harness

CC = "max-age=600"
TOOLS = {"gzip": ["gzip", "-dc"], "br": ["brotli", "-dc"], "zstd": ["zstd", "-dcq"]}


def text_body(n=24000, seed=0):
    """Compressible text of n bytes (lines of words), different per seed."""
    words = ["edge", "cache", "variant", "origin", "brotli", "zstd", "gzip", "vary",
             "stream", "client", "%d" % seed]
    out, i = [], 0
    while sum(len(x) for x in out) < n:
        out.append(" ".join(words[(i + k * 7) % len(words)] for k in range(12)) + "\n")
        i += 1
    return "".join(out)[:n]


def tool_decode(coding, data):
    cp = subprocess.run(TOOLS[coding], input=data, capture_output=True, timeout=30)
    if cp.returncode != 0:
        raise AssertionError("%s: %s" % (TOOLS[coding], cp.stderr.decode(errors="replace")))
    return cp.stdout


def acceptable(ae, coding):
    """Does Accept-Encoding value ae (None: no field) accept coding (None:
    identity)?  RFC 9110 §12.5.3; no field: identity only (the node's
    choice); members outside `token [;q=qvalue]` are skipped."""
    if ae is None or not ae.strip():
        return coding is None
    q = {}
    for m in ae.split(","):
        name, _, param = m.partition(";")
        name = name.strip().lower()
        name = "gzip" if name == "x-gzip" else name
        qv = 1.0
        if param:
            k, _, v = param.strip().partition("=")
            if k.strip().lower() != "q" or not re.fullmatch(r"(0(\.\d{0,3})?|1(\.0{0,3})?)",
                                                             v.strip()):
                continue
            qv = float(v)
        q.setdefault(name, qv)
    name = coding or "identity"
    if name in q:
        return q[name] > 0
    if "*" in q:
        return q["*"] > 0
    return name == "identity"


def behaviour(body, ctype="text/html; charset=utf-8", etag='"v1"', cc=CC, **extra):
    headers = [["Content-Type", ctype], ["Cache-Control", cc]]
    if etag is not None:
        headers.append(["ETag", etag])
    headers += extra.pop("headers", [])
    b = {"body": body, "headers": headers}
    b.update(extra)
    return b


class Base(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)

    def serve(self, path, body, **kw):
        self.origin.script({path: behaviour(body, **kw)})
        return body.encode("latin-1") if isinstance(body, str) else body

    def get(self, path, ae=None, method="GET", extra=None):
        headers = dict(extra or {})
        if ae is not None:
            headers["Accept-Encoding"] = ae
        return self.node.request(method, path, headers=headers)

    def encoded(self):
        return self.node.metric("outpost_compression_encoded_total", default=0)


class Miss(Base):
    def test_each_coding_round_trips_through_its_tool_and_hits_without_coding(self):
        for i, coding in enumerate(("zstd", "br", "gzip")):
            with self.subTest(coding=coding):
                path = "/rt/%s" % coding
                plain = self.serve(path, text_body(30000, i))
                before = self.encoded()
                r = self.get(path, coding)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("X-Cache"), "MISS")
                self.assertEqual(r.header("Content-Encoding"), coding)
                self.assertIn("accept-encoding", [t.lower() for t in r.header_tokens("Vary")])
                self.assertEqual(r.header("ETag"), 'W/"v1"')
                self.assertIsNone(r.header("Content-Length"))  # chunked on the miss
                self.assertLess(len(r.body), len(plain) // 2)
                self.assertEqual(tool_decode(coding, r.body), plain)
                self.assertEqual(self.encoded(), before + 1)
                # a hit: the stored coded variant, no coding work
                h = self.get(path, coding)
                self.assertEqual(h.header("X-Cache"), "HIT", h.headers)
                self.assertEqual(h.header("Content-Encoding"), coding)
                self.assertEqual(h.header("ETag"), 'W/"v1"')
                self.assertEqual(h.body, r.body)
                self.assertEqual(int(h.header("Content-Length")), len(r.body))
                self.assertEqual(self.encoded(), before + 1)
                self.assertEqual(self.origin.count(path), 1)

    def test_other_codings_get_their_own_variant(self):
        path = "/own/x"
        plain = self.serve(path, text_body(20000, 7))
        got = {}
        for ae in ("gzip", "br", None, "zstd"):
            r = self.get(path, ae)
            self.assertEqual(r.header("X-Cache"), "MISS", (ae, r.headers))
            got[ae] = r
        self.assertEqual(self.origin.count(path), 4)
        self.assertIsNone(got[None].header("Content-Encoding"))
        self.assertEqual(got[None].body, plain)
        self.assertEqual(got[None].header("ETag"), '"v1"')  # identity keeps its tag
        self.assertIn("Accept-Encoding", got[None].header("Vary"))
        for ae in ("gzip", "br", "zstd"):
            self.assertEqual(got[ae].header("Content-Encoding"), ae)
            self.assertEqual(tool_decode(ae, got[ae].body), plain)
            h = self.get(path, ae)
            self.assertEqual((h.header("X-Cache"), h.body), ("HIT", got[ae].body))
        h = self.get(path)
        self.assertEqual((h.header("X-Cache"), h.body), ("HIT", plain))
        self.assertEqual(self.origin.count(path), 4)

    def test_head_and_range_served_from_the_stored_variant(self):
        path = "/hr/x"
        plain = self.serve(path, text_body(20000, 3))
        full = self.get(path, "gzip")
        self.assertEqual(full.header("Content-Encoding"), "gzip")
        h = self.get(path, "gzip", method="HEAD")
        self.assertEqual(h.status, 200)
        self.assertEqual(h.header("X-Cache"), "HIT")
        self.assertEqual(h.header("Content-Encoding"), "gzip")
        self.assertEqual(int(h.header("Content-Length")), len(full.body))
        self.assertEqual(h.body, b"")
        r = self.get(path, "gzip", extra={"Range": "bytes=10-99"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(r.header("Content-Range"), "bytes 10-99/%d" % len(full.body))
        self.assertEqual(r.body, full.body[10:100])
        self.assertEqual(tool_decode("gzip", full.body), plain)
        self.assertEqual(self.origin.count(path), 1)

    def test_revalidated_by_the_origins_304_without_coding_again(self):
        """A stale coded variant (W/"r1") is revalidated: the origin's 304
        carries its own "r1", which names the representation the variant
        was coded from; the variant is refreshed and served, its tag stays
        weak, nothing is fetched or coded again."""
        path = "/reval/x"
        plain = self.serve(path, text_body(8000, 11), etag='"r1"', cc="max-age=1")
        first = self.get(path, "gzip")
        self.assertEqual(first.header("Content-Encoding"), "gzip")
        before = self.encoded()
        time.sleep(2.1)  # stale (Age counts whole seconds)
        r = self.get(path, "gzip")
        self.assertEqual(r.header("X-Cache"), "HIT", r.headers)
        self.assertIn("fwd-status=304", r.header("Cache-Status"))
        self.assertEqual(r.header("ETag"), 'W/"r1"')
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(r.body, first.body)
        self.assertEqual(tool_decode("gzip", r.body), plain)
        h = self.get(path, "gzip")
        self.assertEqual((h.header("X-Cache"), h.header("ETag")), ("HIT", 'W/"r1"'))
        self.assertEqual([x["status"] for x in self.origin.requests(path)], [200, 304])
        self.assertEqual(self.encoded(), before)

    def test_vary_merged_with_the_origins(self):
        path = "/vm/x"
        plain = self.serve(path, text_body(5000, 1), headers=[["Vary", "Accept-Language"]])
        r = self.get(path, "br", extra={"Accept-Language": "fr"})
        self.assertEqual(r.header("Content-Encoding"), "br")
        self.assertEqual([t.lower() for t in r.header_tokens("Vary")],
                         ["accept-language", "accept-encoding"])
        self.assertEqual(tool_decode("br", r.body), plain)
        h = self.get(path, "br", extra={"Accept-Language": "fr"})
        self.assertEqual(h.header("X-Cache"), "HIT")
        m = self.get(path, "br", extra={"Accept-Language": "de"})
        self.assertEqual(m.header("X-Cache"), "MISS")

    def test_compressed_as_it_streams(self):
        """The origin sends the head and 3000 bytes of a longer body, then
        resets the connection: the client already has those bytes, coded
        (the encoder flushes when the origin pauses) — no whole-body
        buffering."""
        path = "/stream/x"
        plain = text_body(20000, 5).encode()
        self.origin.script({path: behaviour(plain.decode(), abort_after=3000,
                                            chunk_size=1000, chunk_delay_ms=50)})
        with self.node.connect() as conn:
            conn.send(("GET %s HTTP/1.1\r\nHost: example.com\r\nAccept-Encoding: gzip\r\n"
                       "\r\n" % path).encode())
            data = b""
            for _ in range(1000):  # bounded: until the node closes (or 5 s idle)
                try:
                    more = conn.read_some(timeout=5)
                except OSError:
                    break
                if not more:
                    break
                data += more
        head, _, rest = data.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Encoding: gzip", head)
        self.assertIn(b"Transfer-Encoding: chunked", head)
        coded = b""
        while rest:
            line, _, rest = rest.partition(b"\r\n")
            n = int(line.split(b";")[0], 16) if line else 0
            if n == 0:
                break
            coded, rest = coded + rest[:n], rest[n + 2:]
        got = zlib.decompressobj(wbits=31).decompress(coded)
        self.assertEqual(got, plain[:3000])
        self.assertEqual(self.origin.count(path), 1)


NEGOTIATION = [
    # (Accept-Encoding or None for no field, expected Content-Encoding)
    (None, None),
    ("", None),
    ("gzip, deflate, br, zstd", "zstd"),
    ("gzip, br", "br"),
    ("gzip", "gzip"),
    ("GZIP", "gzip"),
    ("x-gzip", "gzip"),
    ("zstd;q=0, br;q=0, gzip", "gzip"),
    ("br;q=0.5, gzip;q=0.8", "gzip"),
    ("*", "zstd"),
    ("*;q=0.5, gzip", "gzip"),
    ("*, zstd;q=0", "br"),
    ("identity;q=0, gzip;q=0.5", "gzip"),
    ("identity;q=0", None),
    ("*;q=0", None),
    ("gzip;q=0.5, identity", None),
    ("compress, sdch, exi", None),
    ("gzip;q=zero", None),
]


class Negotiation(Base):
    def test_table(self):
        plain = text_body(4000, 2).encode()
        self.origin.script({"/neg/*": behaviour(plain.decode())})
        for i, (ae, want) in enumerate(NEGOTIATION):
            with self.subTest(ae=ae):
                r = self.get("/neg/%d" % i, ae)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("Content-Encoding"), want, r.headers)
                self.assertIn("Accept-Encoding", r.header("Vary"))
                self.assertEqual(plain if want is None else tool_decode(want, r.body), plain)

    def test_variants_never_serve_an_excluded_coding(self):
        """One URL: every row of the table in turn, twice; a stored variant
        answers a later client only when it accepts its coding."""
        plain = text_body(4000, 8).encode()
        self.origin.script({"/negv/x": behaviour(plain.decode())})
        for ae, want in NEGOTIATION + NEGOTIATION:
            with self.subTest(ae=ae):
                r = self.get("/negv/x", ae)
                got = r.header("Content-Encoding")
                # identity goes when nothing else is acceptable (RFC 9110
                # §12.5.3 allows it even when identity is refused)
                self.assertTrue(acceptable(ae, got) or (got is None and not any(
                    acceptable(ae, c) for c in ("zstd", "br", "gzip"))), (ae, r.headers))
                self.assertEqual(plain if got is None else tool_decode(got, r.body), plain)

    def test_never(self):
        body = text_body(4000, 4)
        cases = {
            "/never/no-transform": behaviour(body, cc="max-age=600, no-transform"),
            "/never/type": behaviour(body, ctype="image/png"),
            "/never/small": behaviour(body[:1000]),
            "/never/coded": behaviour(body, headers=[["Content-Encoding", "identity, x"]]),
            "/never/404": behaviour(body, status=404, reason="Not Found", cc="no-store"),
            "/never/204": behaviour("", status=204, reason="No Content"),
        }
        self.origin.script(cases)
        for path in cases:
            with self.subTest(path=path):
                r = self.get(path, "gzip, br, zstd")
                if path == "/never/404":  # 404 is compressible (RFC 9110 §15.5.5)
                    self.assertEqual(r.header("Content-Encoding"), "zstd")
                    continue
                self.assertNotIn(r.header("Content-Encoding"), ("gzip", "br", "zstd"))
                self.assertIsNone(r.header("Vary"), r.headers)
        r = self.get("/never/type", "gzip", extra={"Range": "bytes=0-9"})
        self.assertIsNone(r.header("Content-Encoding"))
        r = self.get("/never/range?x", "gzip", extra={"Range": "bytes=0-9"})
        self.assertIsNone(r.header("Content-Encoding"))
        r = self.get("/never/head", "gzip", method="HEAD")
        self.assertIsNone(r.header("Content-Encoding"))


class Collapse(Base):
    def test_waiters_get_the_leaders_coding_only_when_they_accept_it(self):
        path = "/col/x"
        plain = self.serve(path, text_body(20000, 9), delay_ms=600)
        results = {}

        def fetch(name, ae):
            results[name] = self.get(path, ae)

        threads = [threading.Thread(target=fetch, args=("lead", "gzip"))]
        threads[0].start()
        harness.wait_until(lambda: self.origin.count(path) >= 1, 5, what="the leader's fetch")
        for name, ae in (("same", "gzip"), ("none", None), ("br", "br")):
            threads.append(threading.Thread(target=fetch, args=(name, ae)))
            threads[-1].start()
        for t in threads:
            t.join(15)
        self.assertEqual(results["lead"].header("Content-Encoding"), "gzip")
        self.assertEqual(results["same"].header("Content-Encoding"), "gzip")
        self.assertEqual(results["same"].body, results["lead"].body)
        self.assertIsNone(results["none"].header("Content-Encoding"))
        self.assertEqual(results["none"].body, plain)
        self.assertEqual(results["br"].header("Content-Encoding"), "br")
        self.assertEqual(tool_decode("br", results["br"].body), plain)
        self.assertEqual(tool_decode("gzip", results["lead"].body), plain)
        # the leader and its same-coding waiter shared one origin request
        self.assertEqual(self.origin.count(path), 3)


class Disabled(harness.OutpostTestCase):
    def test_off_per_site_and_per_route(self):
        def mutate(cfg):
            site = cfg["sites"][0]
            site["compression"] = {"enabled": False}
            harness.add_route(cfg, {"path": "/on/", "pool": "web",
                                    "compression": {"enabled": True, "prefer": ["gzip"],
                                                    "levels": {"gzip": 9},
                                                    "types": ["text/html"],
                                                    "min_size": "2KiB"}})
        origin = self.start_origin()
        node = self.start_outpost(origin, mutate=mutate)
        body = text_body(4000, 6)
        origin.script({"/off/x": behaviour(body), "/on/x": behaviour(body),
                       "/on/small": behaviour(body[:1500]),
                       "/on/css": behaviour(body, ctype="text/css")})
        r = node.get("/off/x", headers={"Accept-Encoding": "gzip, br, zstd"})
        self.assertIsNone(r.header("Content-Encoding"))
        self.assertIsNone(r.header("Vary"))
        r = node.get("/on/x", headers={"Accept-Encoding": "gzip, br, zstd"})
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(tool_decode("gzip", r.body), body.encode())
        for p in ("/on/small", "/on/css"):
            r = node.get(p, headers={"Accept-Encoding": "gzip, br, zstd"})
            self.assertIsNone(r.header("Content-Encoding"), p)


if __name__ == "__main__":
    harness.main()
