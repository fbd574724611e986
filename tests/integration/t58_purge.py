#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The purge API on the admin listener: POST /purge by URL (every Vary variant,
both tiers, the URL normalized as cache keys are), prefix, host, tag
(Surrogate-Key, Cache-Tag: never relayed) and all; soft purges (stale, the
next request revalidates); a fill that began before the purge is not stored;
a purge survives kill -9 and restart; bearer tokens (401), host scopes (403)
and rate limits (429) purge nothing; GET /purge/<id>; the audit log."""

import hashlib
import json
import os
import shutil
import signal
import tempfile
import time

import harness

TOKEN = "owner-secret-token"
OPS = "ops-secret-token"
CC = "cc=max-age%3D600"


class Purge(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="outpost-purge-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.origin = self.start_origin()
        self.ops_file = os.path.join(self.dir, "ops.token")
        with open(self.ops_file, "w") as f:
            f.write(OPS + "\n")
        self.audit = os.path.join(self.dir, "audit.log")

    def node(self, rate=1000):
        return self.start_outpost(self.origin, overrides={
            "cache": {"disk": {"path": os.path.join(self.dir, "cache"), "size": "64MiB"}},
            "purge": {
                "rate": rate,
                "audit_log": self.audit,
                "tokens": [
                    {"id": "example", "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                     "hosts": ["example.com", "*.example.com"]},
                    {"id": "ops", "file": self.ops_file, "hosts": ["*"], "all": True},
                ]}})

    def purge(self, node, body, token=TOKEN, raw=None):
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        data = raw if raw is not None else json.dumps(body).encode()
        return harness.http_request(node.admin_port, "POST", "/purge", headers, data)

    def assertPurged(self, r):
        self.assertEqual(r.status, 200, r)
        j = json.loads(r.body)
        self.assertEqual(len(j["id"]), 16)
        self.assertIn("fleet", j)
        return j

    def cache(self, node, path, headers=None, host="example.com"):
        return node.get(path, headers=headers, host=host).header("X-Cache")

    def warm(self, node, path, headers=None, host="example.com"):
        self.assertEqual(self.cache(node, path, headers, host), "MISS")
        self.assertEqual(self.cache(node, path, headers, host), "HIT")

    def wait_disk_writes(self, node, n, timeout=5.0):
        harness.wait_until(
            lambda: (node.metric("outpost_cache_disk_writes_total", default=0) or 0) >= n,
            timeout, what="%d disk writes" % n)

    def wait_done(self, node, pid):
        def done():
            r = node.admin("/purge/" + pid)
            return r.status == 200 and json.loads(r.body)["done"]
        harness.wait_until(done, 10, what="purge carried out")

    def test_url_all_variants_both_tiers_normalized(self):
        n = self.node()
        path = "/v/a?%s&h=Vary:%%20Accept-Language" % CC
        langs = [{"Accept-Language": "en"}, {"Accept-Language": "fr"}]
        for h in langs:
            self.warm(n, path, h)
        self.warm(n, "/v/ab?" + CC)
        j = self.assertPurged(
            self.purge(n, {"urls": ["http://example.com/x/../v/%61" + path[4:]]}))
        self.wait_done(n, j["id"])
        # a copy read back from disk is dated by the second it was stored
        # in: a refill of the purge's own second would count as older
        time.sleep(1.1)
        for h in langs:
            self.assertEqual(self.cache(n, path, h), "MISS")
        self.assertEqual(self.cache(n, "/v/ab?" + CC), "HIT")
        # the refills stay (a purge does not outlive itself)
        for h in langs:
            self.assertEqual(self.cache(n, path, h), "HIT")
        # and the disk tier lost them too: a restart serves the refills only
        self.wait_disk_writes(n, 5)
        count = self.origin.count("/v/a")
        self.assertEqual(n.stop(), 0)
        n2 = self.node()
        for h in langs:
            self.assertEqual(self.cache(n2, path, h), "HIT")
        self.assertEqual(self.origin.count("/v/a"), count)

    def test_prefix_host_tag(self):
        n = self.node()
        self.warm(n, "/p/1?" + CC)
        self.warm(n, "/p/2?" + CC)
        self.warm(n, "/q/1?" + CC)
        self.warm(n, "/h?" + CC, host="www.example.com")
        self.warm(n, "/t/1?%s&h=Surrogate-Key:%%20red%%20blue" % CC)
        self.warm(n, "/t/2?%s&h=Cache-Tag:%%20green,%%20blue" % CC)
        self.warm(n, "/t/3?%s&h=Surrogate-Key:%%20bluer" % CC)
        r = n.get("/t/1?%s&h=Surrogate-Key:%%20red%%20blue" % CC)
        self.assertIsNone(r.header("Surrogate-Key"), r.headers)
        self.assertPurged(self.purge(n, {"prefixes": ["http://example.com/p/"]}))
        self.assertEqual(self.cache(n, "/p/1?" + CC), "MISS")
        self.assertEqual(self.cache(n, "/p/2?" + CC), "MISS")
        self.assertEqual(self.cache(n, "/q/1?" + CC), "HIT")
        self.assertPurged(self.purge(n, {"hosts": ["WWW.example.com"]}))
        self.assertEqual(self.cache(n, "/h?" + CC, host="www.example.com"), "MISS")
        self.assertEqual(self.cache(n, "/q/1?" + CC), "HIT")
        self.assertPurged(self.purge(n, {"tags": ["blue"]}))
        self.assertEqual(self.cache(n, "/t/1?%s&h=Surrogate-Key:%%20red%%20blue" % CC), "MISS")
        self.assertEqual(self.cache(n, "/t/2?%s&h=Cache-Tag:%%20green,%%20blue" % CC), "MISS")
        self.assertEqual(self.cache(n, "/t/3?%s&h=Surrogate-Key:%%20bluer" % CC), "HIT")
        # all: an operator token only
        r = self.purge(n, {"all": True})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(self.cache(n, "/q/1?" + CC), "HIT")
        self.assertPurged(self.purge(n, {"all": True}, token=OPS))
        self.assertEqual(self.cache(n, "/q/1?" + CC), "MISS")

    def test_soft_purge_revalidates(self):
        n = self.node()
        path = "/s?%s&h=ETag:%%20%%22e1%%22" % CC
        self.warm(n, path)
        self.assertEqual(self.origin.count("/s"), 1)
        j = self.assertPurged(self.purge(n, {"urls": ["http://example.com" + path],
                                             "soft": True}))
        self.assertTrue(j["soft"])
        r = n.get(path)
        self.assertEqual(r.status, 200)
        self.assertEqual(self.origin.count("/s"), 2)  # revalidated, not served fresh
        self.assertEqual(self.cache(n, path), "HIT")
        self.assertEqual(self.origin.count("/s"), 2)

    def test_purge_during_fill_wins(self):
        n = self.node()
        path = "/f?%s&delay_ms=1000" % CC
        bg = harness.Background(n.get, path)
        harness.wait_until(lambda: self.origin.count("/f") == 1, 5, what="fill started")
        self.assertPurged(self.purge(n, {"tags": ["x"], "urls": ["http://example.com" + path]}))
        self.assertEqual(bg.result().status, 200)
        self.assertEqual(self.cache(n, path), "MISS")
        self.assertEqual(self.origin.count("/f"), 2)

    def test_kill9_after_purge(self):
        n = self.node()
        paths = ["/k/%d?%s&h=Surrogate-Key:%%20k" % (i, CC) for i in range(3)]
        for p in paths:
            self.warm(n, p)
        self.wait_disk_writes(n, 3)
        self.assertPurged(self.purge(n, {"tags": ["k"]}))
        n.stop(signal.SIGKILL)
        n2 = self.node()
        for p in paths:
            self.assertEqual(self.cache(n2, p), "MISS")

    def test_auth_errors_purge_nothing(self):
        n = self.node(rate=2)
        self.warm(n, "/a?" + CC)
        url = {"urls": ["http://example.com/a?" + CC]}
        r = self.purge(n, url, token=None)
        self.assertEqual(r.status, 401, r)
        self.assertIn("Bearer", r.header("WWW-Authenticate"))
        self.assertEqual(self.purge(n, url, token="wrong").status, 401)
        r = self.purge(n, {"urls": ["http://example.com/a?" + CC, "http://other.com/a"]})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(self.purge(n, {"hosts": ["other.com"]}).status, 403)
        self.assertEqual(self.purge(n, None, raw=b"{\"urls\": 1}").status, 400)
        self.assertEqual(self.purge(n, None, raw=b"not json").status, 400)
        self.assertEqual(self.purge(n, {"urls": ["/relative"]}).status, 400)
        self.assertEqual(self.cache(n, "/a?" + CC), "HIT")
        self.assertPurged(self.purge(n, {"tags": ["none"]}))
        self.assertPurged(self.purge(n, {"tags": ["none"]}))
        r = self.purge(n, url)
        self.assertEqual(r.status, 429, r)
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        self.assertEqual(self.cache(n, "/a?" + CC), "HIT")
        # the other token has its own bucket
        self.assertPurged(self.purge(n, url, token=OPS))
        self.assertEqual(self.cache(n, "/a?" + CC), "MISS")

    def test_status_and_audit(self):
        n = self.node()
        self.warm(n, "/st?%s&h=Surrogate-Key:%%20st" % CC)
        j = self.assertPurged(self.purge(n, {"tags": ["st"]}))
        self.wait_done(n, j["id"])
        st = json.loads(n.admin("/purge/" + j["id"]).body)
        self.assertEqual(st["id"], j["id"])
        self.assertGreaterEqual(st["purged"], 1)
        self.assertEqual(n.admin("/purge/0000000000000000").status, 404)
        with open(self.audit) as f:
            lines = [json.loads(x) for x in f]
        self.assertEqual(lines[-1]["id"], j["id"])
        self.assertEqual(lines[-1]["token"], "example")
        self.assertEqual(lines[-1]["client"], "127.0.0.1")
        self.assertEqual(lines[-1]["bans"][0]["value"], "st")
        self.assertEqual(n.admin("/purge").status, 405)


if __name__ == "__main__":
    harness.main()
