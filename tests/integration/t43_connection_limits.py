#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Connection limits: running out of file descriptors, the start-up check of
RLIMIT_NOFILE, and the cap on connections per client address."""

import os
import resource
import socket
import time

import harness


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def connect_from(node, src):
    """A client socket bound to source address src."""
    return socket.create_connection(("127.0.0.1", node.port), timeout=5,
                                    source_address=(src, 0))


def get_on(sock, path="/x"):
    """One keep-alive GET on sock; the response, or None when the node
    closed the connection without one."""
    try:
        sock.sendall(("GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % path).encode())
        rd = harness._Reader(sock=sock, deadline=time.monotonic() + 5)
        return harness._read_response(rd)
    except (OSError, harness.IncompleteResponse):
        return None


class FdExhaustion(harness.OutpostTestCase):
    def test_no_accept_spin_when_out_of_descriptors(self):
        origin = self.start_origin({"/x": {"status": 200, "body": "cached body",
                                           "headers": {"Cache-Control": "max-age=300"}}})
        node = self.start_outpost(origin, overrides={
            "node": {"workers": 1},
            "timeouts": {"header": "30s", "idle": "30s"}})
        self.assertEqual(node.get("/x").body, b"cached body")
        # room for a few more descriptors only
        limit = open_fds(node.pid) + 6
        resource.prlimit(node.pid, resource.RLIMIT_NOFILE, (limit, limit))
        held = []
        try:
            for _ in range(40):  # far more than the daemon can take
                s = socket.create_connection(("127.0.0.1", node.port), timeout=5)
                held.append(s)
            # the accepted ones fill the table; the rest wait in the backlog
            harness.wait_until(lambda: open_fds(node.pid) >= limit, 5,
                               what="descriptors exhausted")
            # the admin listener (main thread) meets the same
            held.append(socket.create_connection(("127.0.0.1", node.admin_port), timeout=5))
            time.sleep(0.5)
            t0, c0 = time.monotonic(), cpu_seconds(node.pid)
            time.sleep(3)
            used = cpu_seconds(node.pid) - c0
            wall = time.monotonic() - t0
            self.assertLess(used, 0.3 * wall,
                            "daemon used %.2f s of CPU in %.2f s while out of descriptors"
                            % (used, wall))
            node.check_alive()
        finally:
            for s in held:
                s.close()
        # descriptors come back: new clients are served again (bounded wait)
        deadline = time.monotonic() + 10
        while True:
            try:
                r = node.get("/x", timeout=3)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"cached body")
        self.assertGreaterEqual(node.metric("outpost_accept_pauses_total"), 1)
        self.assertIn("accepting paused", node.log())

    def test_start_warns_when_the_limit_is_too_low(self):
        origin = self.start_origin()
        # 1,000,000 connections x 2 workers: more than any hard limit here
        node = self.start_outpost(origin, overrides={"limits": {"connections": 1000000}})
        self.assertRegex(node.log(), r"file descriptors: the limit \(RLIMIT_NOFILE\) is \d+, "
                                     r"below the \d+ that limits\.connections \(1000000\) x 2")
        self.assertServing(node)


class PerAddressCap(harness.OutpostTestCase):
    def setup_class_resources(self):
        self.origin = self.class_origin({"/x": {"status": 200, "body": "x body",
                                                "headers": {"Cache-Control": "max-age=300"}}})
        # two workers: the cap counts an address's connections on both
        self.node = self.class_outpost(self.origin, overrides={
            "limits": {"connections_per_ip": 4},
            "timeouts": {"header": "30s", "idle": "30s"}})

    def test_one_address_at_its_cap_does_not_lock_out_another(self):
        node = self.node
        before = node.metric("outpost_connections_limited_total")
        held = [connect_from(node, "127.0.0.2") for _ in range(4)]
        try:
            for s in held:
                r = get_on(s)
                self.assertIsNotNone(r, "a connection under the cap was refused")
                self.assertEqual(r.status, 200)
            # a fifth from the same address is closed at once
            extra = connect_from(node, "127.0.0.2")
            try:
                self.assertIsNone(get_on(extra))
            finally:
                extra.close()
            node.wait_metric("outpost_connections_limited_total", lambda v: v == before + 1)
            # another address is served meanwhile
            other = connect_from(node, "127.0.0.3")
            try:
                r = get_on(other)
                self.assertIsNotNone(r, "127.0.0.3 was locked out by 127.0.0.2")
                self.assertEqual(r.body, b"x body")
            finally:
                other.close()
            # the held ones still work
            self.assertEqual(get_on(held[0]).status, 200)
            # one closes: its address may connect again (bounded wait)
            held.pop().close()
            deadline = time.monotonic() + 5
            while True:
                s = connect_from(node, "127.0.0.2")
                r = get_on(s)
                if r is not None or time.monotonic() > deadline:
                    break
                s.close()
                time.sleep(0.1)
            held.append(s)
            self.assertIsNotNone(r, "a freed place was not given back")
            self.assertEqual(r.status, 200)
        finally:
            for s in held:
                s.close()


class IdleConnectionReuse(harness.OutpostTestCase):
    """An idle keep-alive connection gives its request buffers back; the
    requests that come after on it must not notice."""

    def test_requests_after_idle_on_one_connection(self):
        origin = self.start_origin({"/c/*": {"status": 200, "body_from": "X-Tag",
                                             "headers": {"Cache-Control": "max-age=300"}}})
        node = self.start_outpost(origin)
        with node.connect() as c:
            c.send("GET /c/a HTTP/1.1\r\nHost: example.com\r\nX-Tag: one\r\n\r\n")
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b"X-Tag=one\n"))
            time.sleep(0.3)  # idle
            # a bigger head than before (more fields, a longer target)
            long_fields = "".join("X-F%d: %s\r\n" % (i, "v" * 40) for i in range(40))
            c.send("GET /c/%s HTTP/1.1\r\nHost: example.com\r\nX-Tag: two\r\n%s\r\n"
                   % ("b" * 300, long_fields))
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b"X-Tag=two\n"))
            self.assertEqual(r.header("X-Cache"), "MISS")
            time.sleep(0.3)
            # pipelined: a hit, a miss, a hit again, in one write
            c.send("GET /c/a HTTP/1.1\r\nHost: example.com\r\n\r\n"
                   "GET /c/d HTTP/1.1\r\nHost: example.com\r\nX-Tag: three\r\n\r\n"
                   "GET /c/%s HTTP/1.1\r\nHost: example.com\r\n\r\n" % ("b" * 300))
            got = [c.read_response() for _ in range(3)]
            self.assertEqual([(r.status, r.body, r.header("X-Cache")) for r in got],
                             [(200, b"X-Tag=one\n", "HIT"), (200, b"X-Tag=three\n", "MISS"),
                              (200, b"X-Tag=two\n", "HIT")])
            time.sleep(0.3)
            # a request with a body (forwarded) after idle
            c.send("POST /nocache/p HTTP/1.1\r\nHost: example.com\r\nX-Tag: four\r\n"
                   "Content-Length: 5\r\n\r\nhello")
            r = c.read_response()
            self.assertEqual(r.status, 200)
        reqs = origin.requests(path="/c/" + "b" * 300)
        self.assertEqual(len(reqs), 1)
        self.assertEqual(harness.req_header(reqs[0], "X-F39"), "v" * 40)
        self.assertEqual(origin.count("/c/a"), 1)


if __name__ == "__main__":
    harness.main()
