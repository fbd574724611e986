#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""RFC 9111 conformance as a shared cache, one table case per required test
of the public HTTP caching test suite (cache-tests.fyi), groups cc-request,
cc-response, authorization, status, method, uncached, other, interim,
headers and header-list.  Written in our own words and format: each case is
a list of steps (a client request, what the origin answers if it is asked,
what the client must see); "cached" means the origin's request count did not
move, "origin" that it moved by one, "inm"/"ims" that the origin got one
conditional request (If-None-Match / If-Modified-Since), answered it 304, and
the client got the stored 200.  On a step the origin answers, every field the
origin sent (but Date and the hop-by-hop ones) must reach the client
unchanged, as the suite's server checks.  Cases run concurrently, each on
its own path, so their pauses overlap.

Suite test id -> our case (n/a: why):
  cc-request: every test is kind "check" (RFC 9111 §5.2.1), none required;
    we answer them as the RFC says, so they are cases too:
    ccreq-ma0 -> req_max_age0, ccreq-ma1 -> req_max_age1,
    ccreq-magreaterage -> req_max_age_aged, ccreq-max-stale -> req_max_stale,
    ccreq-max-stale-age -> n/a: stale on arrival and without a validator, we
      do not store it (doc/request.md, "Storing"), ccreq-min-fresh -> req_min_fresh,
    ccreq-min-fresh-age -> req_min_fresh_aged, ccreq-no-cache -> req_no_cache,
    ccreq-no-cache-lm -> req_no_cache_lm, ccreq-no-cache-etag ->
    req_no_cache_etag, ccreq-no-store -> req_no_store, ccreq-oic -> req_oic
  cc-response:
    cc-resp-private-shared               -> private_not_stored
    cc-resp-private-private              -> n/a: browser only, optional
    cc-resp-no-store                     -> no_store
    cc-resp-no-store-case-insensitive    -> no_store_case
    cc-resp-no-store-fresh               -> no_store_fresh
    cc-resp-no-store-old-new             -> no_store_keeps_old
    cc-resp-no-store-old-max-age         -> no_store_max_age0_keeps_old
    cc-resp-no-cache                     -> no_cache
    cc-resp-no-cache-case-insensitive    -> no_cache_case
    cc-resp-no-cache-revalidate          -> opt_no_cache_revalidate (optional)
    cc-resp-no-cache-revalidate-fresh    -> opt_no_cache_revalidate_fresh (optional)
    headers-omit-headers-listed-in-Cache-Control-no-cache(-single)
                                         -> n/a: check (t51 listed_fields)
    cc-resp-must-revalidate-fresh        -> opt_must_revalidate_fresh (optional)
    cc-resp-must-revalidate-stale        -> must_revalidate_stale
    cc-resp-immutable-*                  -> n/a: browser only
  authorization:
    other-authorization                  -> authorization_not_reused
    other-authorization-public           -> opt_authorization_public (optional)
    other-authorization-must-revalidate  -> opt_authorization_must_revalidate (optional)
    other-authorization-smaxage          -> opt_authorization_smaxage (optional)
  status:
    status-NNN-stale (18 codes)          -> stale_NNN
    status-NNN-fresh                     -> fresh_NNN: optional, but every
      status-NNN-stale depends on it, and the suite counts a test whose
      dependency fails as not passed
    status-599-must-understand           -> must_understand_unknown_status
    status-200-must-understand           -> opt_must_understand_200 (optional)
  method: method-POST is optional -> n/a (none required)
  uncached: an older form of "headers" (same field list) -> the header_* cases
  other:
    other-age-gen                        -> age_generated
    other-age-delay                      -> n/a: check
    other-age-update-expires             -> age_update_expires
    other-age-update-max-age             -> age_update_max_age
    other-date-update                    -> date_kept
    other-date-update-expires            -> date_kept_expires
    other-date-update-expires-update     -> n/a: check
    query-args-different                 -> query_args_different
    query-args-same                      -> opt_query_args_same (optional)
    other-set-cookie                     -> opt_set_cookie (optional)
    other-cookie                         -> opt_cookie (optional)
    other-*-content-disposition-*        -> n/a: check
  interim:
    interim-not-cached                   -> interim_not_cached
    interim-102                          -> interim_102 (optional)
    interim-103                          -> interim_103 (optional)
    interim-no-header-reuse              -> interim_not_cached (optional)
    and our own: interim_http10 (no 1xx to an HTTP/1.0 client, RFC 9110 §15.2),
    interim_100_not_relayed (we answer Expect ourselves, RFC 9110 §10.1.1),
    interim_malformed (a bad 1xx head: 502, the process goes on),
    interim_16_relayed / interim_flood (at most 16 1xx per try, then 502)
  headers / header-list:
    headers-omit-headers-listed-in-Connection -> connection_listed_not_stored
    headers-store-NAME (30 fields)       -> header_NAME (check; Transfer-Encoding
                                            with a coding other than chunked is
                                            a 502, see header_Transfer-Encoding)
  dependencies in other groups (the suite counts a required test only when
  every test it depends on passes, optional and check ones included):
    freshness-none (check)               -> dep_freshness_none
    freshness-max-age (optional)         -> dep_freshness_max_age
    freshness-expires-future (optional)  -> dep_freshness_expires_future
