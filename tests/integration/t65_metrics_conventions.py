#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""/metrics by Prometheus conventions: `promtool check metrics` (Debian's
prometheus package) finds nothing to say about the exposition of a node
that has served hits, misses, passes and origin errors with a disk tier and
a pool with a dead member, and every family is named outpost_*, has HELP
and TYPE, and a counter's name ends in _total."""

import os
import re
import shutil
import subprocess
import tempfile

import harness

CC = "cc=max-age%3D600"


class Conventions(harness.OutpostTestCase):
    def test_promtool_and_names(self):
        promtool = shutil.which("promtool")
        if promtool is None:
            self.fail("promtool is not installed (tools/install-deps installs prometheus)")
        d = tempfile.mkdtemp(prefix="outpost-metrics-")
        self.addCleanup(shutil.rmtree, d, True)
        origin = self.start_origin()

        def mutate(cfg):
            harness.add_pool_route(cfg, "dead", [("127.0.0.1:%d" % harness.free_port(), {})])
            cfg["cache"]["disk"] = {"path": os.path.join(d, "cache"), "size": "64MiB"}
        node = self.start_outpost(origin, mutate=mutate)
        for path in ("/m/a?" + CC, "/m/a?" + CC, "/nocache/p", "/dead/x"):
            node.get(path)
        node.wait_metric("outpost_cache_disk_writes_total", lambda v: v >= 1)
        text = node.admin("/metrics").body.decode()
        cp = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=30)
        self.assertEqual((cp.returncode, cp.stdout + cp.stderr), (0, ""), text)
        helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
        types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
        names = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.M))
        self.assertGreater(len(names), 20)
        for n in names:
            family = re.sub(r"_(bucket|sum|count)$", "", n) if n not in types else n
            self.assertTrue(n.startswith("outpost_"), n)
            self.assertIn(family, types, "no TYPE for %s" % n)
            self.assertIn(family, helps, "no HELP for %s" % n)
        for n, t in types.items():
            if t == "counter":
                self.assertTrue(n.endswith("_total"), n)


if __name__ == "__main__":
    harness.main()
