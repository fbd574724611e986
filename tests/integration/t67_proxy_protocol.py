#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The PROXY protocol on a listener (listen[].proxy_protocol: true).

Every connection must start with a PROXY header (HAProxy's proxy-protocol.txt,
version 1 or 2) from a peer in trusted_proxies; the source address it carries
is the client (access log, rules, limits).  A connection without a valid
header, or from another peer, is closed without an answer.  The header is
read exactly: the request right behind it, in the same segment, is served."""

import socket
import struct
import time

import harness
import t60_tls
from harness import add_route, wait_until

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
REQ = b"GET %s HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"


def v1(src, dst="127.0.0.1", sport=5555, dport=80):
    fam = b"TCP6" if ":" in src else b"TCP4"
    return b"PROXY %s %s %s %d %d\r\n" % (fam, src.encode(), dst.encode(), sport, dport)


def v2(src=None, dst=None, local=False, tlv=b""):
    if local:
        return V2_SIG + bytes([0x20, 0x00]) + struct.pack("!H", len(tlv)) + tlv
    if ":" in src:
        addrs = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
                 + struct.pack("!HH", 5555, 443))
        fam = 0x21
    else:
        addrs = (socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst)
                 + struct.pack("!HH", 5555, 443))
        fam = 0x11
    body = addrs + tlv
    return V2_SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


class ProxyProtocol(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()

        def mutate(cfg):
            cfg["trusted_proxies"] = ["127.0.0.1/32"]
            cfg["listen"][0]["proxy_protocol"] = True
            add_route(cfg, {"path": "/deny/", "pool": "web", "cache": {"enabled": False},
                            "access": {"deny": ["cidr:198.51.100.0/24"]}})
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def exchange(self, data, source=None):
        s = socket.create_connection(("127.0.0.1", self.node.port), timeout=5,
                                     source_address=(source, 0) if source else None)
        with s:
            s.sendall(data)
            rd = harness._Reader(sock=s, deadline=time.monotonic() + 5)
            try:
                return harness._read_response(rd)
            except (harness.IncompleteResponse, ConnectionError):
                return None

    def client_of(self, path):
        def found():
            recs = [rec for rec in self.node.access_lines() if rec.get("path") == path]
            return recs or None
        return [rec["client"] for rec in wait_until(found, 5, what="access log line")]

    def test_v1_and_v2_sources(self):
        cases = [
            ("/pp/v1", v1("203.0.113.9"), "203.0.113.9"),
            ("/pp/v1-6", v1("2001:db8::9", "::1"), "2001:db8::9"),
            ("/pp/v2", v2("203.0.113.10", "127.0.0.1"), "203.0.113.10"),
            ("/pp/v2-6", v2("2001:db8::10", "::1"), "2001:db8::10"),
            ("/pp/v2-tlv", v2("203.0.113.11", "127.0.0.1", tlv=b"\x02\x00\x03abc"),
             "203.0.113.11"),
            ("/pp/v2-local", v2(local=True), "127.0.0.1"),
            ("/pp/v1-unknown", b"PROXY UNKNOWN\r\n", "127.0.0.1"),
        ]
        for path, hdr, want in cases:
            with self.subTest(path=path):
                r = self.exchange(hdr + REQ % path.encode())
                self.assertIsNotNone(r)
                self.assertEqual(r.status, 200)
                self.assertEqual(self.client_of(path), [want])

    def test_header_in_pieces(self):
        s = socket.create_connection(("127.0.0.1", self.node.port), timeout=5)
        with s:
            data = v2("203.0.113.12", "127.0.0.1") + REQ % b"/pp/pieces"
            for i in (3, 14, 20):
                s.sendall(data[:i])
                data = data[i:]
                time.sleep(0.05)
            s.sendall(data)
            r = harness._read_response(harness._Reader(sock=s, deadline=time.monotonic() + 5))
        self.assertEqual(r.status, 200)
        self.assertEqual(self.client_of("/pp/pieces"), ["203.0.113.12"])

    def test_rules_see_the_source(self):
        r = self.exchange(v1("198.51.100.5") + REQ % b"/deny/x")
        self.assertEqual(r.status, 403)
        self.assertEqual(self.origin.count("/deny/x"), 0)
        # the source is not a trusted proxy: its X-Forwarded-For is not read
        r = self.exchange(v1("203.0.113.1") + b"GET /deny/y HTTP/1.1\r\nHost: example.com\r\n"
                          b"X-Forwarded-For: 198.51.100.5\r\nConnection: close\r\n\r\n")
        self.assertEqual(r.status, 200)

    def test_refused(self):
        before = self.node.metric("outpost_proxy_protocol_errors_total")
        cases = [
            REQ % b"/pp/none",                                         # no header
            b"PROXY TCP4 203.0.113.1 127.0.0.1 1 2\n" + REQ % b"/pp/lf",  # bare LF
            b"PROXY TCP4 2001:db8::1 127.0.0.1 1 2\r\n" + REQ % b"/pp/fam",
            V2_SIG + bytes([0x31, 0x11, 0, 12]) + bytes(12) + REQ % b"/pp/ver",
        ]
        for data in cases:
            with self.subTest(data=data[:40]):
                self.assertIsNone(self.exchange(data))
        self.assertEqual(self.origin.count(prefix="/pp/none"), 0)
        # a trusted-proxy header from another peer
        self.assertIsNone(self.exchange(v1("203.0.113.2") + REQ % b"/pp/untrusted",
                                        source="127.0.0.2"))
        self.assertEqual(self.origin.count("/pp/untrusted"), 0)
        self.node.wait_metric("outpost_proxy_protocol_errors_total",
                              lambda v: v >= before + len(cases) + 1)

    def test_silent_client_times_out(self):
        with self.node.connect(timeout=10) as c:
            closed, data, elapsed = c.wait_closed(9)
        self.assertTrue(closed)
        self.assertEqual(data, b"")
        self.assertLess(elapsed, 8.5)


class ProxyProtocolTLS(harness.OutpostTestCase):
    """On a TLS listener the header comes before the ClientHello."""

    def setup_class_resources(self):
        cls = type(self)
        cls.c = t60_tls.certs()
        cls.origin = self.class_origin()
        cls.tls_port = harness.free_port()

        def mutate(cfg):
            t60_tls.tls_config(cfg, cls.c, cls.tls_port)
            cfg["listen"][-1]["proxy_protocol"] = True
            cfg["trusted_proxies"] = ["127.0.0.1/32"]
            return cfg
        cls.node = self.class_outpost(cls.origin, mutate=mutate)

    def test_header_then_handshake(self):
        ctx = t60_tls.client_ctx(self.c)
        for hdr, want in [(v1("203.0.113.40"), "203.0.113.40"),
                          (v2("2001:db8::40", "::1"), "2001:db8::40")]:
            raw = socket.create_connection(("127.0.0.1", self.tls_port), timeout=5)
            raw.sendall(hdr)
            with ctx.wrap_socket(raw, server_hostname="example.com") as s:
                path = "/pp/tls-" + want.replace(":", "_")
                r = t60_tls.tls_get(s, path, "example.com", "Connection: close\r\n")
            self.assertEqual(r.status, 200)
            recs = wait_until(lambda: [x for x in self.node.access_lines()
                                       if x.get("path") == path] or None, 5,
                              what="access log line")
            self.assertEqual([x["client"] for x in recs], [want])


if __name__ == "__main__":
    harness.main()
