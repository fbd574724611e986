#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""RFC 9111 as a shared cache, on the wire: which responses are stored
(status codes with explicit or heuristic freshness, must-understand,
Set-Cookie, Authorization), where freshness comes from (CDN-Cache-Control
over Surrogate-Control over Cache-Control over Expires, first occurrence of
a repeated directive, upstream Age), the request directives (max-age,
min-fresh, max-stale, no-cache, Pragma) and cache.grace (node and route)."""

import email.utils
import time

import harness

STALE_WAIT = 2.1  # max-age=1 is stale after this (Age counts whole seconds)


def http_date(delta):
    return email.utils.formatdate(time.time() + delta, usegmt=True)


class RFC9111(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)

    def script(self, path, **b):
        self.origin.script({path: b})

    def twice(self, path, headers=None, second=None):
        """GETs path twice; returns both responses and the origin's count."""
        r1 = self.node.get(path, headers=headers)
        r2 = self.node.get(path, headers=second if second is not None else headers)
        return r1, r2, self.origin.count(path)

    def assertStored(self, path, status=200, headers=None):
        r1, r2, n = self.twice(path, headers)
        self.assertEqual((r1.status, r1.header("X-Cache")), (status, "MISS"), r1)
        self.assertEqual((r2.status, r2.header("X-Cache")), (status, "HIT"), r2)
        self.assertEqual(r2.body, r1.body)
        self.assertEqual(n, 1, "one origin request")
        return r1, r2

    def assertNotStored(self, path, status=200, headers=None):
        r1, r2, n = self.twice(path, headers)
        self.assertEqual((r1.status, r2.status), (status, status), (r1, r2))
        self.assertEqual(r2.header("X-Cache"), "MISS", r2.headers)
        self.assertEqual(n, 2, "both requests reach the origin")
        return r1, r2

    # -- storability by status (§3) and heuristic freshness (§4.2.2) --

    def test_status_with_explicit_freshness_stored(self):
        for st in (404, 410, 302, 503):
            with self.subTest(status=st):
                self.script("/s/explicit%d" % st, status=st, cc="max-age=60", body="s%d\n" % st)
                r1, r2 = self.assertStored("/s/explicit%d" % st, st)
                self.assertEqual(r2.body, b"s%d\n" % st)

    def test_heuristic_freshness_from_last_modified(self):
        lm = http_date(-10 * 86400)
        for st in (200, 404, 410, 301):
            with self.subTest(status=st):
                path = "/h/ok%d" % st
                self.script(path, status=st, headers={"Last-Modified": lm})
                self.assertStored(path, st)

    def test_no_heuristic_for_other_statuses(self):
        lm = http_date(-10 * 86400)
        for st in (403, 302, 502):
            with self.subTest(status=st):
                path = "/h/no%d" % st
                self.script(path, status=st, headers={"Last-Modified": lm})
                self.assertNotStored(path, st)

    def test_public_allows_heuristic_for_any_status(self):
        self.script("/h/public599", status=599, cc="public",
                    headers={"Last-Modified": http_date(-86400)})
        self.assertStored("/h/public599", 599)

    def test_no_freshness_not_stored(self):
        self.script("/h/none", body="none\n")
        self.assertNotStored("/h/none")

    def test_204_hit_has_no_content_length(self):
        self.script("/s/204", status=204, cc="max-age=60")
        r1, r2 = self.assertStored("/s/204", 204)
        self.assertIsNone(r2.header("Content-Length"), r2.headers)
        self.assertEqual(r2.body, b"")

    def test_must_understand_overrides_no_store(self):
        self.script("/s/mu", cc="no-store, must-understand, max-age=60")
        self.assertStored("/s/mu")

    # -- Set-Cookie policy --

    def test_set_cookie_with_explicit_freshness_stored(self):
        self.script("/c/explicit", cc="max-age=60", headers={"Set-Cookie": "a=b"})
        r1, r2 = self.assertStored("/c/explicit")
        self.assertEqual(r2.header("Set-Cookie"), "a=b", "stored as the origin sent it")

    def test_set_cookie_with_heuristic_freshness_not_stored(self):
        self.script("/c/heuristic", headers={"Set-Cookie": "a=b",
                                             "Last-Modified": http_date(-86400)})
        self.assertNotStored("/c/heuristic")

    # -- Authorization (§3.5) --

    def test_authorization(self):
        auth = {"Authorization": "Bearer x"}
        self.script("/a/plain", cc="max-age=60")
        self.assertNotStored("/a/plain", headers=auth)
        self.script("/a/smaxage", cc="s-maxage=60")
        self.assertStored("/a/smaxage", headers=auth)

    # -- CDN-Cache-Control and Surrogate-Control --

    def test_cdn_cache_control_over_cache_control(self):
        self.script("/t/cdn", cc="no-store", headers={"CDN-Cache-Control": "max-age=60"})
        r1, r2 = self.assertStored("/t/cdn")
        for r in (r1, r2):
            self.assertEqual(r.header("CDN-Cache-Control"), "max-age=60",
                             "relayed for CDN tiers downstream (RFC 9213 §3)")
            self.assertEqual(r.header("Cache-Control"), "no-store", "the client's is kept")

    def test_cdn_cache_control_no_store(self):
        self.script("/t/cdnns", cc="max-age=60", headers={"CDN-Cache-Control": "no-store"})
        self.assertNotStored("/t/cdnns")

    def test_invalid_cdn_cache_control_ignored(self):
        self.script("/t/cdnbad", cc="no-store",
                    headers={"CDN-Cache-Control": "max-age=60, &&&"})
        self.assertNotStored("/t/cdnbad")

    def test_surrogate_control(self):
        self.script("/t/sc", cc="no-store",
                    headers={"Surrogate-Control": "max-age=60;edge"})
        r1, r2 = self.assertStored("/t/sc")
        self.assertIsNone(r1.header("Surrogate-Control"))
        self.assertIsNone(r2.header("Surrogate-Control"))
        self.script("/t/scns", cc="max-age=60", headers={"Surrogate-Control": "no-store"})
        self.assertNotStored("/t/scns")

    def test_cdn_cache_control_refreshed_by_304(self):
        self.script("/t/cdn304", cc="no-store",
                    headers={"ETag": '"e"', "CDN-Cache-Control": "max-age=1"})
        self.assertEqual(self.node.get("/t/cdn304").header("X-Cache"), "MISS")
        time.sleep(STALE_WAIT)
        r = self.node.get("/t/cdn304")
        self.assertEqual((r.status, r.header("X-Cache")), (200, "HIT"), r)
        self.assertIn("fwd-status=304", r.header("Cache-Status"))
        self.assertEqual(r.header("CDN-Cache-Control"), "max-age=1", "stored, still relayed")
        self.assertEqual([q["status"] for q in self.origin.requests("/t/cdn304")], [200, 304])

    # -- no-cache / private with field names --

    def test_listed_fields_not_stored(self):
        self.script("/n/fields", headers=[["Cache-Control", 'no-cache="X-Secret"'],
                                          ["Cache-Control", "max-age=60, private=X-User"],
                                          ["X-Secret", "s"], ["X-User", "u"], ["X-Keep", "k"]])
        r1, r2 = self.assertStored("/n/fields")
        self.assertEqual((r1.header("X-Secret"), r1.header("X-User")), ("s", "u"), "relayed")
        self.assertIsNone(r2.header("X-Secret"), r2.headers)
        self.assertIsNone(r2.header("X-User"), r2.headers)
        self.assertEqual(r2.header("X-Keep"), "k")

    # -- freshness details --

    def test_first_max_age_wins(self):
        self.script("/f/dup", headers=[["Cache-Control", "max-age=1"],
                                       ["Cache-Control", "max-age=3600"]])
        self.assertEqual(self.node.get("/f/dup").header("X-Cache"), "MISS")
        time.sleep(STALE_WAIT)
        self.assertEqual(self.node.get("/f/dup").header("X-Cache"), "MISS", "stale: max-age=1")
        self.assertEqual(self.origin.count("/f/dup"), 2)

    def test_upstream_age(self):
        self.script("/f/age", cc="max-age=3600", headers={"Age": "7200"})
        self.assertNotStored("/f/age")
        self.script("/f/agelist", cc="max-age=3600", headers={"Age": "0, 7200"})
        r1, r2 = self.assertStored("/f/agelist")
        self.assertLess(int(r2.header("Age")), 60, "an Age list counts its first member")
        self.script("/f/age30", cc="max-age=3600", headers={"Age": "30"})
        r1, r2 = self.assertStored("/f/age30")
        self.assertGreaterEqual(int(r2.header("Age")), 30)

    def test_invalid_expires_is_stale(self):
        self.script("/f/exp0", headers={"Expires": "0"})
        self.assertNotStored("/f/exp0")

    # -- request directives (§5.2.1) --

    def test_request_max_age_and_min_fresh(self):
        self.script("/q/ma", cc="max-age=3600")
        self.assertEqual(self.node.get("/q/ma").header("X-Cache"), "MISS")
        time.sleep(1.1)
        r = self.node.get("/q/ma", headers={"Cache-Control": "max-age=0"})
        self.assertEqual(r.header("X-Cache"), "MISS", "older than the client accepts")
        self.assertEqual(self.origin.count("/q/ma"), 2)
        r = self.node.get("/q/ma", headers={"Cache-Control": "min-fresh=4000"})
        self.assertEqual(r.header("X-Cache"), "MISS", "not fresh for long enough")
        r = self.node.get("/q/ma", headers={"Cache-Control": "min-fresh=60, max-age=60"})
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count("/q/ma"), 3)

    def test_request_max_stale(self):
        self.script("/q/ms", cc="max-age=1")
        self.assertEqual(self.node.get("/q/ms").header("X-Cache"), "MISS")
        time.sleep(STALE_WAIT)
        r = self.node.get("/q/ms", headers={"Cache-Control": "max-stale=100"})
        self.assertEqual(r.header("X-Cache"), "HIT", r.headers)
        self.assertIn("detail=max-stale", r.header("Cache-Status"))
        r = self.node.get("/q/ms", headers={"Cache-Control": "max-stale"})
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count("/q/ms"), 1)
        self.assertEqual(self.node.get("/q/ms").header("X-Cache"), "MISS", "stale without it")
        self.assertEqual(self.origin.count("/q/ms"), 2)

    def test_max_stale_never_with_must_revalidate(self):
        self.script("/q/msmr", cc="max-age=1, must-revalidate")
        self.node.get("/q/msmr")
        time.sleep(STALE_WAIT)
        r = self.node.get("/q/msmr", headers={"Cache-Control": "max-stale"})
        self.assertEqual(r.header("X-Cache"), "MISS")
        self.assertEqual(self.origin.count("/q/msmr"), 2)

    def test_request_no_cache_revalidates(self):
        self.script("/q/nc", cc="max-age=3600", headers={"ETag": '"v1"'})
        self.assertEqual(self.node.get("/q/nc").header("X-Cache"), "MISS")
        r = self.node.get("/q/nc", headers={"Cache-Control": "no-cache"})
        self.assertEqual(r.status, 200)
        self.assertIn("fwd-status=304", r.header("Cache-Status"))
        recs = self.origin.requests("/q/nc")
        self.assertEqual(len(recs), 2)
        self.assertEqual(harness.req_header(recs[1], "If-None-Match"), '"v1"')

    def test_pragma_only_without_cache_control(self):
        self.script("/q/pragma", cc="max-age=3600")
        self.node.get("/q/pragma")
        r = self.node.get("/q/pragma", headers={"Pragma": "no-cache"})
        self.assertEqual(r.header("X-Cache"), "MISS")
        r = self.node.get("/q/pragma", headers={"Pragma": "no-cache",
                                                "Cache-Control": "max-stale=5"})
        self.assertEqual(r.header("X-Cache"), "HIT", "Pragma is ignored with Cache-Control")
        self.assertEqual(self.origin.count("/q/pragma"), 2)

    # -- cache.grace --

    def test_origin_failure_without_grace_is_502(self):
        node = self.start_outpost(self.origin, overrides={"cache": {"grace": "0s"}})
        self.script("/g/none", cc="max-age=1")
        node.get("/g/none")
        time.sleep(STALE_WAIT)
        self.script("/g/none", drop=1)
        r = node.get("/g/none")
        self.assertEqual(r.status, 502, r)
        self.assertLess(len(r.body), 200, "a short body")
        self.assertEqual(node.get("/g/alive").status, 200, "still serving")

    def test_default_grace_serves_just_stale_on_origin_failure(self):
        """RFC 9111 §4.2.4: a cache cut off from its origin may serve stale;
        by default (cache.grace 10s) a copy that just went stale answers
        when the origin closes the connection (not when it answers a 500);
        must-revalidate still forbids it."""
        paths = {"/g/default": "max-age=2", "/g/default-mr": "max-age=2, must-revalidate",
                 "/g/default-500": "max-age=2"}
        for p, cc in paths.items():
            self.script(p, cc=cc, body="kept\n")
            self.node.get(p)
            self.assertEqual(self.node.get(p).header("X-Cache"), "HIT", p)
        time.sleep(STALE_WAIT + 1)  # max-age=2: stale now, by well under 10 s
        self.script("/g/default", drop=1)
        self.script("/g/default-mr", drop=1)
        self.script("/g/default-500", status=500, body="down\n")
        r = self.node.get("/g/default")
        self.assertEqual((r.status, r.body), (200, b"kept\n"), r)
        self.assertIn("detail=grace", r.header("Cache-Status"))
        self.assertEqual(self.node.get("/g/default-mr").status, 502)
        # an origin that answers (a 500) is not "disconnected": its answer
        # goes through unless cache.grace was set
        r = self.node.get("/g/default-500")
        self.assertEqual((r.status, r.body), (500, b"down\n"), r)

    def test_grace_serves_stale_on_origin_failure(self):
        origin = self.start_origin()
        node = self.start_outpost(
            origin, overrides={"cache": {"grace": "30s"}},
            mutate=lambda cfg: harness.add_route(
                cfg, {"path": "/g/strict/", "pool": "web", "cache": {"grace": "0s"}}))
        origin.script({"/g/ok": {"cc": "max-age=1", "body": "kept\n"},
                       "/g/mr": {"cc": "max-age=1, must-revalidate", "body": "mr\n"},
                       "/g/strict/x": {"cc": "max-age=1", "body": "strict\n"}})
        for p in ("/g/ok", "/g/mr", "/g/strict/x"):
            self.assertEqual(node.get(p).header("X-Cache"), "MISS")
        time.sleep(STALE_WAIT)
        origin.script({"/g/ok": {"drop": 1}, "/g/mr": {"drop": 1}, "/g/strict/x": {"drop": 1}})
        r = node.get("/g/strict/x")
        self.assertEqual(r.status, 502, "the route's grace: 0s wins over cache.grace")
        r = node.get("/g/ok")
        self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, b"kept\n", "HIT"), r)
        self.assertIn("fwd=stale", r.header("Cache-Status"))
        self.assertIn("detail=grace", r.header("Cache-Status"))
        r = node.get("/g/mr")
        self.assertEqual(r.status, 502, "must-revalidate is never served stale")
        origin.script({"/g/ok": {"status": 503, "body": "down\n"}})
        r = node.get("/g/ok")
        self.assertEqual((r.status, r.body), (200, b"kept\n"), "a 503 too")
        r = node.get("/g/ok", headers={"Cache-Control": "no-cache"})
        self.assertEqual(r.status, 503, "not for a client that said no-cache")


if __name__ == "__main__":
    harness.main()
