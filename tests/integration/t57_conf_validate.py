#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""RFC 9111 conformance of the shared cache, case by case, for validation,
304 freshening, stale serving, invalidation and partial content: one table
row per behaviour of the public HTTP caching test suite (cache-tests.fyi)
groups conditional, conditional-etag, conditional-lm, update304,
update-head, stale, cc-stale, invalidation and partial, written in our own
words.  Every case runs on its own path, all cases at once in a thread pool
so that their sleeps overlap.

Every request carries "Cache-Control: nothing-to-see-here" and
"Pragma: foo", as the suite's client sends them: an unknown request
directive is ignored (RFC 9111 §5.2) and Pragma only counts when there is
no Cache-Control (§5.4).

Suite test id -> our case (required tests first; "opt" = kind optimal,
"chk" = kind check: run here when cheap, not counted as required):
  conditional-304-etag                      -> inm_304_carries_etag
  conditional-etag-precedence               -> inm_over_ims_match, inm_over_ims_nomatch
  conditional-etag-vary-headers             -> validate_sends_vary_headers
  conditional-etag-vary-headers-mismatch    -> vary_mismatch_no_stored_etag (required
      in older versions; the newest makes it a check that expects the stored
      ETag sent: RFC 9111 §4.1 allows either, nothing depends on it)
  304-lm-use-stored-Test-Header             -> u304_lm_keeps_stored_header
  304-etag-update-response-Test-Header      -> u304_etag_update_Test-Header
  304-etag-update-response-X-Test-Header    -> u304_etag_update_X-Test-Header
  304-etag-update-response-Content-Foo      -> u304_etag_update_Content-Foo
  304-etag-update-response-X-Content-Foo    -> u304_etag_update_X-Content-Foo
  304-etag-update-response-Cache-Control   -> u304_etag_update_Cache-Control
  304-etag-update-response-Content-Length  -> u304_etag_keeps_Content-Length
  stale-while-revalidate-window             -> swr_window
  stale-close-must-revalidate               -> no_stale_must-revalidate
  stale-close-proxy-revalidate              -> no_stale_proxy-revalidate
  stale-close-no-cache                      -> no_stale_no-cache
  stale-close-s-maxage=2                    -> no_stale_s-maxage
  stale-if-error-cc-response-expired        -> sie_response_expired (older suite
  stale-if-error-cc-request-expired         -> sie_request_expired   versions only)
  invalidate-POST / -PUT / -DELETE / -M-SEARCH -> invalidate_<method>
  partial-use-headers                       -> range_from_stored_200
  partial-use-stored-headers                -> range_keeps_stored_headers
  opt conditional-etag-strong-respond, -weak-respond, -strong-respond-multiple-
      first/-second/-last                   -> inm_fresh_*
  opt conditional-etag-strong-generate, -weak-generate-weak -> inm_generate_*
  opt conditional-lm-fresh, -fresh-earlier, -fresh-no-lm, -fresh-rfc850,
      -stale                                -> ims_*
  opt stale-while-revalidate                -> swr_serves_stale
  opt invalidate-<method>-failed            -> invalidate_failed_<method>
  opt partial-store-complete-reuse-partial(-no-last, -suffix) -> range_*
  chk stale-sie-close, stale-sie-503        -> sie_serves_stale_on_drop, _on_503
  chk stale-if-error-cc-response            -> sie_response_max_age_0
  opt stale-while-revalidate (cc-stale form) -> swr_max_age_0_updates
  chk stale-close                           -> stale_close_default_grace: the four
      required stale-close-* tests depend on it; the default cache.grace
      (10 s, an origin not reached) serves it (RFC 9111 §4.2.4)
  chk stale-503, stale-if-error-cc-request: n/a, a 503 is an answer, not a
      disconnection: only a cache.grace the operator sets serves stale for it
      (t51 covers it); the request's stale-if-error alone does not make a
      response without validator worth storing
  chk stale-warning-*: n/a, Warning is obsoleted by RFC 9111 (§5.5)
  chk head-writethrough                      -> head_writethrough
  chk head-200-retain: n/a, the client gets the origin's HEAD answer as sent
      (the stored fields are updated from it, not merged into the answer)
  chk head-200-freshness-update             -> head_200_freshness_update
  chk head-200-update                       -> head_200_update
      (and head_200_other_length_no_update: §4.3.5's Content-Length rule)
  chk head-410-update: n/a, RFC 9111 §4.3.5 updates from a 200 only
  chk 304-etag-update-response-<other fields> and the older suite's
      304-lm-update-* forms                 -> u304_etag_update_*, u304_lm_update_*
  chk conditional-etag-*-quoted/-unquoted/-lowercase/-backslash/-omit-slash/
      -obs-text/-forward*: n/a, kind check (invalid entity-tags)
  chk invalidate-<method>-location / -cl    -> invalidate_<method>_Location,
                                               invalidate_<method>_Content-Location
  opt partial-store-partial-*: n/a, kind optimal (206 responses are not stored)
"""

import concurrent.futures
import email.utils
import json
import time

import harness

# Every suite request carries these (see the docstring).
SUITE_HEADERS = {"Cache-Control": "nothing-to-see-here", "Pragma": "foo"}
LM_FIXED = "Wed, 01 Jan 2020 00:00:00 GMT"
STALE_1 = 2.3  # max-age=1 is stale after this (Age counts whole seconds)
# becomes_stale's max-age=2 (the suite's becomeStale) is stale after this.  Not
# max-age=1: a Date made just before a second turns is already 1 s old when
# the response arrives, so a max-age=1 response without validators is now
# and then stale on arrival, and not stored.
STALE_2 = STALE_1 + 1


def http_date(t, rfc850=False):
    if rfc850:
        return time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(t))
    return email.utils.formatdate(t, usegmt=True)


def fresh(headers=None, dates=None, **b):
    """A response fresh for a day (the suite's "fresh" template)."""
    h = {"Cache-Control": "max-age=100000"}
    h.update(headers or {})
    d = {"Date": 0, "Expires": 100000, "Last-Modified": 0}
    d.update(dates or {})
    return dict(b, headers=h, date_headers=d)


def becomes_stale(headers=None, dates=None, **b):
    """A response stale after STALE_2 seconds (the suite's "becomeStale")."""
    h = {"Cache-Control": "max-age=2", "Template-A": "1"}
    h.update(headers or {})
    d = {"Date": 0}
    d.update(dates or {})
    return dict(b, headers=h, date_headers=d)


# A case: name (with the RFC section), origin = behaviours for the origin's
# 1st, 2nd... request on the case's path, steps = the client's requests in
# order (a dict {"/sub": behaviours} for more paths than the case's own;
# "PATH" in a field value is replaced by the case's path).  A step: sub
# (a path under the case's path), method, h (request headers), body, ims (If-Modified-Since
# as seconds from the previous response's Date), src ("cache": the origin
# sees no request; "origin": this response is the origin's newest;
# "stale": answered at once from the stored response even if a background
# request follows; None: not judged), status, hdr ({name: value} the client
# must see; value None = absent), text (the body), sent ({name: value} on the
# origin's newest request; None = absent; ":method" its method), sleep
# (seconds after the step).

CASES = []


def case(name, origin, *steps):
    CASES.append({"name": name, "origin": origin, "steps": steps})


# -- conditional requests answered from a fresh stored response (RFC 9110
#    §13.1.1-§13.1.3 evaluated by the cache, RFC 9111 §4.3.2) --
case("inm_304_carries_etag (9111 §4.3.2, 9110 §15.4.5: a 304 carries ETag)",
     [fresh({"ETag": '"abcdef"'})],
     dict(src="origin"),
     dict(h={"If-None-Match": '"abcdef"'}, src="cache", status=304,
          hdr={"ETag": '"abcdef"'}, text=""))
case("inm_over_ims_match (9110 §13.2.2: If-Modified-Since ignored with If-None-Match)",
     [fresh({"ETag": '"abcdef"'}, {"Last-Modified": -5000})],
     dict(src="origin"),
     dict(h={"If-None-Match": '"abcdef"'}, ims=-1, src="cache", status=304))
case("inm_over_ims_nomatch (9110 §13.2.2: a failed If-None-Match wins over a true IMS)",
     [fresh({"ETag": '"abcdef"'}, {"Last-Modified": -5000})],
     dict(src="origin"),
     dict(h={"If-None-Match": '"other"'}, ims=-1, src="cache", status=200))
for nm, inm in (("strong", '"abcdef"'), ("weak", 'W/"abcdef"')):
    case("inm_fresh_%s (9110 §13.1.2 weak comparison)" % nm,
         [fresh({"ETag": inm})],
         dict(src="origin"),
         dict(h={"If-None-Match": inm}, src="cache", status=304, text=""))
for nm, inm in (("first", '"abcdef", "1234", "5678"'), ("second", '"1234", "abcdef", "5678"'),
                ("last", '"1234", "5678", "abcdef"')):
    case("inm_fresh_multiple_%s (9110 §13.1.2: a list of entity-tags)" % nm,
         [fresh({"ETag": '"abcdef"'})],
         dict(src="origin"),
         dict(h={"If-None-Match": inm}, src="cache", status=304))
case("ims_fresh_equal (9110 §13.1.3: not modified since Last-Modified)",
     [fresh(dates={"Last-Modified": -3000})],
     dict(src="origin"),
     dict(ims=-3000, src="cache", status=304))
case("ims_fresh_later (9110 §13.1.3: an IMS after Last-Modified)",
     [fresh(dates={"Last-Modified": -3000})],
     dict(src="origin"),
     dict(ims=-2000, src="cache", status=304))
case("ims_fresh_rfc850 (9110 §5.6.7: an obsolete rfc850 date is accepted)",
     [fresh(dates={"Last-Modified": -3000})],
     dict(src="origin"),
     dict(ims=-3000, rfc850=True, src="cache", status=304))
# The suite's conditional-lm-fresh-no-lm expects a 304 to an IMS 3000 s
# before the stored Date (and, in its newer form, Last-Modified): RFC 9110
# §13.1.3 makes that condition true ("modified"), so the answer is a 200;
# we follow the RFC.  Without Last-Modified, Date stands in (RFC 9111 §4.3.2).
case("ims_fresh_no_lm_date (9111 §4.3.2: Date stands in for Last-Modified)",
     [{"headers": {"Cache-Control": "max-age=10000"}, "date_headers": {"Date": 0}}],
     dict(src="origin"),
     dict(ims=0, src="cache", status=304))
case("ims_fresh_no_lm_earlier (9110 §13.1.3: an IMS before Date is modified: 200)",
     [{"headers": {"Cache-Control": "max-age=10000"}, "date_headers": {"Date": 0}}],
     dict(src="origin"),
     dict(ims=-3000, src="cache", status=200))

# -- validating a stale stored response (RFC 9111 §4.3.1, §4.3.3) --
for nm, etag in (("strong", '"abcdef"'), ("weak", 'W/"abcdef"')):
    case("inm_generate_%s (9111 §4.3.1: the stored ETag goes in If-None-Match)" % nm,
         [becomes_stale({"ETag": etag})],
         dict(src="origin", sleep=STALE_2),
         dict(src="origin", status=200, sent={"If-None-Match": etag},
              hdr={"Template-A": "1", "X-Origin-Count": "2"}))
case("ims_stale_validated (9111 §4.3.1/§4.3.2: validate, then 304 to the client's IMS)",
     [becomes_stale(dates={"Last-Modified": -3000}),
      {"status": 304, "headers": {"Cache-Control": "max-age=1"}, "date_headers": {"Date": 0}}],
     dict(src="origin", sleep=STALE_2),
     dict(ims=-3000, src="origin", status=304, sent={"If-Modified-Since": "lm"}))
case("validate_sends_vary_headers (9111 §4.3.1: the request keeps the Vary'ed field)",
     [{"headers": {"ETag": '"abcdef"', "Vary": "Abc"},
       "date_headers": {"Date": 0, "Expires": 1}}],
     dict(h={"Abc": "123"}, src="origin", sleep=STALE_1),
     dict(h={"Abc": "123"}, src="origin", status=200,
          sent={"If-None-Match": '"abcdef"', "Abc": "123"}))
case("vary_mismatch_no_stored_etag (9111 §4.1: a non-matching variant is not validated with it)",
     [{"headers": {"ETag": '"abcdef"', "Vary": "Abc"},
       "date_headers": {"Date": 0, "Expires": 10000}}],
     dict(h={"Abc": "123"}, src="origin"),
     dict(h={"Abc": "456"}, src="origin", status=200, sent={"If-None-Match": None}))

# -- freshening with a 304 (RFC 9111 §3.2, §4.3.4) --
U_MAX = 3        # the stored response's max-age; the 304 gives it again
U_STALE = U_MAX + 1.3
case("u304_lm_keeps_stored_header (9111 §3.2: fields absent from the 304 are kept)",
     [{"headers": {"Cache-Control": "max-age=%d" % U_MAX, "Last-Modified": LM_FIXED,
                   "Test-Header": "A"}, "date_headers": {"Date": 0}},
      {"headers": {"Last-Modified": LM_FIXED}, "date_headers": {"Date": 0}}],
     dict(src="origin", sleep=U_STALE),
     dict(src="origin", status=200, sent={"If-Modified-Since": LM_FIXED},
          hdr={"Test-Header": "A"}))
for fname in ("Test-Header", "X-Test-Header", "Content-Foo", "X-Content-Foo"):
    case("u304_etag_update_%s (9111 §3.2/§4.3.4: the 304's field replaces the stored one)"
         % fname,
         [{"headers": {"Cache-Control": "max-age=%d" % U_MAX, "ETag": '"e-%s"' % fname,
                       fname: "A"}, "date_headers": {"Date": 0}},
          {"headers": {"Cache-Control": "max-age=%d" % U_MAX, "ETag": '"e-%s"' % fname,
                       fname: "B"}, "date_headers": {"Date": 0}}],
         dict(src="origin", sleep=U_STALE),
         dict(src="origin", status=200, sent={"If-None-Match": '"e-%s"' % fname},
              hdr={fname: "B", "Cache-Control": "max-age=%d" % U_MAX}),
         dict(src="cache", status=200, hdr={fname: "B"}))
case("u304_etag_update_Cache-Control (9111 §4.3.4: the 304's freshness replaces the stored one)",
     [{"headers": {"Cache-Control": "max-age=1", "ETag": '"e-cc"'},
       "date_headers": {"Date": 0}},
      {"headers": {"Cache-Control": "max-age=3600", "ETag": '"e-cc"'},
       "date_headers": {"Date": 0}}],
     dict(src="origin", sleep=STALE_1),
     dict(src="origin", status=200, sent={"If-None-Match": '"e-cc"'},
          hdr={"Cache-Control": "max-age=3600"}),
     dict(src="cache", status=200, hdr={"Cache-Control": "max-age=3600"}))
case("u304_etag_keeps_Content-Length (9111 §3.2: Content-Length is not updated by a 304)",
     [{"headers": {"Cache-Control": "max-age=%d" % U_MAX, "ETag": '"e-cl"'},
       "body": "01234", "date_headers": {"Date": 0}},
      {"headers": {"Cache-Control": "max-age=%d" % U_MAX, "ETag": '"e-cl"',
                   "Content-Length": "10"}, "date_headers": {"Date": 0}}],
     dict(src="origin", sleep=U_STALE, text="01234"),
     dict(src="origin", status=200, sent={"If-None-Match": '"e-cl"'},
          hdr={"Content-Length": "5"}, text="01234"),
     dict(src="cache", status=200, hdr={"Content-Length": "5"}, text="01234"))

# The other fields of the suite's list (kind "check" there, but RFC 9111
# §3.2 requires the update: only Content-Length, the fields of §3.1 and the
# fields the cache itself depends on are excepted), with either validator.
U304_FIELDS = (("Content-Type", "text/plain", "text/plain;charset=utf-8"),
               ("Content-Location", "/foo", "/bar"),
               ("Content-MD5", "rL0Y20zC+Fzt72VPzMSk2A==", "N7UdGUp1E+RbVvZSTy1R8g=="),
               ("Content-Security-Policy", "default-src 'self'",
                "default-src 'self' cdn.example.com"),
               ("X-Frame-Options", "deny", "sameorigin"),
               ("X-XSS-Protection", "1", "1; mode=block"),
               ("Expires", "Fri, 01 Jan 2038 01:01:01 GMT", "Mon, 11 Jan 2038 11:11:11 GMT"),
               ("Clear-Site-Data", "cache", "cookies"),
               ("Public-Key-Pins", "pin-A", "pin-B"),
               ("Set-Cookie", "a=b", "a=c"),
               ("Set-Cookie2", "a=b", "a=c"),
               ("Test-Header", "A", "B"))
for fname, va, vb in U304_FIELDS:
    for vname, vfield, vvalue in (("etag", "ETag", '"e-%s"' % fname),
                                  ("lm", "Last-Modified", LM_FIXED)):
        if vname == "etag" and fname != "Test-Header":
            sent = {"If-None-Match": vvalue}
        elif vname == "lm":
            sent = {"If-Modified-Since": vvalue}
        else:
            continue  # Test-Header with an ETag is a required case above
        case("u304_%s_update_%s (9111 §3.2: the 304's field replaces the stored one)"
             % (vname, fname),
             [{"headers": {"Cache-Control": "max-age=%d" % U_MAX, vfield: vvalue, fname: va},
               "date_headers": {"Date": 0}},
              {"headers": {"Cache-Control": "max-age=%d" % U_MAX, vfield: vvalue, fname: vb},
               "date_headers": {"Date": 0}}],
             dict(src="origin", sleep=U_STALE, hdr={fname: va}),
             dict(src="origin", status=200, sent=sent, hdr={fname: vb}),
             dict(src="cache", status=200, hdr={fname: vb}))

# -- serving stale (RFC 9111 §4.2.4, §5.2.2; RFC 5861) --
case("swr_serves_stale (5861 §3: stale within stale-while-revalidate, at once)",
     [{"headers": {"Cache-Control": "max-age=1, stale-while-revalidate=3600",
                   "ETag": '"abc"'}, "date_headers": {"Date": 0}}],
     dict(src="origin", sleep=STALE_1),
     dict(src="stale", status=200))
case("swr_window (5861 §3: not served stale past the stale-while-revalidate window)",
     [{"headers": {"Cache-Control": "max-age=1, stale-while-revalidate=5", "ETag": '"abc"'},
       "date_headers": {"Date": 0}},
      {"headers": {"Cache-Control": "no-cache", "ETag": '"def"'}, "no_cond": 1,
       "date_headers": {"Date": 0}}],
     dict(src="origin", sleep=STALE_1),
     dict(src="stale", status=200, sleep=5),
     dict(src="origin", status=200))
for nm, cc, wait in (("must-revalidate", "must-revalidate", STALE_1),
                     ("proxy-revalidate", "proxy-revalidate", STALE_1),
                     ("no-cache", "no-cache", STALE_1),
                     ("s-maxage", "s-maxage=2", STALE_1 + 1)):
    case("no_stale_%s (9111 §5.2.2: a stale copy is never served for %s, the origin "
         "being down)" % (nm, cc),
         [{"headers": {"Cache-Control": "max-age=1, " + cc}, "date_headers": {"Date": 0},
           "body": "stored"},
          {"drop": 1}],
         dict(src="origin", sleep=wait, text="stored"),
         dict(src="error"))
case("sie_response_expired (5861 §4: no stale past the response's stale-if-error)",
     [{"headers": {"Cache-Control": "max-age=0, stale-if-error=1"},
       "date_headers": {"Date": 0}, "body": "stored"},
      {"status": 500, "body": "origin error"}],
     dict(src="origin", sleep=STALE_1 + 0.5),
     dict(src="origin", status=500, text="origin error"))
case("sie_request_expired (5861 §4: no stale past the request's stale-if-error)",
     [{"headers": {"Cache-Control": "max-age=0"}, "date_headers": {"Date": 0},
       "body": "stored"},
      {"status": 500, "body": "origin error"}],
     dict(src="origin", sleep=STALE_1 + 0.5),
     dict(h={"Cache-Control": "stale-if-error=1"}, src="origin", status=500,
          text="origin error"))

# Kind "check" in the suite, allowed by RFC 5861 / RFC 9111 §4.2.4.
case("stale_close_default_grace (9111 §4.2.4: a cache cut off from its origin may serve "
     "a just-stale copy; the default cache.grace)",
     [becomes_stale(body="stored"), {"drop": 1}],
     dict(src="origin", sleep=STALE_2),
     dict(status=200, text="stored", hdr={"X-Origin-Count": "1", "Template-A": "1"}))
case("sie_serves_stale_on_drop (5861 §4: stale-if-error covers a closed connection)",
     [{"headers": {"Cache-Control": "max-age=1, stale-if-error=60"},
       "date_headers": {"Date": 0}, "body": "stored"}, {"drop": 1}],
     dict(src="origin", sleep=STALE_1),
     dict(status=200, text="stored", hdr={"X-Origin-Count": "1"}))
case("sie_serves_stale_on_503 (5861 §4: stale-if-error covers a 503)",
     [{"headers": {"Cache-Control": "max-age=1, stale-if-error=60"},
       "date_headers": {"Date": 0}, "body": "stored"}, {"status": 503}],
     dict(src="origin", sleep=STALE_1),
     dict(status=200, text="stored", hdr={"X-Origin-Count": "1"}))
case("sie_response_max_age_0 (5861 §4: stored though stale on arrival, for stale-if-error)",
     [{"headers": {"Cache-Control": "max-age=0, stale-if-error=3600"},
       "date_headers": {"Date": 0}, "body": "stored"}, {"status": 500}],
     dict(src="origin", sleep=1.1),
     dict(status=200, text="stored", hdr={"X-Origin-Count": "1"}))
case("swr_max_age_0_updates (5861 §3: stale at once, then the background 200 is stored)",
     [{"headers": {"Cache-Control": "max-age=0, stale-while-revalidate=3600",
                   "ETag": '"abc"'}, "date_headers": {"Date": 0}, "body": "one"},
      {"headers": {"Cache-Control": "max-age=3600", "ETag": '"def"'}, "no_cond": 1,
       "date_headers": {"Date": 0}, "body": "two"}],
     dict(src="origin", sleep=1.1),
     dict(src="stale", status=200, text="one", sleep=1.5,
          hdr={"Cache-Control": "max-age=0, stale-while-revalidate=3600", "ETag": '"abc"'}),
     dict(src="cache", status=200, text="two",
          hdr={"Cache-Control": "max-age=3600", "ETag": '"def"'}))

# -- a HEAD 200 for a stale stored response (RFC 9111 §4.3.5; the suite's
#    update-head group, kind "check"; head-410-update is n/a: §4.3.5 speaks
#    of a 200 only) --
case("head_writethrough (9111 §4.3.5: a HEAD for a stale response goes to the origin)",
     [becomes_stale(body="same"), {"headers": {"Template-A": "1"}, "body": "same"}],
     dict(src="origin", sleep=STALE_2),
     dict(method="HEAD", src="origin", status=200, hdr={"Template-A": "1"},
          sent={":method": "HEAD"}))
case("head_200_freshness_update (9111 §4.3.5: the HEAD 200's freshness updates the stored GET)",
     [becomes_stale(body="same"), {"headers": {"Cache-Control": "max-age=1000"},
                                   "body": "same"}],
     dict(src="origin", sleep=STALE_2),
     dict(method="HEAD", src="origin", status=200),
     dict(src="cache", status=200, text="same", hdr={"Template-A": "1"}))
case("head_200_update (9111 §4.3.5: the HEAD 200's fields update the stored GET)",
     [becomes_stale(body="same"), {"headers": {"Cache-Control": "max-age=1000",
                                               "Template-A": "2"}, "body": "same"}],
     dict(src="origin", sleep=STALE_2),
     dict(method="HEAD", src="origin", status=200),
     dict(src="cache", status=200, text="same", hdr={"Template-A": "2"}))

case("head_200_other_length_no_update (9111 §4.3.5: a different Content-Length: "
     "no update)",
     [becomes_stale(body="same"), {"headers": {"Cache-Control": "max-age=1000",
                                               "Template-A": "2"}, "body": "longer"},
      becomes_stale(body="same")],
     dict(src="origin", sleep=STALE_2),
     dict(method="HEAD", src="origin", status=200, hdr={"Template-A": "2"}),
     dict(src="origin", status=200, text="same", hdr={"Template-A": "1"}))

# -- invalidation by unsafe methods (RFC 9111 §4.4) --
for m in ("POST", "PUT", "DELETE", "M-SEARCH"):
    case("invalidate_%s (9111 §4.4: a 2xx to an unsafe method invalidates the URI)" % m,
         [fresh(), {"status": 200}, fresh()],
         dict(src="origin"),
         dict(src="cache"),
         dict(method=m, body=b"abc", src="origin", status=200),
         dict(src="origin", status=200))
    case("invalidate_failed_%s (9111 §4.4: only a successful response invalidates)" % m,
         [fresh(), {"status": 500}],
         dict(src="origin"),
         dict(method=m, body=b"abc", src="origin", status=500),
         dict(src="cache", status=200))

    for fld in ("Location", "Content-Location"):
        case("invalidate_%s_%s (9111 §4.4: the same-origin %s URI is invalidated too)"
             % (m, fld, fld),
             {"": [{"status": 200, "headers": {fld: "PATH/target"}}],
              "/target": [fresh()]},
             dict(sub="/target", src="origin"),
             dict(sub="/target", src="cache"),
             dict(method=m, body=b"abc", status=200),
             dict(sub="/target", src="origin", status=200))

# -- ranges from a stored complete response (RFC 9111 §3.4, RFC 9110 §14) --
for nm, rng, part in (("range_from_stored_200", "bytes=0-1", "01"),
                      ("range_no_last", "bytes=1-", "1234567890"),
                      ("range_suffix", "bytes=-1", "0")):
    case("%s (9110 §14.2: a 206 built from the stored 200)" % nm,
         [{"headers": {"Cache-Control": "max-age=3600", "A": "1"},
           "body": "01234567890"}],
         dict(src="origin"),
         dict(h={"Range": rng}, src="cache", status=206, text=part))
case("range_keeps_stored_headers (9111 §3.4: the 206 keeps the stored fields)",
     [{"headers": {"Cache-Control": "max-age=3600", "A": "1"}, "body": "01234567890"}],
     dict(src="origin"),
     dict(h={"Range": "bytes=0-1"}, src="cache", status=206, text="01", hdr={"A": "1"}))


def run_case(node, origin, path, c):
    """Plays one case; returns a list of problems (empty: pass)."""
    probs = []
    prev = None
    base_path = path
    for i, st in enumerate(c["steps"], 1):
        path = base_path + st.get("sub", "")
        h = dict(SUITE_HEADERS)
        if "Cache-Control" in (st.get("h") or {}):
            del h["Pragma"]
        h.update(st.get("h") or {})
        if st.get("ims") is not None:
            base = email.utils.parsedate_to_datetime(prev.header("Date")).timestamp()
            h["If-Modified-Since"] = http_date(base + st["ims"], st.get("rfc850"))
        before = origin.count(path)
        try:
            r = node.request(st.get("method", "GET"), path, h, st.get("body"), timeout=15)
        except Exception as e:  # noqa: BLE001 - reported as the case's failure
            probs.append("step %d: request failed: %r" % (i, e))
            return probs
        after = origin.count(path)
        xo = r.header("X-Origin-Count")
        src = st.get("src")
        if src == "cache" and after != before:
            probs.append("step %d: expected from cache, origin count %d -> %d (X-Cache %s)"
                         % (i, before, after, r.header("X-Cache")))
        if src == "origin" and (after != before + 1 or xo != str(after)):
            probs.append("step %d: expected from origin, count %d -> %d, X-Origin-Count %s"
                         % (i, before, after, xo))
        if src == "stale" and xo != str(before):
            probs.append("step %d: expected the stored response at once, X-Origin-Count %s "
                         "with %d origin requests before" % (i, xo, before))
        if src == "error" and (r.status < 500 or xo is not None or r.body == b"stored"):
            probs.append("step %d: expected an error, not the stale copy: %d X-Origin-Count %s"
                         " body %r" % (i, r.status, xo, r.body[:40]))
        if st.get("status") is not None and r.status != st["status"]:
            probs.append("step %d: status %d, expected %d" % (i, r.status, st["status"]))
        for k, v in (st.get("hdr") or {}).items():
            got = ", ".join(r.header_all(k)) if r.header_all(k) else None
            if got != v:
                probs.append("step %d: response %s is %r, expected %r" % (i, k, got, v))
        if st.get("text") is not None and r.body != st["text"].encode():
            probs.append("step %d: body %r, expected %r" % (i, r.body[:60], st["text"]))
        if st.get("sent"):
            recs = origin.requests(path)
            rec = recs[-1] if recs else {"headers": []}
            for k, v in st["sent"].items():
                if v == "lm" and prev is not None:
                    v = prev.header("Last-Modified")
                got = rec.get("method") if k == ":method" else harness.req_header(rec, k)
                if got != v:
                    probs.append("step %d: origin request %s is %r, expected %r"
                                 % (i, k, got, v))
        prev = r
        if st.get("sleep"):
            time.sleep(st["sleep"])
    return probs


class ConformanceValidate(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        # the suite's origin (Node.js) closes idle connections after 5 s
        cls.origin = self.class_origin(idle_timeout_ms=5000)
        cls.node = self.class_outpost(cls.origin)

    def test_cases(self):
        paths = {}
        for n, c in enumerate(CASES):
            path = "/t57/%d" % n
            paths[c["name"]] = path
            o = c["origin"] if isinstance(c["origin"], dict) else {"": c["origin"]}
            seqs = json.loads(json.dumps(o).replace("PATH", path))
            self.origin.script({path + sub: {"seq": seq} for sub, seq in seqs.items()})
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(CASES)) as pool:
            futs = {c["name"]: pool.submit(run_case, self.node, self.origin,
                                           paths[c["name"]], c) for c in CASES}
            results = {k: f.result(timeout=120) for k, f in futs.items()}
        elapsed = time.monotonic() - t0
        for c in CASES:
            with self.subTest(case=c["name"]):
                self.assertEqual(results[c["name"]], [], c["name"])
        self.assertServing(self.node)
        self.assertLess(elapsed, 60, "the cases run concurrently")


if __name__ == "__main__":
    harness.main()
