#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Started as root, the daemon binds (a port below 1024 too), opens the disk
tier and reads its keys, then runs as node.user / node.group with no
capability in any thread; the disk tier stays writable; a SIGHUP reload
reads certificate keys only root may read (0600 root, in a 0700 root
directory); node.user: root keeps root; without node.user, root means the
user "outpost" or a refusal to start.  Needs root (skipped otherwise)."""

import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import tempfile
import time
import unittest

import harness
from t60_tls import certs, client_ctx, tls_config, tls_connect, tls_get
from t62_reload import reload, rewrite, second_cert, only_ecdsa

USER, GROUP = "nobody", "nogroup"


def proc_status(pid, task=None):
    """/proc/PID/status (or a thread's) as {field: [values]}."""
    path = "/proc/%d/status" % pid if task is None else "/proc/%d/task/%s/status" % (pid, task)
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def free_low_port(host):
    """A free port below 1024 on host (only root can bind it)."""
    for port in range(1000, 600, -1):
        s = socket.socket()
        try:
            s.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise unittest.SkipTest("no free port below 1024 on %s" % host)


@unittest.skipUnless(os.geteuid() == 0, "needs root")
class PrivDrop(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        try:
            self.pw = pwd.getpwnam(USER)
            self.gid = grp.getgrnam(GROUP).gr_gid
        except KeyError:
            self.skipTest("no user %s / group %s" % (USER, GROUP))
        self.dir = tempfile.mkdtemp(prefix="outpost-privdrop-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def drop(self, cfg, extra=None):
        cfg["node"]["user"] = USER
        cfg["node"]["group"] = GROUP
        if extra:
            extra(cfg)
        return cfg

    def assertUnprivileged(self, pid):
        """Every thread: uid and gid (real, effective, saved, fs) are the
        target's; no permitted, effective or ambient capability."""
        tasks = os.listdir("/proc/%d/task" % pid)
        self.assertGreater(len(tasks), 2, "workers and the disk writer are threads")
        for t in tasks:
            st = proc_status(pid, t)
            self.assertEqual(st["Uid"], [str(self.pw.pw_uid)] * 4, (t, st["Uid"]))
            self.assertEqual(st["Gid"], [str(self.gid)] * 4, (t, st["Gid"]))
            self.assertNotIn("0", st["Groups"], (t, st["Groups"]))
            for cap in ("CapEff", "CapPrm", "CapAmb"):
                self.assertEqual(int(st[cap][0], 16), 0, (t, cap, st[cap]))

    def test_runs_as_node_user_without_capabilities(self):
        origin = self.start_origin()
        low = free_low_port("127.0.0.2")
        disk = os.path.join(self.dir, "cache")

        def extra(cfg):
            cfg["listen"].append({"address": "127.0.0.2:%d" % low})
            cfg["cache"]["disk"] = {"path": disk, "size": "64MiB"}
        node = self.start_outpost(origin, mutate=lambda cfg: self.drop(cfg, extra))
        self.assertUnprivileged(node.proc.pid)
        self.assertIn("running as user %s (uid %d)" % (USER, self.pw.pw_uid), node.log())
        # the port below 1024 was bound before the switch and serves
        path = "/p/low?cc=max-age%3D600"
        r = harness.http_request(low, "GET", path, {"Host": "example.com"},
                                 host="127.0.0.2")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Cache"), "MISS")
        # the disk tier belongs to the user now and is still written
        for p in [disk] + [os.path.join(disk, f) for f in os.listdir(disk)]:
            st = os.lstat(p)
            self.assertEqual((st.st_uid, st.st_gid), (self.pw.pw_uid, self.gid), p)
        deadline = time.monotonic() + 5
        while (node.metric("outpost_cache_disk_writes_total", default=0) or 0) < 1:
            self.assertLess(time.monotonic(), deadline, "no disk write after the switch")
            time.sleep(0.05)
        self.assertEqual(node.stop(), 0)
        # a restart (root again) finds the object on disk
        node2 = self.start_outpost(origin, mutate=lambda cfg: self.drop(cfg, extra))
        r = node2.get(path)
        self.assertEqual(r.header("X-Cache"), "HIT", r.headers)
        self.assertEqual(origin.count("/p/low"), 1)
        # the access log was given to the user too
        self.assertEqual(os.stat(node2.access_log).st_uid, self.pw.pw_uid)

    def test_reload_reads_root_only_keys_after_the_switch(self):
        if not os.stat("/").st_mode & stat.S_IXOTH:
            # a reload looks node.user up in /etc/passwd as that user: not
            # possible where the root directory itself is closed to others
            # (a chroot made with mktemp -d is 0700)
            self.skipTest("/ is not searchable by %s" % USER)
        c = second_cert(certs())
        port = harness.free_port()
        for name in ("ecdsa", "ecdsa2"):
            st = os.stat(c.path(name + ".key"))
            self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (0, 0o600), name)
        self.assertEqual(stat.S_IMODE(os.stat(c.dir).st_mode) & 0o077, 0, "0700 directory")
        node = self.start_outpost(self.start_origin(), mutate=lambda cfg: self.drop(
            only_ecdsa(c, "ecdsa")(tls_config(cfg, c, port))))
        self.assertUnprivileged(node.proc.pid)
        with tls_connect(port, client_ctx(c), "example.com") as s:
            self.assertEqual(s.getpeercert(binary_form=True), c.der("ecdsa"))
        rewrite(node, only_ecdsa(c, "ecdsa2"))
        reload(node, "outpost_config_reloads_total", 0)
        self.assertIn("reload: configuration in service", node.log())
        with tls_connect(port, client_ctx(c), "example.com") as s:
            self.assertEqual(s.getpeercert(binary_form=True), c.der("ecdsa2"))
            self.assertEqual(tls_get(s, "/t/after", "example.com").status, 200)
        # a broken key still rejects the reload, with its position
        rewrite(node, lambda cfg: cfg["sites"][0]["tls"]["certificates"][0].update(
            key=c.path("stray.key")))
        reload(node, "outpost_config_reload_failures_total", 0)
        self.assertRegex(node.log(), re.escape(node.config_path) +
                         r":\d+:\d+: sites\[0\]\.tls\.certificates\[0\]\.cert: key .* does not"
                         r" match")
        self.assertUnprivileged(node.proc.pid)
        st = json.loads(node.admin("/status").body)
        self.assertEqual((st["reloads"], st["reload_failures"]), (1, 1))

    def test_reload_reads_root_only_token_file_after_the_switch(self):
        # a purge token kept in a root-only file (0600 in a 0700 folder) is
        # read again by a reload after the switch, through the root helper
        if not os.stat("/").st_mode & stat.S_IXOTH:
            self.skipTest("/ is not searchable by %s" % USER)
        secret = os.path.join(self.dir, "secret")
        os.mkdir(secret, 0o700)
        token_file = os.path.join(secret, "ops.token")
        with open(token_file, "w") as f:
            f.write("t0ken-one\n")
        os.chmod(token_file, 0o600)

        def extra(cfg):
            cfg["purge"] = {"tokens": [{"id": "ops", "file": token_file, "hosts": ["*"],
                                        "all": True}]}
        node = self.start_outpost(self.start_origin(),
                                  mutate=lambda cfg: self.drop(cfg, extra))
        self.assertUnprivileged(node.proc.pid)

        def purge(token):
            return harness.http_request(
                node.admin_port, "POST", "/purge",
                {"Content-Type": "application/json", "Authorization": "Bearer " + token},
                json.dumps({"urls": ["http://example.com/x"]}).encode())
        self.assertEqual(purge("t0ken-one").status, 200)
        with open(token_file, "w") as f:
            f.write("t0ken-two\n")
        rewrite(node, lambda cfg: cfg)
        reload(node, "outpost_config_reloads_total", 0)
        self.assertIn("reload: configuration in service", node.log())
        self.assertEqual(purge("t0ken-two").status, 200)
        self.assertEqual(purge("t0ken-one").status, 401)

    def test_origin_ca_file_root_only_after_the_switch(self):
        # a pool's tls.ca_file readable by root only is read through the root
        # helper, at start and by a reload after the switch
        if not os.stat("/").st_mode & stat.S_IXOTH:
            self.skipTest("/ is not searchable by %s" % USER)
        c = certs()
        origin = self.start_origin(tls_cert=c.path("local.pem"), tls_key=c.path("local.key"))
        secret = os.path.join(self.dir, "ca")
        os.mkdir(secret, 0o700)
        ca = os.path.join(secret, "root.pem")
        shutil.copy(c.path("root.pem"), ca)
        os.chmod(ca, 0o600)

        def extra(cfg):
            harness.add_pool_route(cfg, "tls", [("localhost:%d" % origin.port, {})],
                                   tls={"ca_file": ca})
        node = self.start_outpost(self.start_origin(),
                                  mutate=lambda cfg: self.drop(cfg, extra))
        self.assertUnprivileged(node.proc.pid)
        self.assertEqual(node.get("/tls/one").status, 200)
        rewrite(node, lambda cfg: cfg)
        reload(node, "outpost_config_reloads_total", 0)
        self.assertIn("reload: configuration in service", node.log())
        self.assertEqual(node.get("/tls/two").status, 200)

    def test_purge_after_the_switch(self):
        # the purge log lives in the disk tier's folder: it is the user's too,
        # so a purge taken after the switch is committed, and still holds
        # after a restart
        origin = self.start_origin()
        disk = os.path.join(self.dir, "cache")
        token = "privdrop-purge-token"

        def extra(cfg):
            cfg["cache"]["disk"] = {"path": disk, "size": "64MiB"}
            cfg["purge"] = {"tokens": [{"id": "t", "hosts": ["*"],
                                        "sha256": hashlib.sha256(token.encode()).hexdigest()}]}
        node = self.start_outpost(origin, mutate=lambda cfg: self.drop(cfg, extra))
        self.assertUnprivileged(node.proc.pid)
        path = "/pd/purged?cc=max-age%3D600"
        for want in ("MISS", "HIT"):
            self.assertEqual(node.get(path).header("X-Cache"), want)
        for root, dirs, files in os.walk(disk):
            for name in dirs + files:
                st = os.lstat(os.path.join(root, name))
                self.assertEqual(st.st_uid, self.pw.pw_uid, os.path.join(root, name))
        r = harness.http_request(node.admin_port, "POST", "/purge",
                                 {"Content-Type": "application/json",
                                  "Authorization": "Bearer " + token},
                                 json.dumps({"urls": ["http://example.com" + path]}).encode())
        self.assertEqual(r.status, 200, r)
        self.assertIn("purge", os.listdir(disk))
        # a copy read back from disk is dated by its store second, so the
        # refill goes a second after the purge to be newer than it for sure
        time.sleep(1.1)
        self.assertEqual(node.get(path).header("X-Cache"), "MISS")
        self.assertEqual(origin.count("/pd/purged"), 2)
        harness.wait_until(
            lambda: (node.metric("outpost_cache_disk_writes_total", default=0) or 0) >= 2,
            5, what="the refill on disk")
        self.assertEqual(node.stop(signal.SIGKILL), -signal.SIGKILL)
        # the refill after the purge is on disk; the purge did not take it
        node2 = self.start_outpost(origin, mutate=lambda cfg: self.drop(cfg, extra))
        self.assertEqual(node2.get(path).header("X-Cache"), "HIT")
        self.assertEqual(origin.count("/pd/purged"), 2)

    def test_node_user_root_keeps_root(self):
        node = self.start_outpost(self.start_origin())
        self.assertEqual(proc_status(node.proc.pid)["Uid"], ["0"] * 4)
        self.assertIn("running as root (node.user: root)", node.log())
        self.assertServing(node)

    def test_root_without_node_user(self):
        def no_user(cfg):
            del cfg["node"]["user"]
        try:
            pw = pwd.getpwnam("outpost")
        except KeyError:
            pw = None
        if pw is not None:
            # the packaged default: the user "outpost"
            node = self.start_outpost(self.start_origin(), mutate=no_user)
            self.assertEqual(proc_status(node.proc.pid)["Uid"], [str(pw.pw_uid)] * 4)
            return
        path = os.path.join(self.dir, "outpost.yaml")
        cfg = harness.base_config(harness.free_port(), harness.free_port(),
                                  harness.free_port(), self.dir)
        no_user(cfg)
        with open(path, "w") as f:
            f.write(harness.to_yaml(cfg) + "\n")
        cp = harness.run_outpost(["-c", path])
        self.assertEqual(cp.returncode, 1, cp.stderr)
        self.assertIn("started as root without node.user", cp.stderr)
        self.assertIn('"outpost" does not exist', cp.stderr)


if __name__ == "__main__":
    harness.main()
