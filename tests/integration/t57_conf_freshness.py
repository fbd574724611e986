#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Freshness conformance as a shared cache / CDN, one case per check of the
public HTTP caching test suite (cache-tests.fyi) in the groups cc-freshness,
cc-parse, expires-freshness, expires-parse, age-parse, heuristic-freshness,
cdn-cache-control, surrogate-control and pragma, written here as our own
table.  Cases run concurrently, each on its own path, so the pauses overlap.

A case is a list of steps; step n is the n-th client request and also says
what the origin answers to its n-th request (origin.py `seq`, as the suite's
server does).  "cached" = the response did not come from the origin (its
X-Origin-Count is below the step number); "fresh" = it did (equal).  Every
field the origin sent on a response the client got from the origin must reach
the client unchanged (checked fields only, as the suite does); Date-valued
fields are compared as dates.

Suite id -> our case ("opt" = kind optimal, counted here because required
tests depend on it; "n/a" = not a required test for a shared cache):
 cc-freshness
  freshness-none                          -> none (check; others depend on it)
  freshness-max-age                       -> max_age (opt)
  freshness-max-age-stale                 -> max_age_stale
  freshness-max-age-0                     -> max_age_0
  freshness-max-age-max-minus-1 / -max / -max-plus-1 / -max-plus
                                          -> max_age_2147483647 / _2147483648 /
                                             _2147483649 / _99999999999 (opt)
  freshness-max-age-age                   -> max_age_age
  freshness-max-age-date                  -> n/a (check)
  freshness-max-age-expires               -> max_age_past_expires (opt)
  freshness-max-age-expires-invalid       -> max_age_invalid_expires (opt)
  freshness-max-age-0-expires             -> max_age_0_future_expires
  freshness-max-age-extension             -> max_age_extension (opt)
  freshness-max-age-case-insenstive       -> max_age_case (opt)
  freshness-max-age-negative              -> max_age_negative
  freshness-max-age-s-maxage-private(-multiple) -> n/a (browser only)
  freshness-s-maxage-shared               -> s_maxage
  freshness-max-age-s-maxage-shared-longer(-reversed/-multiple)
                                          -> s_maxage_short / _reversed / _two_lines
  freshness-max-age-s-maxage-shared-shorter(-expires)
                                          -> s_maxage_long / _past_expires (opt)
 cc-parse
  freshness-max-age-ignore-quoted(-rev)   -> quoted_max_age_ignored / _after
  freshness-max-age-leading-zero          -> max_age_leading_zeros
  freshness-max-age-single-quoted         -> max_age_single_quoted
  freshness-max-age-two-*, -quoted, -space-*, -decimal-*, -a100, -100a -> n/a (check)
 expires-freshness
  freshness-expires-future                -> expires_future (opt)
  freshness-expires-past / -present / -old-date / -invalid
                                          -> expires_past / _now / _before_date / _invalid
  freshness-expires-invalid-date          -> expires_invalid_date (opt)
  freshness-expires-age-slow-date / -fast-date -> expires_age_slow_date / _fast_date
 expires-parse (RFC 9110 §5.6.7: IMF-fixdate, or the two obsolete forms)
  freshness-expires-32bit, -far-future, -rfc850, -ansi-c, -wrong-case-weekday /
  -month / -tz                            -> expires_parse_* (opt)
  freshness-expires-invalid-utc / -aest / -2-digit-year / -no-comma /
  -multiple-spaces / -date-dashes / -time-periods / -1-digit-hour /
  -multiple-lines                         -> expires_bad_utc / _aest / _2_digit_year /
                                             _no_comma / _spaces / _dashes / _periods /
                                             _1_digit_hour / _two_lines
 age-parse (RFC 9111 §5.1: Age = delta-seconds; an invalid one is ignored;
  §1.2.2: a delta past 2^31 is 2147483648; §4.2.1: first of several values)
  age-parse-nonnumeric / -negative / -float -> age_nonnumeric / _negative / _float
  age-parse-large-minus-one / -large / -larger -> age_2147483647 / _2147483648 /
                                             _2147483649
  age-parse-suffix / -prefix / -suffix-twoline / -prefix-twoline
                                          -> age_old_0 / _0_old / _old_0_lines /
                                             _0_old_lines
  age-parse-dup-0 / -dup-0-twoline / -dup-old -> age_0_0 / _0_0_lines / _dup_old_lines
  age-parse-parameter / -numeric-parameter -> n/a (check)
 pragma                                   -> n/a (every test is kind check)
 heuristic-freshness
  heuristic-{201,202,403,502,503,504}-not_cached, heuristic-599-not_cached
                                          -> heuristic_<status>
  heuristic-{200,203,204,404,405,410,414,501,599(public)}-cached
                                          -> heuristic_<status> (opt)
  heuristic-delta-*                       -> n/a (check)
 cdn-cache-control (RFC 9213)
  cdn-max-age, -max, -max-plus, -extension, -expires, -cc-max-age-invalid-expires,
  -short-cc-max-age                       -> cdn_* (opt)
  cdn-max-age-age / -0 / -0-expires / -long-cc-max-age / cdn-private /
  cdn-no-cache / cdn-no-store-cc-fresh / cdn-fresh-cc-nostore /
  cdn-cc-invalid-sh-type-unknown / -wrong -> cdn_age / cdn_0 / cdn_0_expires /
                                             cdn_short_over_cc / cdn_private /
                                             cdn_no_cache / cdn_no_store / cdn_over_cc_no_store /
                                             cdn_invalid_sf / cdn_quoted_max_age
  cdn-max-age-space-*, -case-insensitive, cdn-remove-*, cdn-*-update-exceed -> n/a (check)
 surrogate-control (older suite versions only; not in the newest index)
  surrogate-max-age, -max, -max-plus, -me-target, -extension, -case-insensitive,
  -expires, -cc-max-age-invalid-expires, -short-cc-max-age -> sc_* (opt)
  surrogate-max-age-other-target / -age / -0 / -0-expires / -long-cc-max-age /
  surrogate-no-store / -no-store-cc-fresh / surrogate-fresh-cc-nostore
                                          -> sc_other_target / sc_age / sc_0 / sc_0_expires /
                                             sc_short_over_cc / sc_no_store /
                                             sc_no_store_over_cc / sc_over_cc_no_store
  surrogate-max-age-space-*, surrogate-append-capabilities, surrogate-remove-header
                                          -> n/a (check)