"""

import concurrent.futures
import email.utils
import time

import harness

PAUSE = 3.0  # the suite's pause between requests
STALE = 2.3  # max-age=1/2 is stale after this much more than its max-age

HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authentication-info",
       "proxy-authorization", "proxy-connection", "te", "transfer-encoding", "upgrade",
       "trailer", "date"}


def http_date(delta=0.0):
    return email.utils.formatdate(time.time() + delta, usegmt=True)


def fresh(**b):
    """The suite's "fresh" response: max-age=100000 and a Date of now."""
    h = b.pop("headers", [])
    return dict(b, headers=[["Cache-Control", "max-age=100000"]] + h,
                date_headers={"Date": 0})


def stale(status, body=None):
    """The suite's "stale" response: already expired by Expires, with an
    old Last-Modified (so no heuristic freshness either: Expires wins)."""
    b = {"status": status, "date_headers": {"Date": 0, "Expires": -5000,
                                            "Last-Modified": -100000}}
    if body is not None:
        b["body"] = body
    return b


def step(expect, origin=None, pause=0.0, **kw):
    return dict(kw, expect=expect, origin=origin, pause=pause)


CASES = {}


def case(name, section, *steps):
    CASES[name] = (section, list(steps))


# -- what the tests above depend on (RFC 9111 §4.2) -------------------------

case("dep_freshness_none", "RFC 9111 §4.2.2 no freshness, no validator: not reused",
     step("origin", {"date_headers": {"Date": 0}}, pause=PAUSE),
     step("origin", {}))
case("dep_freshness_max_age", "RFC 9111 §5.2.2.1 max-age=3600: reused",
     step("origin", {"cc": "max-age=3600"}, pause=PAUSE),
     step("cached"))
case("dep_freshness_expires_future", "RFC 9111 §5.3 a future Expires: reused",
     step("origin", {"date_headers": {"Date": 0, "Expires": 30 * 86400}}, pause=PAUSE),
     step("cached"))

# -- cc-request (RFC 9111 §5.2.1) ----------------------------------------

case("req_max_age0", "RFC 9111 §5.2.1.1 request max-age=0: not older than 0 s",
     step("origin", fresh(), pause=PAUSE),
     step("origin", {}, req={"Cache-Control": "max-age=0"}))
case("req_max_age1", "RFC 9111 §5.2.1.1 request max-age=1 against an Age of 3",
     step("origin", fresh(), pause=PAUSE),
     step("origin", {}, req={"Cache-Control": "max-age=1"}))
