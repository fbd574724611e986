#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Signed URLs on a route or a site (signed_url: { keys: [{ id, file }], leeway }).

A route with signed_url serves only URLs whose query carries a valid
HMAC-SHA256 signature (doc/protected-content.md: exp, kid, sig, optional ip
and prefix); a missing, wrong or expired one gets 403 with a short body
before the cache lookup, and never reaches the origin.  The signature
parameters are cut from the query: every client's URL for a path hits the
same cache entry, and the origin never sees them.  The secrets are read from
their files at load, so a reload (SIGHUP) takes a rotated key."""

import base64
import hashlib
import hmac
import os
import signal
import time
import urllib.parse

import harness
from harness import add_route

SECRETS = {"k1": os.urandom(32), "k2": os.urandom(48)}


def sign(path, kid="k1", exp=None, ip=None, prefix=None, secret=None, extra=None):
    """The query string of a signed URL for path (the documented recipe)."""
    exp = str(int(time.time()) + 300 if exp is None else exp)
    to_sign = "\n".join(["outpost-url-v1", "prefix" if prefix else "path",
                         prefix or path, exp, kid, ip or ""])
    mac = hmac.new(secret or SECRETS[kid], to_sign.encode(), hashlib.sha256).digest()
    params = list(extra or [])
    params += [("exp", exp), ("kid", kid)]
    if ip:
        params.append(("ip", ip))
    if prefix:
        params.append(("prefix", prefix))
    params.append(("sig", base64.urlsafe_b64encode(mac).rstrip(b"=").decode()))
    return path + "?" + urllib.parse.urlencode(params)


def write_secret(path, secret):
    with open(path, "w") as f:
        f.write(base64.b64encode(secret).decode() + "\n")


class SignedUrls(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.keydir = self.class_tmpdir("outpost-keys-")
        for kid, secret in SECRETS.items():
            write_secret(os.path.join(cls.keydir, kid), secret)
        cls.origin = self.class_origin()
        keys = [{"id": kid, "file": os.path.join(cls.keydir, kid)} for kid in SECRETS]

        def mutate(cfg):
            cfg["trusted_proxies"] = ["127.0.0.1/32"]
            add_route(cfg, {"path": "/sv/", "pool": "web", "cache": {"default_ttl": "1h"},
                            "signed_url": {"keys": keys}})
            add_route(cfg, {"path": "/lee/", "pool": "web", "cache": {"enabled": False},
                            "signed_url": {"keys": keys, "leeway": "2m"}})
            # the site "other" signs every route of its own
            for s in cfg["sites"]:
                if s["name"] == "other":
                    s["signed_url"] = {"keys": keys[:1]}
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def get(self, target, client="192.0.2.1", host="example.com"):
        return self.node.get(target, headers={"X-Forwarded-For": client}, host=host)

    def assertRefused(self, target, body, client="192.0.2.1"):
        path = target.split("?")[0]
        before = self.origin.count(path)
        r = self.get(target, client)
        self.assertEqual(r.status, 403, target)
        self.assertEqual(r.body, body)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertEqual(self.origin.count(path), before, "a refused URL reached the origin")

    def test_valid_signature_served_and_stripped(self):
        r = self.get(sign("/sv/a.txt"))
        self.assertEqual(r.status, 200)
        rec = self.origin.requests(path="/sv/a.txt")
        self.assertEqual([x["target"] for x in rec], ["/sv/a.txt"])

    def test_signature_not_in_cache_key(self):
        # two clients, two expiries, two signatures: one object
        self.assertEqual(self.get(sign("/sv/shared", exp=int(time.time()) + 100)).status, 200)
        r = self.get(sign("/sv/shared", kid="k2", exp=int(time.time()) + 200), "192.0.2.99")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count("/sv/shared"), 1)

    def test_other_parameters_kept_in_order(self):
        target = sign("/sv/q", extra=[("b", "2"), ("a", "1")])
        self.assertEqual(self.get(target).status, 200)
        self.assertEqual([x["target"] for x in self.origin.requests(path="/sv/q")],
                         ["/sv/q?b=2&a=1"])
        # the same parameters with another signature: the same entry
        r = self.get(sign("/sv/q", kid="k2", extra=[("b", "2"), ("a", "1")]))
        self.assertEqual(r.header("X-Cache"), "HIT")
        # other parameters: another entry
        self.assertEqual(self.get(sign("/sv/q", extra=[("a", "1"), ("b", "2")])).status, 200)
        self.assertEqual(self.origin.count(prefix="/sv/q"), 2)

    def test_missing(self):
        self.assertRefused("/sv/m", b"forbidden: signature missing\n")
        self.assertRefused("/sv/m?x=1", b"forbidden: signature missing\n")

    def test_invalid(self):
        bad = b"forbidden: signature invalid\n"
        good = sign("/sv/i")
        self.assertRefused(good.replace("/sv/i", "/sv/j"), bad)        # another path
        self.assertRefused(sign("/sv/i", secret=os.urandom(32)), bad)  # another secret
        self.assertRefused(sign("/sv/i", kid="k9", secret=os.urandom(32)), bad)
        self.assertRefused(good.replace("kid=k1", "kid=k2"), bad)
        self.assertRefused(good + "&sig=AAAA", bad)                      # sig twice
        self.assertRefused("/sv/i?exp=1&kid=k1", bad)                     # no sig
        # a URL signed for one path is no grant for a folder
        self.assertRefused(sign("/sv/").replace("?", "?prefix=%2Fsv%2F&"), bad)
        self.assertGreaterEqual(self.node.metric("outpost_signed_url_denied_total"), 7)

    def test_expired(self):
        self.assertRefused(sign("/sv/e", exp=int(time.time()) - 5), b"forbidden: URL expired\n")
        # the route's leeway (2 minutes) keeps a URL expired a minute ago
        self.assertEqual(self.get(sign("/lee/e", exp=int(time.time()) - 60)).status, 200)
        self.assertRefused(sign("/lee/e", exp=int(time.time()) - 300),
                           b"forbidden: URL expired\n")

    def test_client_address(self):
        target = sign("/sv/ip", ip="203.0.113.9")
        self.assertRefused(target, b"forbidden: signature invalid\n", client="203.0.113.10")
        self.assertEqual(self.get(target, client="203.0.113.9").status, 200)

    def test_prefix(self):
        q = sign("/sv/dir/a", prefix="/sv/dir/").split("?", 1)[1]
        self.assertEqual(self.get("/sv/dir/a?" + q).status, 200)
        self.assertEqual(self.get("/sv/dir/sub/b?" + q).status, 200)
        self.assertRefused("/sv/dirt?" + q, b"forbidden: signature invalid\n")
        # the signed path is the normalized one
        self.assertEqual(self.get("/sv/x/../dir/c?" + q).status, 200)
        self.assertEqual([x["target"] for x in self.origin.requests(path="/sv/dir/c")],
                         ["/sv/dir/c"])

    def test_site_level(self):
        self.assertEqual(self.get("/any/path", host="localhost").status, 403)
        r = self.get(sign("/any/path"), host="localhost")
        self.assertEqual(r.status, 200)
        # only k1 is the site's key
        self.assertEqual(self.get(sign("/any/path", kid="k2"), host="localhost").status, 403)

    def test_unsigned_route_untouched(self):
        target = sign("/plain/x")
        self.assertEqual(self.get(target).status, 200)
        self.assertEqual([x["target"] for x in self.origin.requests(path="/plain/x")], [target])

    def test_rotation_on_reload(self):
        new = os.urandom(32)
        path = os.path.join(self.keydir, "k1")
        old_url = sign("/lee/rot")
        self.assertEqual(self.get(old_url).status, 200)
        write_secret(path, new)
        try:
            before = self.node.metric("outpost_config_reloads_total")
            self.node.send_signal(signal.SIGHUP)
            self.node.wait_metric("outpost_config_reloads_total", lambda v: v > before,
                                  timeout=10)
            self.assertEqual(self.get(old_url).status, 403)
            self.assertEqual(self.get(sign("/lee/rot", secret=new)).status, 200)
        finally:
            write_secret(path, SECRETS["k1"])
            before = self.node.metric("outpost_config_reloads_total")
            self.node.send_signal(signal.SIGHUP)
            self.node.wait_metric("outpost_config_reloads_total", lambda v: v > before,
                                  timeout=10)
        self.assertEqual(self.get(old_url).status, 200)


if __name__ == "__main__":
    harness.main()
