#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Requests by country on /metrics (outpost_requests_by_country_total): one
series per country code of the clients (the top 50 by requests), "other"
for the rest and "unknown" for clients the databases do not locate; no
family without a geo database.  `promtool check metrics` accepts it.

The databases are the ones t69_geo writes (127.0.0.2 DE, 127.0.0.3 US,
192.0.2.0/24 GB; 198.51.100.0/24 is in none); the client's address comes
from X-Forwarded-For, the test client being a trusted proxy."""

import os
import shutil
import subprocess

import harness
from t69_geo import GeoCase


class GeoMetrics(GeoCase):
    def geo(self, d):
        return {"databases": [{"path": os.path.join(d, "test-city.mmdb"), "type": "city"}]}

    def series(self):
        return {lab: v for (n, lab), v in self.node.metrics().items()
                if n == "outpost_requests_by_country_total"}

    def test_requests_by_country(self):
        before = self.series()
        sent = {"GB": 3, "DE": 2, "US": 1, "unknown": 2}
        for addr, k in (("192.0.2.7", 3), ("127.0.0.2", 2), ("127.0.0.3", 1),
                        ("198.51.100.9", 2)):
            for _ in range(k):
                r = self.node.get("/geo-metrics", headers={"X-Forwarded-For": addr})
                self.assertEqual(r.status, 200, r)

        def counted():
            now = self.series()
            got = {}
            for code, n in sent.items():
                lab = '{country="%s"}' % code
                got[code] = now.get(lab, 0) - before.get(lab, 0)
            return got == sent
        harness.wait_until(counted, timeout=3.0,
                           what="the country counters (now %r)" % (self.series(),))
        self.assertEqual(self.series().get('{country="other"}', 0), 0)
        promtool = shutil.which("promtool")
        if promtool is None:
            self.fail("promtool is not installed (tools/install-deps installs prometheus)")
        text = self.node.admin("/metrics").body.decode()
        cp = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=30)
        self.assertEqual((cp.returncode, cp.stdout + cp.stderr), (0, ""))


class NoGeoNoFamily(harness.OutpostTestCase):
    def test_no_family_without_a_database(self):
        node = self.start_outpost(self.start_origin())
        self.assertEqual(node.get("/x").status, 200)
        self.assertNotIn("outpost_requests_by_country_total",
                         node.admin("/metrics").body.decode())


if __name__ == "__main__":
    harness.main()
