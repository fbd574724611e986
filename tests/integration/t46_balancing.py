#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Origin pools: balancers (and their shares over 1000 requests each), backup
members, passive and active health, retries
on another member, and 503 when no member is usable.  Real origin processes,
the real daemon (2 workers)."""

import os
import shutil
import tempfile
import time

import harness
from harness import free_port, wait_until

TIMEOUTS = {"connect": "1s", "first_byte": "2s", "between_bytes": "2s"}


pool = harness.add_pool_route


class Balancing(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.a = self.class_origin()
        cls.b = self.class_origin()
        cls.c = self.class_origin()   # active health target
        cls.dead = "127.0.0.1:%d" % free_port()   # nothing listens here
        cls.dead2 = "127.0.0.1:%d" % free_port()
        a, b, c = cls.a.address, cls.b.address, cls.c.address
        health = {"path": "/healthz", "interval": "200ms", "timeout": "150ms",
                  "rise": 2, "fall": 2, "expect": "200-399"}

        def mutate(cfg):
            pool(cfg, "rr", [(a, {"weight": 3}), (b, {})])
            pool(cfg, "lc", [(a, {}), (b, {})], balancer="least_conn")
            pool(cfg, "p2c", [(a, {}), (b, {})], balancer="random_two_choices")
            pool(cfg, "ew", [(a, {}), (b, {})], balancer="ewma")
            pool(cfg, "iph", [(a, {}), (b, {})], balancer="ip_hash")
            pool(cfg, "withdead", [(cls.dead, {}), (a, {})])
            pool(cfg, "post", [(cls.dead, {}), (a, {})], passive={"failures": 0})
            pool(cfg, "backup", [(a, {}), (b, {"backup": True})])
            pool(cfg, "failover", [(cls.dead, {}), (b, {"backup": True})])
            pool(cfg, "ch", [(a, {}), (b, {})], balancer="consistent_hash", hash_key="uri")
            pool(cfg, "alldead", [(cls.dead, {}), (cls.dead2, {})],
                 passive={"failures": 1, "backoff": "10s", "max_backoff": "20s"})
            pool(cfg, "active", [(a, {}), (c, {})], health=health)
            pool(cfg, "activeonly", [(c, {})], health=health)
            pool(cfg, "retry503", [(c, {}), (a, {})], retry_on=[503], retries=1,
                 passive={"failures": 0})
            pool(cfg, "blackhole", [(b, {}), (a, {})],
                 timeouts={"connect": "1s", "first_byte": "300ms", "between_bytes": "2s"})
            return cfg
        cls.node = self.class_outpost(cls.a, mutate=mutate)

    def counts(self, prefix):
        return self.a.count(prefix=prefix), self.b.count(prefix=prefix)

    def test_round_robin_by_weight(self):
        n = 80
        for i in range(n):
            self.assertEqual(self.node.get("/rr/x%d" % i).status, 200)
        ca, cb = self.counts("/rr/")
        self.assertEqual(ca + cb, n)
        # smooth weighted round robin per worker: 3:1 exactly per 4 picks
        self.assertLessEqual(abs(ca - 60), 4, (ca, cb))

    def test_other_balancers_spread(self):
        for name in ("lc", "p2c", "ew"):
            for i in range(40):
                self.assertEqual(self.node.get("/%s/x%d" % (name, i)).status, 200)
            ca, cb = self.counts("/%s/" % name)
            self.assertEqual(ca + cb, 40, name)
            if name != "ew":   # ewma may favour the faster origin
                self.assertGreater(min(ca, cb), 5, (name, ca, cb))
        # ip_hash: one client address, one member
        for i in range(10):
            self.assertEqual(self.node.get("/iph/x%d" % i).status, 200)
        self.assertIn(self.counts("/iph/"), ((10, 0), (0, 10)))

    def test_dead_member_invisible_for_get(self):
        before = self.node.metric("outpost_origin_member_failures_total")
        for i in range(40):
            r = self.node.get("/withdead/x%d" % i)
            self.assertEqual(r.status, 200, "request %d: %r" % (i, r))
        self.assertEqual(self.a.count(prefix="/withdead/"), 40)
        # ejected after 3 failures per worker: no more tries on it
        fails = self.node.metric("outpost_origin_member_failures_total") - before
        self.assertLessEqual(fails, 6)
        self.assertGreaterEqual(fails, 1)
        self.node.wait_metric("outpost_origin_ejections_total", lambda v: v >= 1)
        self.assertGreaterEqual(self.node.metric("outpost_origin_retries_total"), fails)
        self.assertIn("ejected", self.node.log())

    def test_post_not_retried(self):
        statuses = []
        for i in range(8):
            r = self.node.request("POST", "/post/p%d" % i, body=b"hello",
                                  headers={"Content-Type": "text/plain"})
            statuses.append(r.status)
        self.assertIn(502, statuses)
        self.assertIn(200, statuses)
        # every POST the origin saw was answered 200: none was re-sent
        self.assertEqual(self.a.count(prefix="/post/"), statuses.count(200))
        self.assertEqual(set(statuses), {200, 502})

    def test_backup_only_when_primaries_down(self):
        for i in range(10):
            self.assertEqual(self.node.get("/backup/x%d" % i).status, 200)
        self.assertEqual(self.counts("/backup/"), (10, 0))
        # primary dead: the backup answers, every time
        for i in range(10):
            r = self.node.get("/failover/x%d" % i)
            self.assertEqual(r.status, 200, r)
        self.assertEqual(self.b.count(prefix="/failover/"), 10)

    def test_consistent_hash_same_uri_same_origin(self):
        for k in range(16):
            for _ in range(3):
                self.assertEqual(self.node.get("/ch/key%d" % k).status, 200)
        used = set()
        for k in range(16):
            p = "/ch/key%d" % k
            ca, cb = self.a.count(p), self.b.count(p)
            self.assertIn((ca, cb), ((3, 0), (0, 3)), p)
            used.add("a" if ca else "b")
        self.assertEqual(used, {"a", "b"})

    def test_no_healthy_member_503(self):
        seen = []
        for i in range(6):
            r = self.node.get("/alldead/x%d" % i)
            seen.append(r.status)
            if r.status == 503:
                self.assertIn(b"no healthy origin", r.body)
                break
            self.assertEqual(r.status, 502, r)
        self.assertEqual(seen[-1], 503, seen)
        self.node.wait_metric("outpost_origin_unavailable_total", lambda v: v >= 1)

    def test_retry_on_503_goes_to_another_member(self):
        self.c.script({"/retry503/*": {"status": 503}})
        for i in range(6):
            r = self.node.get("/retry503/x%d" % i)
            self.assertEqual(r.status, 200, r)
        self.assertEqual(self.a.count(prefix="/retry503/"), 6)

    def test_black_holed_member_ejected(self):
        # b accepts and never answers in time: first-byte timeout, retried on a
        self.b.script({"/blackhole/*": {"delay_ms": 5000}})
        t0 = time.monotonic()
        for i in range(12):
            r = self.node.get("/blackhole/x%d" % i)
            self.assertEqual(r.status, 200, "request %d: %r" % (i, r))
        el = time.monotonic() - t0
        self.assertEqual(self.a.count(prefix="/blackhole/"), 12)
        # at most failures (3) x workers (2) timeouts of 300 ms before ejection
        self.assertLessEqual(self.b.count(prefix="/blackhole/"), 6)
        self.assertLess(el, 3.5)
        self.assertIn("member %s ejected" % self.b.address, self.node.log())

    def test_active_health_down_and_up(self):
        self.c.script({"/healthz": {"status": 500}})
        try:
            wait_until(lambda: self.node.log().count("member %s is down" % self.c.address)
                       >= 2, 5, what="active health marks the member down (both pools)")
            base = self.c.count(prefix="/active/")
            for i in range(10):
                self.assertEqual(self.node.get("/active/x%d" % i).status, 200)
            self.assertEqual(self.c.count(prefix="/active/"), base)
            # its only member down for all workers: 503 at once
            r = self.node.get("/activeonly/x")
            self.assertEqual(r.status, 503, r)
            self.assertIn(b"no healthy origin", r.body)
        finally:
            self.c.script({"/healthz": {"status": 200}})
        wait_until(lambda: self.node.log().count("member %s is up" % self.c.address) >= 2, 5,
                   what="active health marks the member up (both pools)")
        for i in range(10):
            self.assertEqual(self.node.get("/active/y%d" % i).status, 200)
        self.assertGreater(self.c.count(prefix="/active/y"), 0)
        self.assertEqual(self.node.get("/activeonly/y").status, 200)


def fire(port, paths, conc=4, sources=None):
    """GETs every path over conc keep-alive connections (http.client); with
    sources, request i goes out from source address sources[i % len] (its own
    connection per source).  Returns the list of statuses."""
    import http.client
    import threading
    statuses, lock = [], threading.Lock()
    groups = {}
    for i, p in enumerate(paths):
        key = sources[i % len(sources)] if sources else i % conc
        groups.setdefault(key, []).append(p)

    def run(key, ps):
        src = (key, 0) if sources else None
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=src)
        out = []
        try:
            for p in ps:
                c.request("GET", p, headers={"Host": "example.com"})
                r = c.getresponse()
                r.read()
                out.append(r.status)
        finally:
            c.close()
        with lock:
            statuses.extend(out)
    items = list(groups.items())
    for k in range(0, len(items), conc):
        jobs = [harness.Background(run, key, ps) for key, ps in items[k:k + conc]]
        for j in jobs:
            j.result(60)
    return statuses


class Distribution(harness.OutpostTestCase):
    """Each balancer over 1000 requests: the shares its definition gives,
    within a tolerance."""
    N = 1000

    def setup_class_resources(self):
        cls = type(self)
        cls.a = self.class_origin()
        cls.b = self.class_origin()
        a, b = cls.a.address, cls.b.address

        def mutate(cfg):
            pool(cfg, "drr", [(a, {"weight": 3}), (b, {})])
            pool(cfg, "dlc", [(a, {}), (b, {})], balancer="least_conn")
            pool(cfg, "dp2c", [(a, {}), (b, {})], balancer="random_two_choices")
            pool(cfg, "dew", [(a, {}), (b, {})], balancer="ewma")
            pool(cfg, "dip", [(a, {}), (b, {})], balancer="ip_hash")
            pool(cfg, "dch", [(a, {}), (b, {})], balancer="consistent_hash")
            return cfg
        cls.node = self.class_outpost(cls.a, mutate=mutate)

    def run_pool(self, name, **kw):
        st = fire(self.node.port, ["/%s/k%d" % (name, i) for i in range(self.N)], **kw)
        self.assertEqual(st, [200] * self.N)
        ca, cb = self.a.count(prefix="/%s/" % name), self.b.count(prefix="/%s/" % name)
        self.assertEqual(ca + cb, self.N)
        return ca / self.N

    def test_round_robin_weights(self):
        share = self.run_pool("drr")
        self.assertAlmostEqual(share, 0.75, delta=0.02)

    def test_least_conn_and_two_choices_even(self):
        # one request at a time: every in-flight count is 0, so least_conn's
        # ties rotate (exactly even per worker) and random_two_choices is a
        # fair coin (3 sigma of 1000 draws is 0.047); under concurrency both
        # follow the members' speed, which a loaded machine makes uneven
        self.assertAlmostEqual(self.run_pool("dlc", conc=1), 0.5, delta=0.01)
        self.assertAlmostEqual(self.run_pool("dp2c", conc=1), 0.5, delta=0.06)

    def test_ewma_prefers_the_faster_member(self):
        # 50 ms: a difference the EWMA sees over the noise of a loaded machine
        self.b.script({"/dew/*": {"delay_ms": 50}})
        share = self.run_pool("dew")
        self.assertGreater(share, 0.8)

    def test_ip_hash_sticky_per_client_and_spread(self):
        sources = ["127.0.0.%d" % (10 + k) for k in range(40)]
        share = self.run_pool("dip", sources=sources)
        self.assertAlmostEqual(share, 0.5, delta=0.25)
        # each client address went to one member only
        per_src = {}
        for origin, tag in ((self.a, "a"), (self.b, "b")):
            for q in origin.requests(prefix="/dip/"):
                xff = harness.req_header(q, "X-Forwarded-For")
                per_src.setdefault(xff, set()).add(tag)
        self.assertEqual(len(per_src), len(sources))
        self.assertTrue(all(len(v) == 1 for v in per_src.values()), per_src)

    def test_consistent_hash_spread(self):
        share = self.run_pool("dch")
        self.assertAlmostEqual(share, 0.5, delta=0.08)


class KillAndRecover(harness.OutpostTestCase):
    def test_member_killed_mid_load_then_back(self):
        a = self.start_origin()
        d = self.start_origin()
        d_addr, d_port = d.address, d.port
        health = {"path": "/healthz", "interval": "200ms", "timeout": "150ms",
                  "rise": 2, "fall": 2}
        node = self.start_outpost(a, mutate=lambda cfg: pool(
            cfg, "kr", [(a.address, {}), (d_addr, {})], health=health))
        bad = []
        for i in range(60):
            if i == 20:
                d.stop()
            r = node.get("/kr/x%d" % i)
            if r.status != 200:
                bad.append((i, r.status))
        self.assertEqual(bad, [], "client-visible errors while a member died")
        wait_until(lambda: "member %s is down" % d_addr in node.log(), 5,
                   what="the killed member marked down")
        d2 = self.start_origin(port=d_port)
        wait_until(lambda: "member %s is up" % d_addr in node.log(), 5,
                   what="the restarted member marked up after rise checks")
        for i in range(20):
            self.assertEqual(node.get("/kr/y%d" % i).status, 200)
        self.assertGreater(d2.count(prefix="/kr/y"), 0, "traffic returned to the member")

    def test_member_killed_under_concurrent_load(self):
        a = self.start_origin()
        d = self.start_origin()
        node = self.start_outpost(a, mutate=lambda cfg: pool(
            cfg, "kc", [(a.address, {}), (d.address, {})], retries=2))
        a.script({"/kc/*": {"delay_ms": 5}})
        d.script({"/kc/*": {"delay_ms": 5}})
        killer = harness.Background(lambda: (time.sleep(0.4), d.stop()))
        st = fire(node.port, ["/kc/x%d" % i for i in range(600)], conc=6)
        killer.result(10)
        self.assertEqual(len(st), 600)
        self.assertEqual([s for s in st if s != 200], [],
                         "client-visible errors while a member died under load")
        self.assertGreater(a.count(prefix="/kc/"), 300)


class BadBalancerConfig(harness.OutpostTestCase):
    def test_unknown_balancer_named(self):
        d = tempfile.mkdtemp(prefix="outpost-t46-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "bad.yaml")
        with open(path, "w") as f:
            f.write('listen: [{ address: "127.0.0.1:1" }]\n'
                    'sites: [{ name: s, hosts: ["*"], pool: p }]\n'
                    'pools: [{ name: p, balancer: fastest, members: [{ address: "a:1" }],\n'
                    '          health: { interval: 1s } }]\n')
        cp = harness.run_outpost(["-t", "-c", path])
        self.assertNotEqual(cp.returncode, 0)
        err = cp.stderr + cp.stdout
        self.assertIn(path + ":3:30: pools[0].balancer: unknown balancer \"fastest\"", err)
        self.assertIn(path + ":4:19: pools[0].health.path: missing required key", err)


if __name__ == "__main__":
    harness.main()
