#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Zero-downtime binary upgrade (SIGUSR2, outpostctl upgrade): the binary
starts again, takes the listening sockets over (SCM_RIGHTS) and the disk
tier, and the old process drains and exits.  Under a bounded load of
keep-alive and new-connection requests no connection is refused and no
request fails (a request on a kept-alive connection the old process closed
while idle is retried on a new one, as RFC 9112 §9.3.1 lets a client do,
and counted); an object the old process stored is a disk HIT in the new
one, which writes the disk tier itself.  A new process whose listeners or
workers differ refuses, and the old one goes on serving (and storing).
Started as root with node.user, the new process starts as root, reads its
configuration and switches as at a start."""

import http.client
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import wait_until
from t11_outpostctl import ctl_bin
from t60_tls import certs, client_ctx, tls_config, tls_connect, tls_get
from t61_systemd_notify import NotifyListener

CC = "cc=max-age%3D600"
LOAD_MAX_REQUESTS = 4000   # per client loop
LOAD_MAX_SECONDS = 30.0


def pid_gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state in ("Z", "X")
    except (OSError, IndexError):
        return True


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


class Load:
    """Two bounded client loops against port: one keeps a connection alive,
    one opens a connection per request.  Records every failure."""

    def __init__(self, port, paths):
        self.port = port
        self.paths = paths
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.failures = []
        self.done = []          # (time, loop) of each completed request
        self.retried = 0
        self.threads = [threading.Thread(target=self.keepalive, daemon=True),
                        threading.Thread(target=self.fresh, daemon=True)]
        for t in self.threads:
            t.start()

    def note(self, loop, ok, what=None):
        with self.lock:
            if ok:
                self.done.append((time.monotonic(), loop))
            else:
                self.failures.append("%s at %.3f: %s" % (loop, time.monotonic(), what))

    def check(self, loop, r, body):
        if r.status != 200 or len(body) != 2000:
            self.note(loop, False, "status %d, %d bytes" % (r.status, len(body)))
        else:
            self.note(loop, True)

    def keepalive(self):
        deadline = time.monotonic() + LOAD_MAX_SECONDS
        conn, used = None, False
        for i in range(LOAD_MAX_REQUESTS):
            if self.stop.is_set() or time.monotonic() > deadline:
                break
            path = self.paths[i % len(self.paths)]
            for attempt in range(2):
                if conn is None:
                    conn, used = http.client.HTTPConnection("127.0.0.1", self.port,
                                                            timeout=10), False
                try:
                    conn.request("GET", path, headers={"Host": "example.com"})
                    r = conn.getresponse()
                    body = r.read()
                    self.check("keep-alive", r, body)
                    used = True
                    if r.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError,
                        BrokenPipeError) as e:
                    conn.close()
                    conn = None
                    if used and attempt == 0:
                        with self.lock:
                            self.retried += 1   # an idle connection closed: retry once
                        continue
                    self.note("keep-alive", False, repr(e))
                    break
                except OSError as e:
                    conn.close()
                    conn = None
                    self.note("keep-alive", False, repr(e))
                    break
        if conn is not None:
            conn.close()

    def fresh(self):
        deadline = time.monotonic() + LOAD_MAX_SECONDS
        for i in range(LOAD_MAX_REQUESTS):
            if self.stop.is_set() or time.monotonic() > deadline:
                break
            path = self.paths[(i + 1) % len(self.paths)]
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", path, headers={"Host": "example.com",
                                                   "Connection": "close"})
                r = conn.getresponse()
                self.check("new-connection", r, r.read())
                conn.close()
            except OSError as e:   # refused, reset, timed out
                self.note("new-connection", False, repr(e))

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(LOAD_MAX_SECONDS + 15)
            assert not t.is_alive(), "a load loop did not end"


class Upgrade(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="outpost-upgrade-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.origin = self.start_origin()

    def node(self, **over):
        o = {"cache": {"disk": {"path": os.path.join(self.dir, "cache"), "size": "64MiB"}}}
        o.update(over)
        return self.start_outpost(self.origin, overrides=o)

    def adopt(self, pid):
        """Stops the new process (not our child) by pid when the test ends."""
        def stop():
            if pid_gone(pid):
                return
            os.kill(pid, signal.SIGTERM)
            try:
                wait_until(lambda: pid_gone(pid), 8, what="new process exit")
            except AssertionError:
                os.kill(pid, signal.SIGKILL)
                raise
        self.addCleanup(stop)

    def upgraded(self, node, after=0, timeout=15):
        """The new pid, from the old process's log, once it is ready."""
        def find():
            m = re.search(r"upgrade: new process (\d+) ready", node.log()[after:])
            return int(m.group(1)) if m else None
        pid = wait_until(find, timeout, what="the new process ready")
        self.adopt(pid)
        return pid

    def assertServes(self, node):
        """The node (whichever process has the listener now) answers."""
        r = node.get("/alive-check")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(node.admin("/healthz").status, 200)

    def wait_disk_writes(self, node, n):
        node.wait_metric("outpost_cache_disk_writes_total", lambda v: v >= n, timeout=5)

    def test_upgrade_under_load(self):
        node = self.node()
        old = node.pid
        warm = "/u/warm?%s&size=3000" % CC
        self.assertEqual(node.get(warm).header("X-Cache"), "MISS")
        self.wait_disk_writes(node, 1)
        paths = ["/u/p%d?%s&size=2000" % (i, CC) for i in range(4)] + \
                ["/nocache/n%d?size=2000" % i for i in range(2)]
        load = Load(node.port, paths)
        try:
            wait_until(lambda: len(load.done) >= 50, 10, what="load running")
            t_sig = time.monotonic()
            node.send_signal(signal.SIGUSR2)
            new = self.upgraded(node)
            rc = node.wait(15)
            t_exit = time.monotonic()
            self.assertEqual(rc, 0, "the old process exits 0 after draining")
            n_exit = len(load.done)
            wait_until(lambda: len(load.done) >= n_exit + 50, 10,
                       what="load served by the new process")
        finally:
            load.finish()
        self.assertEqual(load.failures, [], "failed requests during the upgrade "
                         "(signal at %.3f, old exit at %.3f)" % (t_sig, t_exit))
        during = [t for t, _ in load.done if t_sig <= t <= t_exit]
        self.assertGreater(len(during), 0, "no request completed during the handover")
        print("# signal at %.3f, old exit at %.3f" % (t_sig, t_exit))
        print("# %d requests (%d while handing over), %d kept-alive retries after an idle "
              "close" % (len(load.done), len(during), load.retried))
        self.assertNotEqual(new, old)
        self.assertFalse(pid_gone(new))
        # the new process answers on the same admin address, and the object
        # the old one stored is a disk hit there
        r = node.get(warm)
        self.assertEqual(r.header("X-Cache"), "HIT", r.headers)
        self.assertEqual(r.body, harness.pattern_bytes(3000))
        self.assertEqual(self.origin.count("/u/warm"), 1)
        self.assertGreaterEqual(node.metric("outpost_cache_disk_hits_total"), 1)
        # and it writes the disk tier itself
        before = node.metric("outpost_cache_disk_writes_total", default=0)
        self.assertEqual(node.get("/u/after?%s&size=100" % CC).status, 200)
        self.wait_disk_writes(node, before + 1)
        self.assertIn("upgrade: took over from %d" % old, node.log())

    def test_refused_when_workers_change(self):
        node = self.node()
        self.assertEqual(node.get("/u/r1?%s&size=100" % CC).status, 200)
        self.wait_disk_writes(node, 1)
        cfg = dict(node.config)
        cfg["node"] = dict(cfg["node"], workers=3)
        with open(node.config_path, "w") as f:
            f.write(harness.to_yaml(cfg) + "\n")
        mark = len(node.log())
        node.send_signal(signal.SIGUSR2)
        wait_until(lambda: "goes on serving" in node.log()[mark:], 15,
                   what="the old process giving up the upgrade")
        text = node.log()[mark:]
        self.assertIn("needs a restart", text)
        self.assertIn("node.workers 3", text)
        self.assertNotIn("draining", text)
        self.assertTrue(node.alive())
        self.assertServing(node)
        # still storing to disk (it stopped only if the new process had asked)
        self.assertEqual(node.get("/u/r2?%s&size=100" % CC).status, 200)
        self.wait_disk_writes(node, 2)
        self.assertEqual(node.admin("/healthz").status, 200)

    def test_outpostctl_upgrade(self):
        ctl = ctl_bin()
        if not (ctl and os.access(ctl, os.X_OK)):
            self.fail("outpostctl not built: %s" % ctl)
        node = self.node()
        old = node.pid
        admin = "127.0.0.1:%d" % node.admin_port
        env = {k: v for k, v in os.environ.items() if k != "OUTPOST_ADMIN"}
        env["OUTPOSTCTL_CONF"] = os.devnull

        def run(*args):
            return subprocess.run([ctl, "-a", admin] + list(args), env=env,
                                  capture_output=True, text=True, timeout=30)
        # not an outpost process: refused, nothing signalled
        cp = run("upgrade", "--pid", str(self.origin.proc.pid))
        self.assertEqual(cp.returncode, 2, cp)
        self.assertIn("not an outpost daemon", cp.stderr)
        pidfile = os.path.join(self.dir, "outpost.pid")
        with open(pidfile, "w") as f:
            f.write("%d\n" % old)
        cp = run("--timeout", "20s", "upgrade", "--pidfile", pidfile)
        self.assertEqual(cp.returncode, 0, cp)
        self.assertIn("process %d handed over and exited" % old, cp.stdout)
        new = self.upgraded(node)
        self.assertEqual(node.wait(5), 0)
        self.assertServes(node)
        # the same again by --pid, on the new process
        cp = run("--timeout", "20s", "upgrade", "--pid", str(new))
        self.assertEqual(cp.returncode, 0, cp)
        third = self.upgraded(node, after=node.log().index("new process %d ready" % new) + 1)
        self.assertTrue(pid_gone(new))
        self.assertNotEqual(third, new)
        self.assertServes(node)
        # and with neither: the pid the node reports on /status.json (a
        # loopback admin address)
        st = json.loads(node.admin("/status.json").body)
        self.assertEqual(st["pid"], third)
        cp = run("--timeout", "20s", "upgrade")
        self.assertEqual(cp.returncode, 0, cp)
        self.assertIn("process %d handed over and exited" % third, cp.stdout)
        self.assertTrue(pid_gone(third))
        self.assertServes(node)

    def test_service_manager_follows_the_new_process(self):
        note = NotifyListener()
        self.addCleanup(note.close)
        node = self.start_outpost(self.origin, env={"NOTIFY_SOCKET": note.env_value,
                                                    "WATCHDOG_USEC": "400000"})
        old = node.pid
        ready = note.wait_for("READY")
        node.send_signal(signal.SIGUSR2)
        new = self.upgraded(node)
        main = note.wait_for("MAINPID", str(new), after=ready + 1)
        self.assertIn("handed over", note.snapshot()[main]["STATUS"])
        # the new process says READY=1 after the old one named it
        again = note.wait_for("READY", after=main + 1)
        self.assertEqual(node.wait(10), 0)
        # and the watchdog (WATCHDOG_PID was unset) keeps being pinged
        note.wait_for("WATCHDOG", after=again + 1, timeout=5)
        # the old process drains without saying the service stops
        self.assertFalse(any("STOPPING" in m for m in note.snapshot()), note.snapshot())
        self.assertNotEqual(new, old)
        self.assertServes(node)

    def test_fresh_connection_answered_while_draining(self):
        """A connection accepted just before a drain and whose request is not
        there yet is answered (with Connection: close), not closed unread: in
        an upgrade it is the old process's to serve."""
        node = self.start_outpost(self.origin)
        with node.connect() as c:
            wait_until(lambda: node.metric("outpost_connections_active") >= 1, 5,
                       what="the connection accepted")
            node.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            c.send("GET /f/late HTTP/1.1\r\nHost: example.com\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertIn("close", r.header_tokens("connection"))
        self.assertEqual(node.wait(5), 0)

    def test_new_binary_that_cannot_start(self):
        """The new process exits at once (its configuration file has an
        error): the old one serves on, and a later upgrade works."""
        node = self.node()
        good = open(node.config_path).read()
        with open(node.config_path, "a") as f:
            f.write("bogus: [\n")
        mark = len(node.log())
        node.send_signal(signal.SIGUSR2)
        wait_until(lambda: "the new process exited before it was ready" in node.log()[mark:],
                   15, what="the old process seeing the new one fail")
        self.assertTrue(node.alive())
        self.assertEqual(node.get("/u/f1?%s&size=100" % CC).status, 200)
        self.assertEqual(node.admin("/healthz").status, 200)
        self.wait_disk_writes(node, 1)
        with open(node.config_path, "w") as f:
            f.write(good)
        old = node.pid
        node.send_signal(signal.SIGUSR2)
        new = self.upgraded(node)
        self.assertEqual(node.wait(10), 0)
        self.assertNotEqual(new, old)
        self.assertEqual(node.get("/u/f1?%s&size=100" % CC).header("X-Cache"), "HIT")

    def test_tls_listener_handed_over(self):
        c = certs()
        tls_port = harness.free_port()
        node = self.start_outpost(self.origin, mutate=lambda cfg: tls_config(cfg, c, tls_port))
        with tls_connect(tls_port, client_ctx(c), "example.com") as s:
            self.assertEqual(tls_get(s, "/u/tls1", "example.com").status, 200)
        node.send_signal(signal.SIGUSR2)
        self.upgraded(node)
        self.assertEqual(node.wait(10), 0)
        # the same socket, now the new process's, with its own TLS contexts
        with tls_connect(tls_port, client_ctx(c), "a.example.com") as s:
            names = [v for k, v in s.getpeercert()["subjectAltName"]]
            self.assertIn("*.example.com", names)
            self.assertEqual(tls_get(s, "/u/tls2", "example.com").status, 200)
        self.assertServes(node)

    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_upgrade_with_privilege_drop(self):
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            raise unittest.SkipTest("no user nobody")
        node = self.node(node=dict(harness.base_node(), user="nobody", group="nogroup"))
        self.assertEqual(node.get("/u/pd?%s&size=500" % CC).status, 200)
        self.wait_disk_writes(node, 1)
        node.send_signal(signal.SIGUSR2)
        new = self.upgraded(node)
        self.assertEqual(node.wait(15), 0)
        st = proc_status(new)
        self.assertEqual(st["Uid"], [str(nobody.pw_uid)] * 4, st["Uid"])
        self.assertEqual(st["CapEff"], ["0000000000000000"])
        r = node.get("/u/pd?%s&size=500" % CC)
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count("/u/pd"), 1)
        self.assertServes(node)


if __name__ == "__main__":
    harness.main()
