#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Closing a client connection: at once when nothing can be left unread, a
lingering close (write side shut, input discarded for a while) otherwise.

A connection whose last request had no body and got no error, with nothing
more in its socket, is closed as soon as the response is out: the node holds
no socket for a client that does not close its own side.  An error answered
while the client may still be sending, or a request with a body, keeps the
lingering close, so the client reads the answer instead of a reset."""

import socket
import time

import harness


def read_to_eof(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


class Close(harness.OutpostTestCase):
    def setup_class_resources(self):
        cls = type(self)
        cls.origin = self.class_origin()
        cls.node = self.class_outpost(cls.origin)

    def active(self):
        return self.node.metric("outpost_connections_active")

    def test_connection_close_frees_the_socket_at_once(self):
        self.assertEqual(self.node.get("/t/warm").status, 200)
        harness.wait_until(lambda: self.active() == 0, 3.0, what="no connection open")
        s = socket.create_connection(("127.0.0.1", self.node.port), timeout=5)
        try:
            s.sendall(b"GET /t/close-now HTTP/1.1\r\nHost: example.com\r\n"
                      b"Connection: close\r\n\r\n")
            data = read_to_eof(s)
            r = harness.parse_responses(data)[0]
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Connection"), "close")
            # the client keeps its side open: the node's is gone all the same
            # (a lingering close would hold it for up to 2 s)
            t0 = time.monotonic()
            harness.wait_until(lambda: self.active() == 0, 1.0,
                               what="the node's socket closed while the client's is open")
            self.assertLess(time.monotonic() - t0, 1.0)
        finally:
            s.close()

    def test_error_while_the_client_sends_lingers(self):
        # a 400 for a bad request whose client goes on sending: the client
        # must read the 400, not a reset caused by its unread bytes
        s = socket.create_connection(("127.0.0.1", self.node.port), timeout=5)
        try:
            s.sendall(b"GET /t/bad HTTP/1.1\r\nHost: example.com\r\nBad Header: x\r\n\r\n")
            time.sleep(0.2)
            try:
                s.sendall(b"more bytes the node will not read " * 200)
            except OSError:
                pass
            data = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    self.fail("reset before the error response was read: %r" % data[:200])
                if not chunk:
                    break
                data += chunk
            self.assertEqual(harness.parse_responses(data)[0].status, 400)
        finally:
            s.close()
        self.assertServing(self.node)

    def test_request_with_a_body_lingers(self):
        # Connection: close after a POST: the body's framing was the
        # client's; the node still lingers rather than risk a reset
        s = socket.create_connection(("127.0.0.1", self.node.port), timeout=5)
        try:
            s.sendall(b"POST /t/post?echo=1 HTTP/1.1\r\nHost: example.com\r\n"
                      b"Content-Length: 5\r\nConnection: close\r\n\r\nhello")
            data = read_to_eof(s)
            r = harness.parse_responses(data)[0]
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"hello")
            time.sleep(0.3)
            self.assertEqual(self.active(), 1, "the node lingers after a request with a body")
        finally:
            s.close()
        harness.wait_until(lambda: self.active() == 0, 3.0, what="closed after the client")


if __name__ == "__main__":
    harness.main()
