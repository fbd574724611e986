#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The admin listener's HTTP/1.1 server: keep-alive and pipelining, HEAD,
404 and 405 with Allow, chunked bodies, bad input answered with a short 4xx
(the process keeps serving), bounded heads and bodies; and the PURGE method
on it (Varnish/Squid style: origin-form with Host, or absolute-form), which
goes the way of POST /purge (token 401, scope 403, audit log, the JSON
reply, durable: gone after kill -9 and a restart)."""

import hashlib
import json
import os
import shutil
import signal
import socket
import tempfile

import harness

TOKEN = "owner-secret-token"
CC = "cc=max-age%3D600"


def admin_raw(node, data, timeout=5.0, shut_wr=False):
    return harness.raw_exchange(node.admin_port, data, timeout, shut_wr=shut_wr)


class AdminServer(harness.OutpostTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="outpost-admin-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.origin = self.start_origin()
        self.audit = os.path.join(self.dir, "audit.log")

    def node(self):
        return self.start_outpost(self.origin, overrides={
            "cache": {"disk": {"path": os.path.join(self.dir, "cache"), "size": "64MiB"}},
            "purge": {
                "audit_log": self.audit,
                "tokens": [{"id": "example",
                            "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                            "hosts": ["example.com", "*.example.com"]}]}})

    def purge(self, node, target, token=TOKEN, host="example.com"):
        head = "PURGE %s HTTP/1.1\r\n" % target
        if host is not None:
            head += "Host: %s\r\n" % host
        if token is not None:
            head += "Authorization: Bearer %s\r\n" % token
        with harness.RawConn(node.admin_port, timeout=5) as c:
            c.send((head + "\r\n").encode())
            return c.read_response()

    def cache(self, node, path, host="example.com"):
        return node.get(path, host=host).header("X-Cache")

    def warm(self, node, path, host="example.com"):
        self.assertEqual(self.cache(node, path, host), "MISS")
        self.assertEqual(self.cache(node, path, host), "HIT")

    def assertAlive(self, node):
        r = node.admin("/healthz")
        self.assertEqual((r.status, r.body), (200, b"ok\n"))

    # ---- the server ----

    def test_keep_alive_pipelining_head_404_405(self):
        n = self.node()
        with harness.RawConn(n.admin_port, timeout=5) as c:
            c.send(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                   b"HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
                   b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n"
                   b"DELETE /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            r1 = c.read_response()
            r2 = c.read_response(head=True)
            r3 = c.read_response()
            r4 = c.read_response()
            # still open after four answers: a fifth on the same connection
            c.send(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            r5 = c.read_response()
        self.assertEqual((r1.status, r1.body), (200, b"ok\n"))
        self.assertEqual(r1.header("Cache-Control"), "no-store")
        self.assertIsNotNone(r1.header("Date"))
        self.assertEqual(r2.status, 200)
        self.assertEqual(r2.body, b"")
        self.assertGreater(int(r2.header("Content-Length")), 100)
        self.assertEqual(r3.status, 404)
        self.assertEqual(r4.status, 405)
        self.assertEqual(r4.header("Allow"), "GET, HEAD")
        self.assertEqual(r5.status, 200)
        # HTTP/1.0 without keep-alive: answered, then closed
        r = admin_raw(n, b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertTrue(r.closed)
        self.assertEqual(r.first().status, 200)
        self.assertEqual(r.first().header("Connection"), "close")

    def test_bad_input_gets_4xx_and_the_node_keeps_serving(self):
        n = self.node()
        cases = [
            (b"GET /healthz HTTP/1.1\nHost: a\n\n", 400),                  # bare LF
            (b"GET /healthz HTTP/1.1\r\n\r\n", 400),                       # no Host
            (b"G(T /healthz HTTP/1.1\r\nHost: a\r\n\r\n", 400),            # not a token
            (b"GET /healthz HTTP/2.5\r\nHost: a\r\n\r\n", 505),
            (b"GET /healthz HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
            (b"POST /purge HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", 413),
            (b"POST /purge HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST /purge HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"zz\r\n", 400),
        ]
        for data, want in cases:
            r = admin_raw(n, data)
            self.assertTrue(r.closed, data[:40])
            self.assertEqual(r.first().status, want, data[:40])
            self.assertLess(len(r.first().body), 200)
            self.assertAlive(n)
        # a head cut short by the client's close; a connection that sends nothing
        r = admin_raw(n, b"GET /healthz HTTP/1.1\r\nHost:", shut_wr=True)
        self.assertEqual(r.first().status, 400)
        s = socket.create_connection(("127.0.0.1", n.admin_port), timeout=5)
        s.close()
        self.assertAlive(n)

    def test_chunked_purge_body_and_expect_continue(self):
        n = self.node()
        path = "/chunk?%s" % CC
        self.warm(n, path)
        body = json.dumps({"urls": ["http://example.com" + path]}).encode()
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        with harness.RawConn(n.admin_port, timeout=5) as c:
            c.send(b"POST /purge HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " +
                   TOKEN.encode() + b"\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
            cont = c.read_response(allow_interim=True)
            self.assertEqual(cont.status, 100)
            c.send(chunked)
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(json.loads(r.body)["purged"], 1)  # RAM (and disk)
        self.assertEqual(self.cache(n, path), "MISS")

    def test_body_limit_is_purge_max_body(self):
        n = self.start_outpost(self.origin, overrides={"purge": {
            "max_body": "2MiB",
            "tokens": [{"id": "example",
                        "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                        "hosts": ["example.com"]}]}})
        path = "/big?%s" % CC
        self.assertEqual(self.cache(n, path), "MISS")
        # 1.5 MiB of JSON (white space after the object): over the default, taken
        body = json.dumps({"urls": ["http://example.com" + path]}).encode()
        body += b" " * (1536 * 1024 - len(body))
        r = harness.http_request(n.admin_port, "POST", "/purge", {
            "Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}, body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.cache(n, path), "MISS")
        # over it: 413, by Content-Length and chunk by chunk
        r = admin_raw(n, b"POST /purge HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n"
                      % (2 * 1024 * 1024 + 1))
        self.assertEqual(r.first().status, 413)
        chunk = b"%x\r\n%s\r\n" % (512 * 1024, b" " * 512 * 1024)
        with harness.RawConn(n.admin_port, timeout=5) as c:
            c.send(b"POST /purge HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(5):
                try:
                    c.send(chunk)
                except OSError:
                    break
            r = c.read_response()
        self.assertEqual(r.status, 413)
        self.assertAlive(n)

    # ---- PURGE on the admin listener ----

    def test_purge_method_origin_and_absolute_form(self):
        n = self.node()
        a, b = "/p/a?%s" % CC, "/p/b?%s" % CC
        self.warm(n, a)
        self.warm(n, b)
        self.warm(n, a, host="www.example.com")
        # origin-form: Host names the site; the URL under http and https
        r = self.purge(n, a)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        j = json.loads(r.body)
        self.assertEqual(len(j["id"]), 16)
        self.assertGreaterEqual(j["purged"], 1)
        self.assertFalse(j["soft"])
        self.assertEqual(j["fleet"]["acked"], [n.config["node"]["name"]])
        self.assertEqual(self.cache(n, a), "MISS")
        self.assertEqual(self.cache(n, b), "HIT")
        self.assertEqual(self.cache(n, a, host="www.example.com"), "HIT")
        st = json.loads(n.admin("/purge/" + j["id"]).body)
        self.assertEqual(st["id"], j["id"])
        # absolute-form: the target names scheme and host
        r = self.purge(n, "http://www.example.com" + a, host="ignored.example.com")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.cache(n, a, host="www.example.com"), "MISS")
        # the audit log has both, with the token and the client
        with open(self.audit) as f:
            lines = [json.loads(x) for x in f if x.strip()]
        self.assertEqual([x["id"] for x in lines[-2:]], [j["id"], json.loads(r.body)["id"]])
        self.assertEqual(lines[-1]["token"], "example")
        self.assertEqual(lines[-1]["client"], "127.0.0.1")
        self.assertEqual(lines[-1]["bans"][0]["value"], "http://www.example.com" + a)

    def test_purge_method_refused_purges_nothing(self):
        n = self.node()
        path = "/r?%s" % CC
        self.warm(n, path)
        self.warm(n, path, host="localhost")
        r = self.purge(n, path, token=None)
        self.assertEqual(r.status, 401)
        self.assertIn("Bearer", r.header("WWW-Authenticate"))
        r = self.purge(n, path, token="wrong")
        self.assertEqual(r.status, 401)
        r = self.purge(n, path, host="localhost")
        self.assertEqual(r.status, 403)
        self.assertIn("error", json.loads(r.body))
        r = self.purge(n, "/r", host=None)                 # no Host: a 400 of the parser
        self.assertEqual(r.status, 400)
        self.assertEqual(self.cache(n, path), "HIT")
        self.assertEqual(self.cache(n, path, host="localhost"), "HIT")
        self.assertEqual(n.metric("outpost_purge_requests_total"), 0)

    def test_purge_method_is_durable(self):
        n = self.node()
        path = "/d?%s" % CC
        self.warm(n, path)
        harness.wait_until(lambda: n.metric("outpost_cache_disk_writes_total") >= 1, 5,
                           what="the disk write")
        self.assertEqual(self.purge(n, path).status, 200)
        n.stop(signal.SIGKILL)
        n2 = self.start_outpost(self.origin, overrides={
            "cache": {"disk": {"path": os.path.join(self.dir, "cache"), "size": "64MiB"}},
            "purge": {"tokens": [{"id": "example",
                                  "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                                  "hosts": ["example.com"]}]}})
        before = self.origin.count()
        self.assertEqual(self.cache(n2, path), "MISS")
        self.assertEqual(self.origin.count(), before + 1)


if __name__ == "__main__":
    harness.main()
