#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Cache poisoning and deception, as a matrix.

One client must never make the cache store, for a key, an answer that the
key alone does not explain:
  - unkeyed request fields that frameworks read for the host, scheme, port,
    path prefix or method (an origin that reflects each into its body; a
    clean client afterwards gets the clean body), in any spelling of the
    name and over several field lines;
  - a body on a GET (the origin echoes bodies);
  - path confusion ("/;", "%2F", "/..%2f", "%00", "%2e%2e", a ".css" suffix
    after a dynamic path, double slashes, the case of percent-escapes): the
    origin is asked for exactly the path the cache key was made from (the
    stored answer is found again under the origin's own target), or the
    request is refused with 400 and nothing reaches the origin;
  - Set-Cookie: an answer that sets a cookie is never served to another
    client unless the origin gave it explicit freshness."""

import harness
from harness import add_route, req_header

# field -> a value that would change what a framework answers
UNKEYED = {
    "X-Forwarded-Host": "evil.example",
    "X-Host": "evil.example",
    "X-Original-Host": "evil.example",
    "X-Forwarded-Server": "evil.example",
    "Forwarded": "host=evil.example;proto=http",
    "X-Original-URL": "/admin",
    "X-Rewrite-URL": "/admin",
    "X-Forwarded-Prefix": "/evil",
    "X-HTTP-Method-Override": "DELETE",
    "X-HTTP-Method": "DELETE",
    "X-Method-Override": "DELETE",
    "X-Forwarded-Scheme": "nothttps",
    "X-Forwarded-Proto": "nothttps",
    "X-Forwarded-Ssl": "on",
    "X-Forwarded-Port": "1337",
}
# Not in the matrix: X-Forwarded-For and Via, lists the node appends to by
# design (an origin reads only the entries its own proxies wrote).


def slug(name):
    return name.lower()


def ttl_route(cfg):
    """/ttl/ stores what the origin sends without freshness for an hour."""
    add_route(cfg, {"path": "/ttl/", "pool": "web", "cache": {"default_ttl": "1h"}})
    return cfg


class UnkeyedFields(harness.OutpostTestCase):
    """Each path's answer names one field's value as the origin saw it."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin, mutate=ttl_route)
        script = {}
        for f in UNKEYED:
            script["/hp/%s/*" % slug(f)] = {"body_from": f, "cc": "max-age=60"}
            script["/ttl/%s/*" % slug(f)] = {"body_from": f}
        cls.origin.script(script)

    def poison(self, route, field, name, value, tag):
        """A client sends name: value first; a clean client then gets what a
        clean client alone gets."""
        clean = self.node.get("/%s/%s/clean-%s" % (route, slug(field), tag))
        path = "/%s/%s/%s" % (route, slug(field), tag)
        r1 = self.node.get(path, headers={name: value})
        self.assertEqual(r1.status, 200, r1)
        r2 = self.node.get(path)
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual(r2.body, clean.body, "%s: %s poisoned the stored answer" % (path, name))
        # and the copy was stored (the matrix is about what is stored)
        self.assertEqual(r2.header("X-Cache"), "HIT", r2)
        return r1

    def test_unkeyed_fields_explicit_freshness(self):
        for f, v in UNKEYED.items():
            with self.subTest(field=f):
                self.poison("hp", f, f, v, "a")

    def test_unkeyed_fields_default_ttl(self):
        for f, v in UNKEYED.items():
            with self.subTest(field=f):
                self.poison("ttl", f, f, v, "a")

    def test_name_spellings(self):
        # field names are case-insensitive; one field in two lines is one list
        for f, v in UNKEYED.items():
            with self.subTest(field=f):
                self.poison("hp", f, f.lower(), v, "lower")
                self.poison("hp", f, f.upper(), v, "upper")

    def test_repeated_field_lines(self):
        for f, v in UNKEYED.items():
            with self.subTest(field=f):
                clean = self.node.get("/hp/%s/clean-rep" % slug(f))
                path = "/hp/%s/rep" % slug(f)
                raw = ("GET %s HTTP/1.1\r\nHost: example.com\r\n%s: %s\r\n%s: %s\r\n"
                       "Connection: close\r\n\r\n" % (path, f, v, f.lower(), v)).encode()
                self.assertEqual(self.node.raw(raw).first().status, 200)
                self.assertEqual(self.node.get(path).body, clean.body)

    def test_underscore_spelling_not_forwarded(self):
        # an origin that maps '_' and '-' to one variable would read these
        for f in ("X-Forwarded-Host", "X-Forwarded-Prefix", "X-Original-URL"):
            with self.subTest(field=f):
                r = self.node.get("/hp/%s/us" % slug(f), headers={f.replace("-", "_"): "evil"})
                self.assertEqual(r.status, 200)
                rec = self.origin.requests("/hp/%s/us" % slug(f))[-1]
                self.assertIsNone(req_header(rec, f.replace("-", "_")))


class FatGet(harness.OutpostTestCase):
    """A GET body the origin would read never shapes a stored answer."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)
        cls.origin.script({"/fat/*": {"echo": 1, "cc": "max-age=60"}})

    def test_body_not_stored_for_the_url(self):
        for framing in ("length", "chunked"):
            with self.subTest(framing=framing):
                path = "/fat/" + framing
                body = b"callback=evil"
                if framing == "length":
                    frame, data = b"Content-Length: %d\r\n" % len(body), body
                else:
                    frame = b"Transfer-Encoding: chunked\r\n"
                    data = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
                raw = (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: example.com\r\n" +
                       frame + b"\r\n" + data)
                r1 = self.node.raw(raw).first()
                self.assertEqual(r1.status, 200)
                self.assertNotIn(b"evil", r1.body)
                self.assertEqual(self.origin.requests(path)[-1]["body_length"], 0)
                r2 = self.node.get(path)
                self.assertEqual((r2.header("X-Cache"), r2.body), ("HIT", b""))


# (name, target with {p} for the case's own prefix): every target is refused
# with 400 or reaches the origin as exactly the path its key was made from
PATHS = [
    ("semicolon-css", "/{p}/account;x.css"),
    ("semicolon-js", "/{p}/account;.js"),
    ("suffix-css", "/{p}/account/nonexistent.css"),
    ("escaped-semicolon", "/{p}/account%3Bx.css"),
    ("escaped-slash", "/{p}/account%2Fx.css"),
    ("escaped-slash-lower", "/{p}/account%2fx.css"),
    ("dot-dot-escaped-slash", "/{p}/static/..%2faccount"),
    ("dot-dot-escaped-slash-css", "/{p}/static/..%2Faccount.css"),
    ("escaped-dots", "/{p}/static/%2e%2e/account.css"),
    ("escaped-dots-upper", "/{p}/static/%2E%2E/account.css"),
    ("escaped-dot-dot-slash", "/{p}/static/%2e%2e%2faccount.css"),
    ("dot-segment", "/{p}/static/../account.css"),
    ("single-dot", "/{p}/./account.css"),
    ("nul", "/{p}/account%00.css"),
    ("nul-in-segment", "/{p}/acc%00ount.css"),
    ("double-slash", "/{p}//account.css"),
    ("triple-slash", "/{p}///account.css"),
    ("escaped-unreserved", "/{p}/%61ccount.css"),
    ("escaped-unreserved-upper", "/{p}/%41CCOUNT.css"),
    ("escaped-percent", "/{p}/account%252e%252e.css"),
    ("newline-escaped", "/{p}/account%0d%0a.css"),
    ("backslash-escaped", "/{p}/static%5c..%5caccount.css"),
    ("query-css", "/{p}/account?x.css"),
    ("fragment-like", "/{p}/account%23.css"),
]


class PathConfusion(harness.OutpostTestCase):
    """A route caches by suffix for an hour, as a deception target would."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            add_route(cfg, {"regex": r"\.(css|js)$", "pool": "web",
                            "cache": {"default_ttl": "1h"}})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)
        # stored on every route, so that a second key would show
        cls.origin.script({"/pc*": {"cc": "max-age=60"}, "/case/*": {"cc": "max-age=60"}})

    def get_raw(self, target):
        raw = b"GET " + target.encode() + b" HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
        return self.node.raw(raw).first()

    def test_key_and_origin_see_one_path(self):
        for i, (name, tmpl) in enumerate(PATHS):
            with self.subTest(case=name):
                prefix = "pc%d" % i
                target = tmpl.format(p=prefix)
                before = self.origin.count()
                r = self.get_raw(target)
                recs = [q for q in self.origin.requests()
                        if q["target"].startswith("/" + prefix + "/")
                        or q["target"].startswith("/" + prefix + "?")]
                if r.status == 400:
                    self.assertEqual(self.origin.count(), before, "%s reached the origin" % target)
                    continue
                self.assertEqual(r.status, 200, (target, r))
                self.assertEqual(len(recs), 1, (target, recs))
                seen = recs[0]["target"]
                self.assertEqual(r.body.decode("latin-1").split(" ")[2], seen)
                # the origin's target leads back to the same stored answer:
                # the key was made from the path the origin was asked for
                again = self.get_raw(seen)
                self.assertEqual((again.status, again.header("X-Cache"), again.body),
                                 (200, "HIT", r.body), (target, seen))
                self.assertEqual(self.origin.count(), before + 1, (target, seen))

    def test_escaped_nul_in_path_refused(self):
        # an origin reading the path as a C string would answer for
        # "/nul/account" what the suffix route stores as "...%00.css"
        for target in ("/nul/account%00.css", "/nul/acc%00ount.css", "/nul/a/%00/../b.css"):
            with self.subTest(target=target):
                before = self.origin.count()
                r = self.get_raw(target)
                self.assertEqual(r.status, 400, r)
                self.assertEqual(self.origin.count(), before)
        # in the query it is data, and the key keeps it
        r = self.get_raw("/nul/q.css?v=%00")
        self.assertEqual(r.status, 200)
        self.assertEqual(self.origin.requests(prefix="/nul/")[-1]["target"], "/nul/q.css?v=%00")

    def test_percent_escape_case_is_one_key(self):
        r1 = self.get_raw("/case/a%2fb.css")
        r2 = self.get_raw("/case/a%2Fb.css")
        self.assertEqual((r1.status, r2.status), (200, 200))
        self.assertEqual(r2.header("X-Cache"), "HIT")
        self.assertEqual(r2.body, r1.body)
        self.assertEqual([q["target"] for q in self.origin.requests(prefix="/case/")],
                         ["/case/a%2Fb.css"])

    def test_dynamic_path_not_filled_by_a_confused_twin(self):
        # "/dyn/account" is never cached; the twins the suffix route caches
        # must not be what a client of "/dyn/account" gets
        self.origin.script({"/dyn/account": {"cc": "private", "body": "secret\n"}})
        for target in ("/dyn/account;x.css", "/dyn/account%2Fx.css", "/dyn/static/..%2faccount.css",
                       "/dyn/account%00.css"):
            with self.subTest(target=target):
                self.get_raw(target)
        for _ in range(2):
            r = self.node.get("/dyn/account")
            self.assertEqual(r.body, b"secret\n")
            self.assertNotEqual(r.header("X-Cache"), "HIT")


