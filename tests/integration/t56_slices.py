#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Large objects as slices (cache.slice): a range miss fetches only the
slices it needs, each once however many clients ask, stores each as its own
entry and answers any later range, multi-range, suffix or whole GET from
them; slices survive kill -9 in the disk tier; an origin that changes the
object between slices never gets a mixed body served; an origin without
ranges is relayed as before."""

import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import harness
from harness import req_header
from origin import pattern_slice_chunks

MIB = 1024 * 1024
SLICE = MIB  # cache.slice.size in these tests
BIG = 64 * MIB


def pattern(first, n):
    return b"".join(bytes(c) for c in pattern_slice_chunks(first, n))


def digest(first, n):
    h = hashlib.sha256()
    for c in pattern_slice_chunks(first, n):
        h.update(c)
    return h.hexdigest()


def slice_ranges(recs):
    """The Range of each origin request, as (first, last) pairs."""
    out = []
    for r in recs:
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", req_header(r, "Range") or "")
        out.append((int(m.group(1)), int(m.group(2))) if m else None)
    return out


class SliceCase(harness.OutpostTestCase):
    def node_overrides(self):
        return {"cache": {"slice": {"size": "1MiB"}, "ram": "512MiB"}}

    def url(self, name, size=BIG, extra=""):
        return "/s/%s?size=%d&ranges=1&cc=max-age%%3D600&h=ETag:%%20%%22v1%%22%s" % (
            name, size, extra)

    def settle(self, node, timeout=20):
        """Waits until every slice fetch started has ended (a client's answer
        may be complete before the rest of its last slice is stored)."""
        harness.wait_until(
            lambda: node.metric("outpost_slice_fetches_total", default=0) <=
            node.metric("outpost_cache_stores_total", default=0) +
            node.metric("outpost_slice_fallbacks_total", default=0) +
            node.metric("outpost_slice_mismatches_total", default=0) +
            node.metric("outpost_slice_oversize_total", default=0),
            timeout, what="slice fetches stored")

    def assertPartial(self, r, first, last, total=BIG):
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" % (first, last, total))
        self.assertEqual(len(r.body), last - first + 1)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), digest(first, last - first + 1))


class Slices(SliceCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin, overrides=self.node_overrides())

    def test_range_miss_fetches_its_slices_only(self):
        url = self.url("one")
        r = self.node.get(url, {"Range": "bytes=1500000-2600000"})
        self.assertPartial(r, 1500000, 2600000)
        self.assertEqual(r.header("X-Cache"), "MISS")
        self.assertEqual(sorted(slice_ranges(self.origin.requests("/s/one"))),
                         [(1 * SLICE, 2 * SLICE - 1), (2 * SLICE, 3 * SLICE - 1)])
        # any range inside them is a hit now, with no origin request
        self.settle(self.node)
        r = self.node.get(url, {"Range": "bytes=1048576-3145727"})
        self.assertPartial(r, SLICE, 3 * SLICE - 1)
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(self.origin.count("/s/one"), 2)
        # the slice asked carries If-Range only once the set is known
        recs = self.origin.requests("/s/one")
        self.assertTrue(all(req_header(x, "If-Range") in (None, '"v1"') for x in recs))

    def test_multirange_suffix_open_ended_across_slices(self):
        url = self.url("multi", size=5 * MIB + 12345)
        total = 5 * MIB + 12345
        r = self.node.get(url, {"Range": "bytes=-100"})
        self.assertPartial(r, total - 100, total - 1, total)
        r = self.node.get(url, {"Range": "bytes=%d-" % (4 * MIB - 10)})
        self.assertPartial(r, 4 * MIB - 10, total - 1, total)
        r = self.node.get(url, {"Range": "bytes=10-20,%d-%d,%d-%d" % (
            SLICE - 5, SLICE + 5, 3 * SLICE - 1, 3 * SLICE)})
        self.assertEqual(r.status, 206, r)
        ctype = r.header("Content-Type")
        self.assertTrue(ctype.startswith("multipart/byteranges; boundary="), ctype)
        self.assertEqual(int(r.header("Content-Length")), len(r.body))
        for first, last in ((10, 20), (SLICE - 5, SLICE + 5), (3 * SLICE - 1, 3 * SLICE)):
            part = ("Content-Range: bytes %d-%d/%d\r\n\r\n" % (first, last, total)).encode()
            at = r.body.find(part)
            self.assertGreater(at, 0, part)
            got = r.body[at + len(part):at + len(part) + last - first + 1]
            self.assertEqual(got, pattern(first, last - first + 1))
        # each slice was asked once in all of it
        got = slice_ranges(self.origin.requests("/s/multi"))
        self.assertEqual(len(got), len(set(got)), got)
        # unsatisfiable: 416 with the length
        r = self.node.get(url, {"Range": "bytes=%d-" % (total + 5)})
        self.assertEqual(r.status, 416, r)
        self.assertEqual(r.header("Content-Range"), "bytes */%d" % total)

    def test_concurrent_random_ranges_fetch_each_slice_once(self):
        """8 clients ask 1 MiB-ish ranges of a cold 64 MiB object in random
        order: every byte right, each slice asked of the origin once; then
        a whole GET comes from the slices with no origin request."""
        url = self.url("conc")
        errors = []

        def client(seed):
            rnd = random.Random(seed)
            for _ in range(12):
                first = rnd.randrange(0, BIG - 1)
                last = min(BIG - 1, first + rnd.randrange(1, 2 * MIB))
                try:
                    r = self.node.get(url, {"Range": "bytes=%d-%d" % (first, last)}, timeout=60)
                    self.assertPartial(r, first, last)
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(repr(e))
                    return

        ts = [threading.Thread(target=client, args=(s,)) for s in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        self.assertEqual(errors, [])
        got = slice_ranges(self.origin.requests("/s/conc"))
        self.assertEqual(len(got), len(set(got)), "a slice was fetched twice")
        for first, last in got:
            self.assertEqual(first % SLICE, 0)
            self.assertEqual(last, min(first + SLICE, BIG) - 1 if first + SLICE > BIG
                             else first + SLICE - 1)
        # fill every slice, then a whole GET is served from them alone
        for k in range(BIG // SLICE):
            self.assertEqual(self.node.get(url, {"Range": "bytes=%d-%d" % (
                k * SLICE, k * SLICE)}).status, 206)
        n = self.origin.count("/s/conc")
        self.assertEqual(n, BIG // SLICE)
        self.settle(self.node)
        r = self.node.get(url, timeout=60)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(len(r.body), BIG)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), digest(0, BIG))
        self.assertEqual(self.origin.count("/s/conc"), n)

    def test_head_and_preconditions_from_slices(self):
        url = self.url("cond", size=3 * MIB) + "&h=Last-Modified:%20Sun,%2006%20Nov%201994%2008:49:37%20GMT"
        self.assertPartial(self.node.get(url, {"Range": "bytes=0-0"}), 0, 0, 3 * MIB)
        self.settle(self.node)
        n = self.origin.count("/s/cond")
        r = self.node.request("HEAD", url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Length"), str(3 * MIB))
        self.assertEqual(r.header("ETag"), '"v1"')
        self.assertEqual(r.body, b"")
        r = self.node.get(url, {"If-None-Match": '"v1"'})
        self.assertEqual(r.status, 304, r)
        self.assertEqual(r.header("ETag"), '"v1"')
        r = self.node.get(url, {"If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"})
        self.assertEqual(r.status, 304, r)
        r = self.node.get(url, {"If-Match": '"other"'})
        self.assertEqual(r.status, 412, r)
        r = self.node.get(url, {"If-None-Match": '"other"', "Range": "bytes=%d-%d" % (
            SLICE - 1, SLICE)})
        self.assertPartial(r, SLICE - 1, SLICE, 3 * MIB)
        self.assertEqual(self.origin.count("/s/cond"), n + 1)  # slice 1, once

    def test_one_byte_costs_at_most_a_slice(self):
        url = self.url("onebyte", size=32 * MIB)
        r = self.node.get(url, {"Range": "bytes=20000000-20000000"})
        self.assertPartial(r, 20000000, 20000000, 32 * MIB)
        self.assertEqual(slice_ranges(self.origin.requests("/s/onebyte")),
                         [(19 * SLICE, 20 * SLICE - 1)])

    def test_small_object_is_stored_whole(self):
        """An object no bigger than a slice comes in the first slice's 206
        and is stored whole, as the 200 it amounts to."""
        url = self.url("small", size=300000)
        r = self.node.get(url, {"Range": "bytes=100-199"})
        self.assertPartial(r, 100, 199, 300000)
        self.settle(self.node)
        r = self.node.get(url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-Cache"), "HIT")
        self.assertEqual(r.body, pattern(0, 300000))
        self.assertIsNone(r.header("Content-Range"))
        self.assertEqual(self.origin.count("/s/small"), 1)

    def test_origin_without_ranges_is_relayed(self):
        """An origin that answers a slice's Range with its whole 200 of a
        large object: nothing is sliced, the client's range still comes."""
        url = "/s/noranges?size=%d&cc=max-age%%3D600" % (40 * MIB)
        f0 = self.node.metric("outpost_slice_fallbacks_total")
        r = self.node.get(url, {"Range": "bytes=5000000-5000099"}, timeout=60)
        self.assertIn(r.status, (200, 206), r)
        if r.status == 206:
            self.assertEqual(r.body, pattern(5000000, 100))
        else:
            self.assertEqual(len(r.body), 40 * MIB)
        self.assertEqual(self.node.metric("outpost_slice_fallbacks_total"), f0 + 1)
        self.assertEqual(self.node.get("/healthz").status in (200, 404), True)