case("req_max_age_aged", "RFC 9111 §5.2.1.1 request max-age below the origin's Age",
     step("origin", fresh(headers=[["Age", "1800"]])),
     step("origin", {}, req={"Cache-Control": "max-age=600"}))
case("req_max_stale", "RFC 9111 §5.2.1.2 max-stale allows a stale response",
     step("origin", {"cc": "max-age=2", "date_headers": {"Date": 0}}, pause=PAUSE),
     step("cached", req={"Cache-Control": "max-stale=1000"}))
case("req_min_fresh", "RFC 9111 §5.2.1.3 min-fresh beyond the freshness lifetime",
     step("origin", {"cc": "max-age=1500"}),
     step("origin", {}, req={"Cache-Control": "min-fresh=2000"}))
case("req_min_fresh_aged", "RFC 9111 §5.2.1.3 min-fresh beyond what the Age leaves",
     step("origin", {"cc": "max-age=1500", "headers": {"Age": "1000"}}),
     step("origin", {}, req={"Cache-Control": "min-fresh=1000"}))
case("req_no_cache", "RFC 9111 §5.2.1.4 request no-cache: not served unvalidated",
     step("origin", {"cc": "max-age=3600"}),
     step("origin", {}, req={"Cache-Control": "no-cache"}))
_LM = http_date(-10000)
case("req_no_cache_lm", "RFC 9111 §5.2.1.4 request no-cache validates with If-Modified-Since",
     step("origin", {"cc": "max-age=3600", "headers": {"Last-Modified": _LM}}),
     step("ims", {"cc": "max-age=3600", "headers": {"Last-Modified": _LM}},
          req={"Cache-Control": "no-cache"}))
case("req_no_cache_etag", "RFC 9111 §5.2.1.4 request no-cache validates with If-None-Match",
     step("origin", {"cc": "max-age=3600", "headers": {"ETag": '"abc"'}}),
     step("inm", {"cc": "max-age=3600", "headers": {"ETag": '"abc"'}},
          req={"Cache-Control": "no-cache"}))
case("req_no_store", "RFC 9111 §5.2.1.5 request no-store: not served from the cache",
     step("origin", fresh(), pause=PAUSE),
     step("origin", {}, req={"Cache-Control": "no-store"}))
case("req_oic", "RFC 9111 §5.2.1.7 only-if-cached with nothing stored: 504",
     step("cached", req={"Cache-Control": "only-if-cached"}, status=504))

# -- cc-response (RFC 9111 §5.2.2) ---------------------------------------

case("private_not_stored", "RFC 9111 §5.2.2.7 private: a shared cache MUST NOT store",
     step("origin", {"cc": "private, max-age=3600"}),
     step("origin", {"cc": "private, max-age=3600"}))
case("no_store", "RFC 9111 §5.2.2.5 no-store",
     step("origin", {"cc": "no-store"}),
     step("origin", {"cc": "no-store"}))
case("no_store_case", "RFC 9111 §5.2 directive names are case-insensitive",
     step("origin", {"cc": "No-StOrE"}),
     step("origin", {"cc": "No-StOrE"}))
case("no_store_fresh", "RFC 9111 §5.2.2.5 no-store beats max-age and Expires",
     step("origin", {"cc": "max-age=10000, no-store",
                     "date_headers": {"Date": 0, "Expires": 10000}}),
     step("origin", {}))
case("no_store_keeps_old", "RFC 9111 §4: a fresh stored response is used, no request made",
     step("origin", {"cc": "max-age=10000", "headers": {"A": "1"},
                     "date_headers": {"Date": 0, "Expires": 10000}}, pause=PAUSE),
     step("cached", headers={"A": "1"}, pause=PAUSE),
     step("cached", headers={"A": "1"}))
