#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""JWT bearer tokens on a route (jwt: { jwks, issuer, audience, algorithms,
leeway, claims_headers }).

A route with jwt serves only requests with `Authorization: Bearer <JWT>`
whose signature (RS256, ES256 or HS256) verifies against the JWK Set file
loaded with the configuration, and whose exp, nbf, aud and iss hold; the
others get 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3) before the cache
lookup and never reach the origin.  Chosen claims go to the origin as request
fields, the client's own copies of those fields removed.  A response to a
request with Authorization is stored for everyone only when the origin says
so (public, s-maxage: RFC 9111 §3.5).  The JWK Set is read again on SIGHUP;
one that does not load leaves the running set in place.  RSA and EC keys are
made and used with the openssl command line."""

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import time

import harness
from harness import add_route, req_header


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, data=None):
    return subprocess.run(("openssl",) + args, input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=True, timeout=60).stdout


def der_ecdsa_to_jose(der):
    """ECDSA-Sig-Value (DER) to the 64-byte r || s of RFC 7518 §3.4."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out += der[i + 2:i + 2 + n].lstrip(b"\0").rjust(32, b"\0")
        i += 2 + n
    return out


class Keys:
    """An RSA key, an EC P-256 key and an HMAC secret, with their JWK Set."""

    def __init__(self, d):
        self.rsa = os.path.join(d, "rsa.pem")
        self.ec = os.path.join(d, "ec.pem")
        openssl("genrsa", "-out", self.rsa, "2048")
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", self.ec)
        self.hs = os.urandom(32)
        mod = openssl("rsa", "-in", self.rsa, "-noout", "-modulus").decode()
        n = bytes.fromhex(mod.strip().split("=", 1)[1])
        point = openssl("ec", "-in", self.ec, "-pubout", "-outform", "DER")[-64:]
        self.jwks = {"keys": [
            {"kty": "RSA", "kid": "rsa1", "alg": "RS256", "use": "sig",
             "n": b64url(n), "e": "AQAB"},
            {"kty": "EC", "kid": "ec1", "crv": "P-256",
             "x": b64url(point[:32]), "y": b64url(point[32:])},
            {"kty": "oct", "kid": "hs1", "alg": "HS256", "k": b64url(self.hs)},
        ]}

    def token(self, claims, alg="HS256", kid=None, secret=None):
        kid = kid or {"HS256": "hs1", "RS256": "rsa1", "ES256": "ec1"}[alg]
        header = {"alg": alg, "typ": "JWT", "kid": kid}
        signing = (b64url(json.dumps(header).encode()) + "." +
                   b64url(json.dumps(claims).encode())).encode()
        if alg == "HS256":
            sig = hmac.new(secret or self.hs, signing, hashlib.sha256).digest()
        elif alg == "RS256":
            sig = openssl("dgst", "-sha256", "-sign", self.rsa, data=signing)
        else:
            sig = der_ecdsa_to_jose(openssl("dgst", "-sha256", "-sign", self.ec, data=signing))
        return signing.decode() + "." + b64url(sig)


def claims(**kw):
    c = {"iss": "https://id.example", "aud": "cdn", "sub": "alice",
         "exp": int(time.time()) + 300}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


def write_json(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f)
    os.rename(path + ".tmp", path)


