#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""outpostctl warm FILE: every URL of the list is requested once through the
node's client listener (the origin counts one request each and the node
answers HITs afterwards; a second run finds them cached), no faster than
--rate and no more than --concurrency at a time; a URL that fails (an origin
500, a host no site serves, a refused connection) is named and makes the
exit code 1; a line that is not an http:// URL is a usage error before any
request; a progress bar on a terminal, plain lines otherwise, and a summary
line."""

import os
import pty
import select
import subprocess
import tempfile
import time

import harness
from t11_outpostctl import ctl_bin

CC = "cc=max-age%3D600"


class Warm(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.bin = ctl_bin()
        self.assertTrue(self.bin and os.access(self.bin, os.X_OK),
                        "outpostctl not built: %s" % self.bin)
        self.dir = tempfile.mkdtemp(prefix="outpostctl-warm-")
        self.addCleanup(harness.shutil.rmtree, self.dir, True)
        self.origin = self.start_origin()
        self.node = self.start_outpost(self.origin)

    def urls(self, names, query=CC):
        return ["http://example.com/w/%s?%s&size=%d" % (n, query, 1000 + i)
                for i, n in enumerate(names)]

    def listfile(self, lines):
        path = os.path.join(self.dir, "urls.txt")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def env(self):
        e = {k: v for k, v in os.environ.items() if k != "OUTPOST_ADMIN"}
        e["OUTPOSTCTL_CONF"] = os.devnull
        return e

    def warm(self, path, *opts, node=None):
        args = [self.bin, "warm", "--node", node or "127.0.0.1:%d" % self.node.port]
        cp = subprocess.run(args + list(opts) + [path], env=self.env(),
                            capture_output=True, text=True, timeout=60)
        rep = harness.sanitizer_report(cp.stdout + cp.stderr)
        self.assertFalse(rep, rep)
        return cp

    def test_warm_fills_the_cache_at_a_bounded_rate(self):
        names = ["a%d" % i for i in range(12)]
        urls = self.urls(names)
        path = self.listfile(["# objects of the front page", ""] + urls + ["   "])
        t0 = time.monotonic()
        cp = self.warm(path, "--rate", "40", "--concurrency", "3")
        self.assertEqual(cp.returncode, 0, cp)
        self.assertIn("warm: 12 URLs: 12 ok (0 already cached), 0 failed", cp.stdout)
        self.assertNotIn("\r", cp.stderr, "no progress bar when stderr is not a terminal")
        for n in names:
            self.assertEqual(self.origin.count("/w/" + n), 1, n)
        # the rate: URL k starts no earlier than k / rate after the first
        times = sorted(r["time"] for r in self.origin.requests(prefix="/w/"))
        self.assertGreaterEqual(times[-1] - times[0], 11 / 40.0 - 0.05, times)
        self.assertGreaterEqual(time.monotonic() - t0, 11 / 40.0)
        r = self.node.get("/w/a3?%s&size=1003" % CC)
        self.assertEqual(r.header("X-Cache"), "HIT")
        # a second run finds everything cached
        cp = self.warm(path)
        self.assertEqual(cp.returncode, 0, cp)
        self.assertIn("12 ok (12 already cached)", cp.stdout)
        for n in names:
            self.assertEqual(self.origin.count("/w/" + n), 1, n)

    def test_concurrency_bound(self):
        names = ["c%d" % i for i in range(8)]
        path = self.listfile(self.urls(names, "delay_ms=300&" + CC))
        cp = self.warm(path, "--concurrency", "2")
        self.assertEqual(cp.returncode, 0, cp)
        times = sorted(r["time"] for r in self.origin.requests(prefix="/w/"))
        self.assertEqual(len(times), 8)
        # over a second: a plain progress line (stderr is not a terminal)
        self.assertRegex(cp.stderr, r"warm: \d/8 done, 0 failed")
        # two at a time, each 300 ms at the origin: no three within 250 ms
        for i in range(len(times) - 2):
            self.assertGreaterEqual(times[i + 2] - times[i], 0.25, times)

    def test_failures_named_and_exit_1(self):
        good = self.urls(["ok1", "ok2"])
        bad = ["http://example.com/w/broken?status=500",
               "http://nosuchsite.test/w/x"]
        path = self.listfile(good[:1] + bad + good[1:])
        cp = self.warm(path)
        self.assertEqual(cp.returncode, 1, cp)
        self.assertIn("warm: failed: %s: 500" % bad[0], cp.stderr)
        self.assertIn("warm: failed: %s: 421" % bad[1], cp.stderr)
        self.assertIn("warm: 4 URLs: 2 ok (0 already cached), 2 failed", cp.stdout)
        self.assertEqual(self.origin.count("/w/ok1"), 1)
        self.assertEqual(self.origin.count("/w/ok2"), 1)

    def test_refused_connections_fail(self):
        path = self.listfile(self.urls(["r1", "r2"]))
        cp = self.warm(path, node="127.0.0.1:%d" % harness.free_port())
        self.assertEqual(cp.returncode, 1, cp)
        self.assertIn("Connection refused", cp.stderr)
        self.assertIn("2 failed", cp.stdout)

    def test_bad_line_is_a_usage_error(self):
        path = self.listfile(self.urls(["b1"]) + ["ftp://example.com/x"])
        cp = self.warm(path)
        self.assertEqual(cp.returncode, 2, cp)
        self.assertIn("urls.txt:2:", cp.stderr)
        self.assertEqual(self.origin.count("/w/b1"), 0, "nothing requested")
        cp = self.warm(os.path.join(self.dir, "missing.txt"))
        self.assertEqual(cp.returncode, 2, cp)
        cp = subprocess.run([self.bin, "warm", "--rate", "0", path], env=self.env(),
                            capture_output=True, text=True, timeout=20)
        self.assertEqual(cp.returncode, 2, cp)
        cp = subprocess.run([self.bin, "status", "--concurrency", "2"], env=self.env(),
                            capture_output=True, text=True, timeout=20)
        self.assertEqual(cp.returncode, 2, cp)

    def test_progress_bar_on_a_terminal(self):
        names = ["t%d" % i for i in range(10)]
        path = self.listfile(self.urls(names))
        master, slave = pty.openpty()
        try:
            p = subprocess.Popen([self.bin, "warm", "--node", "127.0.0.1:%d" % self.node.port,
                                  "--rate", "20", path], env=self.env(),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=slave)
            os.close(slave)
            slave = None
            out = b""
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                r, _, _ = select.select([master], [], [], 0.5)
                if r:
                    try:
                        data = os.read(master, 4096)
                    except OSError:
                        break
                    if not data:
                        break
                    out += data
                elif p.poll() is not None:
                    break
            stdout, _ = p.communicate(timeout=30)
        finally:
            os.close(master)
            if slave is not None:
                os.close(slave)
        self.assertEqual(p.returncode, 0, out)
        text = out.decode("utf-8", "replace")
        self.assertIn("\r", text)
        self.assertIn("[" + "#" * 30 + "] 100% 10/10, 0 failed", text)
        self.assertRegex(text, r"\[#*\.+\] +\d+% \d/10", "a bar drawn before the end")
        self.assertIn(b"warm: 10 URLs: 10 ok", stdout)


if __name__ == "__main__":
    harness.main()