case("no_store_max_age0_keeps_old", "RFC 9111 §4: as above, the origin never asked",
     step("origin", {"cc": "max-age=10000", "headers": {"A": "1"},
                     "date_headers": {"Date": 0, "Expires": 10000}}, pause=PAUSE),
     step("cached", headers={"A": "1"}, pause=PAUSE),
     step("cached", headers={"A": "1"}))
case("no_cache", "RFC 9111 §5.2.2.4 no-cache: not reused without validation",
     step("origin", {"cc": "max-age=10000, no-cache",
                     "date_headers": {"Date": 0, "Expires": 10000}}),
     step("origin", {}))
case("no_cache_case", "RFC 9111 §5.2 no-cache, name case-insensitive",
     step("origin", {"cc": "max-age=10000, No-CaChE",
                     "date_headers": {"Date": 0, "Expires": 10000}}),
     step("origin", {}))
# the suite uses max-age=2 and asks again at once; 4 s leaves slack on a
# loaded machine (the Date is whole seconds, so up to 1 s of it is gone)
case("must_revalidate_stale", "RFC 9111 §5.2.2.2 must-revalidate: stale -> validate",
     step("origin", {"cc": "max-age=4, must-revalidate", "headers": {"ETag": '"abcd"'}}),
     step("cached", pause=4 + STALE),
     step("inm", {"cc": "max-age=4, must-revalidate", "headers": {"ETag": '"abcd"'}}))

case("opt_no_cache_revalidate", "RFC 9111 §5.2.2.4 no-cache: stored, validated on use",
     step("origin", {"cc": "no-cache", "headers": {"ETag": '"abcd"'}}),
     step("inm", {"cc": "no-cache", "headers": {"ETag": '"abcd"'}}))
case("opt_no_cache_revalidate_fresh", "RFC 9111 §5.2.2.4 no-cache beats max-age: validated",
     step("origin", {"cc": "max-age=10000, no-cache", "headers": {"ETag": '"abcd"'},
                     "date_headers": {"Date": 0, "Expires": 10000}}),
     step("inm", {"cc": "max-age=10000, no-cache", "headers": {"ETag": '"abcd"'}}))
case("opt_must_revalidate_fresh", "RFC 9111 §5.2.2.2 must-revalidate while fresh: reused",
     step("origin", {"cc": "max-age=10000, must-revalidate", "headers": {"ETag": '"abcd"'}}),
     step("cached"))

# -- authorization (RFC 9111 §3.5) -----------------------------------------

case("authorization_not_reused", "RFC 9111 §3.5 Authorization: not stored without public etc.",
     step("origin", fresh(), pause=PAUSE, req={"Authorization": "FOO"},
          forwarded={"Authorization": "FOO"}),
     step("origin", {}))

for _n, _cc in (("public", "max-age=3600, public"),
                ("must_revalidate", "max-age=3600, must-revalidate"),
                ("smaxage", "s-maxage=3600")):
    case("opt_authorization_" + _n, "RFC 9111 §3.5 Authorization and %s: stored" % _cc,
         step("origin", {"cc": _cc, "date_headers": {"Date": 0}}, pause=PAUSE,
              req={"Authorization": "FOO"}, forwarded={"Authorization": "FOO"}),
         step("cached"))

# -- status (RFC 9111 §3, §4.2) ---------------------------------------------

for _st in (200, 203, 204, 299, 301, 302, 303, 307, 308, 400, 404, 410, 499, 500, 502,
            503, 504, 599):
    _body = None if _st == 204 else "status %d\n" % _st
    case("fresh_%d" % _st, "RFC 9111 §3 a %d with explicit freshness is stored and reused" % _st,
         step("origin", fresh(status=_st, body=_body), pause=PAUSE, status=_st, body=_body),
         step("cached", status=_st, body=_body))
    case("stale_%d" % _st, "RFC 9111 §4.2 a stale %d (Expires in the past) is not reused" % _st,
         step("origin", stale(_st, _body), pause=PAUSE, status=_st, body=_body),
         step("origin", {"body": "second\n"}, body="second\n"))
