#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Upstream connection management: per-member max_conns with a bounded wait
queue (503 + Retry-After when it overflows or times out), keep-alive
max_requests, the send/total timeouts, and member names with several DNS
addresses (dns_responder.py on loopback).  Real origin processes, the real
daemon (2 workers)."""

import hashlib
import socket
import time

import harness
from harness import Background, free_port, wait_until


pool = harness.add_pool_route


def parallel(node, paths, timeout=15.0):
    """GETs every path at once; returns [(status, seconds, response)] in order."""
    def one(p):
        t0 = time.monotonic()
        r = node.get(p, timeout=timeout)
        return r.status, time.monotonic() - t0, r
    jobs = [Background(one, p) for p in paths]
    return [j.result(timeout + 5) for j in jobs]


class MaxConns(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.a = self.class_origin()
        cls.b = self.class_origin()
        a, b = cls.a.address, cls.b.address

        def mutate(cfg):
            pool(cfg, "lim2", [(a, {"max_conns": 2})], queue=20, queue_timeout="10s")
            pool(cfg, "overflow", [(a, {"max_conns": 1})], queue=1, queue_timeout="10s")
            pool(cfg, "qtimeout", [(a, {"max_conns": 1})], queue=10,
                 queue_timeout="300ms")
            pool(cfg, "spill", [(a, {"max_conns": 1}), (b, {"max_conns": 1})],
                 queue=0, queue_timeout="1s")
            return cfg
        cls.node = self.class_outpost(cls.a, mutate=mutate)

    def test_limit_holds_across_workers(self):
        # 8 requests of 400 ms, at most 2 at a time over both workers: >= 4 rounds
        self.a.script({"/lim2/*": {"delay_ms": 400}})
        t0 = time.monotonic()
        res = parallel(self.node, ["/lim2/x%d" % i for i in range(8)])
        el = time.monotonic() - t0
        self.assertEqual([r[0] for r in res], [200] * 8, res)
        self.assertEqual(self.a.count(prefix="/lim2/"), 8)
        self.assertGreaterEqual(el, 1.5, "more than 2 requests ran at once (%.2f s)" % el)
        self.assertLess(el, 6.0)
        self.assertGreaterEqual(self.node.metric("outpost_origin_queued_total"), 1)
        self.assertEqual(self.node.metric("outpost_origin_member_in_flight",
                                          labels={"pool": "lim2"}), 0)
        self.assertServing(self.node)

    def test_queue_overflow_503_retry_after(self):
        # one in flight, one waiting, the rest refused at once
        self.a.script({"/overflow/*": {"delay_ms": 1000}})
        before = self.node.metric("outpost_origin_busy_total")
        res = parallel(self.node, ["/overflow/x%d" % i for i in range(4)])
        codes = sorted(r[0] for r in res)
        self.assertEqual(codes, [200, 200, 503, 503], res)
        for status, el, r in res:
            if status == 503:
                self.assertEqual(r.header("Retry-After"), "1", r)
                self.assertIn(b"origin busy", r.body)
                self.assertLess(len(r.body), 200)
                self.assertLess(el, 0.9, "the overflow waited (%.2f s)" % el)
        self.assertEqual(self.a.count(prefix="/overflow/"), 2)
        self.assertEqual(self.node.metric("outpost_origin_busy_total") - before, 2)
        self.assertIn("queue full", self.node.log())
        self.assertServing(self.node)

    def test_queue_timeout_503(self):
        self.a.script({"/qtimeout/*": {"delay_ms": 1500}})
        res = parallel(self.node, ["/qtimeout/x%d" % i for i in range(3)])
        codes = sorted(r[0] for r in res)
        self.assertEqual(codes, [200, 503, 503], res)
        for status, el, r in res:
            if status == 503:
                self.assertGreaterEqual(el, 0.25)
                self.assertLess(el, 1.2, "queue_timeout not applied (%.2f s)" % el)
                self.assertEqual(r.header("Retry-After"), "1")
        self.assertEqual(self.a.count(prefix="/qtimeout/"), 1)
        self.assertIn("every member at max_conns for 300 ms", self.node.log())

    def test_full_member_spills_to_another(self):
        # each member takes one: two slow requests go one to each, no queue
        self.a.script({"/spill/*": {"delay_ms": 600}})
        self.b.script({"/spill/*": {"delay_ms": 600}})
        res = parallel(self.node, ["/spill/x%d" % i for i in range(2)])
        self.assertEqual([r[0] for r in res], [200, 200], res)
        self.assertEqual((self.a.count(prefix="/spill/"), self.b.count(prefix="/spill/")),
                         (1, 1))
        # queue: 0 -> a third concurrent request is refused
        res = parallel(self.node, ["/spill/y%d" % i for i in range(3)])
        self.assertEqual(sorted(r[0] for r in res), [200, 200, 503], res)


class KeepAlive(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.a = self.class_origin()
        a = cls.a.address

        def mutate(cfg):
            pool(cfg, "maxreq", [(a, {})], keepalive={"idle": "30s", "max_requests": 3})
            pool(cfg, "stale", [(a, {})], passive={"failures": 0}, retries=0)
            return cfg
        cls.node = self.class_outpost(cls.a, mutate=mutate)

    def on_one_conn(self, paths, method="GET"):
        """Sends each request on one client connection (so one worker, one
        idle pool); returns the statuses."""
        out = []
        with self.node.connect(timeout=10) as c:
            for p in paths:
                c.send("%s %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % (method, p))
                out.append(c.read_response().status)
        return out

    def test_max_requests_per_origin_connection(self):
        self.assertEqual(self.on_one_conn(["/maxreq/x%d" % i for i in range(9)]), [200] * 9)
        ports = [r["peer_port"] for r in self.a.requests(prefix="/maxreq/")]
        self.assertEqual(len(ports), 9)
        # three requests per origin connection, then a new one
        self.assertEqual(len(set(ports)), 3, ports)
        self.assertEqual(ports[0:3], [ports[0]] * 3, ports)

    def test_reused_connection_failure(self):
        # GET: the origin drops it on a kept-alive connection -> once more on
        # a fresh connection (that one dropped too -> 502); a POST is never
        # re-sent (RFC 9110 §9.2.2).
        self.a.script({"/stale/drop": {"drop": 1}})
        with self.node.connect(timeout=10) as c:
            for method, n in (("GET", 2), ("POST", 1)):
                c.send("GET /stale/warm HTTP/1.1\r\nHost: example.com\r\n\r\n")
                self.assertEqual(c.read_response().status, 200)
                before = self.a.count("/stale/drop")
                c.send("%s /stale/drop HTTP/1.1\r\nHost: example.com\r\n"
                       "Content-Length: 0\r\n\r\n" % method)
                r = c.read_response()
                self.assertEqual(r.status, 502, r)
                self.assertEqual(self.a.count("/stale/drop") - before, n, method)
                if method == "GET":
                    c.close()
                    c = self.node.connect(timeout=10)
        c.close()
        self.assertServing(self.node)


class UpstreamTimeouts(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.a = self.class_origin()
        # accepts (the kernel's backlog does) and never reads: a stalled origin
        cls.sink = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        cls.sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        cls.sink.bind(("127.0.0.1", 0))
        cls.sink.listen(8)
        sink = "127.0.0.1:%d" % cls.sink.getsockname()[1]
        a = cls.a.address

        def mutate(cfg):
            cfg["limits"]["body"] = "64MiB"
            pool(cfg, "send", [(sink, {})], retries=0,
                 timeouts={"connect": "1s", "send": "500ms", "first_byte": "20s"})
            pool(cfg, "total", [(a, {})], retries=0,
                 timeouts={"connect": "1s", "first_byte": "10s", "between_bytes": "5s",
                           "total": "800ms"})
            return cfg
        cls.node = self.class_outpost(cls.a, mutate=mutate)

    @classmethod
    def tearDownClass(cls):
        cls.sink.close()
        super().tearDownClass()

    def test_send_timeout(self):
        size = 48 << 20
        with self.node.connect(timeout=10) as c:
            c.send("POST /send/up HTTP/1.1\r\nHost: example.com\r\n"
                   "Content-Length: %d\r\n\r\n" % size)
            block = b"x" * (1 << 20)

            def pump():
                try:
                    for _ in range(size >> 20):
                        c.sock.sendall(block)
                except OSError:
                    pass
            t0 = time.monotonic()
            bg = Background(pump)
            r = c.read_response(timeout=8)
            el = time.monotonic() - t0
            c.close()
            bg.result(15)
        self.assertEqual(r.status, 504, r)
        self.assertIn(b"did not take the request", r.body)
        self.assertLess(el, 5.0)
        self.assertIn("sending the request timed out", self.node.log())
        self.assertServing(self.node)

    def test_total_timeout_before_head(self):
        self.a.script({"/total/slow": {"delay_ms": 3000}})
        t0 = time.monotonic()
        r = self.node.get("/total/slow")
        el = time.monotonic() - t0
        self.assertEqual(r.status, 504, r)
        self.assertIn(b"took too long", r.body)
        self.assertGreaterEqual(el, 0.7)
        self.assertLess(el, 2.0)
        self.assertIn("longer than timeouts.total (800 ms)", self.node.log())

    def test_total_timeout_mid_body_closes(self):
        # head at once, then 20 chunks 150 ms apart (3 s): cut at 800 ms
        self.a.script({"/total/drip": {"chunked": 1, "size": 20 * 100, "chunk_size": 100,
                                       "chunk_delay_ms": 150}})
        t0 = time.monotonic()
        with self.node.connect(timeout=10) as c:
            c.send("GET /total/drip HTTP/1.1\r\nHost: example.com\r\n\r\n")
            closed, data, el = c.wait_closed(5)
        self.assertTrue(closed)
        self.assertIn(b"200", data[:20])
        self.assertFalse(data.endswith(b"0\r\n\r\n"), "a cut body looks complete")
        self.assertLess(time.monotonic() - t0, 2.5)
        self.assertServing(self.node)


class PassiveErrorRate(harness.OutpostTestCase):
    def test_error_rate_ejects(self):
        a = self.start_origin()
        b = self.start_origin()
        node = self.start_outpost(a, mutate=lambda cfg: pool(
            cfg, "er", [(a.address, {}), (b.address, {})], retry_on=[503], retries=1,
            retry_budget=100,
            passive={"failures": 0, "error_rate": "50%", "window": 10, "backoff": "30s"}))
        a.script({"/er/bad/*": {"status": 503}})
        statuses = []
        for i in range(80):
            kind = "bad" if i % 2 else "ok"
            statuses.append(node.get("/er/%s/%d" % (kind, i)).status)
        self.assertEqual(set(statuses), {200}, statuses)
        log = node.log()
        self.assertIn("member %s ejected" % a.address, log)
        # ejected once per worker after a full window, then left alone
        self.assertLessEqual(a.count(prefix="/er/"), 2 * 2 * 10 + 4)
        self.assertGreaterEqual(b.count(prefix="/er/"), 40)
        self.assertLessEqual(node.metric("outpost_origin_ejections_total"), 2)


class Grace(harness.OutpostTestCase):
    def test_site_pool_shorthand_inherits_the_node_grace(self):
        # a site written as "pool: X" has one route made for it: it takes
        # cache.grace from the node like a route written out (it had 0 s)
        a = self.start_origin()
        node = self.start_outpost(a, overrides={"cache": {"grace": "30s"}})
        a.script({"/sh/x": {"cc": "max-age=1", "body": "old copy"}})
        for host in ("localhost", "example.com"):
            self.assertEqual(node.get("/sh/x", host=host).status, 200)
        a.stop()
        time.sleep(1.2)   # both copies are stale now
        for host in ("localhost", "example.com"):
            r = node.get("/sh/x", host=host)
            self.assertEqual((r.status, r.body), (200, b"old copy"), (host, r))
            self.assertIn("detail=grace", r.header("Cache-Status", ""))

    def test_stale_copy_answers_when_no_member_is_healthy(self):
        a = self.start_origin()
        health = {"path": "/healthz", "interval": "300ms", "timeout": "300ms",
                  "rise": 1, "fall": 2}

        def mutate(cfg):
            harness.add_pool(cfg, "g", a.address, health=health)
            harness.add_route(cfg, {"path": "/g/", "pool": "g"})
            harness.add_pool(cfg, "ng", a.address, health=health, grace=False)
            harness.add_route(cfg, {"path": "/ng/", "pool": "ng"})
            return cfg
        node = self.start_outpost(a, mutate=mutate)
        a.script({"/g/x": {"cc": "max-age=1", "body": "old copy"},
                  "/g/mr": {"cc": "max-age=1, must-revalidate", "body": "strict"},
                  "/ng/x": {"cc": "max-age=1", "body": "old copy"},
                  "/ng/sie": {"cc": "max-age=1, stale-if-error=60", "body": "sie copy"}})
        for p in ("/g/x", "/g/mr", "/ng/x", "/ng/sie"):
            self.assertEqual(node.get(p).status, 200)
        a.script({"/healthz": {"status": 500}})
        wait_until(lambda: node.log().count("is down") >= 2, 5,
                   what="both pools' member marked down")
        self.assertEqual(node.metric("outpost_origin_member_up",
                                     labels={"pool": "g", "member": a.address}), 0)
        time.sleep(1.2)   # every copy is stale now
        r = node.get("/g/x")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"old copy")
        self.assertIn("detail=grace", r.header("Cache-Status", ""))
        # the response's own stale-if-error, where the pool has no grace
        r = node.get("/ng/sie")
        self.assertEqual((r.status, r.body), (200, b"sie copy"), r)
        self.assertIn("detail=stale-if-error", r.header("Cache-Status", ""))
        # must-revalidate forbids it; grace: false turns it off; nothing stored: 503
        for p in ("/g/mr", "/ng/x", "/g/never-stored"):
            r = node.get(p)
            self.assertEqual(r.status, 503, (p, r))
            self.assertIn(b"no healthy origin", r.body)
        self.assertEqual(a.count("/g/x"), 1)


class OriginTls(harness.OutpostTestCase):
    """TLS to origins: origin.py behind Python's ssl with a test CA made by
    t60_tls.Certs (openssl CLI, temp dir)."""

    def setup_class_resources(self):
        from t60_tls import certs
        cls = type(self)
        c = cls.certs = certs()
        cls.o = self.class_origin(tls_cert=c.path("local.pem"), tls_key=c.path("local.key"),
                                  tls_client_ca=c.path("root.pem"))
        cls.other = self.class_origin(tls_cert=c.path("other.pem"),
                                      tls_key=c.path("other.key"))
        health = {"path": "/healthz", "interval": "200ms", "timeout": "150ms",
                  "rise": 1, "fall": 1}

        def mutate(cfg):
            local = "localhost:%d" % cls.o.port
            pool(cfg, "tls", [(local, {})], tls={"ca_file": c.path("root.pem")},
                 health=health)
            pool(cfg, "sysca", [(local, {})], tls={}, retries=0)
            pool(cfg, "noverify", [(local, {})], tls={"verify": False})
            pool(cfg, "wrongname", [("localhost:%d" % cls.other.port, {})], retries=0,
                 tls={"ca_file": c.path("root.pem")})
            pool(cfg, "sni", [("localhost:%d" % cls.other.port, {})],
                 tls={"ca_file": c.path("root.pem"), "sni": "other.test"})
            pool(cfg, "plain", [(local, {})], tls={"enabled": False})
            pool(cfg, "mtls", [(local, {})], tls={"ca_file": c.path("root.pem"),
                                                   "client_cert": c.path("ecdsa.pem"),
                                                   "client_key": c.path("ecdsa.key")})
            pool(cfg, "tlsswr", [(local, {})], tls={"ca_file": c.path("root.pem")})
            for site in cfg["sites"]:
                for r in site.get("routes", []):
                    if r.get("path") == "/tlsswr/":
                        r["cache"] = {"enabled": True}
            return cfg
        cls.node = self.class_outpost(cls.o, mutate=mutate)   # "web": plain to o

    def test_verified_tls_with_keepalive(self):
        with self.node.connect(timeout=10) as conn:
            for i in range(5):
                conn.send("GET /tls/x%d HTTP/1.1\r\nHost: example.com\r\n\r\n" % i)
                r = conn.read_response()
                self.assertEqual(r.status, 200, r)
                self.assertIn(b"/tls/x%d" % i, r.body)
        ports = {q["peer_port"] for q in self.o.requests(prefix="/tls/x")}
        self.assertEqual(len(ports), 1, "TLS connection not kept alive")
        self.assertGreaterEqual(self.node.metric("outpost_origin_conn_reused_total"), 4)
        # the active checks speak TLS too: the member stays up
        time.sleep(0.5)
        self.assertNotIn("is down", self.node.log())
        self.assertGreater(self.o.count("/healthz"), 0)

    def test_background_revalidation_speaks_tls(self):
        # close=1: no idle connection to reuse, the refresh opens its own
        path = "/tlsswr/a?cc=max-age%3D1%2C%20stale-while-revalidate%3D60&close=1"
        self.assertEqual(self.node.get(path).header("X-Cache"), "MISS")
        time.sleep(1.5)
        r = self.node.get(path)   # stale: served, refreshed in the background
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Origin-Count"), "1")
        wait_until(lambda: self.o.count("/tlsswr/a") == 2, 5,
                   what="the background revalidation at the TLS origin")
        self.assertEqual([q["tls"] for q in self.o.requests(path="/tlsswr/a")], [True, True])
        wait_until(lambda: self.node.get(path).header("X-Origin-Count") == "2", 5,
                   what="the refreshed copy served")

    def test_close_delimited_body_without_close_notify(self):
        # Python's ssl closes without close_notify, as many origins do: the
        # close still ends a body that has no length (OpenSSL 3 calls it an
        # error unless told not to)
        for i, size in enumerate((10, 40000, 300000)):
            path = "/tlsswr/nl%d?no_length=1&size=%d&cc=max-age%%3D60" % (i, size)
            r = self.node.get(path)
            self.assertEqual((r.status, r.header("X-Cache")), (200, "MISS"), r.headers)
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), harness.pattern_digest(size))
            r = self.node.get(path)
            self.assertEqual((r.status, r.header("X-Cache")), (200, "HIT"), r.headers)
            self.assertEqual(len(r.body), size)
        self.assertNotIn("mid-body", self.node.log())

    def test_unknown_ca_is_502(self):
        r = self.node.get("/sysca/x")
        self.assertEqual(r.status, 502, r)
        self.assertIn(b"certificate could not be verified", r.body)
        self.assertIn("TLS: certificate verify failed", self.node.log())
        self.assertEqual(self.o.count("/sysca/x"), 0)

    def test_verify_false(self):
        self.assertEqual(self.node.get("/noverify/x").status, 200)

    def test_name_mismatch_is_502_and_sni_fixes_it(self):
        r = self.node.get("/wrongname/x")
        self.assertEqual(r.status, 502, r)
        self.assertIn(b"certificate could not be verified", r.body)
        self.assertIn("hostname mismatch", self.node.log())
        r = self.node.get("/sni/x")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.other.count("/sni/x"), 1)

    def test_client_certificate(self):
        self.assertEqual(self.node.get("/mtls/x").status, 200)
        self.assertEqual([q["tls_client"] for q in self.o.requests(path="/mtls/x")],
                         ["example.com"])
        self.assertEqual(self.node.get("/tls/nocert").status, 200)
        self.assertEqual([q["tls_client"] for q in self.o.requests(path="/tls/nocert")],
                         [None])

    def test_enabled_false_is_plain(self):
        self.assertEqual(self.node.get("/plain/x").status, 200)
        self.assertServing(self.node)


class Dns(harness.OutpostTestCase):
    """Member host names resolved through c-ares against a DNS responder on
    loopback: every address is used, a dead address is left out on its own, a
    changed A record is picked up without failed requests, and a name that
    does not resolve is a 502."""

    def setup_class_resources(self):
        cls = type(self)
        for _ in range(5):   # one port free on both 127.0.0.2 and 127.0.0.3
            port = free_port()
            try:
                cls.o2 = self.class_origin(host="127.0.0.2", port=port)
                cls.o3 = self.class_origin(host="127.0.0.3", port=port)
                break
            except AssertionError:
                continue
        cls.port = port
        cls.dns = harness.DnsResponder({
            "multi.test": {"A": ["127.0.0.2", "127.0.0.3"], "ttl": 60},
            "dead.test": {"A": ["127.0.0.2", "127.0.0.4"], "ttl": 60},
            "flip.test": {"A": ["127.0.0.2"], "ttl": 1},
        })
        type(self)._class_resources.append(cls.dns)

        def mutate(cfg):
            cfg["resolver"] = {"servers": ["127.0.0.1:%d" % cls.dns.port],
                               "min_ttl": "1s", "max_ttl": "60s"}
            for name in ("multi", "dead", "flip", "nx"):
                host = "nosuch.test" if name == "nx" else name + ".test"
                pool(cfg, name, [("%s:%d" % (host, port), {})], retries=1)
            return cfg
        cls.web = self.class_origin()   # the base config's pool "web"
        cls.node = self.class_outpost(cls.web, mutate=mutate)

    def test_every_address_is_used(self):
        for i in range(40):
            self.assertEqual(self.node.get("/multi/x%d" % i).status, 200)
        c2, c3 = self.o2.count(prefix="/multi/"), self.o3.count(prefix="/multi/")
        self.assertEqual(c2 + c3, 40)
        self.assertGreaterEqual(min(c2, c3), 10, (c2, c3))

    def test_dead_address_left_out(self):
        bad = []
        for i in range(40):
            r = self.node.get("/dead/x%d" % i)
            if r.status != 200:
                bad.append((i, r.status))
        self.assertEqual(bad, [], "a dead address of the name was visible")
        self.assertEqual(self.o2.count(prefix="/dead/"), 40)
        self.assertIn("address 127.0.0.4 left out", self.node.log())
        # left out per worker after its first failure: at most one per worker
        self.assertLessEqual(self.node.metric("outpost_origin_address_ejections_total"), 2)
        # the member itself was never ejected
        self.assertNotIn("dead.test:%d ejected" % self.port, self.node.log())

    def test_changed_a_record_picked_up(self):
        statuses = []
        t0 = time.monotonic()
        changed = False
        while time.monotonic() - t0 < 6.0:
            if not changed and time.monotonic() - t0 > 0.5:
                self.dns.set({"flip.test": {"A": ["127.0.0.3"], "ttl": 1},
                              "multi.test": {"A": ["127.0.0.2", "127.0.0.3"], "ttl": 60},
                              "dead.test": {"A": ["127.0.0.2", "127.0.0.4"], "ttl": 60}})
                changed = True
            statuses.append(self.node.get("/flip/x%d" % len(statuses)).status)
            if changed and self.o3.count(prefix="/flip/") >= 10:
                break
            time.sleep(0.02)
        self.assertEqual(set(statuses), {200}, "requests failed while the record changed")
        self.assertGreater(self.o2.count(prefix="/flip/"), 0)
        self.assertGreaterEqual(self.o3.count(prefix="/flip/"), 10,
                                "the new address was not picked up")
        self.assertGreaterEqual(self.dns.queries("flip.test"), 2)

    def test_unresolvable_name_502(self):
        r = self.node.get("/nx/x")
        self.assertEqual(r.status, 502, r)
        self.assertIn(b"could not be resolved", r.body)
        self.assertLess(len(r.body), 200)
        self.assertServing(self.node)


if __name__ == "__main__":
    harness.main()