def stream_get(port, path, headers=None, timeout=120):
    """GET path over a raw socket, the body hashed as it comes, never held:
    (status line, headers dict lower-cased, body length, sha256 hex)."""
    lines = ["GET %s HTTP/1.1" % path, "Host: example.com", "Connection: close"]
    lines += ["%s: %s" % kv for kv in (headers or {}).items()]
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            got = s.recv(65536)
            if not got:
                raise AssertionError("closed before the head: %r" % buf[:200])
            buf += got
        head, _, rest = buf.partition(b"\r\n\r\n")
        hl = head.decode("latin-1").split("\r\n")
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in hl[1:])}
        h = hashlib.sha256(rest)
        n = len(rest)
        want = int(hdrs.get("content-length", -1))
        while n != want:
            got = s.recv(1 << 20)
            if not got:
                break
            h.update(got)
            n += len(got)
        return hl[0], hdrs, n, h.hexdigest()
    finally:
        s.close()


class SliceWhole(SliceCase):
    """A GET of an uncached object over cache.max_object: its 200 is dropped
    unread and slices answer, filling the cache slice by slice."""

    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin, overrides={
            "cache": {"slice": {"size": "1MiB"}, "ram": "64MiB", "max_object": "4MiB"}})

    def big(self, name, size):
        return ("/w/%s?size=%d&ranges=1&cc=max-age%%3D600&h=ETag:%%20%%22w1%%22"
                "&h=Accept-Ranges:%%20bytes" % (name, size))

    def test_whole_get_of_a_large_object_fills_slices(self):
        size = 40 * MIB + 17
        url = self.big("whole", size)
        st, hdrs, n, sha = stream_get(self.node.port, url)
        self.assertEqual(st, "HTTP/1.1 200 OK")
        self.assertEqual((n, sha), (size, digest(0, size)))
        recs = self.origin.requests("/w/whole")
        self.assertIsNone(req_header(recs[0], "Range"))  # the 200, dropped unread
        got = slice_ranges(recs[1:])
        self.assertEqual(len(got), (size + SLICE - 1) // SLICE)
        self.assertEqual(len(got), len(set(got)))
        # a range of it now: slices still in the RAM tier answer (64 MiB:
        # the first ones were evicted); never a mixed or short body
        self.settle(self.node)
        r = self.node.get(url, {"Range": "bytes=%d-%d" % (size - 100, size - 1)})
        self.assertPartial(r, size - 100, size - 1, size)
        self.assertEqual(r.header("X-Cache"), "HIT")

    def test_origin_without_accept_ranges_streams_uncached(self):
        size = 6 * MIB
        url = "/w/noar?size=%d&cc=max-age%%3D600&h=ETag:%%20%%22w1%%22" % size
        st, hdrs, n, sha = stream_get(self.node.port, url)
        self.assertEqual(st, "HTTP/1.1 200 OK")
        self.assertEqual((n, sha), (size, digest(0, size)))
        self.assertEqual(self.origin.count("/w/noar"), 1)

    def test_8gib_object_with_bounded_memory(self):
        """An 8 GiB object (generated by the origin) through a node with a
        64 MiB RAM tier: every byte right, and the node's peak RSS stays
        under 64 MiB + 160 MiB, whatever the object's size."""
        size, bound = 8 << 30, 64 + 160
        if self.node.is_sanitized():
            # ASan's shadow and quarantine: a smaller object, a looser bound
            size, bound = 1 << 30, 64 + 600
        url = self.big("huge", size)
        st, hdrs, n, sha = stream_get(self.node.port, url, timeout=300)
        self.assertEqual(st, "HTTP/1.1 200 OK")
        self.assertEqual(n, size)
        self.assertEqual(sha, digest(0, size))
        hwm = self.node.vm_hwm_kib() / 1024
        print("# peak RSS %.0f MiB for %d GiB" % (hwm, size >> 30))
        self.assertLess(hwm, bound, "peak RSS %.0f MiB" % hwm)


class SliceMemory(SliceCase):
    """Slices that cannot be stored (the cache's memory budget is full)
    still reach every client whole: a slice key left hit-for-pass by a fill
    that stopped storing is fetched by the request itself."""

    def test_unstorable_slices_still_complete(self):
        origin = self.start_origin()
        node = self.start_outpost(origin, overrides={"cache": {
            "slice": {"size": "1MiB"}, "ram": "3MiB", "max_object": "1MiB",
            "fill_memory": "2MiB"}})
        size = 8 * MIB
        errors = []

        def client(name):
            url = self.url(name, size=size, extra="&chunk_size=65536&chunk_delay_ms=1"
                           "&h=Accept-Ranges:%20bytes")
            try:
                for _ in range(3):
                    st, hdrs, n, sha = stream_get(node.port, url)
                    if (st, n, sha) != ("HTTP/1.1 200 OK", size, digest(0, size)):
                        errors.append("%s: %s, %d bytes" % (name, st, n))
                    r = node.get(url, {"Range": "bytes=%d-%d" % (SLICE - 5, 5 * SLICE + 5)},
                                 timeout=30)
                    self.assertPartial(r, SLICE - 5, 5 * SLICE + 5, size)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append("%s: %r" % (name, e))

        # the first slice of each is stored (memory is free): the whole GETs
        # below are answered from slices, some of which cannot be stored
        for i in range(3):
            url = self.url("mem%d" % i, size=size, extra="&chunk_size=65536&chunk_delay_ms=1"
                           "&h=Accept-Ranges:%20bytes")
            self.assertPartial(node.get(url, {"Range": "bytes=0-0"}), 0, 0, size)
            node.wait_metric("outpost_cache_stores_total", lambda v, i=i: v >= i + 1, timeout=20)
        ts = [threading.Thread(target=client, args=("mem%d" % i,)) for i in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertGreater(node.metric("outpost_cache_fills_unstored_memory_total"), 0)


class SliceH2(SliceCase):
    """Slices over HTTP/2 (h2c, curl): the same answers, streamed per stream."""

    def test_h2_ranges_and_whole(self):
        port = harness.free_port()

        def mutate(cfg):
            cfg["listen"].append({"address": "127.0.0.1:%d" % port, "http2": "prior_knowledge"})
            return cfg
        origin = self.start_origin()
        self.start_outpost(origin, overrides=self.node_overrides(), mutate=mutate)
        size = 5 * MIB + 3
        url = "http://example.com:%d%s" % (port, self.url("h2", size=size))

        def curl(*args):
            p = subprocess.run(["curl", "-sS", "--max-time", "30", "--http2-prior-knowledge",
                                "--connect-to", "example.com:%d:127.0.0.1:%d" % (port, port),
                                "-o", "-", "-w", "\n%{http_code}"] + list(args) + [url],
                               capture_output=True, timeout=60)
            body, _, code = p.stdout.rpartition(b"\n")
            return int(code), body
        code, body = curl("-r", "%d-%d" % (SLICE - 7, 3 * SLICE + 7))
        self.assertEqual(code, 206)
        self.assertEqual(body, pattern(SLICE - 7, 2 * SLICE + 15))
        code, body = curl()
        self.assertEqual(code, 200)
        self.assertEqual(hashlib.sha256(body).hexdigest(), digest(0, size))
        got = slice_ranges(origin.requests("/s/h2"))
        self.assertEqual(len(got), len(set(got)))
        self.assertEqual(len(got), 6)


class SliceChange(SliceCase):
    """The origin's object changes under a slice set: a route whose key
    drops the query, so that the query scripts the origin's ETag for one
    cache key."""

    def test_changed_between_slices_is_never_mixed(self):
        def mutate(cfg):
            routes = cfg["sites"][0]["routes"]
            routes.insert(0, {"path": "/chg/", "pool": "web", "cache": {"query": "drop"}})
        origin = self.start_origin()
        node = self.start_outpost(origin, overrides=self.node_overrides(), mutate=mutate)
        size = 3 * MIB
        url = "/chg/obj?size=%d&ranges=1&cc=max-age%%3D600&h=ETag:%%20%%22%s%%22"
        r = node.get(url % (size, "a"), {"Range": "bytes=0-9"})
        self.assertPartial(r, 0, 9, size)
        self.assertEqual(r.header("ETag"), '"a"')
        # now the origin says "b": slice 0 (stored, "a") starts the answer,
        # slice 1 comes back whole to its If-Range: the answer is cut
        m0 = node.metric("outpost_slice_mismatches_total")
        body = b""
        try:
            r = node.get(url % (size, "b"), {"Range": "bytes=0-%d" % (size - 1)}, timeout=20)
            body = r.body
        except Exception:  # noqa: BLE001 - a cut response is the expected outcome
            pass
        self.assertLess(len(body), size, "a response of two representations was finished")
        self.assertEqual(node.metric("outpost_slice_mismatches_total"), m0 + 1)
        recs = origin.requests("/chg/obj")
        self.assertEqual(req_header(recs[-1], "If-Range"), '"a"')
        # the set was invalidated: the next answer is all "b"
        try:
            r = node.get(url % (size, "b"), {"Range": "bytes=0-%d" % (size - 1)}, timeout=20)
        except Exception:
            print([(req_header(x, "Range"), req_header(x, "If-Range"), x.get("status"))
                   for x in origin.requests("/chg/obj")])
            raise
        r = node.get(url % (size, "b"), {"Range": "bytes=0-%d" % (size - 1)}, timeout=20)
        self.assertPartial(r, 0, size - 1, size)
        self.assertEqual(r.header("ETag"), '"b"')
        self.settle(node)
        r = node.get(url % (size, "b"), {"Range": "bytes=%d-%d" % (SLICE - 1, SLICE)})
        self.assertPartial(r, SLICE - 1, SLICE, size)
        self.assertEqual(r.header("ETag"), '"b"')
        self.assertEqual(r.header("X-Cache"), "HIT")


class SlicePurge(SliceCase):
    def test_url_purge_reaches_the_slices(self):
        token = "slice-purge-token"
        over = self.node_overrides()
        over["purge"] = {"tokens": [{"id": "t", "sha256": hashlib.sha256(token.encode()).hexdigest(),
                                     "hosts": ["example.com"]}]}
        origin = self.start_origin()
        node = self.start_outpost(origin, overrides=over)
        path = self.url("purged", size=5 * MIB)
        rng = {"Range": "bytes=%d-%d" % (SLICE - 10, 2 * SLICE + 10)}
        self.assertEqual(node.get(path, rng).header("X-Cache"), "MISS")
        self.settle(node)
        self.assertEqual(node.get(path, rng).header("X-Cache"), "HIT")
        n = origin.count("/s/purged")
        r = harness.http_request(node.admin_port, "POST", "/purge",
                                 {"Content-Type": "application/json",
                                  "Authorization": "Bearer " + token},
                                 json.dumps({"urls": ["http://example.com" + path]}).encode())
        self.assertEqual(r.status, 200, r)
        r = node.get(path, rng)
        self.assertPartial(r, SLICE - 10, 2 * SLICE + 10, 5 * MIB)
        self.assertEqual(r.header("X-Cache"), "MISS")
        self.assertEqual(origin.count("/s/purged"), n + 3)

    def test_unsafe_method_reaches_the_slices(self):
        # RFC 9111 §4.4: a POST's 2xx invalidates what is stored for the URL,
        # its slices included (in RAM and in the disk tier)
        d = tempfile.mkdtemp(prefix="outpost-slices-post-")
        self.addCleanup(shutil.rmtree, d, True)
        over = self.node_overrides()
        over["cache"]["disk"] = {"path": os.path.join(d, "cache"), "size": "64MiB"}
        origin = self.start_origin()
        node = self.start_outpost(origin, overrides=over)
        path = self.url("posted", size=5 * MIB)
        rng = {"Range": "bytes=%d-%d" % (3 * SLICE - 10, 4 * SLICE + 10)}
        # the first slice tells how many slices the object has
        self.assertEqual(node.get(path, {"Range": "bytes=0-9"}).status, 206)
        self.assertEqual(node.get(path, rng).header("X-Cache"), "MISS")
        self.settle(node)
        self.assertEqual(node.get(path, rng).header("X-Cache"), "HIT")
        n = origin.count("/s/posted")
        self.assertEqual(node.request("POST", path, body=b"x").status, 200)
        r = node.get(path, rng)
        self.assertPartial(r, 3 * SLICE - 10, 4 * SLICE + 10, 5 * MIB)
        self.assertEqual(r.header("X-Cache"), "MISS")
        self.assertEqual(origin.count("/s/posted"), n + 1 + 3)  # the POST, three slices


class SliceDiskMaxObject(SliceCase):
    def test_object_over_disk_max_object_is_not_kept(self):
        d = tempfile.mkdtemp(prefix="outpost-slices-max-")
        self.addCleanup(shutil.rmtree, d, True)
        over = self.node_overrides()
        over["cache"]["disk"] = {"path": os.path.join(d, "cache"), "size": "128MiB",
                                 "max_object": "16MiB"}
        origin = self.start_origin()
        node = self.start_outpost(origin, overrides=over)
        # 20 MiB: over cache.disk.max_object, served slice by slice, unstored
        big = self.url("over", size=20 * MIB)
        for _ in range(2):
            r = node.get(big, {"Range": "bytes=%d-%d" % (5 * MIB - 3, 6 * MIB + 3)})
            self.assertPartial(r, 5 * MIB - 3, 6 * MIB + 3, 20 * MIB)
            self.assertEqual(r.header("X-Cache"), "MISS")
        self.assertEqual(origin.count("/s/over"), 6)  # slices 4, 5 and 6, twice
        self.assertEqual(node.metric("outpost_slice_oversize_total"), 6)
        # a whole GET of it streams the origin's 200 (not through slices)
        r = node.get(big, timeout=30)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), digest(0, 20 * MIB))
        self.assertEqual(node.metric("outpost_slice_requests_total"), 2)
        # 12 MiB: kept
        small = self.url("under", size=12 * MIB)
        rng = {"Range": "bytes=%d-%d" % (5 * MIB - 3, 6 * MIB + 3)}
        self.assertEqual(node.get(small, rng).header("X-Cache"), "MISS")
        self.settle(node)
        r = node.get(small, rng)
        self.assertPartial(r, 5 * MIB - 3, 6 * MIB + 3, 12 * MIB)
        self.assertEqual(r.header("X-Cache"), "HIT")


