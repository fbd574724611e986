#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""SIGHUP configuration reload: a new certificate for new handshakes while an
open keep-alive TLS connection keeps working; a broken new configuration
(key mismatch, expired certificate, unreadable file, bad YAML) is rejected
with file:line:column errors and the old one stays in service; ticket keys
rotate (the new first key seals, the previous still opens); a changed pool
sends new requests to another origin, on new and on kept-alive connections;
settings that need a restart are logged and ignored; /metrics and /status
count reloads."""

import json
import os
import re
import signal
import socket
import ssl
import struct
import time

import harness
from t60_tls import certs, client_ctx, tls_config, tls_connect, tls_get


def rewrite(node, mutate):
    """Writes node's configuration again after mutate(cfg) (a deep copy)."""
    cfg = json.loads(json.dumps(node.config))
    cfg = mutate(cfg) or cfg
    node.config = cfg
    with open(node.config_path, "w") as f:
        f.write(harness.to_yaml(cfg) + "\n")


def reload(node, counter, before):
    """SIGHUP, then waits until metric counter moved past before."""
    node.send_signal(signal.SIGHUP)
    return node.wait_metric(counter, lambda v: v > before, timeout=5.0)


def second_cert(c):
    if not os.path.exists(c.path("ecdsa2.pem")):
        c.leaf("ecdsa2", ["example.com", "*.example.com"])
        os.chmod(c.path("ecdsa2.key"), 0o600)
    return c


def only_ecdsa(c, name):
    def m(cfg):
        cfg["sites"][0]["tls"]["certificates"] = [
            {"cert": c.path(name + ".pem"), "key": c.path(name + ".key")}]
        return cfg
    return m


class ReloadTLS(harness.OutpostTestCase):
    def start(self):
        c = second_cert(certs())
        port = harness.free_port()
        node = self.start_outpost(
            self.start_origin(),
            mutate=lambda cfg: only_ecdsa(c, "ecdsa")(tls_config(cfg, c, port)))
        return c, node, port

    def test_certificate_swap_keeps_open_connection(self):
        c, node, port = self.start()
        old = tls_connect(port, client_ctx(c), "example.com")
        try:
            self.assertEqual(old.getpeercert(binary_form=True), c.der("ecdsa"))
            self.assertEqual(tls_get(old, "/t/before", "example.com").status, 200)
            rewrite(node, only_ecdsa(c, "ecdsa2"))
            reload(node, "outpost_config_reloads_total", 0)
            # the open connection keeps working on its handshake's certificate
            r = tls_get(old, "/t/after", "example.com")
            self.assertEqual(r.status, 200)
            self.assertEqual(old.getpeercert(binary_form=True), c.der("ecdsa"))
            # a new handshake sees the new certificate
            with tls_connect(port, client_ctx(c), "example.com") as s:
                self.assertEqual(s.getpeercert(binary_form=True), c.der("ecdsa2"))
                self.assertEqual(tls_get(s, "/t/new", "example.com").status, 200)
            # and the old connection still answers after that
            self.assertEqual(tls_get(old, "/t/again", "example.com").status, 200)
        finally:
            old.close()
        st = json.loads(node.admin("/status").body)
        self.assertEqual(st["reloads"], 1)
        self.assertEqual(st["last_reload"]["status"], "ok")
        self.assertIn("reload: configuration in service", node.log())

    def test_broken_configurations_keep_the_old_one(self):
        c, node, port = self.start()
        good = node.config

        def cert0(cfg):
            return cfg["sites"][0]["tls"]["certificates"][0]

        def mismatch(cfg):
            cert0(cfg)["key"] = c.path("stray.key")

        def expired(cfg):
            cert0(cfg).update(cert=c.path("old.pem"), key=c.path("old.key"))

        def unreadable(cfg):
            cert0(cfg)["cert"] = "/nonexistent/new.pem"
            cert0(cfg)["key"] = c.path("ecdsa2.key")

        cases = [(mismatch, r"sites\[0\]\.tls\.certificates\[0\]\.cert: key .* does not match"),
                 (expired, r"sites\[0\]\.tls\.certificates\[0\]\.cert: certificate .* expired"),
                 (unreadable, r"sites\[0\]\.tls\.certificates\[0\]\.cert: cannot open")]
        fails = 0
        for mutate, pattern in cases:
            node.config = good
            rewrite(node, mutate)
            fails = reload(node, "outpost_config_reload_failures_total", fails)
            self.assertRegex(node.log(), re.escape(node.config_path) + r":\d+:\d+: " + pattern)
            with tls_connect(port, client_ctx(c), "example.com") as s:
                self.assertEqual(s.getpeercert(binary_form=True), c.der("ecdsa"), pattern)
                self.assertEqual(tls_get(s, "/t/still", "example.com").status, 200)
        # not YAML at all
        with open(node.config_path, "w") as f:
            f.write("sites: [\n")
        fails = reload(node, "outpost_config_reload_failures_total", fails)
        self.assertEqual(fails, 4)
        self.assertEqual(node.metric("outpost_config_reloads_total"), 0)
        self.assertEqual(node.metric("outpost_config_last_reload_success"), 0)
        st = json.loads(node.admin("/status").body)
        self.assertEqual(st["last_reload"]["status"], "failed")
        self.assertIn("the running configuration stays", node.log())
        self.assertServing(node)
        # a good file again is taken
        node.config = good
        rewrite(node, only_ecdsa(c, "ecdsa2"))
        reload(node, "outpost_config_reloads_total", 0)
        with tls_connect(port, client_ctx(c), "example.com") as s:
            self.assertEqual(s.getpeercert(binary_form=True), c.der("ecdsa2"))
        self.assertEqual(node.metric("outpost_config_last_reload_success"), 1)


