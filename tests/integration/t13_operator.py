#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The operator endpoints of the admin listener: /status.json (counters, cache
use, sites, pools and members), /status (the HTML page for a browser's
Accept, the JSON otherwise), POST /reload (as SIGHUP; a rejected file's
errors with file:line:column in the reply, the running configuration stays)
and POST /drain (as SIGTERM: /healthz 503, then exit 0), both for operator
tokens only (401, 403); outpostctl reload and drain with their exit codes."""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

import harness
from t11_outpostctl import ctl_bin

TOKEN = "owner-secret-token"
OPS = "ops-secret-token"
CC = "cc=max-age%3D600"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class Operator(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="outpost-operator-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.origin = self.start_origin()

    def node(self):
        return self.start_outpost(self.origin, overrides={"purge": {"tokens": [
            {"id": "example", "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
             "hosts": ["example.com"]},
            {"id": "ops", "sha256": hashlib.sha256(OPS.encode()).hexdigest(),
             "hosts": ["*"], "all": True}]}})

    def post(self, node, path, token=OPS):
        h = {"Authorization": "Bearer " + token} if token else {}
        return harness.http_request(node.admin_port, "POST", path, h, b"")

    def get(self, node, path, accept=None):
        h = {"Accept": accept} if accept is not None else {}
        return harness.http_request(node.admin_port, "GET", path, h)

    def ctl(self, node, *args, token=OPS):
        b = ctl_bin()
        if not b or not os.access(b, os.X_OK):
            self.skipTest("outpostctl not built")
        env = {k: v for k, v in os.environ.items()
               if k not in ("OUTPOST_ADMIN", "OUTPOST_TOKEN", "OUTPOSTCTL_CONF")}
        env["OUTPOSTCTL_CONF"] = os.path.join(self.dir, "outpostctl.conf")
        with open(env["OUTPOSTCTL_CONF"], "w") as f:
            f.write("# no settings: the flags and the environment give them\n")
        if token:
            env["OUTPOST_TOKEN"] = token
        cp = subprocess.run([b, "-a", "127.0.0.1:%d" % node.admin_port] + list(args),
                            env=env, capture_output=True, text=True, timeout=20)
        self.assertFalse(harness.sanitizer_report(cp.stdout + cp.stderr))
        self.assertNotIn(OPS, cp.stdout + cp.stderr)
        return cp

    def break_config(self, node):
        """An unknown key at a known place of the file; its line (1-based)."""
        with open(node.config_path) as f:
            lines = f.read().split("\n")
        at = next(i for i, x in enumerate(lines) if x.startswith("cache:"))
        lines.insert(at + 1, "  bogus_key: 1")
        with open(node.config_path, "w") as f:
            f.write("\n".join(lines))
        return at + 2

    # ---- status ----

    def test_status_json_and_negotiation(self):
        n = self.node()
        for p in ("/s/1?%s" % CC, "/s/1?%s" % CC, "/s/2?%s" % CC):
            self.assertEqual(n.get(p).status, 200)
        r = self.get(n, "/status.json")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "application/json")
        s = json.loads(r.body)
        self.assertEqual(s["node"], n.config["node"]["name"])
        c = s["counters"]
        self.assertGreaterEqual(c["requests_total"], 3)
        self.assertGreaterEqual(c["cache_hits_total"], 1)
        self.assertGreaterEqual(c["cache_misses_total"], 2)
        self.assertGreaterEqual(c["origin_answers_total"], 2)
        self.assertGreater(c["bytes_sent_total"], 0)
        self.assertGreater(c["origin_answer_seconds_total"], 0)
        self.assertEqual(c["server_error_responses_total"], 0)
        self.assertEqual(c, {**c, "origin_requests_total": c["origin_requests_total"]})
        self.assertGreater(s["cache"]["ram_objects"], 0)
        self.assertIsInstance(s["time"], float)
        self.assertEqual([x["name"] for x in s["sites"]], ["main", "other"])
        self.assertEqual(s["sites"][0]["hosts"], ["example.com", "*.example.com"])
        self.assertIn({"path": "/nocache/", "pool": "web", "cache": False},
                      s["sites"][0]["routes"])
        self.assertEqual(s["pools"][0]["name"], "web")
        self.assertEqual(s["pools"][0]["members"][0]["address"],
                         "127.0.0.1:%d" % self.origin.port)
        self.assertTrue(s["pools"][0]["members"][0]["up"])
        # the counters are those of /metrics
        self.assertEqual(n.metric("outpost_origin_answers_total"), c["origin_answers_total"])
        self.assertIsNotNone(n.metric("outpost_origin_answer_seconds_total"))
        # /status: JSON without Accept, for */* and for application/json ...
        for accept in (None, "*/*", "application/json", "text/html;q=0.5, application/json"):
            r = self.get(n, "/status", accept)
            self.assertEqual(r.header("Content-Type"), "application/json", accept)
            self.assertEqual(r.header("Vary"), "Accept")
            self.assertEqual(json.loads(r.body)["node"], s["node"])
        # ... the page for a browser or text/html
        for accept in (BROWSER, "text/html", "text/*", "application/json;q=0.1, text/html"):
            r = self.get(n, "/status", accept)
            self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8", accept)
            self.assertIn(b"<svg id=\"chart-rps\"", r.body)
            self.assertIn(b"fetch(\"status.json\"", r.body)
            self.assertNotIn(b"src=\"http", r.body)   # no external asset
        self.assertIn("connect-src 'self'", r.header("Content-Security-Policy"))

    # ---- reload ----

    def test_reload_by_operator_only_with_errors_of_a_rejected_file(self):
        n = self.node()
        r = self.post(n, "/reload", token=None)
        self.assertEqual(r.status, 401)
        self.assertIn("Bearer", r.header("WWW-Authenticate"))
        self.assertEqual(self.post(n, "/reload", token="nope").status, 401)
        r = self.post(n, "/reload", token=TOKEN)          # a content owner's token
        self.assertEqual(r.status, 403)
        self.assertEqual(n.metric("outpost_config_reloads_total"), 0)
        self.assertEqual(self.get(n, "/reload").status, 405)

        r = self.post(n, "/reload")
        self.assertEqual(r.status, 200, r)
        j = json.loads(r.body)
        self.assertEqual((j["reloaded"], j["errors"], j["reloads"]), (True, [], 1))
        self.assertEqual(n.metric("outpost_config_reloads_total"), 1)

        line = self.break_config(n)
        r = self.post(n, "/reload")
        self.assertEqual(r.status, 422, r)
        j = json.loads(r.body)
        self.assertFalse(j["reloaded"])
        self.assertTrue(any(e.startswith("%s:%d:" % (n.config_path, line)) and
                            "bogus_key" in e for e in j["errors"]), j["errors"])
        self.assertEqual(j["reload_failures"], 1)
        self.assertEqual(n.get("/x").status, 200)        # the running one stays
        self.assertEqual(json.loads(self.get(n, "/status.json").body)["last_reload"]["status"],
                         "failed")

    def test_outpostctl_reload_exit_codes(self):
        n = self.node()
        cp = self.ctl(n, "reload")
        self.assertEqual(cp.returncode, 0, cp)
        self.assertIn("reloaded", cp.stdout)
        cp = self.ctl(n, "reload", token=TOKEN)
        self.assertEqual(cp.returncode, 1, cp)
        self.assertIn("403", cp.stderr)
        cp = self.ctl(n, "reload", token=None)
        self.assertEqual(cp.returncode, 2, cp)
        line = self.break_config(n)
        cp = self.ctl(n, "reload")
        self.assertEqual(cp.returncode, 4, cp)
        self.assertIn("%s:%d:" % (n.config_path, line), cp.stderr)
        self.assertIn("rejected", cp.stderr)
        cp = self.ctl(n, "--json", "reload")
        self.assertEqual(cp.returncode, 4, cp)
        self.assertFalse(json.loads(cp.stdout)["reloaded"])
        self.assertEqual(n.metric("outpost_config_reloads_total"), 1)
        self.assertEqual(n.metric("outpost_config_reload_failures_total"), 2)

    # ---- drain ----

    def test_drain_by_operator_then_exit(self):
        n = self.node()
        self.assertEqual(self.post(n, "/drain", token=None).status, 401)
        self.assertEqual(self.post(n, "/drain", token=TOKEN).status, 403)
        self.assertEqual(n.admin("/healthz").status, 200)
        # a request in flight when the drain starts is still answered
        slow = harness.Background(n.get, "/slow?delay_ms=600")
        time.sleep(0.2)
        r = self.post(n, "/drain")
        self.assertEqual(r.status, 200, r)
        j = json.loads(r.body)
        self.assertEqual((j["draining"], j["already"]), (True, False))
        self.assertEqual(j["drain_timeout_ms"], 5000)
        h = n.admin("/healthz")
        self.assertEqual((h.status, h.body), (503, b"draining\n"))
        self.assertEqual(slow.result().status, 200)
        self.assertEqual(n.wait(8), 0)

    def test_outpostctl_drain(self):
        n = self.node()
        cp = self.ctl(n, "drain", token=TOKEN)
        self.assertEqual(cp.returncode, 1, cp)
        self.assertEqual(n.admin("/healthz").status, 200)
        cp = self.ctl(n, "drain")
        self.assertEqual(cp.returncode, 0, cp)
        self.assertIn("draining", cp.stdout)
        self.assertEqual(n.wait(8), 0)
        cp = self.ctl(n, "drain")                          # nobody there any more
        self.assertEqual(cp.returncode, 3, cp)


if __name__ == "__main__":
    harness.main()