class SliceDisk(SliceCase):
    def test_kill9_during_slice_fills_and_restart(self):
        d = tempfile.mkdtemp(prefix="outpost-slices-")
        self.addCleanup(shutil.rmtree, d, True)
        origin = self.start_origin()
        over = self.node_overrides()
        over["cache"]["disk"] = {"path": os.path.join(d, "cache"), "size": "256MiB"}
        size = 24 * MIB
        url = self.url("k9", size=size, extra="&chunk_size=65536&chunk_delay_ms=1")
        n = self.start_outpost(origin, overrides=over)
        stop = threading.Event()

        def client(seed):
            rnd = random.Random(seed)
            while not stop.is_set():
                first = rnd.randrange(0, size - 1)
                try:
                    n.get(url, {"Range": "bytes=%d-%d" % (first, min(size - 1, first + MIB))},
                          timeout=10)
                except Exception:  # noqa: BLE001 - the node is being killed
                    return

        ts = [threading.Thread(target=client, args=(s,), daemon=True) for s in range(4)]
        for t in ts:
            t.start()
        time.sleep(1.5)
        n.stop(signal.SIGKILL)
        stop.set()
        for t in ts:
            t.join(15)
        n2 = self.start_outpost(origin, overrides=over)
        before = origin.count("/s/k9")
        try:
            r = n2.get(url, timeout=60)
        except Exception:
            print(open(n2.stderr_path).read()[-3000:])
            print(open(n2.access_log).read()[-3000:])
            print([(req_header(x, "Range"), x.get("status")) for x in origin.requests("/s/k9")][before:])
            for k in ("outpost_slice_hits_total", "outpost_slice_fetches_total", "outpost_slice_requests_total",
                      "outpost_cache_disk_hits_total", "outpost_slice_fallbacks_total", "outpost_cache_misses_total"):
                print(k, n2.metric(k))
            raise
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.body), size)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), digest(0, size))
        # what survived in the disk tier was used, whole slices only
        self.assertLess(origin.count("/s/k9") - before, size // SLICE + 1)
        r = n2.get(url, {"Range": "bytes=%d-%d" % (5 * MIB - 3, 9 * MIB + 3)})
        self.assertPartial(r, 5 * MIB - 3, 9 * MIB + 3, size)



if __name__ == "__main__":
    harness.main()