class ReloadTicketKeys(harness.OutpostTestCase):
    def test_rotation_new_key_seals_previous_still_opens(self):
        c = certs()
        keys = c.path("rotate-%d.keys" % time.monotonic_ns())
        k_old, k_new = os.urandom(80), os.urandom(80)
        with open(keys, "wb") as f:
            f.write(k_old)
        os.chmod(keys, 0o600)
        port = harness.free_port()
        node = self.start_outpost(self.start_origin(),
                                  mutate=lambda cfg: tls_config(cfg, c, port, keys))
        ctx = client_ctx(c, maximum_version=ssl.TLSVersion.TLSv1_2)

        def session():
            with tls_connect(port, ctx, "example.com") as s:
                self.assertEqual(tls_get(s, "/t/tk", "example.com").status, 200)
                return s.session

        def resumes(sess):
            with tls_connect(port, ctx, "example.com", session=sess) as s:
                self.assertEqual(tls_get(s, "/t/tk", "example.com").status, 200)
                return s.session_reused
        before = session()
        # rotate: the new key first (it seals), the old one still opens
        with open(keys, "wb") as f:
            f.write(k_new + k_old)
        n = reload(node, "outpost_config_reloads_total", 0)
        self.assertTrue(resumes(before), "a ticket sealed with the previous key")
        after = session()
        # drop the old key: its tickets no longer open, the new key's do
        with open(keys, "wb") as f:
            f.write(k_new)
        reload(node, "outpost_config_reloads_total", n)
        self.assertFalse(resumes(before), "a ticket of a dropped key")
        self.assertTrue(resumes(after), "a ticket sealed with the current key")