class Jwt(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.dir = self.class_tmpdir("outpost-jwks-")
        cls.keys = Keys(cls.dir)
        cls.jwks_path = os.path.join(cls.dir, "jwks.json")
        write_json(cls.jwks_path, cls.keys.jwks)
        cls.origin = self.class_origin()
        jwt = {"jwks": cls.jwks_path, "issuer": "https://id.example",
               "audience": ["cdn", "cdn-eu"], "leeway": "1m",
               "claims_headers": {"sub": "X-User", "tier": "X-Tier"}}

        def mutate(cfg):
            add_route(cfg, {"path": "/api/", "pool": "web", "cache": {"enabled": False},
                            "jwt": jwt})
            add_route(cfg, {"path": "/pk/", "pool": "web", "cache": {"enabled": False},
                            "jwt": dict(jwt, algorithms=["RS256", "ES256"])})
            add_route(cfg, {"path": "/cached/", "pool": "web", "jwt": jwt})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def get(self, path, token=None, **hdrs):
        h = dict(hdrs)
        if token is not None:
            h["Authorization"] = "Bearer " + token
        return self.node.get(path, headers=h)

    def assertRefused(self, path, token, challenge='Bearer error="invalid_token"', **hdrs):
        before = self.origin.count(path)
        r = self.get(path, token, **hdrs)
        self.assertEqual(r.status, 401, r.body)
        self.assertEqual(r.header("WWW-Authenticate"), challenge)
        self.assertEqual(self.origin.count(path), before, "a refused request reached the origin")
        return r

    def reload(self, failures=False):
        name = "outpost_config_reload_failures_total" if failures \
            else "outpost_config_reloads_total"
        before = self.node.metric(name)
        self.node.send_signal(signal.SIGHUP)
        self.node.wait_metric(name, lambda v: v > before, timeout=10)

    def test_missing(self):
        r = self.assertRefused("/api/m", None, challenge="Bearer")
        self.assertEqual(r.body, b"unauthorized: bearer token missing\n")
        self.assertRefused("/api/m", None, challenge="Bearer", Authorization="Basic YTpi")
        self.assertGreaterEqual(self.node.metric("outpost_jwt_denied_total"), 2)

    def test_each_algorithm(self):
        for alg in ("HS256", "RS256", "ES256"):
            with self.subTest(alg=alg):
                r = self.get("/api/" + alg, self.keys.token(claims(), alg))
                self.assertEqual(r.status, 200, r.body)

    def test_claims_forwarded(self):
        tok = self.keys.token(claims(sub="alice", tier="gold"))
        r = self.get("/api/who", tok, **{"X-User": "mallory", "x-tier": "platinum"})
        self.assertEqual(r.status, 200)
        rec = self.origin.requests(path="/api/who")[-1]
        self.assertEqual(req_header(rec, "X-User"), "alice")
        self.assertEqual(req_header(rec, "X-Tier"), "gold")
        # a token without the claim: the client's copy is still removed
        self.get("/api/who2", self.keys.token(claims(sub=None)), **{"X-User": "mallory"})
        rec = self.origin.requests(path="/api/who2")[-1]
        self.assertIsNone(req_header(rec, "X-User"))
        # a claim with a line break is never forwarded
        self.get("/api/who3", self.keys.token(claims(sub="a\r\nX-Evil: 1")))
        rec = self.origin.requests(path="/api/who3")[-1]
        self.assertIsNone(req_header(rec, "X-User"))
        self.assertIsNone(req_header(rec, "X-Evil"))

    def test_invalid(self):
        now = int(time.time())
        k = self.keys
        r = self.assertRefused("/api/i", k.token(claims(), secret=os.urandom(32)))
        self.assertEqual(r.body, b"unauthorized: token invalid\n")
        self.assertRefused("/api/i", k.token(claims(exp=now - 120)))       # past the leeway
        self.assertRefused("/api/i", k.token(claims(nbf=now + 120)))
        self.assertRefused("/api/i", k.token(claims(aud="other")))
        self.assertRefused("/api/i", k.token(claims(iss="https://evil.example")))
        self.assertRefused("/api/i", k.token(claims(exp=None)))             # exp required
        self.assertRefused("/api/i", k.token(claims(), kid="nope"))
        self.assertRefused("/api/i", "not.a.token")
        tok = k.token(claims())
        self.assertRefused("/api/i", tok[:-4] + ("AAAA" if tok[-4:] != "AAAA" else "BBBB"))
        # within the leeway (1 minute)
        self.assertEqual(self.get("/api/i", k.token(claims(exp=now - 20))).status, 200)
        self.assertEqual(self.get("/api/i", k.token(claims(aud=["x", "cdn-eu"]))).status, 200)

    def test_algorithms(self):
        # the route takes RS256 and ES256 only: an HS256 token is refused
        self.assertRefused("/pk/a", self.keys.token(claims(), "HS256"))
        self.assertEqual(self.get("/pk/a", self.keys.token(claims(), "ES256")).status, 200)

    def test_cache_private_unless_origin_says(self):
        tok = self.keys.token(claims())
        # max-age only: a response to an authorized request is not shared
        for _ in range(2):
            self.assertEqual(self.get("/cached/p?cc=max-age%3D60", tok).status, 200)
        self.assertEqual(self.origin.count(prefix="/cached/p"), 2)
        for cc in ("public%2C%20max-age%3D60", "s-maxage%3D60"):
            with self.subTest(cc=cc):
                path = "/cached/s-%s?cc=%s" % (cc[:6], cc)
                self.assertEqual(self.get(path, tok).status, 200)
                r = self.get(path, self.keys.token(claims(sub="bob"), "ES256"))
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("X-Cache"), "HIT")
                self.assertEqual(self.origin.count(prefix=path.split("?")[0]), 1)
                # the stored copy is still behind the token
                self.assertRefused(path, None, challenge="Bearer")

    def test_reload_takes_new_jwks(self):
        old_hs = self.keys.hs
        new_hs = os.urandom(32)
        jwks = json.loads(json.dumps(self.keys.jwks))
        jwks["keys"][2]["k"] = b64url(new_hs)
        try:
            write_json(self.jwks_path, jwks)
            self.reload()
            self.assertRefused("/api/r", self.keys.token(claims()))
            self.assertEqual(self.get("/api/r", self.keys.token(claims(), secret=new_hs)).status,
                             200)
            # a JWK Set that does not load: the running one stays
            with open(self.jwks_path, "w") as f:
                f.write('{"keys": [')
            self.reload(failures=True)
            self.assertEqual(self.get("/api/r", self.keys.token(claims(), secret=new_hs)).status,
                             200)
        finally:
            write_json(self.jwks_path, self.keys.jwks)
            self.reload()
        self.assertEqual(self.get("/api/r", self.keys.token(claims(), secret=old_hs)).status, 200)


if __name__ == "__main__":
    harness.main()
