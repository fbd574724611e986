#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The "purged" count of a purge's reply.  A URL purge removes the URL's
responses at once, and its reply counts them: each response (every Vary
variant; the Vary index is none) once for the RAM tier when it was held there
and once for the disk tier when its record was there.  GET /purge/<id> reports
the same number once the purge is carried out (not counted again by the ban
remover).  Prefix, host, tag and all purges reply 0: the remover counts what
it removes later, in GET /purge/<id>.  The PURGE method replies alike."""

import hashlib
import json
import os
import shutil
import tempfile

import harness
from t58_purge_method import purge_raw

TOKEN = "owner-secret-token"
CC = "cc=max-age%3D600"
VARY = "/v/a?%s&h=Vary:%%20Accept-Language" % CC
LANGS = [{"Accept-Language": "en"}, {"Accept-Language": "fr"}]


class PurgeCount(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="outpost-purgec-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.origin = self.start_origin()

    def node(self, disk=False):
        cache = {"disk": {"path": os.path.join(self.dir, "cache"), "size": "64MiB"}} \
            if disk else {}
        return self.start_outpost(self.origin, overrides={
            "cache": cache,
            "purge": {
                "tokens": [{"id": "example",
                            "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                            "hosts": ["example.com"]}],
                "client_listeners": ["127.0.0.2/32"]}})

    def purge(self, node, body):
        r = harness.http_request(node.admin_port, "POST", "/purge", {
            "Content-Type": "application/json", "Authorization": "Bearer " + TOKEN},
            json.dumps(body).encode())
        self.assertEqual(r.status, 200, r)
        return json.loads(r.body)

    def warm(self, node, path, headers=None):
        self.assertEqual(node.get(path, headers=headers, host="example.com").header("X-Cache"),
                         "MISS")
        self.assertEqual(node.get(path, headers=headers, host="example.com").header("X-Cache"),
                         "HIT")

    def status(self, node, pid):
        """GET /purge/<id> once the purge is carried out."""
        def done():
            r = node.admin("/purge/" + pid)
            return r.status == 200 and json.loads(r.body)["done"]
        harness.wait_until(done, 10, what="purge carried out")
        return json.loads(node.admin("/purge/" + pid).body)

    def test_url_purge_counts_variants_in_ram(self):
        n = self.node()
        for h in LANGS:
            self.warm(n, VARY, h)
        self.warm(n, "/v/b?" + CC)
        j = self.purge(n, {"urls": ["http://example.com" + VARY]})
        self.assertEqual(j["purged"], 2, j)
        self.assertEqual(self.status(n, j["id"])["purged"], 2)
        # nothing left to remove: 0; a URL never cached: 0
        self.assertEqual(self.purge(n, {"urls": ["http://example.com" + VARY]})["purged"], 0)
        self.assertEqual(self.purge(n, {"urls": ["http://example.com/none"]})["purged"], 0)
        # a response without Vary counts 1
        j = self.purge(n, {"urls": ["http://example.com/v/b?" + CC]})
        self.assertEqual(j["purged"], 1, j)
        self.assertEqual(self.status(n, j["id"])["purged"], 1)

    def test_url_purge_counts_both_tiers(self):
        n = self.node(disk=True)
        for h in LANGS:
            self.warm(n, VARY, h)
        # each variant with the index after it: 4 records written
        harness.wait_until(
            lambda: (n.metric("outpost_cache_disk_writes_total", default=0) or 0) >= 4,
            5, what="disk writes")
        j = self.purge(n, {"urls": ["http://example.com" + VARY]})
        self.assertEqual(j["purged"], 4, j)
        self.assertEqual(self.status(n, j["id"])["purged"], 4)

    def test_purge_method_counts(self):
        n = self.node()
        for h in LANGS:
            self.warm(n, VARY, h)
        r = purge_raw(n.port, VARY, token=TOKEN, source="127.0.0.2")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(json.loads(r.body)["purged"], 2, r.body)

    def test_prefix_purge_counts_later(self):
        n = self.node()
        self.warm(n, "/p/1?" + CC)
        self.warm(n, "/p/2?" + CC)
        j = self.purge(n, {"prefixes": ["http://example.com/p/"]})
        self.assertEqual(j["purged"], 0, j)
        self.assertEqual(self.status(n, j["id"])["purged"], 2)


if __name__ == "__main__":
    harness.main()