case("must_understand_unknown_status",
     "RFC 9111 §5.2.2.3 must-understand with a status we do not know: no-store holds",
     step("origin", {"status": 599, "cc": "max-age=3600, no-store, must-understand"}, status=599),
     step("origin", {}))

case("opt_must_understand_200", "RFC 9111 §5.2.2.3 must-understand on a known status: stored",
     step("origin", {"cc": "max-age=3600, no-store, must-understand"}),
     step("cached"))

# -- other (RFC 9111 §5.1 Age, RFC 9110 §6.6.1 Date, §2 cache key) ----------

case("age_generated", "RFC 9111 §5.1/§4: a hit carries Age (here > 2 after 3 s)",
     step("origin", fresh(), pause=PAUSE),
     step("cached", age_gt=2))
case("age_update_expires", "RFC 9111 §4.2.3 Age grows from the origin's Age (Expires)",
     step("origin", {"headers": {"Age": "30"},
                     "date_headers": {"Date": 0, "Expires": 30 * 86400}}, pause=PAUSE),
     step("cached", age_gt=32))
case("age_update_max_age", "RFC 9111 §4.2.3 Age grows from the origin's Age (max-age)",
     step("origin", fresh(headers=[["Age", "30"]]), pause=PAUSE),
     step("cached", age_gt=32))
case("date_kept", "RFC 9110 §6.6.1 a hit keeps the origin's Date",
     step("origin", fresh(), pause=PAUSE),
     step("cached", same_as_first=["Date"]))
case("date_kept_expires", "RFC 9110 §6.6.1 a hit keeps the origin's Date (Expires)",
     step("origin", {"date_headers": {"Date": 0, "Expires": 30 * 86400}}, pause=PAUSE),
     step("cached", same_as_first=["Date"]))
case("query_args_different", "RFC 9111 §2 the cache key is the whole target URI",
     step("origin", fresh(), pause=PAUSE, query="?test=one"),
     step("origin", {}, query="?test=two"))

case("opt_query_args_same", "RFC 9111 §2 the same query: the same key",
     step("origin", fresh(), pause=PAUSE, query="?test=same"),
     step("cached", query="?test=same"))
case("opt_set_cookie", "RFC 9111 §3 Set-Cookie does not prevent storing (doc/request.md: Set-Cookie)",
     step("origin", fresh(headers=[["Set-Cookie", "a=b"]]), pause=PAUSE),
     step("cached", headers={"Set-Cookie": "a=b"}))
case("opt_cookie", "RFC 9111 §4 a request Cookie does not prevent reuse",
     step("origin", fresh(), pause=PAUSE),
     step("cached", req={"Cookie": "a=b"}))

# -- interim (RFC 9110 §15.2) -----------------------------------------------

_EARLY = ("HTTP/1.1 103 Early Hints\r\nLink: </styles.css>; rel=preload; as=style\r\n"
          "X-My-Header: test\r\nConnection: x-hop\r\nX-Hop: 1\r\n\r\n")
_FINAL = ("HTTP/1.1 200 OK\r\nCache-Control: max-age=100000\r\n"
          "Content-Length: 6\r\n\r\nfinal\n")
case("interim_not_cached", "RFC 9110 §15.2 a 1xx is relayed, never stored: the final one is",
     step("origin", {"raw": _EARLY + _FINAL}, pause=PAUSE, body="final\n",
          interim=[(103, {"Link": "</styles.css>; rel=preload; as=style",
                          "X-My-Header": "test"}, ["Connection", "X-Hop"])],
          missing=["X-My-Header"]),
     step("cached", body="final\n", interim=[], missing=["X-My-Header", "Link"]))
case("interim_102", "RFC 9110 §15.2 a proxy forwards a 102",
     step("origin", {"raw": "HTTP/1.1 102 Processing\r\n\r\n" + _FINAL}, pause=PAUSE,
          body="final\n", interim=[(102, {}, [])]),
     step("cached", body="final\n", interim=[]))
