#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Stored parts (RFC 9111 §3.3, §3.4): a 206 the origin gives to a Range the
node forwarded is stored as a part of the representation; later ranges
within it (single, multiple, suffix, open-ended, past the end) are answered
from it; a later part with the same strong validator combines with it, and
a combination that covers the object is stored as the whole 200; a whole
GET after a first part asks the origin for the rest only; a part of
another representation replaces it; malformed 206s are never stored; purges
and unsafe methods reach parts."""

import hashlib
import json
import threading
import shutil
import tempfile

import harness
from harness import pattern_bytes, req_header

SIZE = 100000
BODY = pattern_bytes(SIZE)
CC = "cc=max-age%3D600"
TOKEN = "owner-secret-token"


class PartCase(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.dir = tempfile.mkdtemp(prefix="outpost-part-")
        cls.origin = self.class_origin()
        # the window mode with a window smaller than the objects: the
        # client's Range goes to the origin, and its 206 is a part
        cls.node = self.class_outpost(cls.origin, overrides={
            "cache": {"range_fill_max": "4KiB", "slice": {"enabled": False}},
            "purge": {"client_listeners": ["127.0.0.1/32"],
                      "tokens": [{"id": "t", "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                                  "hosts": ["example.com"]}]}})

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.dir, True)

    def url(self, name, extra="&h=ETag:%20%22p1%22"):
        return "/p/%s?size=%d&%s&ranges=1%s" % (name, SIZE, CC, extra)

    def get_part(self, url, rng, **headers):
        """A Range request that goes to the origin; waits until its part is
        stored (the client's answer may be complete before)."""
        s0 = self.node.metric("outpost_partial_stores_total", default=0)
        headers["Range"] = rng
        r = self.node.get(url, headers)
        self.node.wait_metric("outpost_partial_stores_total", lambda v: v >= s0 + 1, timeout=10)
        return r

    def assertRange(self, r, first, last, xcache):
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" % (first, last, SIZE))
        self.assertEqual(r.body, BODY[first:last + 1])
        self.assertEqual(r.header("X-Cache"), xcache, r)

    def origin_ranges(self, path):
        return [req_header(x, "Range") for x in self.origin.requests(path)]


class Parts(PartCase):
    def test_part_reused_for_ranges_within_it(self):
        url = self.url("within")
        r = self.get_part(url, "bytes=20000-29999")
        self.assertRange(r, 20000, 29999, "MISS")
        # past the window (cache.range_fill_max): the client's Range at once
        self.assertEqual(self.origin_ranges("/p/within"), ["bytes=20000-29999"])
        for first, last in ((20000, 29999), (21000, 21999), (29999, 29999)):
            self.assertRange(self.node.get(url, {"Range": "bytes=%d-%d" % (first, last)}),
                             first, last, "HIT")
        # several ranges within it: multipart/byteranges from the part
        r = self.node.get(url, {"Range": "bytes=20000-20009,25000-25009"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertTrue(r.header("Content-Type").startswith("multipart/byteranges"))
        for first in (20000, 25000):
            head = ("Content-Range: bytes %d-%d/%d\r\n\r\n" % (first, first + 9, SIZE)).encode()
            at = r.body.find(head)
            self.assertGreater(at, 0)
            self.assertEqual(r.body[at + len(head):at + len(head) + 10], BODY[first:first + 10])
        self.assertEqual(self.origin.count("/p/within"), 1)
        self.assertEqual(self.node.metric("outpost_partial_hits_total") >= 4, True)
        # bytes outside it go to the origin; the whole object too
        r = self.node.get(url, {"Range": "bytes=19999-20010"})
        self.assertEqual(r.header("X-Cache"), "MISS")
        self.assertEqual(r.body, BODY[19999:20011])
        r = self.node.get(url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, BODY)

    def test_suffix_open_ended_and_unsatisfiable(self):
        url = self.url("tail")
        r = self.get_part(url, "bytes=90000-")
        self.assertRange(r, 90000, SIZE - 1, "MISS")
        self.assertRange(self.node.get(url, {"Range": "bytes=-5"}), SIZE - 5, SIZE - 1, "HIT")
        self.assertRange(self.node.get(url, {"Range": "bytes=95000-"}), 95000, SIZE - 1, "HIT")
        self.assertRange(self.node.get(url, {"Range": "bytes=99990-200000"}),
                         99990, SIZE - 1, "HIT")
        # the part knows the length: past the end is 416, from the node
        r = self.node.get(url, {"Range": "bytes=100000-"})
        self.assertEqual(r.status, 416, r)
        self.assertEqual(r.header("Content-Range"), "bytes */%d" % SIZE)
        self.assertEqual(self.origin.count("/p/tail"), 1)

    def test_if_range_against_the_part(self):
        url = self.url("ifr")
        self.get_part(url, "bytes=1000-1999")
        r = self.node.get(url, {"Range": "bytes=1000-1099", "If-Range": '"p1"'})
        self.assertRange(r, 1000, 1099, "HIT")
        # another validator: the client wants the whole object, which the
        # part cannot give
        r = self.node.get(url, {"Range": "bytes=1000-1099", "If-Range": '"other"'})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, BODY)
        # preconditions apply to the representation the part belongs to
        r = self.node.get(url, {"Range": "bytes=1000-1099", "If-None-Match": '"p1"'})
        self.assertEqual(r.status, 304, r)
        r = self.node.get(url, {"Range": "bytes=1000-1099", "If-Match": '"zz"'})
        self.assertEqual(r.status, 412, r)

    def test_parts_combine_and_complete(self):
        url = self.url("combine")
        self.get_part(url, "bytes=10000-19999")
        # touching the stored part: combined
        c0 = self.node.metric("outpost_partial_combines_total", default=0)
        r = self.get_part(url, "bytes=20000-39999")
        self.assertRange(r, 20000, 39999, "MISS")
        self.assertEqual(self.node.metric("outpost_partial_combines_total"), c0 + 1)
        self.assertRange(self.node.get(url, {"Range": "bytes=15000-25000"}), 15000, 25000, "HIT")
        # overlapping on both sides, and then the rest: the whole object
        self.get_part(url, "bytes=0-12000")
        self.assertRange(self.node.get(url, {"Range": "bytes=0-39999"}), 0, 39999, "HIT")
        n = self.origin.count("/p/combine")
        self.get_part(url, "bytes=39000-")
        self.assertEqual(self.origin_ranges("/p/combine")[-1], "bytes=39000-")
        self.assertEqual(self.node.metric("outpost_partial_combines_total"), c0 + 3)
        r = self.node.get(url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertIsNone(r.header("Content-Range"))
        self.assertEqual(int(r.header("Content-Length")), SIZE)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), hashlib.sha256(BODY).hexdigest())
        self.assertRange(self.node.get(url, {"Range": "bytes=50000-50099"}), 50000, 50099, "HIT")
        self.assertLessEqual(self.origin.count("/p/combine"), n + 2)  # the window, the part

    def test_no_strong_validator_no_combination(self):
        # a weak ETag: parts replace each other
        url = self.url("weak", extra="&h=ETag:%20W/%22w%22")
        self.get_part(url, "bytes=0-9999")
        c0 = self.node.metric("outpost_partial_combines_total", default=0)
        self.get_part(url, "bytes=10000-19999")
        self.assertEqual(self.node.metric("outpost_partial_combines_total"), c0)
        self.assertRange(self.node.get(url, {"Range": "bytes=10000-10009"}), 10000, 10009, "HIT")
        self.assertEqual(self.node.get(url, {"Range": "bytes=0-9"}).header("X-Cache"), "MISS")
        # no validator at all: stored, reused, never combined
        url = self.url("none", extra="")
        self.get_part(url, "bytes=500-999")
        self.assertRange(self.node.get(url, {"Range": "bytes=600-699"}), 600, 699, "HIT")

    def test_changed_representation_replaces(self):
        path = "/p/changed"
        url = path + "?size=%d&%s&ranges=1" % (SIZE, CC)
        self.origin.script({path: {"seq": [
            {"headers": {"ETag": '"v1"'}}, {"headers": {"ETag": '"v1"'}},
            {"headers": {"ETag": '"v2"'}, "seed": 7}, {"headers": {"ETag": '"v2"'}, "seed": 7}]}})
        self.get_part(url, "bytes=0-9999")
        c0 = self.node.metric("outpost_partial_combines_total", default=0)
        r = self.get_part(url, "bytes=10000-19999")
        self.assertEqual(r.header("ETag"), '"v2"')
        self.assertEqual(self.node.metric("outpost_partial_combines_total"), c0)
        # the newer part answers; the older bytes are gone with their set
        r = self.node.get(url, {"Range": "bytes=10000-10009"})
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(r.header("ETag"), '"v2"')
        self.assertEqual(self.node.get(url, {"Range": "bytes=0-9"}).header("X-Cache"), "MISS")

    def test_whole_get_completes_a_first_part(self):
        url = self.url("complete")
        self.get_part(url, "bytes=0-29999")
        s0 = self.node.metric("outpost_partial_stores_total", default=0)
        c0 = self.node.metric("outpost_partial_completions_total", default=0)
        r = self.node.get(url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Cache"), "MISS")
        self.assertIsNone(r.header("Content-Range"))
        self.assertEqual(int(r.header("Content-Length")), SIZE)
        self.assertEqual(r.header("ETag"), '"p1"')
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), hashlib.sha256(BODY).hexdigest())
        last = self.origin.requests("/p/complete")[-1]
        self.assertEqual(req_header(last, "Range"), "bytes=30000-99999")
        self.assertEqual(req_header(last, "If-Range"), '"p1"')
        self.assertEqual(self.node.metric("outpost_partial_completions_total"), c0 + 1)
        # the whole object is stored
        self.assertEqual(self.node.metric("outpost_partial_stores_total"), s0)
        harness.wait_until(lambda: self.node.get(url).header("X-Cache") == "HIT", 10,
                           what="the whole object stored")
        n = self.origin.count("/p/complete")
        r = self.node.get(url)
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(r.body, BODY)
        self.assertEqual(self.origin.count("/p/complete"), n)

    def test_concurrent_whole_gets_collapse_on_one_completion(self):
        url = self.url("completemany", extra="&h=ETag:%20%22p1%22&delay_ms=300")
        self.get_part(url, "bytes=0-49999")
        n = self.origin.count("/p/completemany")
        results = []

        def client():
            r = self.node.get(url, timeout=20)
            results.append((r.status, hashlib.sha256(r.body).hexdigest()))

        ts = [threading.Thread(target=client) for _ in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        self.assertEqual(results, [(200, hashlib.sha256(BODY).hexdigest())] * 6)
        # one origin request, for the rest only
        self.assertEqual(self.origin.count("/p/completemany"), n + 1)
        self.assertEqual(req_header(self.origin.requests("/p/completemany")[-1], "Range"),
                         "bytes=50000-99999")

    def test_completion_of_a_changed_object_is_the_new_one(self):
        path = "/p/completechanged"
        url = path + "?size=%d&%s&ranges=1" % (SIZE, CC)
        self.origin.script({path: {"seq": [
            {"headers": {"ETag": '"v1"'}}, {"headers": {"ETag": '"v1"'}},
            {"headers": {"ETag": '"v2"'}, "seed": 5}]}})
        self.get_part(url, "bytes=0-9999")
        # If-Range "v1" fails at the origin: its 200 is the answer
        r = self.node.get(url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("ETag"), '"v2"')
        self.assertEqual(len(r.body), SIZE)
        self.assertNotEqual(r.body[:100], BODY[:100])
        last = self.origin.requests(path)[-1]
        self.assertEqual(req_header(last, "If-Range"), '"v1"')

    def test_no_completion_without_a_strong_validator(self):
        url = self.url("weakdone", extra="&h=ETag:%20W/%22w%22")
        self.get_part(url, "bytes=0-9999")
        r = self.node.get(url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, BODY)
        self.assertIsNone(req_header(self.origin.requests("/p/weakdone")[-1], "Range"))

    def test_purge_and_unsafe_method_reach_the_part(self):
        url = self.url("purged")
        self.get_part(url, "bytes=100-199")
        self.assertEqual(self.node.get(url, {"Range": "bytes=100-109"}).header("X-Cache"), "HIT")
        r = harness.purge_raw(self.node.port, url, TOKEN)
        self.assertEqual(r.status, 200, r)
        self.assertIn("purged", json.loads(r.body))
        self.assertEqual(self.node.get(url, {"Range": "bytes=100-109"}).header("X-Cache"), "MISS")
        url = self.url("posted")
        self.get_part(url, "bytes=100-199")
        self.assertEqual(self.node.get(url, {"Range": "bytes=100-109"}).header("X-Cache"), "HIT")
        r = self.node.request("POST", url, body=b"x")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.node.get(url, {"Range": "bytes=100-109"}).header("X-Cache"), "MISS")


