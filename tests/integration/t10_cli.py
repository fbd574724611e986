#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""CLI: -V, -h, unknown flags, -t on a good config, foreground run."""

import os
import re
import signal

import harness
from harness import run_outpost


class Cli(harness.OutpostTestCase):
    LIBS = ("libevent", "openssl", "lmdb", "zstd", "brotli", "zlib", "c-ares",
            "libyaml", "libmaxminddb")

    def test_version(self):
        cp = run_outpost(["-V"])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        lines = [ln for ln in cp.stdout.splitlines() if ln.strip()]
        self.assertTrue(lines, "no output on stdout")
        self.assertEqual(lines[0].strip(), "outpost 0.1.0")
        rest = [ln.lower() for ln in lines[1:]]
        for lib in self.LIBS:
            matching = [ln for ln in rest if lib in ln]
            self.assertEqual(len(matching), 1,
                             "expected one line naming %s in:\n%s" % (lib, cp.stdout))

    def test_help(self):
        cp = run_outpost(["-h"])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout.lower(), "usage")
        for flag in ("-c", "-t", "-V", "-h"):
            self.assertRegex(cp.stdout, r"(^|\W)%s\b" % re.escape(flag),
                             "usage does not list %s" % flag)

    def test_unknown_flag(self):
        cp = run_outpost(["-Z"])
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertRegex(cp.stderr.lower(), "usage")

    def test_check_good_config(self):
        # write the harness's normal config without starting a daemon
        tmp = self.tmpdir()
        cfg = harness.base_config(harness.free_port(), harness.free_port(),
                                  harness.free_port(), tmp)
        path = os.path.join(tmp, "good.yaml")
        with open(path, "w") as f:
            f.write(harness.to_yaml(cfg) + "\n")
        cp = run_outpost(["-t", "-c", path])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("configuration ok", cp.stdout + cp.stderr)

    def test_foreground_run_and_term(self):
        origin = self.start_origin()
        node = self.start_outpost(origin)
        self.assertEqual(node.admin("/healthz").status, 200)
        self.assertEqual(node.get("/fg").status, 200)
        self.assertTrue(node.alive())
        self.assertEqual(node.stop(signal.SIGTERM), 0)

    def tmpdir(self):
        import shutil
        import tempfile
        d = tempfile.mkdtemp(prefix="outpost-cli-")
        self.addCleanup(shutil.rmtree, d, True)
        return d


if __name__ == "__main__":
    harness.main()
