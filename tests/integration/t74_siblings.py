#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Siblings: three (and five) nodes of one PoP on 127.0.0.2-6 (one port)
share one cache.  Every key has one owner; a node that misses a key it does
not own asks the owner, which fills from the origin once.  Objects requested
through random nodes are fetched from the origin once each, also with
concurrent clients on every node; a node killed costs no client an error and
gets its keys back when it returns; a forged or stale hop marker is ignored,
a valid one is never forwarded again; Age, Vary, Via and signed URLs hold
across the hop; siblings.store: small keeps copies on the owner only; a
canary route fills from the origin on every node."""

import base64
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import tempfile
import threading
import time
import urllib.parse

import harness

NODES = 3
CC = "cc=max-age%3D600"
SECRET = os.urandom(32)
OPS = "ops-secret-token"


def marker(key, method, host, target, now=None):
    secs = int(time.time() if now is None else now)
    text = "outpost-sibling\n%d\n%s\n%s\n%s" % (secs, method, host, target)
    return "%d.%s" % (secs, hmac.new(key, text.encode(), hashlib.sha256).hexdigest())


class Siblings(harness.OutpostTestCase):
    store = None
    mutate = None
    n_nodes = NODES
    probes = False  # members[].admin: active probes of each admin listener

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="outpost-siblings-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.key = os.urandom(32)
        self.key_file = os.path.join(self.dir, "fleet.key")
        with open(self.key_file, "wb") as f:
            f.write(self.key)
        self.port = harness.free_port()
        self.admin_ports = [harness.free_port() for _ in range(self.n_nodes)]
        self.origin = self.start_origin()
        self.nodes = [self.node(i) for i in range(self.n_nodes)]

    def addr(self, i):
        return "127.0.0.%d:%d" % (i + 2, self.port)

    def node(self, i):
        members = [self.addr(k) for k in range(self.n_nodes)]
        if self.probes:
            members = [{"address": self.addr(k),
                        "admin": "127.0.0.%d:%d" % (k + 2, self.admin_ports[k])}
                       for k in range(self.n_nodes)]
        sib = {"self": self.addr(i), "members": members, "key_file": self.key_file}
        if self.store is not None:
            sib.update(self.store)
        n = harness.OutpostAt("127.0.0.%d" % (i + 2), self.origin, port=self.port,
                              admin_port=self.admin_ports[i], overrides={
            "node": {"name": "node%d" % (i + 1), "workers": 1},
            "siblings": sib,
            # an operator's token (POST /drain)
            "purge": {"tokens": [{"id": "ops", "sha256": hashlib.sha256(OPS.encode()).hexdigest(),
                                  "hosts": ["*"], "all": True}]},
        }, mutate=self.mutate)
        self.addCleanup(n.close_and_check)
        return n

    def metric_sum(self, name, nodes=None):
        return sum(n.metric("outpost_" + name, default=0) for n in (nodes or self.nodes))


class SiblingFill(Siblings):
    def test_each_object_from_the_origin_once(self):
        rnd = random.Random(7)
        paths = ["/o/%d?%s" % (i, CC) for i in range(1000)]
        order = paths[:]
        rnd.shuffle(order)
        for p in order:
            r = rnd.choice(self.nodes).get(p)
            self.assertEqual(r.status, 200, p)
            self.assertEqual(r.header("X-Cache"), "MISS", p)
        self.assertEqual(self.origin.count(prefix="/o/"), 1000)
        # a node's share of keys is about a third (rendezvous hashing)
        owned = [n.metric("outpost_sibling_requests_total", default=0) for n in self.nodes]
        fills = self.metric_sum("sibling_fills_total")
        self.assertEqual(sum(owned), fills)
        self.assertGreater(fills, 500)  # about 2/3 of the misses went to an owner
        rnd.shuffle(order)
        for p in order[:300]:
            r = rnd.choice(self.nodes).get(p)
            self.assertEqual(r.status, 200, p)
            self.assertIn(r.header("X-Cache"), ("HIT", "MISS"), p)
        self.assertEqual(self.origin.count(prefix="/o/"), 1000)
        self.assertEqual(self.metric_sum("sibling_fallbacks_total"), 0)

    def test_the_answer_names_the_owner(self):
        seen = 0
        for i in range(30):
            p = "/n/%d?%s" % (i, CC)
            for n in self.nodes:
                r = n.get(p)
                self.assertEqual(r.status, 200)
                cs = r.header("Cache-Status")
                self.assertEqual(len(r.header_all("X-Cache")), 1, r)
                if "sibling" in cs:
                    seen += 1
                    self.assertEqual(r.header("X-Cache"), "MISS", r)
                    self.assertRegex(cs, r'^outpost; fwd=miss; stored; '
                                         r'detail="sibling 127\.0\.0\.[234]:%d"$' % self.port)
                    self.assertNotIn(n.ip + ":", cs)
                    vias = r.header("Via")
                    self.assertEqual(len(set(v.strip() for v in vias.split(","))), 2, vias)
        self.assertGreater(seen, 10)
        self.assertEqual(self.origin.count(prefix="/n/"), 30)

    def test_status_lists_the_members(self):
        for i, n in enumerate(self.nodes):
            s = json.loads(n.admin("/status.json").body)
            pools = [p for p in s["pools"] if p["siblings"]]
            self.assertEqual([p["name"] for p in pools], ["siblings"])
            members = pools[0]["members"]
            self.assertEqual([m["address"] for m in members],
                             [self.addr(k) for k in range(len(self.nodes))])
            self.assertEqual([m["address"] for m in members if m.get("self")], [self.addr(i)])
            self.assertEqual([p["siblings"] for p in s["pools"]], [False, True])

    def test_concurrent_clients_on_every_node_one_origin_request(self):
        paths = ["/c/%d?%s&delay_ms=400" % (i, CC) for i in range(4)]
        results = []
        lock = threading.Lock()

        def client(node, path):
            r = node.get(path, timeout=20)
            with lock:
                results.append((r.status, r.body))

        threads = [threading.Thread(target=client, args=(self.nodes[k % len(self.nodes)], p))
                   for p in paths for k in range(15)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(len(results), len(threads))
        self.assertTrue(all(s == 200 for s, _ in results), results[:3])
        for p in paths:
            self.assertEqual(self.origin.count(p.split("?")[0]), 1, p)

    def test_vary_across_the_hop(self):
        p = "/v?%s&h=Vary:%%20Accept-Language&body_from=Accept-Language" % CC
        for n in self.nodes:
            for lang in ("en", "fr"):
                r = n.get(p, {"Accept-Language": lang})
                self.assertEqual(r.body, ("Accept-Language=%s\n" % lang).encode(), n.ip)
        self.assertEqual(self.origin.count("/v"), 2)

    def test_owner_killed_no_client_error(self):
        paths = ["/k/%d?%s" % (i, CC) for i in range(150)]
        self.nodes[2].stop(signal.SIGKILL)
        for i, p in enumerate(paths):
            r = self.nodes[i % 2].get(p)
            self.assertEqual(r.status, 200, p)
        # the dead node's keys moved to the two alive: each filled once but
        # the one request per node that found the owner dead
        self.assertLessEqual(self.origin.count(prefix="/k/"), 150 + 2)
        self.assertGreaterEqual(self.metric_sum("sibling_fallbacks_total", self.nodes[:2]), 1)

    def test_owner_back_gets_its_keys_again(self):
        self.nodes[2].stop(signal.SIGKILL)
        for i in range(60):
            self.assertEqual(self.nodes[i % 2].get("/b/%d?%s" % (i, CC)).status, 200)
        self.nodes[2] = self.node(2)
        # the others try it again after their passive backoff (5 s)
        time.sleep(5.5)
        for i in range(60, 120):
            self.assertEqual(self.nodes[i % 2].get("/b/%d?%s" % (i, CC)).status, 200)
        self.assertGreater(self.nodes[2].metric("outpost_sibling_requests_total", default=0), 5)
        self.assertLessEqual(self.origin.count(prefix="/b/"), 120 + 2)

    def test_forged_or_stale_marker_is_ignored(self):
        key = b"not the fleet key, but long enough to be one"
        paths = ["/f/%d?%s" % (i, CC) for i in range(30)]
        n0 = self.nodes[0]
        for p in paths:
            m = marker(key, "GET", "example.com", p)
            r = n0.get(p, {"Outpost-Sibling": m})
            self.assertEqual(r.status, 200)
        stale = "/f/stale?" + CC
        r = n0.get(stale, {"Outpost-Sibling": marker(self.key, "GET", "example.com", stale,
                                                     time.time() - 120)})
        self.assertEqual(r.status, 200)
        self.assertEqual(n0.metric("outpost_sibling_requests_total", default=0), 0)
        # treated as a client's: the keys owned elsewhere went to their owners
        self.assertGreater(self.metric_sum("sibling_requests_total", self.nodes[1:]), 5)
        for rec in self.origin.requests(prefix="/f/"):
            names = [h[0].lower() for h in rec["headers"]]
            self.assertNotIn("outpost-sibling", names)
        # and each object is still fetched once for the whole PoP
        for p in paths:
            for n in self.nodes:
                self.assertEqual(n.get(p).status, 200)
        self.assertEqual(self.origin.count(prefix="/f/"), 31)

    def test_marked_request_is_never_forwarded(self):
        paths = ["/m/%d?%s" % (i, CC) for i in range(30)]
        n0 = self.nodes[0]
        for p in paths:
            r = n0.get(p, {"Outpost-Sibling": marker(self.key, "GET", "example.com", p)})
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("X-Cache"), "MISS")
        self.assertEqual(n0.metric("outpost_sibling_requests_total"), 30)
        self.assertEqual(self.metric_sum("sibling_requests_total", self.nodes[1:]), 0)
        self.assertEqual(n0.metric("outpost_sibling_fills_total", default=0), 0)
        self.assertEqual(self.origin.count(prefix="/m/"), 30)
        # a marker binds its request: another target is a client's
        p = "/m/other?" + CC
        r = n0.get(p, {"Outpost-Sibling": marker(self.key, "GET", "example.com", paths[0])})
        self.assertEqual(r.status, 200)
        self.assertEqual(n0.metric("outpost_sibling_requests_total"), 30)


class FiveSiblings(Siblings):
    """Five nodes on 127.0.0.2-6: each object still from the origin once,
    each node owning about a fifth of the keys."""
    n_nodes = 5

    def test_each_object_from_the_origin_once(self):
        rnd = random.Random(11)
        paths = ["/five/%d?%s" % (i, CC) for i in range(1000)]
        rnd.shuffle(paths)
        for p in paths:
            self.assertEqual(rnd.choice(self.nodes).get(p).status, 200, p)
        self.assertEqual(self.origin.count(prefix="/five/"), 1000)
        owned = [n.metric("outpost_sibling_requests_total", default=0) for n in self.nodes]
        # about 4/5 of the misses went to an owner, spread over all five
        self.assertGreater(sum(owned), 700)
        self.assertTrue(all(o > 80 for o in owned), owned)


class SiblingProbes(Siblings):
    """With members[].admin each node probes its siblings' /healthz: a node
    that announces its drain (503 there while it still serves) sheds its
    keys to the others before it closes."""
    probes = True

    def test_a_draining_sibling_sheds_its_keys(self):
        gone = self.nodes[2]
        r = harness.http_request(gone.admin_port, "POST", "/drain?announce=30s",
                                 {"Authorization": "Bearer " + OPS}, b"", host=gone.ip)
        self.assertEqual(r.status, 200, r)
        for n in self.nodes[:2]:
            harness.wait_until(
                lambda n=n: n.metric("outpost_origin_member_up",
                                     {"pool": "siblings", "member": self.addr(2)}) == 0,
                10, what="%s sees %s down" % (n.ip, self.addr(2)))
        before = gone.metric("outpost_sibling_requests_total", default=0)
        for i in range(60):
            r = self.nodes[i % 3].get("/d/%d?%s" % (i, CC))
            self.assertEqual(r.status, 200)
        self.assertEqual(gone.metric("outpost_sibling_requests_total", default=0), before)
        self.assertEqual(self.origin.count(prefix="/d/"), 60)
        # the draining node itself asks the others
        self.assertGreater(gone.metric("outpost_sibling_fills_total", default=0), 5)


class SiblingCanary(Siblings):
    """A route with a canary share fills from the origin on every node: the
    owner would judge the share by its own view of the client."""

    def mutate(self, cfg):
        harness.add_pool(cfg, "web2", self.origin.address)
        harness.add_route(cfg, {"path": "/can/", "pool": "web",
                                "canary": {"pool": "web2", "weight": "50%"}})
        return cfg

    def test_canary_route_not_through_siblings(self):
        for i in range(20):
            for n in self.nodes:
                self.assertEqual(n.get("/can/%d?%s" % (i, CC)).status, 200)
        self.assertEqual(self.metric_sum("sibling_fills_total"), 0)
        self.assertEqual(self.metric_sum("sibling_requests_total"), 0)
        self.assertEqual(self.origin.count(prefix="/can/"), 20 * NODES)
        # the route without a canary still goes through the owners
        for i in range(20):
            for n in self.nodes:
                self.assertEqual(n.get("/plain/%d?%s" % (i, CC)).status, 200)
        self.assertEqual(self.origin.count(prefix="/plain/"), 20)


class SiblingRateLimit(Siblings):
    """The node a client reaches applies the access rules and rate limits;
    the owner does not apply them again to its sibling's request: there the
    client would be the sibling, one address for all of its clients."""

    def mutate(self, cfg):
        harness.add_route(cfg, {"path": "/rl/", "pool": "web",
                                "rate_limit": {"by": "address", "rate": "4/m", "burst": 4},
                                "access": {"deny": ["cidr:127.0.0.2/32", "cidr:127.0.0.3/32",
                                                    "cidr:127.0.0.4/32"],
                                           "default": "allow"}})
        return cfg

    def get_from(self, src, node, path):
        import http.client
        c = http.client.HTTPConnection(node.ip, self.port, timeout=10, source_address=(src, 0))
        try:
            c.request("GET", path, headers={"Host": "example.com"})
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()

    def test_owner_does_not_limit_its_siblings(self):
        # ten clients, three objects each through the first node: within
        # each client's limit there; the owners see the first node's
        # address for about twenty of them, far past a limit of four (and
        # denied by the access list), and must not count them
        statuses = []
        for k in range(10):
            src = "127.0.0.%d" % (20 + k)
            for j in range(3):
                statuses.append(self.get_from(src, self.nodes[0], "/rl/%d-%d?%s" % (k, j, CC)))
        self.assertEqual(statuses, [200] * 30)
        self.assertGreater(self.metric_sum("sibling_requests_total"), 8)
        self.assertEqual(self.metric_sum("rate_limited_total"), 0)
        self.assertEqual(self.metric_sum("access_denied_total"), 0)
        # the first node still limits a client that asks too much
        src = "127.0.0.40"
        more = [self.get_from(src, self.nodes[0], "/rl/x%d?%s" % (j, CC)) for j in range(6)]
        self.assertEqual(more.count(429), 2, more)


class SiblingPurgeRace(Siblings):
    """A purge that arrives while the owner fills a key for a sibling wins
    on both nodes: neither stores nor serves the answer that was on its way."""

    def purge_all(self, url):
        for n in self.nodes:
            r = harness.http_request(n.admin_port, "POST", "/purge",
                                     {"Content-Type": "application/json",
                                      "Authorization": "Bearer " + OPS},
                                     json.dumps({"urls": [url]}).encode(), host=n.ip)
            self.assertEqual(r.status, 200, r)
            pid = json.loads(r.body)["id"]

            def done(n=n, pid=pid):
                st = n.admin("/purge/" + pid)
                return st.status == 200 and json.loads(st.body)["done"]
            harness.wait_until(done, 10, what="purge carried out")

    def test_purge_during_a_sibling_fill_wins_on_both_nodes(self):
        first = self.nodes[0]
        for i in range(40):
            path = "/race/%d" % i
            self.origin.script({path: {"cc": "max-age=600", "seq": [
                {"body": "probe"}, {"body": "old", "delay_ms": 1500}, {"body": "new"}]}})
            r = first.get(path)
            self.assertEqual(r.status, 200)
            if "sibling" in (r.header("Cache-Status") or ""):
                break
        else:
            self.fail("no key owned by another node in 40")
        url = "http://example.com" + path
        self.purge_all(url)
        slow = harness.Background(first.get, path)
        time.sleep(0.5)  # the owner is filling from the origin, for the first node
        self.purge_all(url)
        self.assertEqual(slow.result(10).body, b"old")  # in flight: answered as it was
        for n in self.nodes:
            r = n.get(path)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"new", "%s served what the purge removed" % n.ip)
        self.assertEqual(self.origin.count(path), 3)


class SiblingBackgroundRevalidation(Siblings):
    """A stale-while-revalidate refresh on a node that does not own the key
    goes to the owner, as a foreground miss does: the PoP revalidates with
    the origin once, not once per node holding a copy."""

    def test_stale_copies_refresh_through_the_owner(self):
        swr = "max-age=1, stale-while-revalidate=60"
        for i in range(40):
            path = "/swr/%d" % i
            self.origin.script({path: {"cc": swr, "body": "v1", "headers": {"ETag": '"v1"'}}})
            r = self.nodes[0].get(path)
            if "sibling" in (r.header("Cache-Status") or ""):
                break
        else:
            self.fail("no key owned by another node in 40")
        others = [n for n in self.nodes[1:] if "sibling" in (n.get(path).header("Cache-Status")
                                                              or "")]
        self.assertEqual(len(others), 1, "one more node holds a sibling's copy")
        askers = [self.nodes[0], others[0]]
        self.assertEqual(self.origin.count(path), 1)
        time.sleep(1.6)  # every copy stale, within stale-while-revalidate
        self.origin.script({path: {"cc": "max-age=600", "body": "v2",
                                   "headers": {"ETag": '"v2"'}}})
        before = self.metric_sum("sibling_requests_total")
        for n in askers:
            r = n.get(path)
            self.assertEqual((r.status, r.body), (200, b"v1"))
            self.assertIn("stale-while-revalidate", r.header("Cache-Status") or "", r.headers)
        # both refreshes went to the owner; it asked the origin once
        harness.wait_until(lambda: self.metric_sum("sibling_requests_total") >= before + 2, 5.0,
                           what="the refreshes reached the owner")
        harness.wait_until(lambda: all(n.get(path).body == b"v2" for n in self.nodes), 8.0,
                           what="every node has the new copy")
        self.assertEqual(self.origin.count(path), 2)
        for n in self.nodes:
            r = n.get(path)
            self.assertEqual(r.header("X-Cache"), "HIT", (n.ip, r.headers))
            self.assertEqual(len(r.header_all("Cache-Status")), 1, r.headers)


class SiblingStoreSmall(Siblings):
    store = {"store": "small", "store_max": 0}

    def holders(self, p):
        h = []
        for n in self.nodes:
            r = n.get(p, {"Cache-Control": "only-if-cached"})
            if r.status == 200:
                h.append(n)
        return h

    def test_copies_stay_with_the_owner(self):
        for i in range(20):
            p = "/s/%d?%s" % (i, CC)
            for n in self.nodes:
                self.assertEqual(n.get(p).status, 200)
            self.assertEqual(len(self.holders(p)), 1, p)
        self.assertEqual(self.origin.count(prefix="/s/"), 20)

    def test_age_accumulates_across_the_hop(self):
        p = "/a?" + CC
        for n in self.nodes:
            self.assertEqual(n.get(p).status, 200)
        time.sleep(2.1)
        for n in self.nodes:
            r = n.get(p)
            self.assertGreaterEqual(int(r.header("Age")), 2, n.ip)
        self.assertEqual(self.origin.count("/a"), 1)


class SiblingSignedUrl(Siblings):
    """A signed URL is checked by the node the client asks; the owner takes
    the sibling's word for it (the signature has left the target)."""

    def mutate(self, cfg):
        self.secret_file = os.path.join(self.dir, "k1")
        with open(self.secret_file, "w") as f:
            f.write(base64.b64encode(SECRET).decode() + "\n")
        harness.add_route(cfg, {"path": "/sv/", "pool": "web", "cache": {"default_ttl": "1h"},
                                "signed_url": {"keys": [{"id": "k1",
                                                         "file": self.secret_file}]}})
        return cfg

    def sign(self, path):
        exp = str(int(time.time()) + 300)
        text = "\n".join(["outpost-url-v1", "path", path, exp, "k1", ""])
        sig = hmac.new(SECRET, text.encode(), hashlib.sha256).digest()
        return path + "?" + urllib.parse.urlencode(
            [("exp", exp), ("kid", "k1"),
             ("sig", base64.urlsafe_b64encode(sig).rstrip(b"=").decode())])

    def test_signed_urls_through_every_node(self):
        for i in range(12):
            path = "/sv/%d" % i
            for n in self.nodes:
                self.assertEqual(n.get(path).status, 403, n.ip)
                r = n.get(self.sign(path))
                self.assertEqual(r.status, 200, (n.ip, r))
            self.assertEqual(self.origin.count(path), 1, path)
        self.assertGreater(self.metric_sum("sibling_fills_total"), 4)


if __name__ == "__main__":
    harness.main()