Besides the suite: directives that came only in CDN-Cache-Control or
Surrogate-Control keep governing the stored response after a 304 or a HEAD
that does not repeat them, and after a restart (disk tier); Surrogate-Control
never reaches a client.
"""

import concurrent.futures
import email.utils
import os
import shutil
import tempfile
import time
import urllib.parse

import harness

PAUSE = 3.0  # the suite's pause after a setup response
LONG = 30 * 24 * 3600


def http_date(delta):
    return email.utils.formatdate(time.time() + delta, usegmt=True)


def R(*fields, status=None, reason=None):
    """An origin response: fields are (name, value[, checked]); an int value
    is a date that many seconds from the moment the origin sends it."""
    return {"fields": fields, "status": status, "reason": reason}


def S(resp=None, expect=None, pause=False, req=None, status=None, method="GET"):
    """A step: the origin's answer to its n-th request, what the client must
    see for the n-th request (expect "revalidated": the origin answered 304
    and the client got the stored response), a pause after it (True: the
    suite's; or seconds), request fields and method."""
    return {"resp": resp or R(), "expect": expect, "pause": pause, "req": req or {},
            "status": status, "method": method}


def fresh_after(*fields):
    """Stored, then reused after the suite's pause."""
    return [S(R(*fields), pause=True), S(expect="cached")]


def stale_after(*fields):
    """Stored or not, not reused after the pause."""
    return [S(R(*fields), pause=True), S(expect="fresh")]


def not_reused(*fields):
    """Not reused on the very next request (no pause)."""
    return [S(R(*fields)), S(expect="fresh")]


CC, EXP, DATE, AGE, LM = "Cache-Control", "Expires", "Date", "Age", "Last-Modified"
CDN, SC, ETAG = "CDN-Cache-Control", "Surrogate-Control", "ETag"


def kept_after_update(field, method):
    """A directive that came only in a targeted field keeps governing the
    stored response after an update that does not repeat it (RFC 9111
    §4.3.4, §4.3.5: the update replaces the fields it carries, the others
    stay): fresh 4 s by the targeted field, 0 s by Cache-Control; once stale,
    a 304 (or a HEAD) with only Cache-Control refreshes it for 4 s more."""
    upd = R((ETAG, '"v1"'), (CC, "max-age=0"))
    return [S(R((ETAG, '"v1"'), (CC, "max-age=0"), (field, "max-age=4", False)), pause=4.4),
            S(upd, expect="revalidated" if method == "GET" else "fresh", method=method),
            S(expect="cached")]


def heuristic(status, reason, reuse, *extra):
    """RFC 9111 §4.2.2 / RFC 9110 §15.1: heuristic freshness from a day-old
    Last-Modified only for heuristically cacheable statuses (or public)."""
    st = [S(R((LM, -86400), (DATE, 0), *extra, status=status, reason=reason), status=status),
          S(R(status=status, reason=reason), expect="cached" if reuse else "fresh",
            status=status)]
    return st


CASES = {
    # --- cc-freshness (RFC 9111 §4.2.1, §5.2.2.1, §5.2.2.10) ---
    "none": stale_after(),  # §4.2.2: no freshness, no validator: not reused
    "max_age": fresh_after((CC, "max-age=3600")),
    "max_age_stale": [S(R((CC, "max-age=2"), ("Template-A", "1")), pause=True),
                      S(expect="fresh")],  # §4.2: stale after its lifetime
    "max_age_0": stale_after((CC, "max-age=0")),
    "max_age_2147483647": fresh_after((CC, "max-age=2147483647")),
    "max_age_2147483648": fresh_after((CC, "max-age=2147483648")),  # §1.2.2
    "max_age_2147483649": fresh_after((CC, "max-age=2147483649")),
    "max_age_99999999999": fresh_after((CC, "max-age=99999999999")),
    "max_age_age": stale_after((DATE, 0), (CC, "max-age=3600"), (AGE, "7200")),  # §4.2.3
    "max_age_past_expires": fresh_after((CC, "max-age=3600"), (EXP, -7200), (DATE, 0)),
    "max_age_invalid_expires": fresh_after((CC, "max-age=3600"), (EXP, "0", False), (DATE, 0)),
    "max_age_0_future_expires": stale_after((EXP, 3600), (CC, "max-age=0"), (DATE, 0)),
    "max_age_extension": fresh_after((CC, "foobar, max-age=3600")),  # §5.2.3
    "max_age_case": fresh_after((CC, "MaX-aGe=3600")),  # §5.2
    "max_age_negative": stale_after((CC, "max-age=-3600")),  # §1.2.2 invalid: stale
    "s_maxage": fresh_after((CC, "s-maxage=3600")),  # §5.2.2.10
    "s_maxage_short": stale_after((CC, "max-age=3600, s-maxage=1")),
    "s_maxage_short_reversed": stale_after((CC, "s-maxage=1, max-age=3600")),
    "s_maxage_short_two_lines": stale_after((CC, "max-age=3600"), (CC, "s-maxage=1")),
    "s_maxage_long": fresh_after((CC, "max-age=1, s-maxage=3600")),
    "s_maxage_long_past_expires": fresh_after((EXP, -10), (CC, "max-age=0, s-maxage=3600")),
    # --- cc-parse (RFC 9111 §5.2, RFC 9110 §5.6.4 quoted-string) ---
    "quoted_max_age_ignored": stale_after((CC, 'extension="max-age=3600", max-age=1', False)),
    "quoted_max_age_ignored_after": stale_after((CC, 'max-age=1, extension="max-age=3600"',
                                                 False)),
    "max_age_leading_zeros": fresh_after((CC, "max-age=003600", False)),  # §1.2.2 1*DIGIT
    "max_age_single_quoted": stale_after((CC, "max-age='3600'", False)),  # not a delta
    # --- expires-freshness (RFC 9111 §4.2.1, §5.3) ---
    "expires_future": fresh_after((EXP, LONG), (DATE, 0)),
    "expires_past": stale_after((EXP, -LONG), (DATE, 0)),
    "expires_now": not_reused((EXP, 0), (DATE, 0)),
    "expires_before_date": stale_after((EXP, 300), (DATE, 400)),  # Expires - Date < 0
    "expires_invalid": stale_after((EXP, "0", False), (DATE, 0)),  # §5.3: invalid = past
    "expires_invalid_date": [S(R((DATE, "foo", False), (EXP, 10))), S(expect="cached")],
    "expires_age_slow_date": not_reused((DATE, -10), (EXP, 10), (AGE, "25")),
    "expires_age_fast_date": not_reused((DATE, 10), (EXP, 20), (AGE, "15")),
    # --- expires-parse (RFC 9110 §5.6.7; §5.3: an invalid date means "already expired") ---
    "expires_parse_32bit": fresh_after((EXP, "Tue, 19 Jan 2038 14:14:08 GMT", False), (DATE, 0)),
    "expires_parse_far_future": fresh_after((EXP, "Sun, 21 Nov 2286 04:46:39 GMT", False),
                                            (DATE, 0)),
    "expires_parse_rfc850": fresh_after((EXP, "Thursday, 18-Aug-50 02:01:18 GMT", False),
                                        (DATE, 0)),
    "expires_parse_ansi_c": fresh_after((EXP, "Thu Aug  8 02:01:18 2050", False), (DATE, 0)),
    "expires_parse_case_weekday": fresh_after((EXP, "THU, 18 Aug 2050 02:01:18 GMT", False),
                                              (DATE, 0)),
    "expires_parse_case_month": fresh_after((EXP, "Thu, 18 AUG 2050 02:01:18 GMT", False),
                                            (DATE, 0)),
    "expires_parse_case_tz": fresh_after((EXP, "Thu, 18 Aug 2050 02:01:18 gMT", False),
                                         (DATE, 0)),
    "expires_bad_utc": stale_after((EXP, "Thu, 18 Aug 2050 02:01:18 UTC", False), (DATE, 0)),
    "expires_bad_aest": stale_after((EXP, "Thu, 18 Aug 2050 02:01:18 AEST", False), (DATE, 0)),
    "expires_bad_2_digit_year": stale_after((EXP, "Thu, 18 Aug 50 02:01:18 GMT", False),
                                            (DATE, 0)),
    "expires_bad_no_comma": stale_after((EXP, "Thu 18 Aug 2050 02:01:18 GMT", False), (DATE, 0)),
    "expires_bad_spaces": not_reused((EXP, "Thu, 18  Aug  2050 02:01:18 GMT", False), (DATE, 0)),
    "expires_bad_dashes": not_reused((EXP, "Thu, 18-Aug-2050 02:01:18 GMT", False), (DATE, 0)),
    "expires_bad_periods": not_reused((EXP, "Thu, 18 Aug 2050 02.01.18 GMT", False), (DATE, 0)),
    "expires_bad_1_digit_hour": not_reused((EXP, "Thu, 18 Aug 2050 2:01:18 GMT", False),
                                           (DATE, 0)),
    "expires_bad_two_lines": not_reused((EXP, "Thu, 18 Aug 2050 2:01:18 GMT", False),
                                        (EXP, "Thu, 18 Aug 2050 2:01:19 GMT", False), (DATE, 0)),
    # --- age-parse (RFC 9111 §5.1, §1.2.2, §4.2.1, §4.2.3) ---
    "age_nonnumeric": fresh_after((DATE, 0), (CC, "max-age=3600"), (AGE, "abc", False)),
    "age_negative": fresh_after((DATE, 0), (CC, "max-age=3600"), (AGE, "-7200", False)),
    "age_float": fresh_after((DATE, 0), (CC, "max-age=3600"), (AGE, "7200.0", False)),
    "age_2147483647": stale_after((DATE, 0), (CC, "max-age=3600"), (AGE, "2147483647", False)),
    "age_2147483648": stale_after((DATE, 0), (CC, "max-age=3600"), (AGE, "2147483648", False)),
    "age_2147483649": stale_after((DATE, 0), (CC, "max-age=3600"), (AGE, "2147483649", False)),
    "age_old_0": stale_after((DATE, 0), (CC, "max-age=3600"), (AGE, "7200, 0", False)),
    "age_0_old": fresh_after((DATE, 0), (CC, "max-age=3600"), (AGE, "0, 7200", False)),
    "age_old_0_lines": stale_after((DATE, 0), (CC, "max-age=3600"), (AGE, "7200", False),
                                   (AGE, "0", False)),
    "age_0_old_lines": fresh_after((DATE, 0), (CC, "max-age=3600"), (AGE, "0", False),
                                   (AGE, "7200", False)),
    "age_0_0": fresh_after((DATE, 0), (CC, "max-age=3600"), (AGE, "0, 0", False)),
    "age_0_0_lines": fresh_after((DATE, 0), (CC, "max-age=3600"), (AGE, "0", False),
                                 (AGE, "0", False)),
    "age_dup_old_lines": fresh_after((DATE, 0), (CC, "max-age=10000"), (AGE, "3600", False),
                                     (AGE, "3600", False)),
    # --- heuristic-freshness (RFC 9111 §4.2.2, RFC 9110 §15.1) ---
    "heuristic_200": heuristic(200, "OK", True),
    "heuristic_201": heuristic(201, "Created", False),
    "heuristic_202": heuristic(202, "Accepted", False),
    "heuristic_203": heuristic(203, "Non-Authoritative Information", True),
    "heuristic_204": heuristic(204, "No Content", True),
    "heuristic_403": heuristic(403, "Forbidden", False),
    "heuristic_404": heuristic(404, "Not Found", True),
    "heuristic_405": heuristic(405, "Method Not Allowed", True),
    "heuristic_410": heuristic(410, "Gone", True),
    "heuristic_414": heuristic(414, "URI Too Long", True),
    "heuristic_501": heuristic(501, "Not Implemented", True),
    "heuristic_502": heuristic(502, "Bad Gateway", False),
    "heuristic_503": heuristic(503, "Service Unavailable", False),
    "heuristic_504": heuristic(504, "Gateway Timeout", False),
    "heuristic_599": heuristic(599, "Unknown", False),
    "heuristic_599_public": heuristic(599, "Unknown", True, (CC, "public")),  # §5.2.2.9
    # --- cdn-cache-control (RFC 9213 §2.1, §2.2: it replaces CC and Expires) ---
    "cdn_max_age": fresh_after((CDN, "max-age=3600", False)),
    "cdn_max_age_2147483648": fresh_after((CDN, "max-age=2147483648", False)),
    "cdn_max_age_99999999999": fresh_after((CDN, "max-age=99999999999", False)),
    "cdn_age": stale_after((DATE, 0), (CDN, "max-age=3600", False), (AGE, "7200")),
    "cdn_0": stale_after((CDN, "max-age=0", False)),
    "cdn_extension": fresh_after((CDN, "foobar, max-age=3600", False)),
    "cdn_past_expires": fresh_after((CDN, "max-age=3600", False), (EXP, -10000), (DATE, 0)),
    "cdn_invalid_expires": fresh_after((CDN, "max-age=3600", False), (EXP, "0", False),
                                       (DATE, 0)),
    "cdn_0_expires": stale_after((CDN, "max-age=0", False), (EXP, 10000), (DATE, 0)),
    "cdn_long_over_cc": fresh_after((CC, "max-age=1"), (CDN, "max-age=3600", False)),
    "cdn_short_over_cc": stale_after((CC, "max-age=3600"), (CDN, "max-age=1", False)),
    # CDN-Cache-Control reaches the client (RFC 9213 §3: CDNs "typically
    # forward" it): the suite checks these two fields arrive unchanged
    "cdn_private": not_reused((CDN, "private"), (CC, "max-age=10000"), (EXP, 10000), (DATE, 0)),
    "cdn_no_cache": not_reused((CDN, "no-cache"), (CC, "max-age=10000"), (EXP, 10000),
                               (DATE, 0)),
    "cdn_no_store": stale_after((CC, "max-age=10000"), (CDN, "no-store", False), (EXP, 10000),
                                (DATE, 0)),
    "cdn_over_cc_no_store": fresh_after((CC, "no-store"), (CDN, "max-age=10000", False)),
    # §2.1: a field that is not a valid Dictionary is ignored as a whole
    "cdn_invalid_sf": stale_after((CDN, "max-age=10000, &&&&&", False), (CC, "no-store")),
    "cdn_quoted_max_age": stale_after((CDN, 'max-age="10000"', False), (CC, "no-store")),
    # --- surrogate-control (W3C Edge Architecture 1.0) ---
    "sc_max_age": fresh_after((SC, "max-age=3600", False)),
    "sc_max_age_2147483648": fresh_after((SC, "max-age=2147483648", False)),
    "sc_max_age_99999999999": fresh_after((SC, "max-age=99999999999", False)),
    "sc_me_target": fresh_after((SC, "max-age=3600;outpost", False)),
    "sc_other_target": stale_after((DATE, 0), (SC, "max-age=3600;not-for-you", False),
                                   (AGE, "7200")),
    "sc_age": stale_after((DATE, 0), (SC, "max-age=3600", False), (AGE, "7200")),
    "sc_0": stale_after((SC, "max-age=0", False)),
    "sc_extension": fresh_after((SC, "foobar, max-age=3600", False)),
    "sc_case": fresh_after((SC, "MaX-aGe=3600", False)),
    "sc_past_expires": fresh_after((SC, "max-age=3600", False), (EXP, -10000), (DATE, 0)),
    "sc_invalid_expires": fresh_after((SC, "max-age=3600", False), (EXP, "0", False),
                                      (DATE, 0)),
    "sc_0_expires": stale_after((SC, "max-age=0", False), (EXP, 10000), (DATE, 0)),
    "sc_long_over_cc": fresh_after((CC, "max-age=1"), (SC, "max-age=3600", False)),
    "sc_short_over_cc": stale_after((CC, "max-age=3600"), (SC, "max-age=1", False)),
    "sc_no_store": stale_after((SC, "no-store", False)),
    "sc_no_store_over_cc": stale_after((CC, "max-age=10000"), (SC, "no-store", False),
                                       (EXP, 10000), (DATE, 0)),
    "sc_over_cc_no_store": fresh_after((CC, "no-store"), (SC, "max-age=10000;outpost", False)),
    # --- not in the suite: the targeted fields outlive an update ---
    "cdn_kept_after_304": kept_after_update(CDN, "GET"),
    "sc_kept_after_304": kept_after_update(SC, "GET"),
    "cdn_kept_after_head": kept_after_update(CDN, "HEAD"),
    "sc_kept_after_head": kept_after_update(SC, "HEAD"),
}


def behaviour(resp):
    """origin.py behaviour for one scripted response."""
    b = {"headers": [], "date_headers": {}}
    for f in resp["fields"]:
        name, value = f[0], f[1]
        if isinstance(value, int):
            b["date_headers"][name] = value
        else:
            b["headers"].append([name, value])
    if resp["status"] is not None:
        b["status"] = resp["status"]
        b["reason"] = resp["reason"]
    return b


def same_date(a, b, slack=3):
    ta, tb = email.utils.parsedate_to_datetime(a), email.utils.parsedate_to_datetime(b)
    return abs((ta - tb).total_seconds()) <= slack


class Freshness(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)

    def origin_304s(self, path):
        q = urllib.parse.urlencode({"path": path, "status": 304})
        return self.origin._control("GET", "/__count?" + q)["count"]

    def check_fields(self, name, n, resp, r):
        """The fields the origin sent reach the client unchanged."""
        want = {}
        for f in resp["fields"]:
            if len(f) > 2 and not f[2] or f[0] == DATE:
                continue
            want.setdefault(f[0], []).append(f[1])
        for field, values in want.items():
            got = r.header_all(field)
            if all(isinstance(v, int) for v in values):
                ok = len(got) == 1 and same_date(got[0], http_date(values[0]))
            else:
                ok = ", ".join(got) == ", ".join(values)
            if not ok:
                return "%s step %d: %s is %r, origin sent %r" % (name, n, field, got, values)
        return None

    def run_case(self, name, steps):
        path = "/conf/%s" % name
        self.origin.script({path: {"seq": [behaviour(s["resp"]) for s in steps]}})
        for n, s in enumerate(steps, 1):
            r = self.node.request(s["method"], path, headers=s["req"])
            count = int(r.header("X-Origin-Count", "0"))
            status = s["status"] or 200
            if r.status != status:
                return "%s step %d: status %d, not %d" % (name, n, r.status, status)
            if s["expect"] == "cached" and count >= n:
                return "%s step %d: not served from cache (origin count %d)" % (name, n, count)
            if s["expect"] in ("fresh", "revalidated") and count != n:
                return "%s step %d: served from cache (origin count %d)" % (name, n, count)
            if s["expect"] == "revalidated" and self.origin_304s(path) < 1:
                return "%s step %d: the origin answered no 304" % (name, n)
            if count == n:
                err = self.check_fields(name, n, steps[count - 1]["resp"], r)
                if err:
                    return err
            if r.header(SC) is not None:  # meant for us, never relayed
                return "%s step %d: Surrogate-Control relayed: %r" % (name, n, r.header(SC))
            if s["pause"]:
                time.sleep(PAUSE if s["pause"] is True else s["pause"])
        return None

    def test_suite_cases(self):
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            futs = {name: pool.submit(self.run_case, name, steps)
                    for name, steps in CASES.items()}
            errors = []
            for name, f in futs.items():
                try:
                    err = f.result(timeout=60)
                except Exception as e:  # noqa: BLE001 (a case's own failure)
                    err = "%s: %r" % (name, e)
                if err:
                    errors.append(err)
        print("# %d cases in %.1f s, %d failed" % (len(CASES), time.monotonic() - t0,
                                                   len(errors)))
        for e in errors:
            print("# FAIL " + e)
        self.assertEqual(errors, [])

    def test_surrogate_control_never_relayed(self):
        """Surrogate-Control is stored but reaches no client: not on a miss,
        a hit, a HEAD, a range or through a route's response_headers rules;
        CDN-Cache-Control reaches every one of them."""
        def route(cfg):
            return harness.add_route(cfg, {"path": "/rh/", "pool": "web",
                                           "response_headers": {"add": {"X-Tag": "rh"}}})
        node = self.start_outpost(self.origin, mutate=route)
        both = [[CC, "no-store"], [SC, "max-age=60"], [CDN, "max-age=60"]]
        for p in ("/rh/targeted", "/plain/targeted"):
            self.origin.script({p: {"headers": both, "body": "0123456789"}})
            got = [node.get(p), node.get(p), node.head(p),
                   node.get(p, headers={"Range": "bytes=2-5"})]
            self.assertEqual([r.status for r in got], [200, 200, 200, 206], (p, got))
            self.assertEqual(got[3].body, b"2345")
            self.assertEqual(self.origin.count(p), 1, p)
            for r in got:
                self.assertIsNone(r.header(SC), (p, r))
                self.assertEqual(r.header(CDN), "max-age=60", (p, r))
            if p.startswith("/rh/"):  # (a 206 from the cache skips the rules: not ours)
                self.assertEqual([r.header("X-Tag") for r in got[:3]], ["rh"] * 3, got)

    def test_targeted_fields_kept_over_restart(self):
        """Freshness from CDN-Cache-Control / Surrogate-Control survives a
        restart (disk tier); CDN-Cache-Control is still relayed, and
        Surrogate-Control still is not."""
        d = tempfile.mkdtemp(prefix="outpost-t57-")
        self.addCleanup(shutil.rmtree, d, True)
        over = {"cache": {"disk": {"path": os.path.join(d, "cache"), "size": "64MiB"}}}
        paths = {"/restart/cdn": CDN, "/restart/sc": SC}
        for p, field in paths.items():
            self.origin.script({p: {"headers": [[CC, "max-age=0"], [field, "max-age=3600"]]}})
        n1 = self.start_outpost(self.origin, overrides=over)
        for p in paths:
            self.assertEqual(n1.get(p).status, 200)
        harness.wait_until(
            lambda: n1.metric("outpost_cache_disk_writes_total", default=0) >= len(paths), 5.0,
            what="disk writes")
        self.assertEqual(n1.stop(), 0)
        n2 = self.start_outpost(self.origin, overrides=over)
        for p, field in paths.items():
            r = n2.get(p)
            self.assertEqual((r.status, r.header("X-Origin-Count")), (200, "1"), (p, r))
            self.assertEqual(r.header(CDN), "max-age=3600" if field == CDN else None, r)
            self.assertIsNone(r.header(SC), r)
        self.assertEqual(self.origin.count("/restart/cdn"), 1)


if __name__ == "__main__":
    harness.main()