class ReloadRoutes(harness.OutpostTestCase):
    def test_pool_change_applies_to_new_requests(self):
        a, b = self.start_origin(), self.start_origin()
        node = self.start_outpost(a)
        conn = node.connect()
        try:
            conn.send(b"GET /nocache/r1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
            self.assertEqual(conn.read_response().status, 200)
            self.assertEqual(a.count("/nocache/r1"), 1)

            def to_b(cfg):
                cfg["pools"][0]["members"] = [{"address": b.address}]
                cfg["sites"][0]["routes"].insert(0, {"path": "/moved/", "pool": "web",
                                                     "cache": {"enabled": False}})
            rewrite(node, to_b)
            reload(node, "outpost_config_reloads_total", 0)
            # the kept-alive connection's next request uses the new pools
            conn.send(b"GET /nocache/r2 HTTP/1.1\r\nHost: example.com\r\n\r\n")
            self.assertEqual(conn.read_response().status, 200)
        finally:
            conn.close()
        self.assertEqual(node.get("/moved/r3").status, 200)
        self.assertEqual(node.get("/nocache/r4").status, 200)
        self.assertEqual((a.count("/nocache/r2"), b.count("/nocache/r2")), (0, 1))
        self.assertEqual((a.count("/nocache/r4"), b.count("/nocache/r4")), (0, 1))
        self.assertEqual(b.count("/moved/r3"), 1)

    def test_restart_only_settings_are_logged_and_ignored(self):
        node = self.start_outpost(self.start_origin())
        port = node.port

        def m(cfg):
            cfg["listen"][0]["address"] = "127.0.0.1:%d" % harness.free_port()
            cfg["node"]["workers"] = 3
            cfg["cache"]["ram"] = "32MiB"
            cfg["timeouts"]["idle"] = "7s"
        rewrite(node, m)
        reload(node, "outpost_config_reloads_total", 0)
        log = node.log()
        for key in ("listen", "node.workers", "cache.ram"):
            self.assertIn("reload: %s changed: needs a restart, ignored" % key, log)
        self.assertNotIn("timeouts", log)
        self.assertEqual(node.metric("outpost_workers"), 2)
        self.assertEqual(harness.http_request(port, "GET", "/t/old-port",
                                              {"Host": "example.com"}).status, 200)

    def test_reloads_with_requests_in_flight(self):
        """Each in-flight request finishes on the snapshot (and pool) it started
        with while reloads swap the pool under it; no crash, no leak (ASan)."""
        a, b = self.start_origin(), self.start_origin()
        node = self.start_outpost(a)
        n = 0
        for i in range(6):
            started_on, next_origin = (a, b) if i % 2 == 0 else (b, a)
            conn = node.connect()
            try:
                path = "/nocache/l%d" % i
                conn.send(b"GET %s?delay_ms=400 HTTP/1.1\r\nHost: example.com\r\n\r\n"
                          % path.encode())
                harness.wait_until(lambda: started_on.count(path) == 1, 3,
                                   what="request %d at the origin" % i)
                rewrite(node, lambda cfg: cfg["pools"][0].update(
                    members=[{"address": next_origin.address}]))
                n = reload(node, "outpost_config_reloads_total", n)
                self.assertEqual(conn.read_response().status, 200)
            finally:
                conn.close()
            self.assertEqual(next_origin.count(path), 0)
        self.assertEqual(n, 6)
        self.assertServing(node)
    def test_member_known_down_stays_down_across_a_reload(self):
        # the new configuration's health flags start from the old ones: a
        # member the probes found down gets no traffic after a SIGHUP
        origin = self.start_origin()
        origin.script({"/healthz": {"status": 500}})
        health = {"path": "/healthz", "interval": "3s", "timeout": "500ms", "fall": 1,
                  "rise": 1}
        node = self.start_outpost(origin, mutate=lambda cfg: harness.add_pool_route(
            cfg, "hp", [(origin.address, {})], health=health) or cfg)
        harness.wait_until(lambda: node.metric("outpost_origin_member_up", {"pool": "hp"}) == 0,
                           10, what="the member marked down")
        self.assertEqual(node.get("/hp/a").status, 503)
        reload(node, "outpost_config_reloads_total", 0)
        self.assertEqual(node.metric("outpost_origin_member_up", {"pool": "hp"}), 0)
        self.assertEqual([node.get("/hp/b%d" % i).status for i in range(6)], [503] * 6)
        self.assertEqual(origin.count(prefix="/hp/"), 0)

    def test_queued_requests_of_an_old_generation_time_out(self):
        """Requests wait in a max_conns queue, a reload makes their pool an
        old generation's, their clients leave: the queue timeout answers
        (and frees) the last holders of that pool from inside its own wake
        event.  It was a use-after-free (ASan) that killed the daemon."""
        origin = self.start_origin()
        origin.script({"/q/*": {"delay_ms": 3000}})

        def mut(cfg):
            cfg["node"]["workers"] = 2
            harness.add_pool_route(cfg, "q", [(origin.address, {"max_conns": 1})], queue=20,
                                   queue_timeout="1s",
                                   timeouts={"connect": "1s", "first_byte": "6s",
                                             "between_bytes": "2s"})
            return cfg
        node = self.start_outpost(origin, mutate=mut)

        def send(path):
            s = socket.create_connection(("127.0.0.1", node.port), timeout=10)
            s.sendall(("GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % path).encode())
            return s
        first = send("/q/a")
        try:
            harness.wait_until(lambda: origin.count("/q/a") == 1, 3, what="the first request")
            queued = [send("/q/b%d" % i) for i in range(8)]
            time.sleep(0.2)
            reload(node, "outpost_config_reloads_total", 0)
            for s in queued:  # not read while queued: the node does not notice
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            time.sleep(2.0)  # past queue_timeout
            self.assertTrue(node.alive(), node.log()[-2000:])
        finally:
            first.close()
        self.assertServing(node)


if __name__ == "__main__":
    harness.main()