case("interim_103", "RFC 9110 §15.2 a proxy forwards a 103 (RFC 8297)",
     step("origin", {"raw": _EARLY + _FINAL}, pause=PAUSE, body="final\n",
          interim=[(103, {"Link": "</styles.css>; rel=preload; as=style"}, [])]),
     step("cached", body="final\n", interim=[]))
case("interim_http10", "RFC 9110 §15.2 no 1xx to an HTTP/1.0 client",
     step("origin", {"raw": _EARLY + _FINAL}, body="final\n", interim=[], http10=True))
case("interim_malformed", "RFC 9112 §2.2 a malformed 1xx head: 502, nothing relayed",
     step("origin", {"raw": "HTTP/1.1 103 Early Hints\r\nno colon\r\n\r\n" + _FINAL},
          status=502, interim=[]))
case("interim_16_relayed", "ours: up to 16 interim responses before the final one are relayed",
     step("origin", {"raw": "HTTP/1.1 102 Processing\r\n\r\n" * 16 + _FINAL},
          body="final\n", interim=[(102, {}, [])] * 16))
case("interim_flood", "ours: a 17th interim response is a 502 (an origin may not stall "
     "the exchange with endless 1xx), the process goes on",
     step("origin", {"raw": "HTTP/1.1 102 Processing\r\n\r\n" * 17 + _FINAL},
          status=502, interim=[(102, {}, [])] * 16))
case("interim_100_not_relayed", "RFC 9110 §10.1.1 the origin's 100 is not for the client",
     step("origin", {"raw": "HTTP/1.1 100 Continue\r\n\r\n" + _FINAL}, body="final\n",
          interim=[]))

# -- headers / header-list (RFC 9111 §3.1, RFC 9110 §7.6.1) ---------------

case("connection_listed_not_stored", "RFC 9110 §7.6.1 fields named by Connection are hop-by-hop",
     step("origin", fresh(headers=[["Connection", "a, b"], ["a", "1"], ["b", "2"], ["c", "3"]]),
          pause=PAUSE, missing=["a", "b"], headers={"c": "3"}),
     step("cached", headers={"c": "3"}, missing=["a", "b", "Connection"]))

# (name, value, stored): every field a shared cache stores, but the hop-by-hop
# ones (RFC 9110 §7.6.1) and those of the proxy it forwards through (RFC 9111
# §3.1: Proxy-Authenticate, Proxy-Authentication-Info, Proxy-Authorization).
HEADER_LIST = [
    ("Test-Header", "test-header-value", True),
    ("X-Test-Header", "x-test-header-value", True),
    ("Content-Foo", "content-foo-value", True),
    ("X-Content-Foo", "x-content-foo-value", True),
    ("Cache-Control", "max-age=3600", True),
    ("Connection", "connection-value", False),
    ("Content-Encoding", "content-encoding-value", True),
    ("Content-Length", "10", True),
    ("Content-Location", "/bar", True),
    ("Content-MD5", "N7UdGUp1E+RbVvZSTy1R8g==", True),
    ("Content-Range", "content-range-value", True),
    ("Content-Security-Policy", "default-src 'self' cdn.example.com", True),
    ("Content-Type", "text/plain;charset=utf-8", True),
    ("Clear-Site-Data", "cookies", True),
    ("ETag", '"ghijkl"', True),
    ("Expires", "Mon, 11 Jan 2038 11:11:11 GMT", True),
    ("Keep-Alive", "keep-alive-value", False),
    ("Proxy-Authenticate", "proxy-authenticate-value", False),
    ("Proxy-Authentication-Info", "proxy-authentication-info-value", False),
    ("Proxy-Authorization", "proxy-authorization-value", False),
    ("Proxy-Connection", "proxy-connection-value", False),
    ("Public-Key-Pins", "public-key-pins-value", True),
    ("Set-Cookie", "a=c", True),
    ("Set-Cookie2", "a=c", True),
    ("TE", "te-value", False),
    ("Upgrade", "upgrade-value", False),
    ("X-Frame-Options", "sameorigin", True),
    ("X-XSS-Protection", "1; mode=block", True),
]