class BadParts(PartCase):
    """206s that do not frame their range are relayed, never stored."""

    def bad(self, name, headers, body, rng="bytes=0-4"):
        path = "/bad/" + name
        self.origin.script({path: {"status": 206, "reason": "Partial Content",
                                   "headers": list(headers) + [["Cache-Control", "max-age=600"],
                                                               ["ETag", '"b"']],
                                   "body": body}})
        s0 = self.node.metric("outpost_partial_stores_total", default=0)
        for _ in range(2):
            r = self.node.get(path, {"Range": rng})
            self.assertIn(r.status, (206, 502), r)
            self.assertEqual(r.header("X-Cache") or "MISS", "MISS")
        self.assertEqual(self.node.metric("outpost_partial_stores_total", default=0), s0)
        self.assertEqual(self.node.get("/ok").status, 200)

    def test_length_disagrees_with_content_range(self):
        self.bad("short", [["Content-Range", "bytes 4-9/10"]], "01234")

    def test_unknown_length(self):
        self.bad("star", [["Content-Range", "bytes 0-4/*"]], "01234")

    def test_two_content_ranges(self):
        self.bad("two", [["Content-Range", "bytes 0-4/10"], ["Content-Range", "bytes 5-9/10"]],
                 "01234")

    def test_other_unit_and_garbage(self):
        self.bad("unit", [["Content-Range", "items 0-4/10"]], "01234")
        self.bad("junk", [["Content-Range", "bytes 5-4/10"]], "01234")

    def test_vary(self):
        self.bad("vary", [["Content-Range", "bytes 0-4/10"], ["Vary", "Accept"]], "01234")

    def test_no_store(self):
        path = "/bad/nostore"
        self.origin.script({path: {"status": 206, "reason": "Partial Content",
                                   "headers": {"Content-Range": "bytes 0-4/10",
                                               "Cache-Control": "no-store"},
                                   "body": "01234"}})
        self.node.get(path, {"Range": "bytes=0-4"})
        self.assertEqual(self.node.get(path, {"Range": "bytes=0-4"}).header("X-Cache"), "MISS")


class SlicesWithoutValidators(harness.OutpostTestCase):
    """Slices on, an origin with no validator: no slice may be stored, the
    client's Range goes to the origin, and its 206 is kept as a part."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin, overrides={"cache": {"slice": {"size": "1MiB"}}})

    def test_part_without_validator(self):
        size = 3 * 1024 * 1024
        url = "/nv?size=%d&%s&ranges=1" % (size, CC)
        body = pattern_bytes(size)
        s0 = self.node.metric("outpost_partial_stores_total", default=0)
        r = self.node.get(url, {"Range": "bytes=1048000-1049999"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.body, body[1048000:1050000])
        self.node.wait_metric("outpost_partial_stores_total", lambda v: v >= s0 + 1, timeout=10)
        n = self.origin.count("/nv")
        r = self.node.get(url, {"Range": "bytes=1049000-1049099"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(r.header("Content-Range"), "bytes 1049000-1049099/%d" % size)
        self.assertEqual(r.body, body[1049000:1049100])
        self.assertEqual(self.origin.count("/nv"), n)


if __name__ == "__main__":
    harness.main()
