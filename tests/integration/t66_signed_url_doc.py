#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The signing snippets of doc/protected-content.md make URLs the node accepts.

Each snippet is read out of the documentation as it stands (the fenced block
after its "<!-- test: NAME -->" marker) and run unchanged: the shell one with
sh and the openssl CLI, the Python ones with this interpreter.  The URL it
prints goes to tests/unit/policy/signed_check, which checks it the way the
request step will (path normalized as for the cache key, policy_signed_verify)
against the key file shown on the same page.  Altered URLs, another client, a
path outside the prefix and a later clock must be refused, so the check
cannot pass by accepting everything.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

import harness

DOC = os.path.join(harness.OUTPOST_SRCDIR, "doc", "protected-content.md")
BUILD = os.path.dirname(harness.OUTPOST_BIN) if harness.OUTPOST_BIN else ""
CHECK = os.path.join(BUILD, "tests", "unit", "policy", "signed_check")
TIMEOUT = 20


def doc_text():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def snippet(name):
    """The fenced code block that follows "<!-- test: name -->"."""
    m = re.search(r"<!-- test: %s -->\n```[a-z]*\n(.*?)\n```\n" % re.escape(name),
                  doc_text(), re.S)
    if m is None:
        raise AssertionError("no snippet %r in %s" % (name, DOC))
    return m.group(1) + "\n"


def doc_keys():
    """The key file of the documentation: its indented "kid secret" lines."""
    lines = re.findall(r"^    (k\d+ +\S+)$", doc_text(), re.M)
    if not lines:
        raise AssertionError("no key file lines in %s" % DOC)
    return "".join(line + "\n" for line in lines)


class SignedUrlDoc(unittest.TestCase):
    def setUp(self):
        # Built by make check with the other check programs: missing is a failure.
        self.assertTrue(os.access(CHECK, os.X_OK), "signed_check not built (%s)" % CHECK)
        self.tmp = tempfile.mkdtemp(prefix="outpost-t66-")
        self.keys = os.path.join(self.tmp, "keys")
        with open(self.keys, "w") as f:
            f.write(doc_keys())

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_snippet(self, name, interpreter):
        out = subprocess.run([interpreter, "-c", snippet(name)], capture_output=True,
                             text=True, timeout=TIMEOUT, check=True)
        url = out.stdout.strip()
        self.assertRegex(url, r"^https://cdn\.example\.com/")
        return url

    def check(self, url, client="198.51.100.1", now=None):
        argv = [CHECK, self.keys, url, client] + ([str(now)] if now is not None else [])
        out = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
        self.assertIn(out.returncode, (0, 1), out.stderr)
        return out.stdout.rstrip("\n")

    def exp_of(self, url):
        return int(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["exp"][0])

    def path_checks(self, url):
        self.assertEqual(self.check(url), "ok ")
        # Another parameter stays in the query the cache key and the origin see.
        self.assertEqual(self.check(url + "&page=2"), "ok page=2")
        self.assertEqual(self.check(url.replace("intro.mp4", "other.mp4")), "bad_signature ")
        self.assertEqual(self.check(url.replace("kid=k1", "kid=k2")), "bad_signature ")
        self.assertEqual(self.check(url.replace("kid=k1", "kid=k7")), "unknown_key ")
        exp = self.exp_of(url)
        self.assertEqual(self.check(url, now=exp), "ok ")
        self.assertEqual(self.check(url, now=exp + 1), "expired ")
        # The same path as the client may spell it: normalized before the check.
        self.assertEqual(self.check(url.replace("/videos/", "/videos/./x/../")), "ok ")

    def test_shell_snippet(self):
        if shutil.which("openssl") is None:
            self.skipTest("no openssl command")
        self.path_checks(self.run_snippet("sign-sh", "sh"))

    def test_python_snippet(self):
        self.path_checks(self.run_snippet("sign-python", sys.executable))

    def test_python_prefix_snippet(self):
        url = self.run_snippet("sign-python-prefix", sys.executable)
        self.assertEqual(self.check(url, client="203.0.113.9"), "ok ")
        self.assertEqual(self.check(url, client="::ffff:203.0.113.9"), "ok ")
        other = url.replace("/videos/intro.mp4", "/videos/2024/clip.ts")
        self.assertEqual(self.check(other, client="203.0.113.9"), "ok ")
        self.assertEqual(self.check(url, client="203.0.113.10"), "wrong_ip ")
        outside = url.replace("/videos/intro.mp4", "/audio/intro.mp3")
        self.assertEqual(self.check(outside, client="203.0.113.9"), "wrong_prefix ")
        self.assertEqual(self.check(url.replace("ip=203.0.113.9", "ip=203.0.113.10"),
                                    client="203.0.113.10"), "bad_signature ")


if __name__ == "__main__":
    harness.main()