def _raw_response(name, value, body):
    """A response the origin script cannot build itself, sent as a server
    that keeps the connection open would: a Content-Length shorter than the
    bytes that follow (the rest is not part of the message: the connection
    cannot be reused), or a transfer coding that is not chunked (RFC 9112
    §6.3: the body runs to the close, which comes 1.5 s later)."""
    return {"raw": "HTTP/1.1 200 OK\r\nDate: %s\r\nCache-Control: max-age=3600\r\n"
                   "%s: %s\r\n\r\n%s" % (http_date(), name, value, body),
            "raw_hold_ms": 1500}


for _name, _value, _stored in HEADER_LIST:
    _sec = ("RFC 9111 §3.1 a cache stores %s" if _stored else
            "RFC 9111 §3.1 / RFC 9110 §7.6.1 a cache does not store %s") % _name
    _seen = {_name: _value} if _stored else {}
    _gone = [] if _stored else [_name]
    if _name == "Content-Length":
        _body = "0123456789"
        _o = _raw_response(_name, _value, _body + ("-and-more" if _stored else ""))
    else:
        _body = None
        _h = [[_name, _value]]
        if _name != "Cache-Control":
            _h.append(["Cache-Control", "max-age=3600"])
        _o = {"headers": _h, "date_headers": {"Date": 0}}
    case("header_" + _name, _sec,
         step("origin", _o, pause=PAUSE, body=_body),
         step("cached", headers=_seen, missing=_gone, body=_body))


# headers-store-Transfer-Encoding (kind check): a transfer coding other than
# chunked would reach the client (and the cache) still coded, labelled as
# nothing: a 502, as nginx answers; not stored, the next request asks again.
case("header_Transfer-Encoding", "RFC 9112 §6.1 a transfer coding we cannot remove: 502",
     step("origin", _raw_response("Transfer-Encoding", "transfer-encoding-value", "0123456789"),
          pause=PAUSE, status=502),
     step("origin", _raw_response("Transfer-Encoding", "transfer-encoding-value", "0123456789"),
          status=502))


