#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Bad request input, sent as raw bytes: exact status, the connection is
closed, the request never reaches the origin, and the daemon keeps serving."""

import harness

H = b"Host: example.com\r\n"


def req(path, extra=b"", line=None, host=H):
    first = line if line is not None else b"GET " + path + b" HTTP/1.1"
    return first + b"\r\n" + host + extra + b"\r\n"


CASES = [
    # name, bytes, status, body-error (the head parses; the origin may have seen it)
    ("cl_and_te", req(b"/bad/clte", b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                      line=b"POST /bad/clte HTTP/1.1") + b"0\r\n\r\n", 400, False),
    ("two_content_length_differ", req(b"/bad/cl2", b"Content-Length: 5\r\nContent-Length: 6\r\n",
                                      line=b"POST /bad/cl2 HTTP/1.1") + b"hello!", 400, False),
    ("two_content_length_same", req(b"/bad/cl2s", b"Content-Length: 5\r\nContent-Length: 5\r\n",
                                    line=b"POST /bad/cl2s HTTP/1.1") + b"hello", 400, False),
    ("content_length_not_numeric", req(b"/bad/clnan", b"Content-Length: abc\r\n",
                                       line=b"POST /bad/clnan HTTP/1.1"), 400, False),
    ("content_length_negative", req(b"/bad/clneg", b"Content-Length: -1\r\n",
                                    line=b"POST /bad/clneg HTTP/1.1"), 400, False),
    ("bad_chunk_size", req(b"/bad/chunk", b"Transfer-Encoding: chunked\r\n",
                           line=b"POST /bad/chunk HTTP/1.1") + b"zz\r\nhello\r\n0\r\n\r\n",
     400, True),
    ("obs_fold", req(b"/bad/fold", b"X-A: a\r\n  folded\r\n"), 400, False),
    ("space_before_colon", req(b"/bad/spc", b"X-A : b\r\n"), 400, False),
    ("ctl_in_header_value", req(b"/bad/ctl", b"X-A: a\x01b\r\n"), 400, False),
    ("nul_in_header_value", req(b"/bad/nul", b"X-A: a\x00b\r\n"), 400, False),
    ("bare_cr", req(b"/bad/cr", b"X-A: a\rb\r\n"), 400, False),
    ("bare_lf", b"GET /bad/lf HTTP/1.1\r\nHost: example.com\nX-A: b\r\n\r\n", 400, False),
    ("invalid_method", req(b"/bad/method", line=b"GE(T /bad/method HTTP/1.1"), 400, False),
    ("http_2_0", req(b"/bad/v20", line=b"GET /bad/v20 HTTP/2.0"), 505, False),
    ("http_1_2", req(b"/bad/v12", line=b"GET /bad/v12 HTTP/1.2"), 505, False),
    ("two_hosts", req(b"/bad/hosts", b"Host: example.com\r\n"), 400, False),
    # no fragment in a request-target (RFC 9112 §3.2): the key would lose what
    # follows '#' and the origin would still get it (cache poisoning)
    ("fragment_in_target", req(b"/bad/frag#?x=1"), 400, False),
    ("fragment_in_absolute_target",
     req(b"", line=b"GET http://example.com/bad/fragabs#f HTTP/1.1"), 400, False),
    ("host_userinfo", req(b"/bad/userinfo", host=b"Host: a@example.com\r\n"), 400, False),
    ("host_spaces", req(b"/bad/hostsp", host=b"Host: exa mple.com\r\n"), 400, False),
    ("host_bad_port", req(b"/bad/hostport", host=b"Host: example.com:99999\r\n"), 400, False),
    ("request_line_too_long", req(b"/bad/long" + b"a" * 9000), 414, False),
    ("headers_too_large", req(b"/bad/bighead",
                              b"".join(b"X-Big-%d: %s\r\n" % (i, b"v" * 2000) for i in range(20))),
     431, False),
    ("too_many_header_fields", req(b"/bad/many",
                                   b"".join(b"X-H%d: v\r\n" % i for i in range(101))), 431, False),
]


class BadInput(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)

    def check_rejected(self, data, status, body_error):
        path = data.split(b" ", 2)[1].split(b"?")[0].decode("latin-1")
        rep = self.node.raw(data, timeout=5)
        resp = rep.first()
        self.assertEqual(resp.status, status, rep[:300])
        self.assertTrue(rep.closed, "connection not closed after %d" % status)
        self.assertIn("close", resp.header_tokens("Connection"), resp)
        self.assertTrue((resp.header("Content-Type") or "").startswith("text/plain"), resp)
        self.assertTrue(0 < len(resp.body) < 1024, resp.body[:200])
        if not body_error:
            self.assertEqual(self.origin.count(path[:200]), 0,
                             "bad request reached the origin")
        self.assertServing(self.node)

    def test_hundred_header_fields_accepted(self):
        # Host + 99 others = 100 fields: the limit, not over it
        data = req(b"/ok/hundred", b"".join(b"X-H%d: v\r\n" % i for i in range(99)))
        rep = self.node.raw(data, timeout=5)
        self.assertEqual(rep.first().status, 200, rep[:300])
        self.assertEqual(self.origin.count("/ok/hundred"), 1)

    def test_client_errors_counted(self):
        before = self.node.metric("outpost_client_errors_total")
        rep = self.node.raw(req(b"/bad/count", b"X-A : b\r\n"))
        self.assertEqual(rep.first().status, 400)
        self.node.wait_metric("outpost_client_errors_total", lambda v: v >= before + 1)

    def test_unread_body_never_parsed_as_a_request(self):
        # an answer of the node's own (a hit, a 304 from the cache,
        # OPTIONS *) does not read the request's body: it closes the
        # connection, so the body is never taken for a next request
        self.assertEqual(self.node.get("/smug/a?cc=max-age%3D60").status, 200)
        inner = b"GET /smug/inner HTTP/1.1\r\nHost: example.com\r\n\r\n"
        for first, status in ((b"GET /smug/a?cc=max-age%3D60 HTTP/1.1", 200),
                              (b"OPTIONS * HTTP/1.1", 200)):
            for framing, body in ((b"Content-Length: %d\r\n" % len(inner), inner),
                                  (b"Transfer-Encoding: chunked\r\n",
                                   b"%x\r\n%s\r\n0\r\n\r\n" % (len(inner), inner))):
                rep = self.node.raw(first + b"\r\n" + H + framing + b"\r\n" + body, timeout=5)
                rs = rep.responses()
                self.assertEqual([r.status for r in rs], [status], rep[:400])
                self.assertIn("close", rs[0].header_tokens("Connection"))
                self.assertTrue(rep.closed)
        self.assertEqual(self.origin.count("/smug/inner"), 0, "the body was taken for a request")
        self.assertServing(self.node)

    def test_garbage_then_serving(self):
        for junk in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
                     b"\r\n\r\n\r\n", b"GET\r\n\r\n", b"\xff\xfe\xfd\r\n\r\n"):
            rep = self.node.raw(junk, timeout=5)
            self.assertTrue(rep.closed, "connection left open after %r" % junk[:20])
            if rep:
                self.assertIn(rep.first().status, (400, 408, 505), rep[:200])
        self.assertServing(self.node)


def _make(name, data, status, body_error):
    def test(self):
        self.check_rejected(data, status, body_error)
    test.__name__ = "test_" + name
    test.__doc__ = "%s -> %d" % (name, status)
    return test


for _c in CASES:
    setattr(BadInput, "test_" + _c[0], _make(*_c))


if __name__ == "__main__":
    harness.main()
