#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Validation and stale serving (RFC 9111 §4.3, RFC 5861 §4): a stale entry
with validators is revalidated with a conditional request; a 304 refreshes
it (same body, served as a HIT); a 200 replaces it; stale-if-error serves the
stale entry when the origin fails, never for must-revalidate;
stale-while-revalidate (RFC 5861 §3) answers from the stale entry at once and
refreshes it with one background request per key and worker."""

import time

import harness

STALE_WAIT = 2.1  # max-age=1 is stale after this (Age counts whole seconds)


def cs_parts(r):
    cs = r.header("Cache-Status") or ""
    parts = [p.strip() for p in cs.split(";")]
    return parts[0], parts[1:]


class Revalidate(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)

    def statuses(self, path):
        return [r["status"] for r in self.origin.requests(path)]

    def assertCS(self, r, *params):
        name, parts = cs_parts(r)
        self.assertEqual(name, "outpost", r.headers)
        for p in params:
            self.assertIn(p, parts, r.header("Cache-Status"))

    def test_etag_304_refreshes(self):
        n = self.node
        path = "/rv/etag"
        self.origin.script({path: {"cc": "max-age=1", "body": "one\n",
                                   "headers": {"ETag": '"v1"'}}})
        r1 = n.get(path)
        self.assertEqual((r1.status, r1.body, r1.header("X-Cache")), (200, b"one\n", "MISS"))
        reval0 = n.metric("outpost_cache_revalidated_total")
        time.sleep(STALE_WAIT)
        # the origin now says the same representation is fresh for 60 s
        self.origin.script({path: {"cc": "max-age=60", "body": "one\n",
                                   "headers": {"ETag": '"v1"', "X-Version": "2"}}})
        r2 = n.get(path)
        self.assertEqual((r2.status, r2.body), (200, b"one\n"), r2)
        self.assertEqual(r2.header("X-Cache"), "HIT", r2.headers)
        self.assertCS(r2, "fwd=stale", "fwd-status=304")
        self.assertEqual(r2.header("X-Version"), "2", "304 fields update the stored head")
        self.assertEqual(r2.header("Content-Length"), "4")
        recs = self.origin.requests(path)
        self.assertEqual(len(recs), 2)
        self.assertEqual(harness.req_header(recs[1], "If-None-Match"), '"v1"')
        self.assertEqual(self.statuses(path), [200, 304], "body served once by the origin")
        n.wait_metric("outpost_cache_revalidated_total", lambda v: v == reval0 + 1)
        # within the new max-age: a plain hit, no origin request
        r3 = n.get(path)
        self.assertEqual((r3.status, r3.body, r3.header("X-Cache")), (200, b"one\n", "HIT"))
        self.assertCS(r3, "hit")
        self.assertEqual(r3.header("X-Version"), "2")
        self.assertEqual(self.origin.count(path), 2)

    def test_weak_etag_304_validates_strong_stored(self):
        # RFC 9111 §4.3.4: a weak validator selects by weak comparison (an
        # origin that compresses on the fly weakens its tags, as nginx does)
        n = self.node
        path = "/rv/weak"
        self.origin.script({path: {"cc": "max-age=1", "body": "w\n",
                                   "headers": {"ETag": '"w1"'}}})
        self.assertEqual(n.get(path).header("X-Cache"), "MISS")
        time.sleep(STALE_WAIT)
        self.origin.script({path: {"cc": "max-age=60", "body": "w\n",
                                   "headers": {"ETag": 'W/"w1"'}}})
        r = n.get(path)
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, b"w\n", "HIT"), r.headers)
        self.assertEqual(self.statuses(path), [200, 304])
        self.assertEqual(n.get(path).header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count(path), 2)

    def test_304_for_another_representation_is_not_relayed(self):
        # a 304 whose ETag selects nothing stored answers our validators, not
        # the client's: the node asks again without them
        n = self.node
        path = "/rv/other304"
        self.origin.script({path: {"seq": [
            {"cc": "max-age=1", "body": "old\n", "headers": {"ETag": '"a"'}},
            {"status": 304, "headers": {"ETag": '"b"', "Cache-Control": "max-age=60"}},
            {"cc": "max-age=60", "body": "new\n", "headers": {"ETag": '"b"'}, "no_cond": 1}]}})
        self.assertEqual(n.get(path).body, b"old\n")
        time.sleep(STALE_WAIT)
        r = n.get(path)
        self.assertEqual((r.status, r.body), (200, b"new\n"), r.headers)
        recs = self.origin.requests(path)
        self.assertEqual([x["status"] for x in recs], [200, 304, 200])
        self.assertEqual(harness.req_header(recs[1], "If-None-Match"), '"a"')
        self.assertIsNone(harness.req_header(recs[2], "If-None-Match"))
        r = n.get(path)
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, b"new\n", "HIT"))
        # a client's own conditional still gets the origin's 304 as it is
        self.assertEqual(n.get(path, headers={"If-None-Match": '"b"'}).status, 304)

    def test_last_modified_304(self):
        n = self.node
        path = "/rv/lm"
        lm = "Sun, 06 Nov 1994 08:49:37 GMT"
        self.origin.script({path: {"cc": "max-age=1", "body": "lm\n",
                                   "headers": {"Last-Modified": lm}}})
        self.assertEqual(n.get(path).header("X-Cache"), "MISS")
        time.sleep(STALE_WAIT)
        self.origin.script({path: {"cc": "max-age=60", "body": "lm\n",
                                   "headers": {"Last-Modified": lm}}})
        r = n.get(path)
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, b"lm\n", "HIT"), r)
        self.assertCS(r, "fwd=stale", "fwd-status=304")
        recs = self.origin.requests(path)
        self.assertEqual(harness.req_header(recs[1], "If-Modified-Since"), lm)
        self.assertIsNone(harness.req_header(recs[1], "If-None-Match"))
        self.assertEqual(self.statuses(path), [200, 304])
        self.assertEqual(n.get(path).header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count(path), 2)

    def test_changed_representation_replaces(self):
        n = self.node
        path = "/rv/changed"
        self.origin.script({path: {"cc": "max-age=1", "body": "old\n",
                                   "headers": {"ETag": '"a"'}}})
        self.assertEqual(n.get(path).body, b"old\n")
        time.sleep(STALE_WAIT)
        self.origin.script({path: {"cc": "max-age=60", "body": "new\n",
                                   "headers": {"ETag": '"b"'}}})
        r = n.get(path)
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, b"new\n", "MISS"), r)
        self.assertCS(r, "fwd=stale", "fwd-status=200", "stored")
        self.assertEqual(self.statuses(path), [200, 200])
        r = n.get(path)
        self.assertEqual((r.body, r.header("X-Cache"), r.header("ETag")), (b"new\n", "HIT", '"b"'))
        self.assertEqual(self.origin.count(path), 2)

    def test_no_cache_stored_and_revalidated_every_time(self):
        n = self.node
        path = "/rv/nocache"
        self.origin.script({path: {"cc": "no-cache", "body": "nc\n",
                                   "headers": {"ETag": '"n1"'}}})
        self.assertEqual(n.get(path).header("X-Cache"), "MISS")
        for _ in range(2):
            r = n.get(path)
            self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, b"nc\n", "HIT"))
            self.assertCS(r, "fwd=stale", "fwd-status=304")
        self.assertEqual(self.statuses(path), [200, 304, 304])

    def test_client_validator_matching_gets_304(self):
        n = self.node
        path = "/rv/client"
        self.origin.script({path: {"cc": "max-age=1", "headers": {"ETag": '"c1"'}}})
        self.assertEqual(n.get(path).status, 200)
        time.sleep(STALE_WAIT)
        self.origin.script({path: {"cc": "max-age=60", "headers": {"ETag": '"c1"'}}})
        r = n.get(path, headers={"If-None-Match": '"c1"'})
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (304, b"", "HIT"), r)
        self.assertCS(r, "fwd=stale", "fwd-status=304")
        recs = self.origin.requests(path)
        self.assertEqual([harness.req_header(x, "If-None-Match") for x in recs], [None, '"c1"'])
        # refreshed: an unconditional request is now a plain hit
        r = n.get(path)
        self.assertEqual((r.status, r.header("X-Cache")), (200, "HIT"))
        self.assertEqual(self.origin.count(path), 2)

    def test_client_validator_not_ours_is_a_miss(self):
        n = self.node
        path = "/rv/client-other"
        self.origin.script({path: {"cc": "max-age=1", "headers": {"ETag": '"o1"'}}})
        self.assertEqual(n.get(path).status, 200)
        time.sleep(STALE_WAIT)
        r = n.get(path, headers={"If-None-Match": '"zz"'})
        self.assertEqual((r.status, r.header("X-Cache")), (200, "MISS"), r)
        self.assertCS(r, "fwd=miss")
        recs = self.origin.requests(path)
        self.assertEqual(harness.req_header(recs[1], "If-None-Match"), '"zz"')

    def test_stale_if_error_5xx(self):
        n = self.node
        path = "/rv/sie5"
        self.origin.script({path: {"cc": "max-age=1, stale-if-error=60", "body": "keep\n",
                                   "headers": {"ETag": '"k"'}}})
        self.assertEqual(n.get(path).body, b"keep\n")
        time.sleep(STALE_WAIT)
        served0 = n.metric("outpost_cache_stale_served_total")
        self.origin.script({path: {"status": 500, "body": "boom\n"}})
        r = n.get(path)
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, b"keep\n", "HIT"), r)
        self.assertCS(r, "fwd=stale", "fwd-status=500", "detail=stale-if-error")
        n.wait_metric("outpost_cache_stale_served_total", lambda v: v == served0 + 1)


class StaleIfError(harness.OutpostTestCase):
    """The origin goes away after the entry is stored."""

    def test_origin_down_serves_stale(self):
        origin = self.start_origin()
        node = self.start_outpost(origin)
        path = "/sie/down?cc=max-age%3D1,%20stale-if-error%3D60&body=stale-ok"
        self.assertEqual(node.get(path).body, b"stale-ok")
        origin.stop()
        time.sleep(STALE_WAIT)
        t0 = time.monotonic()
        r = node.get(path)
        self.assertLess(time.monotonic() - t0, 3.0)
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, b"stale-ok", "HIT"), r)
        _, parts = cs_parts(r)
        self.assertIn("fwd=stale", parts)
        self.assertIn("detail=stale-if-error", parts)
        self.assertGreaterEqual(node.metric("outpost_cache_stale_served_total"), 1)
        # beyond the window of a request without the directive: still within 60 s
        self.assertEqual(node.get(path).body, b"stale-ok")

    def test_must_revalidate_never_stale(self):
        origin = self.start_origin()
        node = self.start_outpost(origin)
        path = "/sie/mr?cc=max-age%3D1,%20must-revalidate,%20stale-if-error%3D60&body=no"
        self.assertEqual(node.get(path).body, b"no")
        origin.stop()
        time.sleep(STALE_WAIT)
        r = node.get(path, headers={"Cache-Control": "stale-if-error=60"})
        self.assertIn(r.status, (502, 503, 504), r)
        self.assertNotEqual(r.body, b"no")

    def test_no_directive_no_stale(self):
        origin = self.start_origin()
        # cache.grace 0s: the default (10 s for an origin that gives no
        # answer) would serve it; t51 covers that
        node = self.start_outpost(origin, overrides={"cache": {"grace": "0s"}})
        path = "/sie/plain?cc=max-age%3D1&body=x"
        self.assertEqual(node.get(path).body, b"x")
        origin.stop()
        time.sleep(STALE_WAIT)
        self.assertIn(node.get(path).status, (502, 503, 504))
        # the request's own stale-if-error allows it (RFC 5861 §4)
        r = node.get(path, headers={"Cache-Control": "stale-if-error=600"})
        self.assertEqual((r.status, r.body), (200, b"x"), r)


class StaleWhileRevalidate(harness.OutpostTestCase):
    """One worker, so every request below meets the same in-flight set."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin, overrides={"node": {"workers": 1}})

    def stale_gets(self, path, n):
        def one():
            t0 = time.monotonic()
            r = self.node.get(path)
            return r, time.monotonic() - t0
        jobs = [harness.Background(one) for _ in range(n)]
        return [j.result() for j in jobs]

    def assertSWR(self, r, body):
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, body, "HIT"), r)
        _, parts = cs_parts(r)
        self.assertIn("hit", parts, r.headers)
        self.assertIn("detail=stale-while-revalidate", parts, r.headers)

    def test_304_in_background_once(self):
        n, o = self.node, self.origin
        path = "/swr/304"
        o.script({path: {"cc": "max-age=1, stale-while-revalidate=60", "body": "one\n",
                         "headers": {"ETag": '"v1"'}}})
        self.assertEqual(n.get(path).header("X-Cache"), "MISS")
        bg0 = n.metric("outpost_cache_background_revalidations_total")
        reval0 = n.metric("outpost_cache_revalidated_total")
        time.sleep(STALE_WAIT)
        # the origin is slow now, and says the entry is fresh for 60 s
        o.script({path: {"cc": "max-age=60, stale-while-revalidate=60", "body": "one\n",
                         "delay_ms": 1500, "headers": {"ETag": '"v1"', "X-Version": "2"}}})
        for r, took in self.stale_gets(path, 5):
            self.assertSWR(r, b"one\n")
            self.assertLess(took, 1.2, "answered before the origin did")
            self.assertIsNone(r.header("X-Version"))
        harness.wait_until(lambda: self.statuses(path) == [200, 304], 5.0,
                           what="one background 304")
        n.wait_metric("outpost_cache_revalidated_total", lambda v: v == reval0 + 1)
        self.assertEqual(n.metric("outpost_cache_background_revalidations_total"), bg0 + 1)
        recs = o.requests(path)
        self.assertEqual(harness.req_header(recs[1], "If-None-Match"), '"v1"')
        r = n.get(path)
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, b"one\n", "HIT"), r)
        self.assertCS(r, "hit")
        self.assertEqual(r.header("X-Version"), "2", "the 304's fields refreshed the entry")
        self.assertEqual(self.statuses(path), [200, 304], "exactly one conditional request")

    def test_200_in_background_replaces(self):
        n, o = self.node, self.origin
        path = "/swr/200"
        o.script({path: {"cc": "max-age=1, stale-while-revalidate=60", "body": "old\n",
                         "headers": {"ETag": '"a"'}}})
        self.assertEqual(n.get(path).body, b"old\n")
        stores0 = n.metric("outpost_cache_stores_total")
        time.sleep(STALE_WAIT)
        o.script({path: {"cc": "max-age=60", "body": "new body\n", "delay_ms": 500,
                         "headers": {"ETag": '"b"'}}})
        for r, _ in self.stale_gets(path, 3):
            self.assertSWR(r, b"old\n")
        harness.wait_until(lambda: self.statuses(path) == [200, 200], 5.0,
                           what="one background 200")
        n.wait_metric("outpost_cache_stores_total", lambda v: v == stores0 + 1)
        r = n.get(path)
        self.assertEqual((r.status, r.body, r.header("X-Cache"), r.header("ETag")),
                         (200, b"new body\n", "HIT", '"b"'), r)
        self.assertEqual(r.header("Content-Length"), "9")
        self.assertEqual(o.count(path), 2)

    def test_chunked_200_in_background(self):
        n, o = self.node, self.origin
        path = "/swr/chunked"
        o.script({path: {"cc": "max-age=1, stale-while-revalidate=60", "body": "c1\n"}})
        self.assertEqual(n.get(path).body, b"c1\n")
        time.sleep(STALE_WAIT)
        o.script({path: {"cc": "max-age=60", "size": 100000, "chunked": 1,
                         "chunk_size": 7000}})
        self.assertSWR(n.get(path), b"c1\n")
        harness.wait_until(lambda: self.statuses(path) == [200, 200], 5.0,
                           what="background fetch")
        harness.wait_until(lambda: n.get(path).header("Content-Length") == "100000", 3.0,
                           what="chunked body stored")
        r = n.get(path)
        self.assertEqual(r.body, harness.pattern_bytes(100000))
        self.assertEqual(o.count(path), 2)

    def test_origin_error_drops_and_next_request_retries(self):
        n, o = self.node, self.origin
        path = "/swr/err"
        o.script({path: {"cc": "max-age=1, stale-while-revalidate=60", "body": "e\n",
                         "headers": {"ETag": '"e"'}}})
        self.assertEqual(n.get(path).body, b"e\n")
        time.sleep(STALE_WAIT)
        o.script({path: {"status": 503, "body": "down\n"}})
        self.assertSWR(n.get(path), b"e\n")
        harness.wait_until(lambda: self.statuses(path) == [200, 503], 5.0,
                           what="background 503")
        time.sleep(0.2)
        o.script({path: {"cc": "max-age=60", "body": "e\n", "headers": {"ETag": '"e"'}}})
        self.assertSWR(n.get(path), b"e\n")   # the 503 changed nothing
        harness.wait_until(lambda: self.statuses(path) == [200, 503, 304], 5.0,
                           what="a new background request")
        harness.wait_until(lambda: "hit" in cs_parts(n.get(path))[1], 3.0, what="refreshed")

    def test_not_for_must_revalidate(self):
        n, o = self.node, self.origin
        path = "/swr/mr"
        o.script({path: {"cc": "max-age=1, stale-while-revalidate=60, must-revalidate",
                         "body": "m\n", "headers": {"ETag": '"m"'}}})
        self.assertEqual(n.get(path).body, b"m\n")
        time.sleep(STALE_WAIT)
        r = n.get(path)
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, b"m\n", "HIT"), r)
        self.assertCS(r, "fwd=stale", "fwd-status=304")
        self.assertNotIn("detail=stale-while-revalidate", r.header("Cache-Status"))

    def test_beyond_window_revalidates_in_foreground(self):
        n, o = self.node, self.origin
        path = "/swr/beyond"
        o.script({path: {"cc": "max-age=1, stale-while-revalidate=1", "body": "b\n",
                         "headers": {"ETag": '"b"'}}})
        self.assertEqual(n.get(path).body, b"b\n")
        time.sleep(STALE_WAIT + 1.0)
        r = n.get(path)
        self.assertCS(r, "fwd=stale", "fwd-status=304")

    def test_miss_does_not_wait_for_a_background_body(self):
        # another variant's plain miss for the URL must not wait for the
        # whole body of a slow background 200
        n, o = self.node, self.origin
        path = "/swr/slowbody"
        base = {"cc": "max-age=1, stale-while-revalidate=60", "headers": {"Vary": "X-Var"}}
        o.script({path: dict(base, body="a1\n")})
        self.assertEqual(n.get(path, headers={"X-Var": "a"}).header("X-Cache"), "MISS")
        time.sleep(STALE_WAIT)
        # about 3 s of body for the background refresh of variant a
        o.script({path: dict(base, size=200000, chunk_size=20000, chunk_delay_ms=300)})
        self.assertSWR(n.get(path, headers={"X-Var": "a"}), b"a1\n")
        harness.wait_until(lambda: o.count(path) == 2, 5.0, what="the background request")
        o.script({path: dict(base, body="b\n")})
        t0 = time.monotonic()
        r = n.get(path, headers={"X-Var": "b"}, timeout=20)
        self.assertEqual((r.status, r.body), (200, b"b\n"))
        self.assertLess(time.monotonic() - t0, 1.5, "waited for the background body")
        # the refresh still lands
        harness.wait_until(lambda: len(n.get(path, headers={"X-Var": "a"}).body) == 200000,
                           10.0, what="the refreshed variant")

    def test_background_timeout_dropped(self):
        n, o = self.node, self.origin
        path = "/swr/slow"
        o.script({path: {"cc": "max-age=1, stale-while-revalidate=60", "body": "s\n",
                         "headers": {"ETag": '"s"'}}})
        self.assertEqual(n.get(path).body, b"s\n")
        time.sleep(STALE_WAIT)
        to0 = n.metric("outpost_origin_timeouts_total")
        o.script({path: {"cc": "max-age=60", "body": "s\n", "delay_ms": 3000,
                         "headers": {"ETag": '"s"'}}})
        self.assertSWR(n.get(path), b"s\n")
        # first_byte is 2 s: the background exchange gives up, nothing changes
        n.wait_metric("outpost_origin_timeouts_total", lambda v: v == to0 + 1, timeout=5.0)
        self.assertSWR(n.get(path), b"s\n")   # and a new one may start

    statuses = Revalidate.statuses
    assertCS = Revalidate.assertCS


class StaleWhileRevalidateShutdown(harness.OutpostTestCase):
    def test_stop_with_background_exchange_in_flight(self):
        origin = self.start_origin()
        node = self.start_outpost(origin, overrides={"timeouts": {"drain": "5s"}})
        path = "/swr/stop"
        origin.script({path: {"cc": "max-age=1, stale-while-revalidate=60", "body": "z"}})
        self.assertEqual(node.get(path).body, b"z")
        time.sleep(STALE_WAIT)
        origin.script({path: {"cc": "max-age=60", "body": "z", "delay_ms": 4000}})
        r = node.get(path)
        self.assertEqual((r.body, r.header("X-Cache")), (b"z", "HIT"), r)
        self.assertIn("detail=stale-while-revalidate", r.header("Cache-Status"))
        self.assertEqual(node.metric("outpost_cache_background_revalidations_total"), 1)
        t0 = time.monotonic()
        node.close_and_check()   # clean exit, no sanitizer report (leaks included)
        self.assertLess(time.monotonic() - t0, 2.0, "drain does not wait for it")


if __name__ == "__main__":
    harness.main()
