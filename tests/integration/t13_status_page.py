#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The status page in a real browser (Debian's chromium, headless): loaded from
/status on a node under light load, its script polls /status.json, draws the
charts (requests/s, hit ratio, bandwidth, origin latency, errors) and fills
the tiles and the site and pool tables; the test reads the DOM the page
built and saves a screenshot under the build directory
(tests/integration/status_page.png next to the outpost binary).  Skipped
when chromium is not installed (tools/install-deps --ci adds it)."""

import html.parser
import os
import shutil
import subprocess
import tempfile
import threading
import time

import harness

CC = "cc=max-age%3D600"
LOAD_MAX = 3000      # requests of the background load, at most
BUDGET_MS = 6000     # the browser's virtual time: about six polls


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Dom(html.parser.HTMLParser):
    """Elements by id (attributes and text), table rows, polylines, body."""

    def __init__(self):
        super().__init__()
        self.by_id, self.stack, self.rows, self.polylines, self.body = {}, [], [], 0, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        el = {"tag": tag, "attrs": a, "text": ""}
        if "id" in a:
            self.by_id[a["id"]] = el
        if tag == "body":
            self.body = a
        if tag == "tr":
            self.rows.append(el)
        if tag == "polyline":
            self.polylines += 1
        if tag not in ("meta", "line", "polyline", "br"):
            self.stack.append(el)

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        for el in self.stack:
            el["text"] += data


class StatusPage(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.browser = chromium()
        if self.browser is None:
            self.skipTest("chromium is not installed")
        self.dir = tempfile.mkdtemp(prefix="outpost-page-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def run_browser(self, url, *args):
        cp = subprocess.run(
            [self.browser, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
             "--user-data-dir=" + os.path.join(self.dir, "profile"),
             "--virtual-time-budget=%d" % BUDGET_MS] + list(args) + [url],
            capture_output=True, text=True, timeout=90)
        self.assertEqual(cp.returncode, 0, cp.stderr[-2000:])
        return cp

    def test_page_draws_charts_and_tables_under_load(self):
        origin = self.start_origin()
        n = self.start_outpost(origin)
        stop = threading.Event()
        done = [0]

        def load():
            # hits of 20 URLs and, every other request, a new URL (a miss):
            # every poll interval has origin answers even on a busy machine
            for i in range(LOAD_MAX):
                if stop.is_set():
                    break
                path = ("/m/%d?%s" % (i, CC)) if i % 2 == 0 else ("/l/%d?%s" % (i % 20, CC))
                if n.get(path).status == 200:
                    done[0] += 1
                time.sleep(0.005)

        t = threading.Thread(target=load, daemon=True)
        t.start()
        self.addCleanup(t.join, 10)
        self.addCleanup(stop.set)
        harness.wait_until(lambda: done[0] >= 20, 10, what="the load")
        url = "http://127.0.0.1:%d/status" % n.admin_port
        before = done[0]
        cp = self.run_browser(url, "--dump-dom")
        dom = Dom()
        dom.feed(cp.stdout)
        ids = dom.by_id

        def text(i):
            return ids[i]["text"].strip()

        self.assertEqual(text("node"), n.config["node"]["name"])
        self.assertEqual(text("state"), "serving")
        self.assertEqual(text("error"), "")
        # polled several times, each chart drawn
        self.assertGreaterEqual(int(dom.body.get("data-samples", 0)), 3)
        for name in ("rps", "hit", "bw", "err"):
            self.assertGreaterEqual(int(ids["chart-" + name]["attrs"]["data-points"]), 2, name)
        self.assertGreaterEqual(int(ids["chart-lat"]["attrs"]["data-points"]), 1)
        self.assertGreaterEqual(dom.polylines, 5)
        # the figures match the load
        # (the last interval may be short: the browser's virtual time runs
        # the polls faster than the load) the chart's top is the busiest one
        self.assertGreaterEqual(float(text("v-rps")), 0)
        self.assertGreater(float(text("chart-rps").split()[1]), 0)
        if text("v-hit") != "-":    # "-": no lookup in the last interval
            hit = float(text("v-hit").rstrip("%"))
            self.assertTrue(0 <= hit <= 100, hit)
        self.assertGreaterEqual(int(text("v-requests")), before)
        self.assertLessEqual(int(text("v-requests")), LOAD_MAX + 10)
        self.assertTrue(text("v-bw").endswith("B"), text("v-bw"))
        self.assertIn("objects", text("v-ram"))
        # the tables
        sites = [r["attrs"].get("data-site") for r in dom.rows if r["attrs"].get("data-site")]
        self.assertEqual(sites, ["main", "other"])
        members = [r for r in dom.rows if r["attrs"].get("data-pool") == "web"]
        self.assertEqual(len(members), 1)
        self.assertEqual(members[0]["attrs"]["data-member"], "127.0.0.1:%d" % origin.port)
        self.assertIn("up", members[0]["text"])

        # a screenshot of the page, kept in the build directory
        out_dir = os.path.join(os.path.dirname(os.path.abspath(harness.OUTPOST_BIN)),
                               "tests", "integration")
        os.makedirs(out_dir, exist_ok=True)
        shot = os.path.join(out_dir, "status_page.png")
        if os.path.exists(shot):
            os.unlink(shot)
        self.run_browser(url, "--window-size=1280,1100", "--screenshot=" + shot)
        with open(shot, "rb") as f:
            png = f.read()
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertGreater(len(png), 10000)


if __name__ == "__main__":
    harness.main()