class Conformance(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)

    def get_raw(self, path, headers, http10=False):
        """GET on a raw connection: (final response, [(status, 1xx response)])."""
        req = "GET %s HTTP/1.%d\r\nHost: example.com\r\n%s\r\n" % (
            path, 0 if http10 else 1, "".join("%s: %s\r\n" % kv for kv in headers.items()))
        with self.node.connect(timeout=10.0) as conn:
            conn.send(req)
            interim = []
            for _ in range(20):
                r = conn.read_response(allow_interim=True)
                if r.status >= 200:
                    return r, interim
                interim.append((r.status, r))
            raise AssertionError("more than 20 interim responses")

    def run_case(self, name, steps):
        path = "/c57/" + name
        seq = [s["origin"] for s in steps if s["expect"] != "cached"]
        self.origin.script({path: {"seq": seq}})
        first = None
        for i, s in enumerate(steps, 1):
            where = "%s step %d" % (name, i)
            # the suite's client sends these two unless a case gives its own
            headers = dict(s.get("req") or {"Pragma": "foo",
                                            "Cache-Control": "nothing-to-see-here"})
            if "interim" in s:
                r, interim = self.get_raw(path, headers, s.get("http10", False))
                assert [i[0] for i in interim] == [i[0] for i in s["interim"]], \
                    "%s: 1xx %r, want %r" % (where, [i[0] for i in interim], s["interim"])
                for (st, want, gone), got in zip(s["interim"], interim):
                    for k, v in want.items():
                        assert got[1].header(k) == v, "%s: %d %s=%r" % (
                            where, st, k, got[1].header(k))
                    for k in gone:
                        assert got[1].header(k) is None, "%s: %d has %s" % (where, st, k)
            else:
                r = self.node.get(path + s.get("query", ""), headers=headers)
            after = self.origin.count(path)
            if first is None:
                first = r
            n_origin = after
            want_st = s.get("status", 200)
            assert r.status == want_st, "%s: status %d, want %d: %r" % (where, r.status,
                                                                          want_st, r)
            sent = sum(1 for t in steps[:i] if t["expect"] != "cached")
            if s["expect"] == "cached":
                assert n_origin == sent, "%s: the origin was asked (%d requests, want %d): %r" % (
                    where, n_origin, sent, r.headers)
            else:
                assert n_origin == sent, "%s: %d origin requests, want %d (served from cache?) %r" % (
                    where, n_origin, sent, r.headers)
            if s["expect"] in ("inm", "ims"):
                rec = self.origin.requests(path)[-1]
                field = "If-None-Match" if s["expect"] == "inm" else "If-Modified-Since"
                assert harness.req_header(rec, field) is not None, "%s: no %s: %r" % (
                    where, field, rec)
                assert rec["status"] == 304, "%s: origin answered %r" % (where, rec["status"])
            if s["expect"] == "origin" and "raw" not in s["origin"]:
                # as the suite's server checks: what the origin sent arrives
                sent_h = self.origin.requests(path)[-1].get("response_headers", [])
                for k, v in sent_h:
                    lk = k.lower()
                    if lk in HOP or lk == "content-length" or lk in s.get("missing", ()):
                        continue
                    got = ", ".join(r.header_all(k))
                    want = ", ".join(v2 for k2, v2 in sent_h if k2.lower() == lk)
                    assert got == want, "%s: origin's %s: %r reached the client as %r" % (
                        where, k, want, got)
            for k, v in s.get("headers", {}).items():
                assert r.header(k) == v, "%s: %s is %r, want %r: %r" % (where, k, r.header(k),
                                                                        v, r.headers)
            for k in s.get("missing", ()):
                assert r.header(k) is None, "%s: %s present: %r" % (where, k, r.headers)
            for k in s.get("same_as_first", ()):
                assert r.header(k) == first.header(k), "%s: %s %r, first had %r" % (
                    where, k, r.header(k), first.header(k))
            if "age_gt" in s:
                age = r.header("Age")
                assert age is not None and age.isdigit() and int(age) > s["age_gt"], \
                    "%s: Age %r, want > %d" % (where, age, s["age_gt"])
            if s.get("body") is not None:
                assert r.body == s["body"].encode(), "%s: body %r" % (where, r.body)
            elif s.get("status") == 204:
                assert r.body == b"", "%s: body %r" % (where, r.body)
            if "forwarded" in s:
                rec = self.origin.requests(path)[-1]
                for k, v in s["forwarded"].items():
                    assert harness.req_header(rec, k) == v, "%s: origin got %s=%r" % (
                        where, k, harness.req_header(rec, k))
            if s["pause"]:
                time.sleep(s["pause"])

    def test_suite_cases(self):
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
            futs = {name: pool.submit(self.run_case, name, steps)
                    for name, (sec, steps) in CASES.items()}
            results = {}
            for name, f in futs.items():
                try:
                    f.result(timeout=120)
                    results[name] = None
                except Exception as e:  # reported per case below
                    results[name] = "%s: %s" % (type(e).__name__, e)
        failed = {n: e for n, e in results.items() if e}
        for name in CASES:
            with self.subTest(case=name, rule=CASES[name][0]):
                if results[name]:
                    self.fail(results[name])
        print("# t57: %d/%d cases pass in %.1f s" % (len(CASES) - len(failed), len(CASES),
                                                      time.monotonic() - t0))


if __name__ == "__main__":
    harness.main()
