#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Labelled metrics: outpost_responses_total{site,code,cache}, the request
duration histogram by site and the origin first-byte histogram by pool.
Label values are bounded (site and pool names of the configuration, "none"
for a response without a site); a site's series go on across a reload that
reorders the sites; promtool accepts the exposition."""

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import harness
from t11_outpostctl import ctl_bin

CC = "cc=max-age%3D600"
BOUNDS = ["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
          "0.5", "1", "2.5", "5", "10", "+Inf"]


def series(node, name):
    """{labels text: value} of the series of name."""
    return {lab: v for (n, lab), v in node.metrics().items() if n == name}


def buckets(node, family, label, value):
    """[(le, count)] of one histogram series, in exposition order."""
    text = node.admin("/metrics").body.decode()
    pat = r'^%s_bucket\{%s="%s",le="([^"]+)"\} (\d+)$' % (family, label, re.escape(value))
    return [(le, int(c)) for le, c in re.findall(pat, text, re.M)]


class Labels(harness.OutpostTestCase):
    def start(self):
        origin = self.start_origin()

        def mutate(cfg):
            harness.add_pool_route(cfg, "dead", [("127.0.0.1:%d" % harness.free_port(), {})])
            harness.add_pool_route(cfg, "slow", [("127.0.0.1:%d" % origin.port, {})])
        return origin, self.start_outpost(origin, mutate=mutate)

    def test_responses_by_site_code_and_cache(self):
        _, node = self.start()
        self.assertEqual(node.get("/m/a?" + CC).status, 200)      # miss
        self.assertEqual(node.get("/m/a?" + CC).status, 200)      # hit
        self.assertEqual(node.get("/nocache/p").status, 200)      # pass
        self.assertEqual(node.get("/nocache/q?status=404").status, 404)
        self.assertEqual(node.get("/o/x?" + CC, host="localhost").status, 200)
        self.assertEqual(node.get("/dead/x").status, 502)
        r = node.raw(b"GET / HTTP/1.1\r\nHost: example.com\r\nBad Field: x\r\n\r\n")
        self.assertEqual(r.first().status, 400)
        want = {
            ('{site="main",code="2xx",cache="miss"}'): 1,
            ('{site="main",code="2xx",cache="hit"}'): 1,
            ('{site="main",code="2xx",cache="pass"}'): 1,
            ('{site="main",code="4xx",cache="pass"}'): 1,
            ('{site="main",code="5xx",cache="pass"}'): 1,
            ('{site="other",code="2xx",cache="miss"}'): 1,
            ('{site="none",code="4xx",cache="none"}'): 1,
        }

        def got():
            s = series(node, "outpost_responses_total")
            return s if {k: s.get(k) for k in want} == want else None
        s = harness.wait_until(got, 5, what="outpost_responses_total series")
        self.assertEqual(sum(s.values()), 7, s)
        # the duration histogram counts the same responses, by site
        main = buckets(node, "outpost_request_duration_seconds", "site", "main")
        self.assertEqual([le for le, _ in main], BOUNDS)
        counts = [c for _, c in main]
        self.assertEqual(counts, sorted(counts), "buckets are cumulative")
        self.assertEqual(counts[-1], 5)
        self.assertEqual(node.metric("outpost_request_duration_seconds_count",
                                     {"site": "main"}), 5)
        self.assertEqual(node.metric("outpost_request_duration_seconds_count",
                                     {"site": "none"}), 1)
        # a hit, a pass and the miss went to origins of pool web; the dead
        # pool never answered a head
        self.assertEqual(node.metric("outpost_origin_first_byte_seconds_count",
                                     {"pool": "web"}), 4)
        self.assertIsNone(node.metrics().get(
            ("outpost_origin_first_byte_seconds_count", '{pool="dead"}')))

    def test_histograms_place_a_slow_origin(self):
        _, node = self.start()
        self.assertEqual(node.get("/slow/s?delay_ms=300").status, 200)
        fb = dict(harness.wait_until(
            lambda: buckets(node, "outpost_origin_first_byte_seconds", "pool", "slow"),
            5, what="first-byte histogram of pool slow"))
        self.assertEqual(list(fb), BOUNDS)
        self.assertEqual((fb["0.25"], fb["0.5"], fb["+Inf"]), (0, 1, 1), fb)
        self.assertGreaterEqual(node.metric("outpost_origin_first_byte_seconds_sum",
                                            {"pool": "slow"}), 0.3)
        d = dict(buckets(node, "outpost_request_duration_seconds", "site", "main"))
        self.assertEqual((d["0.25"], d["+Inf"]), (0, 1), d)
        self.assertGreaterEqual(node.metric("outpost_request_duration_seconds_sum",
                                            {"site": "main"}), 0.3)

    def test_site_series_survive_a_reload(self):
        _, node = self.start()
        for _ in range(3):
            self.assertEqual(node.get("/nocache/r").status, 200)
        key = {"site": "main", "code": "2xx", "cache": "pass"}
        node.wait_metric("outpost_responses_total", lambda v: v == 3, labels=key)
        # the new configuration puts a new site first: main's index changes,
        # its series do not
        cfg = json.loads(json.dumps(node.config))
        cfg["sites"].insert(0, {"name": "new", "hosts": ["new.example.net"], "pool": "web"})
        node.config = cfg
        with open(node.config_path, "w") as f:
            f.write(harness.to_yaml(cfg) + "\n")
        node.send_signal(signal.SIGHUP)
        node.wait_metric("outpost_config_reloads_total", lambda v: v >= 1, timeout=5.0)

        def after():
            self.assertEqual(node.get("/nocache/r").status, 200)
            self.assertEqual(node.get("/nocache/n", host="new.example.net").status, 200)
            return node.metric("outpost_responses_total", {"site": "new"}, default=0)
        harness.wait_until(after, 5, interval=0.2, what="a request on the new site")
        n = node.metric("outpost_responses_total", key)
        self.assertGreaterEqual(n, 4)
        self.assertEqual(node.metric("outpost_request_duration_seconds_count",
                                     {"site": "main"}), n)
        promtool = shutil.which("promtool")
        if promtool is None:
            self.fail("promtool is not installed (tools/install-deps installs prometheus)")
        text = node.admin("/metrics").body.decode()
        cp = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=30)
        self.assertEqual((cp.returncode, cp.stdout + cp.stderr), (0, ""), text)

    def test_outpostctl_top_reads_them(self):
        """top --once against the node under a light bounded load: a per-site
        row for main from outpost_responses_total and latency quantiles from
        the two histograms."""
        _, node = self.start()
        self.assertEqual(node.get("/m/warm?" + CC).status, 200)
        stop = threading.Event()

        def load():
            deadline = time.monotonic() + 10
            for i in range(400):
                if stop.is_set() or time.monotonic() > deadline:
                    break
                node.get("/m/warm?" + CC if i % 2 else "/nocache/l%d" % i)
                time.sleep(0.005)
        t = threading.Thread(target=load, daemon=True)
        t.start()
        self.addCleanup(t.join, 15)
        self.addCleanup(stop.set)
        env = {k: v for k, v in os.environ.items() if k != "OUTPOST_ADMIN"}
        env["OUTPOSTCTL_CONF"] = os.devnull
        cp = subprocess.run([ctl_bin(), "-a", "127.0.0.1:%d" % node.admin_port, "top",
                             "--once", "--interval", "1s"], env=env, capture_output=True,
                            text=True, timeout=20)
        self.assertEqual(cp.returncode, 0, cp)
        out = cp.stdout
        m = re.search(r"^main +([0-9.]+) +([0-9.]+)%$", out, re.M)
        self.assertIsNotNone(m, out)
        self.assertGreater(float(m.group(1)), 0)
        # every other request of the load is a hit
        self.assertTrue(20 <= float(m.group(2)) <= 80, out)
        self.assertRegex(out, r"latency  request p50 [0-9.]+ [mµu]?s  p95 [0-9.]+ [mµu]?s   "
                              r"origin 1st byte p50 [0-9.]+ [mµu]?s  p95 [0-9.]+ [mµu]?s")


if __name__ == "__main__":
    harness.main()
