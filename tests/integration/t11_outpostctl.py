#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""outpostctl against a real node: purge (a warmed URL becomes a MISS; --json;
prefix/tag; wrong token 401 → exit 1 with the node's message), status, stats,
health, the token from the environment and from a file (flag, settings file),
the admin address from flag/environment/file, usage errors (exit 2), no node
(exit 3), and the client's framing against scripted replies (chunked, until
close, malformed, silent until the timeout)."""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading

import harness

TOKEN = "ctl-secret-token"
CC = "cc=max-age%3D600"


def ctl_bin():
    b = os.environ.get("OUTPOSTCTL_BIN")
    if not b and os.environ.get("OUTPOST_BIN"):
        b = os.path.join(os.path.dirname(os.environ["OUTPOST_BIN"]), "outpostctl")
    return b


class Scripted:
    """A one-connection-at-a-time server that answers every request with the
    same bytes (then closes), or never answers when reply is None."""

    def __init__(self, reply):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.conns = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            c.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            self.requests.append(data)
            if self.reply is not None:
                c.sendall(self.reply)
                c.close()

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class Outpostctl(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.bin = ctl_bin()
        harness.require_outpost()
        self.assertTrue(self.bin and os.access(self.bin, os.X_OK),
                        "outpostctl not built: %s" % self.bin)
        self.dir = tempfile.mkdtemp(prefix="outpostctl-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.conf = self.write("outpostctl.conf", "# empty\n")
        self.token_file = self.write("token", TOKEN + "\n")

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def ctl(self, *args, env=None, timeout=20):
        e = {k: v for k, v in os.environ.items()
             if k not in ("OUTPOST_ADMIN", "OUTPOST_TOKEN", "OUTPOSTCTL_CONF")}
        e["OUTPOSTCTL_CONF"] = self.conf
        e.update(env or {})
        cp = subprocess.run([self.bin] + list(args), env=e, capture_output=True,
                            timeout=timeout, text=True)
        rep = harness.sanitizer_report(cp.stdout + cp.stderr)
        self.assertFalse(rep, rep)
        self.assertGreaterEqual(cp.returncode, 0, cp)
        self.assertNotIn(TOKEN, cp.stdout + cp.stderr)
        return cp

    def node(self):
        self.origin = self.start_origin()
        n = self.start_outpost(self.origin, overrides={
            "cache": {"disk": {"path": os.path.join(self.dir, "cache"), "size": "64MiB"}},
            "purge": {"tokens": [
                {"id": "owner", "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                 "hosts": ["example.com"]}]}})
        self.admin = "127.0.0.1:%d" % n.admin_port
        return n

    def warm(self, n, path):
        self.assertEqual(n.get(path).header("X-Cache"), "MISS")
        self.assertEqual(n.get(path).header("X-Cache"), "HIT")

    def test_purge_url_then_miss(self):
        n = self.node()
        path = "/a?" + CC
        self.warm(n, path)
        self.warm(n, "/b?" + CC)
        cp = self.ctl("-a", self.admin, "--token-file", self.token_file, "purge",
                      "http://example.com" + path)
        self.assertEqual(cp.returncode, 0, cp)
        self.assertRegex(cp.stdout, r"(?m)^id +[0-9a-f]{16}$")
        self.assertRegex(cp.stdout, r"(?m)^soft +no$")
        self.assertRegex(cp.stdout, r"(?m)^acked +\S+")
        self.assertRegex(cp.stdout, r"(?m)^pending +-$")
        self.assertEqual(n.get(path).header("X-Cache"), "MISS")
        self.assertEqual(n.get("/b?" + CC).header("X-Cache"), "HIT")

    def test_purge_json_prefix_tag_soft_wait(self):
        n = self.node()
        self.warm(n, "/p/1?" + CC)
        self.warm(n, "/t?%s&h=Surrogate-Key:%%20red" % CC)
        self.warm(n, "/q?" + CC)
        cp = self.ctl("-a", self.admin, "purge", "--json", "--prefix", "http://example.com/p/",
                      "--tag", "red", "--wait", "1s", env={"OUTPOST_TOKEN": TOKEN})
        self.assertEqual(cp.returncode, 0, cp)
        j = json.loads(cp.stdout)
        self.assertEqual(len(j["id"]), 16)
        self.assertIs(j["soft"], False)
        self.assertEqual(j["fleet"]["pending"], [])
        self.assertEqual(n.get("/p/1?" + CC).header("X-Cache"), "MISS")
        self.assertEqual(n.get("/t?%s&h=Surrogate-Key:%%20red" % CC).header("X-Cache"), "MISS")
        self.assertEqual(n.get("/q?" + CC).header("X-Cache"), "HIT")
        cp = self.ctl("-a", self.admin, "purge", "--json", "--soft", "--host", "example.com",
                      env={"OUTPOST_TOKEN": TOKEN})
        self.assertEqual(cp.returncode, 0, cp)
        self.assertIs(json.loads(cp.stdout)["soft"], True)

    def test_wrong_token_and_scope(self):
        n = self.node()
        self.warm(n, "/a?" + CC)
        cp = self.ctl("-a", self.admin, "-T", "not-the-token", "purge",
                      "http://example.com/a?" + CC)
        self.assertEqual(cp.returncode, 1, cp)
        self.assertIn("401", cp.stderr)
        self.assertRegex(cp.stderr, r"outpostctl: purge: 401 \S+.*: \S")
        self.assertNotIn("not-the-token", cp.stdout + cp.stderr)
        # outside the token's hosts: 403, the node's message
        cp = self.ctl("-a", self.admin, "-T", TOKEN, "purge", "http://other.example.org/")
        self.assertEqual(cp.returncode, 1, cp)
        self.assertIn("403", cp.stderr)
        cp = self.ctl("-a", self.admin, "-T", TOKEN, "purge", "--all")
        self.assertEqual(cp.returncode, 1, cp)
        self.assertEqual(n.get("/a?" + CC).header("X-Cache"), "HIT")

    def test_settings_precedence(self):
        n = self.node()
        self.warm(n, "/a?" + CC)
        # the file gives the address and the token file
        self.conf = self.write("outpostctl.conf", "# settings\nadmin = %s\n\ntoken_file = %s\n"
                               % (self.admin, self.token_file))
        cp = self.ctl("purge", "http://example.com/a?" + CC)
        self.assertEqual(cp.returncode, 0, cp)
        self.assertEqual(n.get("/a?" + CC).header("X-Cache"), "MISS")
        # the environment wins over the file, the flag over the environment
        dead = "127.0.0.1:%d" % harness.free_port()
        self.assertEqual(self.ctl("health", env={"OUTPOST_ADMIN": dead}).returncode, 3)
        cp = self.ctl("-a", self.admin, "health", env={"OUTPOST_ADMIN": dead})
        self.assertEqual(cp.returncode, 0, cp)
        cp = self.ctl("purge", "http://example.com/a", env={"OUTPOST_TOKEN": "wrong"})
        self.assertEqual(cp.returncode, 1, cp)
        cp = self.ctl("-T", TOKEN, "purge", "http://example.com/a",
                      env={"OUTPOST_TOKEN": "wrong"})
        self.assertEqual(cp.returncode, 0, cp)
        # -c names the file; a named file must exist; unknown keys are errors
        cp = self.ctl("-c", os.path.join(self.dir, "missing.conf"), "health")
        self.assertEqual(cp.returncode, 2, cp)
        bad = self.write("bad.conf", "admin = %s\ntoken = %s\n" % (self.admin, TOKEN))
        cp = self.ctl("-c", bad, "health")
        self.assertEqual(cp.returncode, 2, cp)
        self.assertIn("bad.conf:2:", cp.stderr)

    def test_status_stats_health(self):
        n = self.node()
        self.warm(n, "/a?" + CC)
        cp = self.ctl("-a", self.admin, "status")
        self.assertEqual(cp.returncode, 0, cp)
        for key in ("node", "version", "uptime", "workers", "cache", "reloads"):
            self.assertRegex(cp.stdout, r"(?m)^%s +\S" % key)
        self.assertRegex(cp.stdout, r"(?m)^version +0\.1\.0$")
        self.assertRegex(cp.stdout, r"(?m)^cache .* 1 objects$")
        cp = self.ctl("-a", self.admin, "status", "--json")
        self.assertEqual(cp.returncode, 0, cp)
        self.assertEqual(json.loads(cp.stdout)["cache_ram_objects"], 1)
        cp = self.ctl("-a", self.admin, "stats")
        self.assertEqual(cp.returncode, 0, cp)
        self.assertIn("outpost_cache_hits_total 1\n", cp.stdout)
        self.assertNotIn("#", cp.stdout)
        for line in cp.stdout.splitlines():
            self.assertRegex(line, r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+$")
        cp = self.ctl("-a", self.admin, "stats", "cache_misses")
        self.assertEqual(cp.stdout, "outpost_cache_misses_total 1\n")
        cp = self.ctl("-a", self.admin, "--json", "stats", "requests_total")
        self.assertEqual(cp.returncode, 0, cp)
        j = json.loads(cp.stdout)
        self.assertIn({"name": "outpost_requests_total", "labels": {}, "value": 2}, j)
        cp = self.ctl("-a", self.admin, "health")
        self.assertEqual((cp.returncode, cp.stdout), (0, "ok\n"))

    def test_usage_errors(self):
        cp = self.ctl("--help")
        self.assertEqual(cp.returncode, 0, cp)
        for word in ("purge", "status", "stats", "health", "--admin", "--token-file",
                     "--timeout", "--wait", "--soft", "--json"):
            self.assertIn(word, cp.stdout)
        for args in ([], ["frobnicate"], ["--bogus", "status"], ["purge"],
                     ["status", "--soft"], ["status", "extra"], ["--timeout", "5", "status"],
                     ["purge", "--wait", "forever", "http://example.com/"],
                     ["purge", "http://example.com/"]):
            cp = self.ctl(*args, env={"OUTPOST_ADMIN": "127.0.0.1:1"})
            self.assertEqual(cp.returncode, 2, (args, cp))
            self.assertIn("outpostctl", cp.stderr)
        for addr in ("no-port", "[::1:9090", "127.0.0.1:0"):
            cp = self.ctl("-a", addr, "health")
            self.assertEqual(cp.returncode, 2, cp)
            self.assertIn("admin address", cp.stderr)

    def test_no_node(self):
        dead = "127.0.0.1:%d" % harness.free_port()
        for args in (["health"], ["status"], ["stats"], ["-T", TOKEN, "purge", "--all"]):
            cp = self.ctl("-a", dead, *args)
            self.assertEqual(cp.returncode, 3, (args, cp))
            self.assertIn("refused", cp.stderr)

    def scripted(self, reply):
        s = Scripted(reply)
        self.addCleanup(s.close)
        return "127.0.0.1:%d" % s.port, s

    def test_reply_framing(self):
        status = b'{"node":"n1","version":"9","workers":3,"uptime_s":3700,"draining":false,' \
                 b'"cache_ram_bytes":1536,"cache_ram_objects":2,"reloads":1,' \
                 b'"reload_failures":0,"last_reload":{"time":0,"status":"none"}}'
        chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + \
            b"".join(b"%x\r\n%s\r\n" % (len(status[i:i + 7]), status[i:i + 7])
                     for i in range(0, len(status), 7)) + b"0\r\n\r\n"
        addr, s = self.scripted(chunked)
        cp = self.ctl("-a", addr, "-T", TOKEN, "status")
        self.assertEqual(cp.returncode, 0, cp)
        self.assertRegex(cp.stdout, r"(?m)^uptime +1h 1m$")
        self.assertRegex(cp.stdout, r"(?m)^cache +1\.5 KiB in RAM, 2 objects$")
        # the request: one, to the path, with Host and no token for status
        req = s.requests[0].decode()
        self.assertTrue(req.startswith("GET /status HTTP/1.1\r\n"), req)
        self.assertIn("\r\nHost: %s\r\n" % addr, req)
        self.assertNotIn("Authorization", req)
        # until the close
        addr, _ = self.scripted(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nok\n")
        cp = self.ctl("-a", addr, "health")
        self.assertEqual((cp.returncode, cp.stdout), (0, "ok\n"))
        addr, _ = self.scripted(b"HTTP/1.1 503 Service Unavailable\r\n"
                                b"Content-Length: 9\r\n\r\ndraining\n")
        cp = self.ctl("-a", addr, "health")
        self.assertEqual((cp.returncode, cp.stdout), (1, "draining\n"))
        # an error body that is not JSON: its first line
        addr, s = self.scripted(b"HTTP/1.1 500 Internal Server Error\r\n"
                                b"Content-Length: 12\r\n\r\nbroken\nmore\n")
        cp = self.ctl("-a", addr, "-T", TOKEN, "purge", "--wait", "1500ms", "--tag", "x")
        self.assertEqual(cp.returncode, 1, cp)
        self.assertIn("purge: 500 Internal Server Error: broken\n", cp.stderr)
        req = s.requests[0].decode()
        self.assertTrue(req.startswith("POST /purge?wait=1500ms HTTP/1.1\r\n"), req)
        self.assertIn("\r\nAuthorization: Bearer %s\r\n" % TOKEN, req)
        # metrics with labels (escapes, a brace and a comma in a value),
        # comments, a timestamp, a float, NaN
        metrics = (b'# HELP m_total A counter\n# TYPE m_total counter\n'
                   b'm_total{pool="a",member="10.0.0.1:80"} 3\n'
                   b'm_total{pool="b \\"q\\" {x}, y\\\\"} 4 1700000000000\n'
                   b'ratio 0.25\nodd NaN\n\n')
        addr, _ = self.scripted(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                                % (len(metrics), metrics))
        cp = self.ctl("-a", addr, "stats")
        self.assertEqual(cp.returncode, 0, cp)
        self.assertEqual(cp.stdout, 'm_total{pool="a",member="10.0.0.1:80"} 3\n'
                         'm_total{pool="b \\"q\\" {x}, y\\\\"} 4\nratio 0.25\nodd NaN\n')
        cp = self.ctl("-a", addr, "stats", "--json", "m_total")
        self.assertEqual(json.loads(cp.stdout), [
            {"name": "m_total", "labels": {"pool": "a", "member": "10.0.0.1:80"}, "value": 3},
            {"name": "m_total", "labels": {"pool": 'b "q" {x}, y\\'}, "value": 4}])
        cp = self.ctl("-a", addr, "stats", "--json")
        self.assertEqual(json.loads(cp.stdout)[2:], [
            {"name": "ratio", "labels": {}, "value": 0.25},
            {"name": "odd", "labels": {}, "value": "NaN"}])
        # malformed, cut short, silent: exit 3
        for reply in (b"HTTP/1.1 2000 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 10"
                      b"\r\n\r\nok\n", None):
            addr, _ = self.scripted(reply)
            cp = self.ctl("-a", addr, "--timeout", "500ms", "health")
            self.assertEqual(cp.returncode, 3, (reply, cp))
        self.assertIn("timed out", cp.stderr)


if __name__ == "__main__":
    harness.main()
