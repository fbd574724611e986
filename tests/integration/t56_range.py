#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Byte ranges (RFC 9110 §14): 206 / multipart / 416 from stored objects,
If-Range, invalid Range ignored, HEAD, a range miss that fills the cache
while the client gets only its range, and the pass-through of ranges on
objects over cache.range_fill_max."""

import hashlib
import re
import time

import harness
from harness import pattern_bytes, req_header

SIZE = 1000
BODY = pattern_bytes(SIZE)
LM = "Sun, 06 Nov 1994 08:49:37 GMT"


def parse_multipart(r):
    """[(headers dict lower-cased, data)] of a multipart/byteranges response."""
    ct = r.header("Content-Type") or ""
    m = re.fullmatch(r"multipart/byteranges; boundary=([0-9A-Za-z'()+_,./:=?-]+)", ct)
    if m is None:
        raise AssertionError("not multipart/byteranges: %r" % ct)
    delim = b"\r\n--" + m.group(1).encode()
    body = r.body
    if not body.startswith(delim) and body.startswith(delim[2:]):
        body = b"\r\n" + body
    pieces = body.split(delim)
    if pieces[0] != b"" or not pieces[-1].startswith(b"--"):
        raise AssertionError("bad multipart framing: %r" % r.body[:200])
    parts = []
    for p in pieces[1:-1]:
        if not p.startswith(b"\r\n"):
            raise AssertionError("no CRLF after the delimiter: %r" % p[:80])
        head, sep, data = p[2:].partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError("part without a blank line: %r" % p[:200])
        hdrs = {}
        for line in head.split(b"\r\n"):
            k, _, v = line.decode("latin-1").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        parts.append((hdrs, data))
    return parts


class RangeCase(harness.OutpostTestCase):
    def range_miss(self, url, rng, **headers):
        """GET url with Range rng on a miss; waits until the fill it starts
        is stored (the client's answer may be complete well before)."""
        s0 = self.node.metric("outpost_cache_stores_total")
        headers["Range"] = rng
        r = self.node.get(url, headers)
        self.node.wait_metric("outpost_cache_stores_total", lambda v: v >= s0 + 1, timeout=10)
        return r


class Ranges(RangeCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        # the window mode: cache.slice off (t56_slices.py has slices)
        cls.node = self.class_outpost(cls.origin, overrides={"cache": {"slice": {"enabled": False}}})

    def stored(self, path, extra=""):
        """A cacheable 1000-byte pattern object at path, filled by a plain GET."""
        url = "%s?size=%d&cc=max-age%%3D300%s" % (path, SIZE, extra)
        r = self.node.get(url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, BODY)
        return url

    def assertPartial(self, r, first, last, cache="HIT", length=SIZE, body=BODY):
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" % (first, last, length))
        self.assertEqual(r.header("Content-Length"), str(last + 1 - first))
        self.assertEqual(r.body, body[first:last + 1])
        self.assertEqual(r.header("X-Cache"), cache, r.headers)

    def assertWhole(self, r, cache="HIT"):
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("Content-Range"))
        self.assertEqual(r.body, BODY)
        self.assertEqual(r.header("X-Cache"), cache, r.headers)

    # -- from stored objects -----------------------------------------------
    def test_single_range_hit(self):
        url = self.stored("/s/single")
        r = self.node.get(url, {"Range": "bytes=10-19"})
        self.assertPartial(r, 10, 19)
        self.assertEqual(r.header("Accept-Ranges"), "bytes")
        self.assertEqual(r.header("Content-Type"), "application/octet-stream")
        self.assertIsNotNone(r.header("Age"))
        self.assertEqual(self.origin.count("/s/single"), 1)

    def test_stored_content_range_not_repeated(self):
        """A 200 that carried a Content-Range of its own: a 206 has only ours."""
        url = self.stored("/s/own-cr", "&h=Content-Range:%20bytes%200-999/1000")
        r = self.node.get(url, {"Range": "bytes=1-2"})
        self.assertPartial(r, 1, 2)
        self.assertEqual(r.header_all("Content-Range"), ["bytes 1-2/1000"])

    def test_whole_hit_says_accept_ranges(self):
        url = self.stored("/s/accept")
        r = self.node.get(url)
        self.assertWhole(r)
        self.assertEqual(r.header_all("Accept-Ranges"), ["bytes"])

    def test_suffix_and_open_ended(self):
        url = self.stored("/s/suffix")
        self.assertPartial(self.node.get(url, {"Range": "bytes=-7"}), 993, 999)
        self.assertPartial(self.node.get(url, {"Range": "bytes=990-"}), 990, 999)
        self.assertPartial(self.node.get(url, {"Range": "bytes=-5000"}), 0, 999)
        self.assertPartial(self.node.get(url, {"Range": "bytes=995-100000"}), 995, 999)
        self.assertPartial(self.node.get(url, {"Range": "BYTES=0-0"}), 0, 0)

    def test_multiple_ranges(self):
        url = self.stored("/s/multi")
        r = self.node.get(url, {"Range": "bytes=0-4, 100-109,,990-"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertIsNone(r.header("Content-Range"))
        self.assertEqual(int(r.header("Content-Length")), len(r.body))
        parts = parse_multipart(r)
        want = [(0, 4), (100, 109), (990, 999)]
        self.assertEqual(len(parts), len(want))
        for (h, data), (a, z) in zip(parts, want):
            self.assertEqual(h.get("content-type"), "application/octet-stream")
            self.assertEqual(h.get("content-range"), "bytes %d-%d/%d" % (a, z, SIZE))
            self.assertEqual(data, BODY[a:z + 1])
        # a fresh boundary per response
        r2 = self.node.get(url, {"Range": "bytes=0-4, 100-109,,990-"})
        self.assertNotEqual(r.header("Content-Type"), r2.header("Content-Type"))
        # the order asked for is kept when nothing overlaps
        parts = parse_multipart(self.node.get(url, {"Range": "bytes=500-501,0-1"}))
        self.assertEqual([p[1] for p in parts], [BODY[500:502], BODY[0:2]])

    def test_overlapping_ranges_coalesce(self):
        url = self.stored("/s/overlap")
        self.assertPartial(self.node.get(url, {"Range": "bytes=0-9,5-14"}), 0, 14)
        self.assertPartial(self.node.get(url, {"Range": "bytes=20-29,0-9,10-19"}), 0, 29)

    def test_unsatisfiable(self):
        url = self.stored("/s/416")
        for rng in ("bytes=1000-", "bytes=5000-6000", "bytes=-0", "bytes=1000-,2000-"):
            r = self.node.get(url, {"Range": rng})
            self.assertEqual(r.status, 416, (rng, r))
            self.assertEqual(r.header("Content-Range"), "bytes */1000")
            self.assertLess(len(r.body), 100)
            self.assertEqual(r.header("X-Cache"), "HIT")
        # unsatisfiable parts of a list are dropped
        self.assertPartial(self.node.get(url, {"Range": "bytes=2000-,0-1"}), 0, 1)
        self.assertWhole(self.node.get(url))

    def test_invalid_range_is_ignored(self):
        url = self.stored("/s/invalid")
        for rng in ("bytes=5-1", "items=0-1", "bytes 0-1", "bytes=0-1;x", "bytes=a-b",
                    "bytes=", "bytes= ,", "bytes=0-1,x", "bytes=0 -1", "x" * 4000,
                    ",".join("%d-%d" % (i, i) for i in range(0, 40, 2)).join(
                        ("bytes=", ""))):
            self.assertWhole(self.node.get(url, {"Range": rng}))
        # two Range fields: ignored too
        r = self.node.raw(("GET %s HTTP/1.1\r\nHost: example.com\r\nRange: bytes=0-1\r\n"
                           "Range: bytes=2-3\r\nConnection: close\r\n\r\n" % url).encode())
        self.assertWhole(r.first())
        self.assertServing(self.node)

    def test_head_ignores_range(self):
        url = self.stored("/s/head")
        r = self.node.head(url, {"Range": "bytes=0-9"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Length"), str(SIZE))
        self.assertIsNone(r.header("Content-Range"))
        self.assertEqual(r.body, b"")

    def test_if_range_etag(self):
        url = self.stored("/s/ifr-etag", "&h=ETag:%20%22v1%22")
        self.assertPartial(self.node.get(url, {"Range": "bytes=0-9", "If-Range": '"v1"'}), 0, 9)
        for ir in ('"v2"', 'W/"v1"', "garbage", '"v1'):
            self.assertWhole(self.node.get(url, {"Range": "bytes=0-9", "If-Range": ir}))
        # If-Range without Range: ignored
        self.assertWhole(self.node.get(url, {"If-Range": '"v2"'}))

    def test_if_range_weak_etag_never_matches(self):
        url = self.stored("/s/ifr-weak", "&h=ETag:%20W/%22v1%22")
        self.assertWhole(self.node.get(url, {"Range": "bytes=0-9", "If-Range": 'W/"v1"'}))
        self.assertWhole(self.node.get(url, {"Range": "bytes=0-9", "If-Range": '"v1"'}))

    def test_if_range_date(self):
        url = self.stored("/s/ifr-date", "&h=Last-Modified:%20" + LM.replace(" ", "%20"))
        self.assertPartial(self.node.get(url, {"Range": "bytes=5-9", "If-Range": LM}), 5, 9)
        self.assertWhole(self.node.get(url, {"Range": "bytes=5-9",
                                             "If-Range": "Sun, 06 Nov 1994 08:49:38 GMT"}))

    def test_preconditions_before_range(self):
        url = self.stored("/s/precond", "&h=ETag:%20%22p1%22")
        r = self.node.get(url, {"Range": "bytes=0-9", "If-None-Match": '"p1"'})
        self.assertEqual(r.status, 304, r)
        r = self.node.get(url, {"Range": "bytes=0-9", "If-Match": '"other"'})
        self.assertEqual(r.status, 412, r)
        r = self.node.get(url, {"Range": "bytes=0-9", "If-Match": '"p1"'})
        self.assertPartial(r, 0, 9)

    def test_keep_alive_after_ranges(self):
        url = self.stored("/s/ka")
        def req(rng):
            return "GET %s HTTP/1.1\r\nHost: example.com\r\nRange: %s\r\n\r\n" % (url, rng)
        with self.node.connect() as conn:
            conn.send((req("bytes=0-1") + req("bytes=5000-") + req("bytes=0-0,9-9")).encode())
            r1 = conn.read_response()
            r2 = conn.read_response()
            r3 = conn.read_response()
        self.assertPartial(r1, 0, 1)
        self.assertEqual(r2.status, 416)
        self.assertEqual(len(parse_multipart(r3)), 2)

    # -- stale objects -----------------------------------------------------
    def test_stale_revalidated_then_range(self):
        """A stale object revalidated with a 304 answers the Range; the
        conditional request carries no Range."""
        path = "/st/reval"
        self.origin.script({path: {"cc": "max-age=1", "size": SIZE,
                                   "headers": {"ETag": '"s1"'}}})
        self.assertWhole(self.node.get(path), cache="MISS")
        time.sleep(2.1)
        r = self.node.get(path, {"Range": "bytes=10-19"})
        self.assertPartial(r, 10, 19)
        self.assertIn("fwd-status=304", r.header("Cache-Status"))
        recs = self.origin.requests(path)
        self.assertEqual([x["status"] for x in recs], [200, 304])
        self.assertEqual(req_header(recs[1], "If-None-Match"), '"s1"')
        self.assertIsNone(req_header(recs[1], "Range"))

    def test_stale_while_revalidate_range(self):
        path = "/st/swr"
        self.origin.script({path: {"cc": "max-age=1, stale-while-revalidate=60",
                                   "size": SIZE}})
        self.assertWhole(self.node.get(path), cache="MISS")
        time.sleep(2.1)
        r = self.node.get(path, {"Range": "bytes=-3"})
        self.assertPartial(r, 997, 999)
        self.assertIn("detail=stale-while-revalidate", r.header("Cache-Status"))

    # -- on a miss ---------------------------------------------------------
    def test_range_miss_fills_cache(self):
        url = "/m/fill?size=%d&cc=max-age%%3D300" % SIZE
        r = self.range_miss(url, "bytes=100-199")
        self.assertPartial(r, 100, 199, cache="MISS")
        recs = self.origin.requests("/m/fill")
        self.assertEqual(len(recs), 1)
        # the window the cache may fill from, not the client's Range
        self.assertEqual(req_header(recs[0], "Range"), "bytes=0-1048575")
        # the whole object was stored
        self.assertWhole(self.node.get(url))
        self.assertPartial(self.node.get(url, {"Range": "bytes=-10"}), 990, 999)
        self.assertEqual(self.origin.count("/m/fill"), 1)

    def test_range_miss_streams_and_fill_outlives_client(self):
        """The range goes out as its bytes arrive, long before the whole body
        has; the client closing once it has them does not stop the fill."""
        size = 200000
        url = "/m/slow?size=%d&cc=max-age%%3D300&chunk_size=20000&chunk_delay_ms=300" % size
        s0 = self.node.metric("outpost_cache_stores_total")
        t0 = time.monotonic()
        r = self.node.get(url, {"Range": "bytes=0-99"})
        elapsed = time.monotonic() - t0
        self.assertPartial(r, 0, 99, cache="MISS", length=size, body=pattern_bytes(100))
        self.assertLess(elapsed, 1.5, "the range waited for the whole body (~2.7 s)")
        self.node.wait_metric("outpost_cache_stores_total", lambda v: v >= s0 + 1, timeout=10)
        r = self.node.get(url)
        self.assertEqual((r.status, r.header("X-Cache"), len(r.body)), (200, "HIT", size))
        self.assertEqual(self.origin.count("/m/slow"), 1)

    def test_range_miss_if_range(self):
        url = "/m/ifr?size=%d&cc=max-age%%3D300&h=ETag:%%20%%22m1%%22" % SIZE
        r = self.node.get(url, {"Range": "bytes=0-9", "If-Range": '"other"'})
        self.assertWhole(r, cache="MISS")
        self.assertIsNone(req_header(self.origin.requests("/m/ifr")[0], "If-Range"))
        url2 = url.replace("/m/ifr", "/m/ifr2")
        self.assertPartial(self.node.get(url2, {"Range": "bytes=0-9", "If-Range": '"m1"'}),
                           0, 9, cache="MISS")

    def test_range_miss_multipart(self):
        url = "/m/multi?size=%d&cc=max-age%%3D300&chunk_size=64" % SIZE
        r = self.node.get(url, {"Range": "bytes=10-19,500-,-1"})
        # -1 overlaps 500-: coalesced, sorted
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("X-Cache"), "MISS")
        self.assertEqual(int(r.header("Content-Length")), len(r.body))
        parts = parse_multipart(r)
        self.assertEqual([(h["content-range"], d) for h, d in parts],
                         [("bytes 10-19/1000", BODY[10:20]), ("bytes 500-999/1000", BODY[500:])])
        for h, _ in parts:
            self.assertEqual(h.get("content-type"), "application/octet-stream")
        # not in ascending order: the whole 200 on a miss
        url2 = url.replace("/m/multi", "/m/multi2")
        self.assertWhole(self.node.get(url2, {"Range": "bytes=500-509,0-9"}), cache="MISS")

    def test_range_miss_unsatisfiable_still_fills(self):
        url = "/m/416?size=%d&cc=max-age%%3D300" % SIZE
        r = self.range_miss(url, "bytes=4000-")
        self.assertEqual(r.status, 416, r)
        self.assertEqual(r.header("Content-Range"), "bytes */1000")
        self.assertEqual(r.header("X-Cache"), "MISS")
        self.assertWhole(self.node.get(url))
        self.assertEqual(self.origin.count("/m/416"), 1)

    def test_range_miss_chunked_gets_whole(self):
        url = "/m/chunked?size=%d&cc=max-age%%3D300&chunked=1" % SIZE
        self.assertWhole(self.node.get(url, {"Range": "bytes=0-9"}), cache="MISS")
        self.assertPartial(self.node.get(url, {"Range": "bytes=0-9"}), 0, 9)

    def test_origin_206_is_relayed_not_stored(self):
        url = ("/m/o206?status=206&cc=max-age%3D300&body=01234"
               "&h=Content-Range:%20bytes%204-8/10")
        for _ in range(2):
            r = self.node.get(url, {"Range": "bytes=-5"})
            self.assertEqual(r.status, 206, r)
            self.assertEqual(r.header("Content-Range"), "bytes 4-8/10")
            self.assertEqual(r.body, b"01234")
        self.assertEqual(self.origin.count("/m/o206"), 2)

    def test_unstorable_answer_passes_range(self):
        """A 200 that may not be stored is dropped and asked again with the
        Range; the origin's 206 is relayed."""
        url = "/m/private?size=%d&cc=private&ranges=1" % SIZE
        p0 = self.node.metric("outpost_cache_range_passes_total")
        r = self.node.get(url, {"Range": "bytes=3-5"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("Content-Range"), "bytes 3-5/1000")
        self.assertEqual(r.body, BODY[3:6])
        recs = self.origin.requests("/m/private")
        self.assertEqual([req_header(x, "Range") for x in recs],
                         ["bytes=0-1048575", "bytes=3-5"])
        self.node.wait_metric("outpost_cache_range_passes_total", lambda v: v == p0 + 1)

    def test_uncached_route_passes_range(self):
        url = "/nocache/p?size=%d&ranges=1" % SIZE
        r = self.node.get(url, {"Range": "bytes=3-5"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.body, BODY[3:6])
        self.assertEqual(req_header(self.origin.requests("/nocache/p")[0], "Range"), "bytes=3-5")

    def test_one_mib_checksums(self):
        size = 1 << 20
        url = "/m/big?size=%d&cc=max-age%%3D300" % size
        first, last = 1000, 600000
        r = self.range_miss(url, "bytes=%d-%d" % (first, last))
        self.assertEqual(r.status, 206, r.status)
        self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" % (first, last, size))
        want = pattern_bytes(size)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(),
                         hashlib.sha256(want[first:last + 1]).hexdigest())
        # from the stored object: whole, a suffix, several ranges
        r = self.node.get(url)
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), harness.pattern_digest(size))
        r = self.node.get(url, {"Range": "bytes=-300000"})
        self.assertEqual(hashlib.sha256(r.body).hexdigest(),
                         hashlib.sha256(want[size - 300000:]).hexdigest())
        parts = parse_multipart(self.node.get(url, {"Range": "bytes=0-99999,524288-"}))
        self.assertEqual(parts[0][1], want[:100000])
        self.assertEqual(hashlib.sha256(parts[1][1]).hexdigest(),
                         hashlib.sha256(want[524288:]).hexdigest())
        self.assertEqual(self.origin.count("/m/big"), 1)


class RangePassThrough(RangeCase):
    """Objects over cache.range_fill_max: the Range goes to the origin."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin,
                                      overrides={"cache": {"range_fill_max": "4KiB",
                                                           "slice": {"enabled": False}}})

    def test_large_object_range_passes_through(self):
        size = 100000
        url = "/big?size=%d&cc=max-age%%3D300&ranges=1" % size
        r = self.node.get(url, {"Range": "bytes=10-19"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("Content-Range"), "bytes 10-19/%d" % size)
        self.assertEqual(r.body, pattern_bytes(30)[10:20])
        recs = self.origin.requests("/big")
        self.assertEqual([req_header(x, "Range") for x in recs], ["bytes=0-4095", "bytes=10-19"])
        self.node.wait_metric("outpost_cache_range_passes_total", lambda v: v == 1)
        # the 206 is kept as a part of the object (t56_partial.py): the same
        # range again is a hit, the whole object is not
        self.node.wait_metric("outpost_partial_stores_total", lambda v: v >= 1)
        r = self.node.get(url, {"Range": "bytes=10-19"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count("/big"), 2)
        r = self.node.get(url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.body), size)

    def test_origin_416_relayed(self):
        url = "/big416?size=100000&cc=max-age%3D300&ranges=1"
        r = self.node.get(url, {"Range": "bytes=200000-"})
        self.assertEqual(r.status, 416, r)
        self.assertEqual(r.header("Content-Range"), "bytes */100000")

    def test_small_object_still_fills(self):
        url = "/small?size=1000&cc=max-age%3D300&ranges=1"
        r = self.range_miss(url, "bytes=0-9")
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.body, BODY[:10])
        self.assertEqual(self.origin.count("/small"), 1)
        self.assertEqual(req_header(self.origin.requests("/small")[0], "Range"), "bytes=0-4095")
        self.assertEqual(self.node.get(url).header("X-Cache"), "HIT")


if __name__ == "__main__":
    harness.main()
