#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Conformance cases, one per test of the public HTTP caching test suite's
groups "vary", "vary-parse" and "collapse" (as a shared cache), written as a
table: the requests in order, what the origin answers to each of its
requests, and which origin answer the client must get.

Suite test id               -> our case (RFC section)
  vary-match                -> vary_match (optimal; §4.1)
  vary-no-match             -> vary_no_match (§4.1)
  vary-omit-stored          -> vary_omit_stored (§4.1)
  vary-omit                 -> vary_omit (§4.1)
  vary-invalidate           -> vary_two_variants (optimal; §4.1)
  vary-cache-key            -> vary_cache_key (optimal; §4.1)
  vary-2-match              -> vary2_match (optimal; §4.1)
  vary-2-no-match           -> vary2_no_match (§4.1)
  vary-2-match-omit         -> vary2_omit (§4.1)
  vary-3-match              -> vary3_match (optimal; §4.1)
  vary-3-no-match           -> vary3_no_match (§4.1)
  vary-3-order              -> vary3_order (§4.1)
  vary-3-omit               -> vary3_omit_both (optimal; §4.1)
  vary-star                 -> vary_star (§4.1)
  vary-normalise-combine    -> vary_norm_combine (optimal; §4.1, RFC 9110 §5.3)
  vary-normalise-space      -> vary_norm_space (optimal; §4.1)
  vary-normalise-lang-order -> n/a: optional; we do not reorder Accept-Language
  vary-normalise-lang-case  -> vary_norm_lang_case (optimal; §4.1, RFC 4647 §2)
  vary-normalise-lang-space -> vary_norm_lang_space (optimal; §4.1)
  vary-normalise-lang-select-> n/a: optional; needs content negotiation
  vary-syntax-star          -> vparse_star (§4.1)
  vary-syntax-star-star     -> vparse_star_star (§4.1)
  vary-syntax-star-star-lines  -> vparse_star_star_lines (§4.1, RFC 9110 §5.3)
  vary-syntax-empty-star    -> vparse_empty_star (§4.1)
  vary-syntax-empty-star-lines -> vparse_empty_star_lines (§4.1, RFC 9110 §5.3)
  vary-syntax-star-foo      -> vparse_star_foo (§4.1)
  vary-syntax-foo-star      -> vparse_foo_star (§4.1)
  collapse-basic            -> collapse_basic (§4, "collapsed requests"; its group
                               is not in the suite's newest index)
Beyond the suite: test_revalidation_names_every_variant_etag and
test_background_revalidation_names_every_variant_etag (§4.3.1, §4.3.4).

Every case runs on its own URL path; the cases run concurrently, so the file
takes about as long as its slowest case.  A client's answer is identified by
the X-Origin-Count the origin put in it (the n-th origin request of the path);
the origin's fields (Vary, Cache-Control, Last-Modified) must reach the client
unchanged, as the suite checks them too."""

import concurrent.futures
import time

import harness

# The suite's usual stored response: fresh for long, dated now, old Last-Modified.
FRESH = {"cc": "max-age=5000", "date_headers": {"Date": 0, "Last-Modified": -3000}}


def vary(*lines):
    """Origin behaviour: FRESH with one Vary field line per argument."""
    return dict(FRESH, headers=[["Vary", v] for v in lines])


def step(req, served_by, pause=0.0, concurrent=False):
    """One client request: header lines [(name, value)], the number of the
    origin request whose answer the client must get, an optional pause after
    it, and whether the next step starts before this one is answered."""
    return {"req": req, "served_by": served_by, "pause": pause, "concurrent": concurrent}


FOO1 = [("Foo", "1")]
FB = [("Foo", "1"), ("Bar", "abc")]
FBB = [("Foo", "1"), ("Bar", "abc"), ("Baz", "789")]
FOOBAZ = [("Foo", "1"), ("Baz", "789")]

# name: (origin answers in order, client steps, origin requests in all)
CASES = {
    # -- vary (RFC 9111 §4.1: every field Vary names must match) -----------
    "vary_match": ([vary("Foo")], [step(FOO1, 1), step(FOO1, 1)], 1),
    "vary_no_match": ([vary("Foo")], [step(FOO1, 1), step([("Foo", "2")], 2)], 2),
    # a field absent in the stored request matches only an absent one
    "vary_omit_stored": ([vary("Foo")], [step([], 1), step(FOO1, 2)], 2),
    "vary_omit": ([vary("Foo")], [step(FOO1, 1), step([], 2)], 2),
    "vary_two_variants": ([vary("Foo")], [step(FOO1, 1), step([("Foo", "2")], 2),
                                          step(FOO1, 1)], 2),
    "vary_cache_key": ([vary("Foo")], [step(FOO1 + [("Other", "2")], 1),
                                       step(FOO1 + [("Other", "3")], 1)], 1),
    "vary2_match": ([vary("Foo, Bar")], [step(FB, 1), step(FB, 1)], 1),
    "vary2_no_match": ([vary("Foo, Bar")], [step(FB, 1), step([("Foo", "2"), ("Bar", "abc")], 2)],
                       2),
    "vary2_omit": ([vary("Foo, Bar")], [step(FB, 1), step([], 2)], 2),
    "vary3_match": ([vary("Foo, Bar, Baz")], [step(FBB, 1), step(FBB, 1)], 1),
    "vary3_no_match": ([vary("Foo, Bar, Baz")],
                       [step(FBB, 1), step([("Foo", "2"), ("Bar", "abc"), ("Baz", "789")], 2)], 2),
    "vary3_order": ([vary("Foo, Bar, Baz")],
                    [step(FBB, 1), step([("Foo", "1"), ("Baz", "789"), ("Bar", "abcde")], 2)], 2),
    "vary3_omit_both": ([vary("Foo, Bar, Baz")], [step(FOOBAZ, 1), step(FOOBAZ, 1)], 1),
    # "*": the request can never be matched (§4.1), so it is never reused
    "vary_star": ([vary("*")], [step(FOOBAZ, 1), step(FOOBAZ, 2)], 2),
    # several field lines are one comma-separated list (RFC 9110 §5.3)
    "vary_norm_combine": ([vary("Foo")], [step([("Foo", "1, 2")], 1),
                                          step([("Foo", "1"), ("Foo", "2")], 1)], 1),
    "vary_norm_space": ([vary("Foo")], [step([("Foo", "1,2")], 1), step([("Foo", " 1, 2 ")], 1)],
                        1),
    "vary_norm_lang_case": ([vary("Accept-Language")],
                            [step([("Accept-Language", "en, de")], 1),
                             step([("Accept-Language", "eN, De")], 1)], 1),
    "vary_norm_lang_space": ([vary("Accept-Language")],
                             [step([("Accept-Language", "en, de")], 1),
                              step([("Accept-Language", " en ,   de")], 1)], 1),
    # -- vary-parse (§4.1: a "*" member anywhere, on any line) --------------
    "vparse_star": ([vary("*")], [step(FOOBAZ, 1), step(FOOBAZ, 2)], 2),
    "vparse_star_star": ([vary("*, *")], [step(FOOBAZ, 1), step(FOOBAZ, 2)], 2),
    "vparse_star_star_lines": ([vary("*", "*")], [step(FOOBAZ, 1), step(FOOBAZ, 2)], 2),
    "vparse_empty_star": ([vary(", *")], [step(FOOBAZ, 1), step(FOOBAZ, 2)], 2),
    "vparse_empty_star_lines": ([vary("", "*")], [step(FOOBAZ, 1), step(FOOBAZ, 2)], 2),
    "vparse_star_foo": ([vary("*, Foo")], [step(FOOBAZ, 1), step(FOOBAZ, 2)], 2),
    "vparse_foo_star": ([vary("Foo, *")], [step(FOOBAZ, 1), step(FOOBAZ, 2)], 2),
    # -- collapse (§4: a cache may make one request for concurrent ones) ----
    # the first answer takes 1.5 s; the second client asks 0.3 s after the
    # first and must get the same answer without a second origin request
    "collapse_basic": ([dict(FRESH, delay_ms=1500)],
                       [step([], 1, pause=0.3, concurrent=True), step([], 1)], 1),
}


def raw_get(node, path, lines):
    """GET with the header lines as given (repeated names kept)."""
    head = "GET %s HTTP/1.1\r\nHost: example.com\r\n%sConnection: close\r\n\r\n" % (
        path, "".join("%s: %s\r\n" % kv for kv in lines))
    return node.raw(head.encode(), timeout=10.0).first()


def origin_fields(beh, name):
    """The value a field of origin behaviour beh has on the wire (lines joined)."""
    if name.lower() == "cache-control":
        return beh.get("cc")
    vals = [v for k, v in beh.get("headers", []) if k.lower() == name.lower()]
    return ", ".join(vals) if vals else None


def check_response(r, n_step, st, answers):
    """Problems with one client response (an empty list when right)."""
    if r.status != 200:
        return ["step %d: status %d" % (n_step, r.status)]
    got = r.header("X-Origin-Count")
    if got != str(st["served_by"]):
        return ["step %d: got origin answer %s, want %d (%s)" % (
            n_step, got, st["served_by"], r.header("Cache-Status"))]
    problems = []
    beh = answers[min(st["served_by"], len(answers)) - 1]
    for name in ("Vary", "Cache-Control"):
        want = origin_fields(beh, name)
        # the suite compares joined field values; ", " joins lines on both sides
        have = r.header(name)
        if want is not None and want != "" and have != want:
            problems.append("step %d: %s is %r, origin sent %r" % (n_step, name, have, want))
    if r.header("Last-Modified") is None:
        problems.append("step %d: Last-Modified lost" % n_step)
    return problems


def run_case(node, origin, name, case):
    """Runs one case; returns a list of problems (empty when it passed)."""
    answers, steps, total = case
    path = "/conf-vary/" + name
    origin.script({path: {"seq": answers}})
    problems = []
    pending = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for i, st in enumerate(steps, 1):
            fut = pool.submit(raw_get, node, path, st["req"])
            if st["concurrent"]:
                pending.append((i, st, fut))
            else:
                try:
                    problems += check_response(fut.result(timeout=15), i, st, answers)
                except Exception as e:  # noqa: BLE001 (reported as the case's failure)
                    problems.append("step %d: %s: %s" % (i, type(e).__name__, e))
            if st["pause"]:
                time.sleep(st["pause"])
        for i, st, fut in pending:
            try:
                problems += check_response(fut.result(timeout=15), i, st, answers)
            except Exception as e:  # noqa: BLE001
                problems.append("step %d: %s: %s" % (i, type(e).__name__, e))
    n = origin.count(path)
    if n != total:
        problems.append("origin saw %d requests, want %d" % (n, total))
    return problems


class ConfVary(harness.OutpostTestCase):
    results = {}

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin, overrides={"node": {"workers": 2}})
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(CASES)) as pool:
            futs = {name: pool.submit(run_case, cls.node, cls.origin, name, case)
                    for name, case in CASES.items()}
            for name, fut in futs.items():
                try:
                    cls.results[name] = fut.result(timeout=45)
                except Exception as e:  # noqa: BLE001
                    cls.results[name] = ["%s: %s" % (type(e).__name__, e)]

    def test_revalidation_names_every_variant_etag(self):
        """RFC 9111 §4.3.1 / §4.3.4: revalidating a stale variant sends the
        ETags of every stored variant; a 304 naming another variant's ETag
        selects that one, which is updated, served, and stored as the
        request's own variant as well."""
        path = "/conf-vary/etags"
        tagged = [dict(cc="max-age=1", headers=[["Vary", "Foo"], ["ETag", t]])
                  for t in ('"a"', '"b"')]
        self.origin.script({path: {"seq": tagged + [
            dict(cc="max-age=600", headers=[["Vary", "Foo"], ["ETag", '"b"']])]}})
        a = raw_get(self.node, path, [("Foo", "1")])
        b = raw_get(self.node, path, [("Foo", "2")])
        self.assertEqual((a.status, b.status), (200, 200))
        time.sleep(2.2)  # both stale (max-age=1)
        r = raw_get(self.node, path, [("Foo", "1")])
        self.assertEqual((r.status, r.body, r.header("ETag")), (200, b.body, '"b"'), r)
        recs = self.origin.requests(path)
        self.assertEqual([x["status"] for x in recs], [200, 200, 304])
        inm = harness.split_list(harness.req_header(recs[2], "If-None-Match"))
        self.assertEqual(sorted(inm), ['"a"', '"b"'])
        # the variant the 304 named is fresh now, and stored for Foo: 1 too:
        # no origin request for either
        for foo in ("2", "1"):
            r = raw_get(self.node, path, [("Foo", foo)])
            self.assertEqual((r.status, r.body, r.header("X-Cache")), (200, b.body, "HIT"), r)
            self.assertNotIn("stale", r.header("Cache-Status"))
        self.assertEqual(self.origin.count(path), 3)

    def test_background_revalidation_names_every_variant_etag(self):
        """The same for a stale-while-revalidate refresh: the 304 naming the
        other variant's ETag refreshes that variant in the background, and it
        replaces the stale one of the request that started the refresh."""
        path = "/conf-vary/etags-swr"
        cc = "max-age=1, stale-while-revalidate=60"
        tagged = [dict(cc=cc, headers=[["Vary", "Foo"], ["ETag", t]]) for t in ('"a"', '"b"')]
        self.origin.script({path: {"seq": tagged + [
            dict(cc="max-age=600", headers=[["Vary", "Foo"], ["ETag", '"b"'], ["X-New", "1"]])]}})
        a = raw_get(self.node, path, [("Foo", "1")])
        b = raw_get(self.node, path, [("Foo", "2")])
        time.sleep(2.2)  # both stale (max-age=1)
        r = raw_get(self.node, path, [("Foo", "1")])  # stale answer, refresh started
        self.assertEqual((r.status, r.body), (200, a.body), r)
        harness.wait_until(lambda: [x["status"] for x in self.origin.requests(path)] ==
                           [200, 200, 304], 5.0, what="background 304")
        recs = self.origin.requests(path)
        inm = harness.split_list(harness.req_header(recs[2], "If-None-Match"))
        self.assertEqual(sorted(inm), ['"a"', '"b"'])
        # the variant the 304 named is fresh now, with the 304's fields
        harness.wait_until(lambda: raw_get(self.node, path, [("Foo", "2")]).header("X-New")
                           == "1", 3.0, what="variant refreshed")
        for foo in ("2", "1"):  # Foo: 1 now has the representation the 304 named
            r = raw_get(self.node, path, [("Foo", foo)])
            self.assertEqual((r.body, r.header("X-Cache"), r.header("X-New")),
                             (b.body, "HIT", "1"), r)
            self.assertNotIn("stale", r.header("Cache-Status"))
        self.assertEqual(self.origin.count(path), 3)


def _make_test(name):
    def test(self):
        self.assertEqual(self.results.get(name), [], name)
    test.__name__ = "test_" + name
    return test


for _name in CASES:
    setattr(ConfVary, "test_" + _name, _make_test(_name))

if __name__ == "__main__":
    harness.main()
