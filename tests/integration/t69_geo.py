#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Geo: the client's location from MaxMind DB files (geo.databases).

The databases are written by the test itself with Debian's
libmaxmind-db-writer-perl (tests/unit/geo/make-test-mmdb.pl): 192.0.2.0/24 is
GB/EU, 2001:db8::/32 NL/EU Amsterdam AS64496, 127.0.0.2 DE/EU Berlin
AS64500, ...  The client address comes from X-Forwarded-For (the test
client, 127.0.0.1, is a trusted proxy), or is the socket peer (127.0.0.2).

The origin gets X-Geo-Country, -Continent, -Region, -City and -ASN; the
client's own X-Geo-* fields are always removed.  access rules take
country:, continent: and asn: entries.  A reload (SIGHUP) with a corrupt
database keeps the running configuration and its databases."""

import os
import shutil
import signal
import socket
import subprocess
import time
import unittest

import harness
from harness import add_route, req_header

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unit", "geo",
                      "make-test-mmdb.pl")
GEO = ["X-Geo-Country", "X-Geo-Continent", "X-Geo-Region", "X-Geo-City", "X-Geo-ASN"]


def make_dbs(outdir):
    p = subprocess.run(["perl", SCRIPT, outdir], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0:
        raise unittest.SkipTest("cannot write test databases: %s" % p.stderr.decode()[-300:])


def geo_fields(rec):
    return {name: req_header(rec, name) for name in GEO if req_header(rec, name) is not None}


class GeoCase(harness.OutpostTestCase):
    """Writes the databases, starts an origin and a node trusting the test
    client's X-Forwarded-For with geo (from geo(dir)) and routes (from
    routes(cfg))."""

    def geo(self, d):
        raise NotImplementedError

    def routes(self, cfg):
        pass

    def setup_class_resources(self):
        cls = type(self)
        cls.dir = self.class_tmpdir("outpost-geo-")
        make_dbs(cls.dir)
        cls.origin = self.class_origin()

        def mutate(cfg):
            cfg["trusted_proxies"] = ["127.0.0.1/32"]
            cfg["geo"] = self.geo(cls.dir)
            self.routes(cfg)
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)


class Geo(GeoCase):
    def geo(self, d):
        return {"databases": [{"path": os.path.join(d, "test-city.mmdb"), "type": "city"},
                              {"path": os.path.join(d, "test-asn.mmdb"), "type": "asn"}]}

    def routes(self, cfg):
        nocache = {"enabled": False}
        add_route(cfg, {"path": "/geo/", "pool": "web", "cache": nocache})
        add_route(cfg, {"path": "/nogeo/", "pool": "web", "cache": nocache,
                        "geo_headers": False})
        add_route(cfg, {"path": "/de451/", "pool": "web", "cache": nocache,
                        "access": {"deny": ["country:DE"], "status": 451}})
        add_route(cfg, {"path": "/eu/", "pool": "web", "cache": nocache,
                        "access": {"allow": ["continent:EU"]}})
        add_route(cfg, {"path": "/asn/", "pool": "web", "cache": nocache,
                        "access": {"deny": ["asn:64496"]}})
        add_route(cfg, {"path": "/known/", "pool": "web", "cache": nocache,
                        "access": {"deny": ["country:US"], "default": "deny"}})

    def get(self, path, client=None, **hdrs):
        if client is not None:
            hdrs["X-Forwarded-For"] = client
        return self.node.get(path, headers=hdrs)

    def seen(self, path):
        return geo_fields(self.origin.requests(path=path)[-1])

    def test_headers_to_the_origin(self):
        cases = [
            ("/geo/v6", "2001:db8::5", {"X-Geo-Country": "NL", "X-Geo-Continent": "EU",
                                        "X-Geo-Region": "NH", "X-Geo-City": "Amsterdam",
                                        "X-Geo-ASN": "64496"}),
            ("/geo/v6-inner", "2001:db8:ffff::1", {"X-Geo-Country": "CA",
                                                   "X-Geo-Continent": "NA",
                                                   "X-Geo-ASN": "64496"}),
            ("/geo/v4", "192.0.2.9", {"X-Geo-Country": "GB", "X-Geo-Continent": "EU"}),
            ("/geo/unknown", "198.51.100.1", {}),
        ]
        for path, client, want in cases:
            with self.subTest(client=client):
                self.assertEqual(self.get(path, client).status, 200)
                self.assertEqual(self.seen(path), want)

    def test_socket_peer_is_located(self):
        s = socket.create_connection(("127.0.0.1", self.node.port), timeout=5,
                                     source_address=("127.0.0.2", 0))
        with s:
            for i in range(2):  # the second request reuses the connection's lookup
                s.sendall(b"GET /geo/peer%d HTTP/1.1\r\nHost: example.com\r\n\r\n" % i)
                rd = harness._Reader(sock=s, deadline=time.monotonic() + 5)
                self.assertEqual(harness._read_response(rd).status, 200)
                self.assertEqual(self.seen("/geo/peer%d" % i),
                                 {"X-Geo-Country": "DE", "X-Geo-Continent": "EU",
                                  "X-Geo-Region": "BE", "X-Geo-City": "Berlin",
                                  "X-Geo-ASN": "64500"})

    def test_client_copies_removed(self):
        spoof = {"X-Geo-Country": "XX", "x-geo-city": "Nowhere", "X-Geo-Anything": "1"}
        self.assertEqual(self.get("/geo/spoof-unknown", "198.51.100.1", **spoof).status, 200)
        rec = self.origin.requests(path="/geo/spoof-unknown")[-1]
        self.assertEqual([k for k, _ in rec["headers"] if k.lower().startswith("x-geo-")], [])
        self.assertEqual(self.get("/geo/spoof-known", "192.0.2.1", **spoof).status, 200)
        self.assertEqual(self.seen("/geo/spoof-known"),
                         {"X-Geo-Country": "GB", "X-Geo-Continent": "EU"})
        rec = self.origin.requests(path="/geo/spoof-known")[-1]
        self.assertEqual(len([k for k, _ in rec["headers"] if k.lower().startswith("x-geo-")]),
                         2)

    def test_route_without_geo_headers(self):
        self.assertEqual(self.get("/nogeo/x", "2001:db8::5", **{"X-Geo-Country": "XX"}).status,
                         200)
        rec = self.origin.requests(path="/nogeo/x")[-1]
        self.assertEqual([k for k, _ in rec["headers"] if k.lower().startswith("x-geo-")], [])

    def test_access_rules(self):
        cases = [
            ("/de451/a", "2001:db8::5", 200),   # NL
            ("/eu/a", "2001:db8::5", 200),      # EU
            ("/eu/b", "2001:db8:ffff::2", 403),  # NA
            ("/eu/c", "198.51.100.1", 200),     # unknown location: default (allow)
            ("/asn/a", "2001:db8::9", 403),     # AS64496
            ("/asn/b", "192.0.2.5", 200),       # no ASN: unknown, default allow
            ("/known/a", "192.0.2.5", 200),     # GB
            ("/known/b", "198.51.100.1", 403),  # unknown location, default: deny
        ]
        for path, client, want in cases:
            with self.subTest(path=path):
                self.assertEqual(self.get(path, client).status, want)
                self.assertEqual(self.origin.count(path), 1 if want == 200 else 0)
        s = socket.create_connection(("127.0.0.1", self.node.port), timeout=5,
                                     source_address=("127.0.0.2", 0))
        with s:
            s.sendall(b"GET /de451/peer HTTP/1.1\r\nHost: example.com\r\n\r\n")
            r = harness._read_response(
                harness._Reader(sock=s, deadline=time.monotonic() + 5))
        self.assertEqual((r.status, r.body), (451, b"unavailable for legal reasons\n"))
        self.assertEqual(self.origin.count("/de451/peer"), 0)
        self.assertEqual(self.node.metric("outpost_access_denials_total",
                                          {"route": "/known/", "rule": "unknown"}), 1)
        self.assertEqual(self.node.metric("outpost_access_denials_total",
                                          {"route": "/de451/", "rule": "country:DE"}), 1)

    def test_reload_with_a_corrupt_database_keeps_the_old(self):
        failures = self.node.metric("outpost_config_reload_failures_total")
        city = os.path.join(self.dir, "test-city.mmdb")
        good = city + ".good"
        shutil.copyfile(city, good)
        try:
            with open(city + ".tmp", "wb") as f:
                f.write(b"this is not a MaxMind DB file\n" * 100)
            os.rename(city + ".tmp", city)
            self.node.send_signal(signal.SIGHUP)
            self.node.wait_metric("outpost_config_reload_failures_total",
                                  lambda v: v > failures, timeout=10)
            self.assertIn("test-city.mmdb", self.node.log())
            self.assertEqual(self.get("/geo/after-bad", "192.0.2.1").status, 200)
            self.assertEqual(self.seen("/geo/after-bad"),
                             {"X-Geo-Country": "GB", "X-Geo-Continent": "EU"})
        finally:
            os.rename(good, city)
        reloads = self.node.metric("outpost_config_reloads_total")
        self.node.send_signal(signal.SIGHUP)
        self.node.wait_metric("outpost_config_reloads_total", lambda v: v > reloads, timeout=10)
        self.assertEqual(self.get("/geo/after-good", "2001:db8::1").status, 200)
        self.assertEqual(self.seen("/geo/after-good")["X-Geo-City"], "Amsterdam")


class GeoNames(GeoCase):
    """geo.headers renames fields; the client's copies of both names go."""

    def geo(self, d):
        return {"databases": [{"path": os.path.join(d, "test-country.mmdb"),
                               "type": "country"}],
                "headers": {"country": "CDN-Country"}}

    def test_renamed(self):
        r = self.node.get("/n", headers={"X-Forwarded-For": "192.0.2.1",
                                         "CDN-Country": "XX", "X-Geo-Country": "YY"})
        self.assertEqual(r.status, 200)
        rec = self.origin.requests(path="/n")[-1]
        self.assertEqual(req_header(rec, "CDN-Country"), "GB")
        self.assertIsNone(req_header(rec, "X-Geo-Country"))
        self.assertEqual(req_header(rec, "X-Geo-Continent"), "EU")


if __name__ == "__main__":
    harness.main()