class SetCookie(harness.OutpostTestCase):
    """An answer that sets a cookie reaches another client only when the
    origin said, with explicit freshness, that it may be shared."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin, mutate=ttl_route)

    def twice(self, path, behaviour):
        self.origin.script({path: dict(behaviour, headers={"Set-Cookie": "session=victim"})})
        r1 = self.node.get(path)
        r2 = self.node.get(path)
        return r1, r2

    def test_not_shared_without_explicit_freshness(self):
        cases = [
            ("/ttl/sc/default-ttl", {}),
            ("/sc/heuristic", {"date_headers": {"Last-Modified": -86400}}),
            ("/ttl/sc/private", {"cc": "private, max-age=60"}),
            ("/ttl/sc/no-store", {"cc": "no-store, max-age=60"}),
            ("/ttl/sc/no-cache", {"cc": "no-cache"}),
        ]
        for path, b in cases:
            with self.subTest(path=path):
                r1, r2 = self.twice(path, b)
                self.assertEqual(r1.header("Set-Cookie"), "session=victim")
                self.assertNotEqual(r2.header("X-Cache"), "HIT", r2)
                self.assertEqual(self.origin.count(path), 2)

    def test_no_cache_naming_the_field_strips_it(self):
        r1, r2 = self.twice("/sc/named", {"cc": 'no-cache="Set-Cookie", max-age=60'})
        self.assertEqual(r1.header("Set-Cookie"), "session=victim")
        self.assertEqual(r2.header("X-Cache"), "HIT")
        self.assertIsNone(r2.header("Set-Cookie"))

    def test_explicit_freshness_is_shared_as_sent(self):
        for path, cc in (("/sc/max-age", "max-age=60"), ("/sc/s-maxage", "s-maxage=60")):
            with self.subTest(cc=cc):
                r1, r2 = self.twice(path, {"cc": cc})
                self.assertEqual(r2.header("X-Cache"), "HIT")
                self.assertEqual(r2.header("Set-Cookie"), "session=victim")


if __name__ == "__main__":
    harness.main()
