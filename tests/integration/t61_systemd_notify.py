#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The service manager's notifications (NOTIFY_SOCKET, sd_notify's protocol
spoken directly): READY=1 once the listeners are bound and the disk tier is
open, RELOADING=1 with MONOTONIC_USEC then READY=1 around a SIGHUP reload
(a rejected one too), STOPPING=1 on SIGTERM, STATUS= lines; WATCHDOG=1 at
half of WATCHDOG_USEC, and none when WATCHDOG_PID names another process.
The test binds the datagram socket (a path, or an abstract name) itself."""

import os
import signal
import socket
import tempfile
import threading
import time

import harness
from harness import wait_until


class NotifyListener:
    """A bound AF_UNIX datagram socket collecting the daemon's messages as
    dicts (in arrival order) with the time each arrived."""

    def __init__(self, abstract=False):
        self.dir = tempfile.mkdtemp(prefix="outpost-notify-")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "outpost-test-notify-%d-%d" % (os.getpid(), id(self))
            self.sock.bind("\0" + name)
            self.env_value = "@" + name
        else:
            path = os.path.join(self.dir, "notify.sock")
            self.sock.bind(path)
            self.env_value = path
        self.sock.settimeout(0.2)
        self.messages = []
        self.lock = threading.Lock()
        self.on_ready = None      # called once, on the first READY=1
        self.ready_checks = None
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        deadline = time.monotonic() + 120
        while not self._stop and time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            msg = {}
            for line in data.decode("utf-8", "replace").split("\n"):
                k, sep, v = line.partition("=")
                if sep:
                    msg[k] = v
            msg["_t"] = time.monotonic()
            if msg.get("READY") == "1" and self.on_ready is not None and \
                    self.ready_checks is None:
                self.ready_checks = self.on_ready()
            with self.lock:
                self.messages.append(msg)

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def wait_for(self, key, value="1", after=0, timeout=5.0):
        """Index of the first message at index >= after with key=value."""
        def find():
            for i, m in enumerate(self.snapshot()[after:], after):
                if m.get(key) == value:
                    return i + 1
            return None
        return wait_until(find, timeout, what="%s=%s from the daemon" % (key, value)) - 1

    def close(self):
        self._stop = True
        self._t.join(2)
        self.sock.close()
        harness.shutil.rmtree(self.dir, ignore_errors=True)


class Notify(harness.OutpostTestCase):
    def listener(self, **kw):
        n = NotifyListener(**kw)
        self.addCleanup(n.close)
        return n

    def test_ready_reload_stopping_in_order(self):
        origin = self.start_origin()
        note = self.listener()
        disk = tempfile.mkdtemp(prefix="outpost-notify-disk-")
        self.addCleanup(harness.shutil.rmtree, disk, True)
        ports = {}

        def mutate(cfg):
            ports["client"] = int(cfg["listen"][0]["address"].rsplit(":", 1)[1])
            cfg["cache"]["disk"] = {"path": os.path.join(disk, "cache"), "size": "64MiB"}

        def at_ready():
            # what READY=1 promises, checked the moment it arrives
            s = socket.create_connection(("127.0.0.1", ports["client"]), timeout=2)
            s.close()
            return {"listening": True,
                    "disk_open": os.path.exists(os.path.join(disk, "cache", "data.mdb"))}
        note.on_ready = at_ready
        node = self.start_outpost(origin, mutate=mutate,
                                  env={"NOTIFY_SOCKET": note.env_value})
        ready = note.wait_for("READY")
        self.assertEqual(note.ready_checks, {"listening": True, "disk_open": True})
        msgs = note.snapshot()
        self.assertIn("STATUS", msgs[0], msgs)
        self.assertNotIn("READY", msgs[0], "a STATUS line comes before READY=1")
        self.assertIn("serving", msgs[ready]["STATUS"])
        self.assertEqual(node.get("/n/a").status, 200)

        # a reload: RELOADING=1 with the monotonic time it began, then READY=1
        t0 = int(time.monotonic() * 1e6)
        node.send_signal(signal.SIGHUP)
        rel = note.wait_for("RELOADING", after=ready + 1)
        t1 = int(time.monotonic() * 1e6)
        m = note.snapshot()[rel]
        self.assertTrue(t0 <= int(m["MONOTONIC_USEC"]) <= t1, (t0, m, t1))
        self.assertIn("STATUS", m)
        again = note.wait_for("READY", after=rel + 1)
        self.assertIn("serving", note.snapshot()[again]["STATUS"])

        # a rejected reload ends with READY=1 too (the old configuration serves)
        with open(node.config_path, "a") as f:
            f.write("bogus: [\n")
        node.send_signal(signal.SIGHUP)
        rel2 = note.wait_for("RELOADING", after=again + 1)
        ready2 = note.wait_for("READY", after=rel2 + 1)
        self.assertIn("rejected", note.snapshot()[ready2]["STATUS"])
        self.assertEqual(node.get("/n/b").status, 200)

        self.assertEqual(node.stop(signal.SIGTERM), 0)
        stop = note.wait_for("STOPPING", after=ready2 + 1)
        self.assertIn("draining", note.snapshot()[stop]["STATUS"])
        self.assertFalse(any("WATCHDOG" in m for m in note.snapshot()),
                         "WATCHDOG=1 without WATCHDOG_USEC")

    def test_watchdog_abstract_socket(self):
        origin = self.start_origin()
        note = self.listener(abstract=True)
        node = self.start_outpost(origin, env={"NOTIFY_SOCKET": note.env_value,
                                               "WATCHDOG_USEC": "400000"})
        ready = note.wait_for("READY")
        first = note.wait_for("WATCHDOG")
        # pings keep coming from the main loop (at half the interval)
        for _ in range(3):
            first = note.wait_for("WATCHDOG", after=first + 1, timeout=5)
        self.assertGreaterEqual(first, ready)
        self.assertEqual(node.stop(signal.SIGTERM), 0)

    def test_watchdog_for_another_process(self):
        origin = self.start_origin()
        note = self.listener()
        node = self.start_outpost(origin, env={"NOTIFY_SOCKET": note.env_value,
                                               "WATCHDOG_USEC": "200000",
                                               "WATCHDOG_PID": "1"})
        note.wait_for("READY")
        time.sleep(0.6)   # three intervals: nothing may come
        self.assertFalse(any("WATCHDOG" in m for m in note.snapshot()), note.snapshot())
        self.assertEqual(node.get("/n/c").status, 200)

    def test_no_notify_socket_is_quiet(self):
        origin = self.start_origin()
        node = self.start_outpost(origin, env={"NOTIFY_SOCKET": "",
                                               "WATCHDOG_USEC": "200000"})
        self.assertEqual(node.get("/n/d").status, 200)
        self.assertNotIn("NOTIFY_SOCKET", node.log())


if __name__ == "__main__":
    harness.main()
