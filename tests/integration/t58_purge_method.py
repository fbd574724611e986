#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The PURGE method (Varnish and Squid style): "PURGE /path" with Host and a
bearer token purges that URL (every Vary variant, normalized as cache keys
are) through the purge API's one path (401, 403, the audit log, the JSON
reply).  A client listener takes it only from the addresses
purge.client_listeners names, and answers anyone else's PURGE as any method
it does not cache."""

import hashlib
import json
import os
import shutil
import tempfile

import harness

TOKEN = "owner-secret-token"
CC = "cc=max-age%3D600"


def purge_raw(port, target, token=TOKEN, host="example.com", source=None, extra=""):
    return harness.purge_raw(port, target, token, host=host, source=source, extra=extra)


class PurgeMethod(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="outpost-purgem-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.origin = self.start_origin()
        self.audit = os.path.join(self.dir, "audit.log")

    def node(self, cidrs=None):
        purge = {
            "audit_log": self.audit,
            "tokens": [{"id": "example",
                        "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                        "hosts": ["example.com", "*.example.com"]}]}
        if cidrs is not None:
            purge["client_listeners"] = cidrs
        return self.start_outpost(self.origin, overrides={
            "cache": {"disk": {"path": os.path.join(self.dir, "cache"), "size": "64MiB"}},
            "purge": purge})

    def cache(self, node, path, headers=None, host="example.com"):
        return node.get(path, headers=headers, host=host).header("X-Cache")

    def warm(self, node, path, headers=None):
        self.assertEqual(self.cache(node, path, headers), "MISS")
        self.assertEqual(self.cache(node, path, headers), "HIT")

    def assertPurged(self, r):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        j = json.loads(r.body)
        self.assertEqual(len(j["id"]), 16)
        self.assertIn("purged", j)
        self.assertFalse(j["soft"])
        return j

    def test_client_listener_purge_all_variants_normalized(self):
        n = self.node(cidrs=["127.0.0.2/32"])
        path = "/v/a?%s&h=Vary:%%20Accept-Language" % CC
        langs = [{"Accept-Language": "en"}, {"Accept-Language": "fr"}]
        for h in langs:
            self.warm(n, path, h)
        self.warm(n, "/v/b?" + CC)
        # "/x/../v/%61" is "/v/a" as a cache key
        j = self.assertPurged(purge_raw(n.port, "/x/../v/%61" + path[4:], source="127.0.0.2"))
        self.assertEqual(j["fleet"]["pending"], [])
        for h in langs:
            self.assertEqual(self.cache(n, path, h), "MISS")
        self.assertEqual(self.cache(n, "/v/b?" + CC), "HIT")
        # absolute-form names its URL itself
        self.warm(n, "/v/c?" + CC)
        self.assertPurged(purge_raw(n.port, "http://example.com/v/c?" + CC, host="example.com",
                                    source="127.0.0.2"))
        self.assertEqual(self.cache(n, "/v/c?" + CC), "MISS")
        # the audit log has both, with the token's id and the client
        lines = [json.loads(l) for l in harness.read_text(self.audit).splitlines()]
        self.assertEqual([l["token"] for l in lines], ["example", "example"])
        self.assertEqual(lines[0]["client"], "127.0.0.2")
        self.assertEqual(lines[0]["bans"][0]["kind"], "url")
        self.assertTrue(lines[0]["bans"][0]["value"].startswith("http://example.com/v/a?"))
        self.assertEqual(n.metric("outpost_purge_requests_total"), 2)

    def test_client_listener_from_allowed_address(self):
        n = self.node(cidrs=["127.0.0.2/32"])
        self.warm(n, "/c?" + CC)
        # another address: not a purge, forwarded as any uncached method
        before = self.origin.count("/c")
        r = purge_raw(n.port, "/c?" + CC, source="127.0.0.3")
        self.assertNotEqual(r.header("Content-Type"), "application/json", r)
        self.assertEqual(self.origin.count("/c"), before + 1)
        self.assertEqual(n.metric("outpost_purge_requests_total"), 0)
        self.warm(n, "/c?" + CC)
        r = purge_raw(n.port, "/c?" + CC, source="127.0.0.2", token=None)
        self.assertEqual(r.status, 401, r)
        self.assertIn("Bearer", r.header("WWW-Authenticate"))
        r = purge_raw(n.port, "/c?" + CC, source="127.0.0.2", token="wrong")
        self.assertEqual(r.status, 401, r)
        r = purge_raw(n.port, "/c?" + CC, source="127.0.0.2", host="www.other.org")
        self.assertEqual(r.status, 403, r)
        self.assertIn("may not purge", json.loads(r.body)["error"])
        self.assertEqual(self.cache(n, "/c?" + CC), "HIT")
        self.assertPurged(purge_raw(n.port, "/c?" + CC, source="127.0.0.2"))
        self.assertEqual(self.cache(n, "/c?" + CC), "MISS")
        self.assertEqual(n.metric("outpost_purge_requests_total"), 1)

    def test_client_listener_without_config_is_unchanged(self):
        n = self.node()
        self.warm(n, "/u?" + CC)
        before = self.origin.count("/u")
        r = purge_raw(n.port, "/u?" + CC, source="127.0.0.2")
        # not a purge: forwarded as any method the cache does not answer
        self.assertNotEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(self.origin.count("/u"), before + 1)
        self.assertEqual(n.metric("outpost_purge_requests_total"), 0)


if __name__ == "__main__":
    harness.main()
