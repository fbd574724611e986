#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""HTTP/2 conformance of the node (RFC 9113, RFC 7541), frame by frame.

A raw client (stdlib only: frames and HPACK literals written here) talks to a
real Outpost on an h2c prior-knowledge listener (`http2: prior_knowledge`)
and checks each answer the RFC requires: a connection error is a GOAWAY with
its code, a stream error a RST_STREAM with its code (or a GOAWAY with it,
which the RFC allows), and what must be ignored is ignored — after which the
same connection still serves a request.  After each case the node still
serves new connections; the class checks it is alive and clean at the end.

Run alone:

    OUTPOST_BIN=build/outpost python3 tests/integration/t78_http2_conformance.py
"""
import socket
import struct
import time

import harness

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, \
    STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = range(10)

S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT_STREAMS, S_INITIAL_WINDOW_SIZE, \
    S_MAX_FRAME_SIZE, S_MAX_HEADER_LIST_SIZE = range(1, 7)

TIMEOUT = 5.0


def hpack_int(value, prefix_bits, first=0):
    """RFC 7541 §5.1 integer with a prefix of prefix_bits bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(name, value):
    """A literal field without indexing, new name, no Huffman (§6.2.2)."""
    name = name.encode("latin-1") if isinstance(name, str) else name
    value = value.encode("latin-1") if isinstance(value, str) else value
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def block(fields):
    return b"".join(hpack_literal(n, v) for n, v in fields)


def get_fields(path="/h2c/ok", authority="example.com", extra=()):
    return [(":method", "GET"), (":scheme", "http"), (":authority", authority),
            (":path", path)] + list(extra)


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid & 0x7fffffff) + payload


class Closed(Exception):
    pass


class H2:
    """One client connection: the preface, SETTINGS exchanged, then frames."""

    def __init__(self, port, settings=b"", handshake=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""
        self.server_settings = {}
        if handshake:
            self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0, settings))
            self.await_settings()

    def send(self, data):
        self.sock.sendall(data)

    def send_frame(self, ftype, flags, sid, payload=b""):
        self.send(frame(ftype, flags, sid, payload))

    def read_frame(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame within %.1f s" % timeout)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed()
            self.buf += chunk
        n = int.from_bytes(self.buf[:3], "big")
        ftype, flags = self.buf[3], self.buf[4]
        sid = struct.unpack(">I", self.buf[5:9])[0] & 0x7fffffff
        payload = self.buf[9:9 + n]
        self.buf = self.buf[9 + n:]
        return ftype, flags, sid, payload

    def await_settings(self):
        """The server's SETTINGS (its first frame) and its ACK of ours."""
        got_settings = got_ack = False
        while not (got_settings and got_ack):
            ftype, flags, sid, payload = self.read_frame()
            if ftype == SETTINGS and not flags & ACK:
                if got_settings is False and not self.server_settings:
                    for i in range(0, len(payload), 6):
                        k, v = struct.unpack(">HI", payload[i:i + 6])
                        self.server_settings[k] = v
                got_settings = True
                self.send_frame(SETTINGS, ACK, 0)
            elif ftype == SETTINGS:
                got_ack = True

    def headers(self, sid, fields, end_stream=True, flags=END_HEADERS):
        self.send_frame(HEADERS, flags | (END_STREAM if end_stream else 0), sid, block(fields))

    def response(self, sid, timeout=TIMEOUT):
        """Reads frames until stream sid ends: (status, header block bytes, body)."""
        status, body, hdr = None, b"", b""
        deadline = time.monotonic() + timeout
        while True:
            ftype, flags, fsid, payload = self.read_frame(max(0.1, deadline - time.monotonic()))
            if ftype == GOAWAY:
                raise AssertionError("GOAWAY %s while waiting for stream %d"
                                     % (goaway_code(payload), sid))
            if fsid != sid:
                continue
            if ftype == RST_STREAM:
                raise AssertionError("stream %d reset: %d" % (sid, struct.unpack(">I", payload)[0]))
            if ftype == HEADERS:
                hdr += payload
                # the status is the first field: an indexed :status (8..14)
                # or a literal; the tests only need to know it is 2xx/4xx
                if status is None:
                    status = first_status(payload)
            elif ftype == DATA:
                body += payload
                if payload:
                    # give the window back so large bodies keep coming
                    inc = struct.pack(">I", len(payload))
                    self.send_frame(WINDOW_UPDATE, 0, 0, inc)
                    self.send_frame(WINDOW_UPDATE, 0, sid, inc)
            if ftype in (HEADERS, DATA) and flags & END_STREAM:
                return status, hdr, body

    def expect(self, kinds, timeout=TIMEOUT):
        """Reads until a frame of one of kinds (or the close): the frame, or
        None for a close."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                f = self.read_frame(max(0.1, deadline - time.monotonic()))
            except Closed:
                return None
            if f[0] in kinds:
                return f

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


STATUS_STATIC = {8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}


def first_status(payload):
    """The :status of a response head (the server's first field), or None."""
    b0 = payload[0] if payload else 0
    if b0 & 0x80:  # indexed field
        return STATUS_STATIC.get(b0 & 0x7f)
    if b0 & 0xc0 == 0x40:  # literal with incremental indexing
        name_index = b0 & 0x3f
    elif b0 & 0xe0 == 0:  # literal without indexing / never indexed
        name_index = b0 & 0x0f
    else:
        return None
    if not 8 <= name_index <= 14 or len(payload) < 2:
        return None
    n = payload[1] & 0x7f
    if payload[1] & 0x80:
        return "huffman-coded"
    try:
        return int(payload[2:2 + n])
    except ValueError:
        return None


def goaway_code(payload):
    return struct.unpack(">I", payload[4:8])[0] if len(payload) >= 8 else None


class H2cNode(harness.OutpostTestCase):
    """A node with an h2c listener (h2_port); after each case it still serves."""

    def setup_class_resources(self):
        type(self).h2_port = harness.free_port()
        origin = self.class_origin()

        def mutate(cfg):
            cfg["listen"].append({"address": "127.0.0.1:%d" % self.h2_port,
                                  "http2": "prior_knowledge"})
            return cfg
        type(self).node = self.class_outpost(origin, mutate=mutate)

    def conn(self, **kw):
        c = H2(self.h2_port, **kw)
        self.addCleanup(c.close)
        return c

    def tearDown(self):
        # every case leaves the node serving new connections
        c = H2(self.h2_port)
        try:
            c.headers(1, get_fields("/h2c/alive"))
            self.assertEqual(c.response(1)[0], 200)
        finally:
            c.close()
        super().tearDown()


class Conformance(H2cNode):
    # -- helpers --------------------------------------------------------
    def assertConnError(self, c, code, what):
        f = c.expect((GOAWAY,))
        self.assertIsNotNone(f, "%s: the connection closed without GOAWAY" % what)
        self.assertEqual(goaway_code(f[3]), code, "%s: GOAWAY code" % what)

    def assertStreamError(self, c, sid, code, what):
        deadline = time.monotonic() + TIMEOUT
        while True:
            f = c.expect((RST_STREAM, GOAWAY, HEADERS), max(0.1, deadline - time.monotonic()))
            self.assertIsNotNone(f, "%s: closed without RST_STREAM or GOAWAY" % what)
            ftype, _, fsid, payload = f
            if ftype == GOAWAY:
                self.assertEqual(goaway_code(payload), code, "%s: GOAWAY code" % what)
                return
            if ftype == RST_STREAM and fsid == sid:
                self.assertEqual(struct.unpack(">I", payload)[0], code,
                                 "%s: RST_STREAM code" % what)
                return
            if ftype == HEADERS and fsid == sid:
                self.fail("%s: stream %d was answered, not reset" % (what, sid))

    def assertStillServes(self, c, sid, what):
        c.headers(sid, get_fields("/h2c/after"))
        status, _, body = c.response(sid)
        self.assertEqual(status, 200, "%s: the connection no longer serves" % what)

    # -- §3.4 preface ---------------------------------------------------
    def test_preface_invalid(self):
        c = self.conn(handshake=False)
        c.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + frame(SETTINGS, 0, 0))
        f = c.expect((GOAWAY,))
        if f is not None:
            self.assertEqual(goaway_code(f[3]), PROTOCOL_ERROR)

    def test_preface_then_not_settings(self):
        c = self.conn(handshake=False)
        c.send(PREFACE + frame(PING, 0, 0, b"12345678"))
        self.assertConnError(c, PROTOCOL_ERROR, "a PING before SETTINGS")

    def test_server_sends_settings_first(self):
        c = self.conn(handshake=False)
        c.send(PREFACE + frame(SETTINGS, 0, 0))
        ftype, flags, sid, _ = c.read_frame()
        self.assertEqual((ftype, flags & ACK, sid), (SETTINGS, 0, 0))

    # -- §6.5 SETTINGS --------------------------------------------------
    def test_settings_ack_with_payload(self):
        c = self.conn()
        c.send_frame(SETTINGS, ACK, 0, struct.pack(">HI", S_ENABLE_PUSH, 0))
        self.assertConnError(c, FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")

    def test_settings_on_a_stream(self):
        c = self.conn()
        c.send_frame(SETTINGS, 0, 1)
        self.assertConnError(c, PROTOCOL_ERROR, "SETTINGS on stream 1")

    def test_settings_length_not_multiple_of_6(self):
        c = self.conn()
        c.send_frame(SETTINGS, 0, 0, b"\x00\x02\x00\x00\x00")
        self.assertConnError(c, FRAME_SIZE_ERROR, "SETTINGS of 5 bytes")

    def test_settings_enable_push_2(self):
        c = self.conn()
        c.send_frame(SETTINGS, 0, 0, struct.pack(">HI", S_ENABLE_PUSH, 2))
        self.assertConnError(c, PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH=2")

    def test_settings_initial_window_too_large(self):
        c = self.conn()
        c.send_frame(SETTINGS, 0, 0, struct.pack(">HI", S_INITIAL_WINDOW_SIZE, 1 << 31))
        self.assertConnError(c, FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE=2^31")

    def test_settings_max_frame_size_out_of_range(self):
        for v in (16383, 1 << 24):
            c = self.conn()
            c.send_frame(SETTINGS, 0, 0, struct.pack(">HI", S_MAX_FRAME_SIZE, v))
            self.assertConnError(c, PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE=%d" % v)

    def test_settings_unknown_is_ignored(self):
        c = self.conn()
        c.send_frame(SETTINGS, 0, 0, struct.pack(">HI", 0xfe, 77))
        f = c.expect((SETTINGS,))
        self.assertIsNotNone(f)
        self.assertTrue(f[1] & ACK, "an unknown setting is acknowledged")
        self.assertStillServes(c, 1, "after an unknown setting")

    # -- §6.7 PING --------------------------------------------------------
    def test_ping_is_echoed(self):
        c = self.conn()
        c.send_frame(PING, 0, 0, b"outpost!")
        f = c.expect((PING,))
        self.assertIsNotNone(f)
        self.assertEqual((f[1] & ACK, f[3]), (ACK, b"outpost!"))

    def test_ping_on_a_stream(self):
        c = self.conn()
        c.send_frame(PING, 0, 1, b"12345678")
        self.assertConnError(c, PROTOCOL_ERROR, "PING on stream 1")

    def test_ping_wrong_length(self):
        c = self.conn()
        c.send_frame(PING, 0, 0, b"123456")
        self.assertConnError(c, FRAME_SIZE_ERROR, "PING of 6 bytes")

    def test_ping_ack_is_not_answered(self):
        c = self.conn()
        c.send_frame(PING, ACK, 0, b"unasked!")
        c.send_frame(PING, 0, 0, b"asked..!")
        f = c.expect((PING,))
        self.assertEqual(f[3], b"asked..!", "a PING ACK got an answer")

    # -- §6.8 GOAWAY, §6.4 RST_STREAM --------------------------------------
    def test_goaway_naming_a_client_stream(self):
        # a client's GOAWAY names the last server-initiated (even) stream
        c = self.conn()
        c.send_frame(GOAWAY, 0, 0, struct.pack(">II", 1, NO_ERROR))
        self.assertConnError(c, PROTOCOL_ERROR, "GOAWAY naming stream 1")

    def test_goaway_on_a_stream(self):
        c = self.conn()
        c.send_frame(GOAWAY, 0, 1, struct.pack(">II", 0, 0))
        self.assertConnError(c, PROTOCOL_ERROR, "GOAWAY on stream 1")

    def test_rst_stream_on_idle_stream(self):
        c = self.conn()
        c.send_frame(RST_STREAM, 0, 1, struct.pack(">I", CANCEL))
        self.assertConnError(c, PROTOCOL_ERROR, "RST_STREAM on an idle stream")

    def test_rst_stream_on_stream_0(self):
        c = self.conn()
        c.send_frame(RST_STREAM, 0, 0, struct.pack(">I", CANCEL))
        self.assertConnError(c, PROTOCOL_ERROR, "RST_STREAM on stream 0")

    def test_rst_stream_wrong_length(self):
        c = self.conn()
        c.headers(1, get_fields("/h2c/rst-len?delay_ms=300"), end_stream=True)
        c.send_frame(RST_STREAM, 0, 1, b"\x00\x00\x00")
        self.assertConnError(c, FRAME_SIZE_ERROR, "RST_STREAM of 3 bytes")

    # -- §6.9 WINDOW_UPDATE ----------------------------------------------
    def test_window_update_zero_on_connection(self):
        c = self.conn()
        c.send_frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0))
        self.assertConnError(c, PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on the connection")

    def test_window_update_zero_on_stream(self):
        c = self.conn()
        c.headers(1, get_fields("/h2c/wu0?delay_ms=300"), end_stream=True)
        c.send_frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 0))
        self.assertStreamError(c, 1, PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on a stream")

    def test_window_update_overflow_connection(self):
        c = self.conn()
        c.send_frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7fffffff))
        c.send_frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7fffffff))
        self.assertConnError(c, FLOW_CONTROL_ERROR, "the connection window past 2^31-1")

    def test_window_update_wrong_length(self):
        c = self.conn()
        c.send_frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x01")
        self.assertConnError(c, FRAME_SIZE_ERROR, "WINDOW_UPDATE of 3 bytes")

    # -- §5.1 stream identifiers and states ----------------------------------
    def test_even_stream_id(self):
        c = self.conn()
        c.headers(2, get_fields())
        self.assertConnError(c, PROTOCOL_ERROR, "HEADERS on an even stream")

    def test_headers_on_stream_0(self):
        c = self.conn()
        c.headers(0, get_fields())
        self.assertConnError(c, PROTOCOL_ERROR, "HEADERS on stream 0")

    def test_decreasing_stream_id(self):
        c = self.conn()
        c.headers(5, get_fields("/h2c/s5"))
        c.response(5)
        c.headers(3, get_fields("/h2c/s3"))
        self.assertConnError(c, PROTOCOL_ERROR, "a stream id below one already used")

    def test_data_on_idle_stream(self):
        c = self.conn()
        c.send_frame(DATA, END_STREAM, 1, b"x")
        self.assertConnError(c, PROTOCOL_ERROR, "DATA on an idle stream")

    def test_data_on_stream_0(self):
        c = self.conn()
        c.send_frame(DATA, 0, 0, b"x")
        self.assertConnError(c, PROTOCOL_ERROR, "DATA on stream 0")

    def test_data_after_end_stream(self):
        c = self.conn()
        c.headers(1, get_fields("/h2c/half-closed?delay_ms=300"), end_stream=True)
        c.send_frame(DATA, 0, 1, b"late")
        self.assertStreamError(c, 1, STREAM_CLOSED, "DATA on a half-closed stream")

    def test_headers_on_closed_stream(self):
        # a closed stream (§5.1: STREAM_CLOSED) whose id is also not above
        # the last one (§5.1.1: PROTOCOL_ERROR): either code is the RFC's
        c = self.conn()
        c.headers(1, get_fields("/h2c/closed"))
        c.response(1)
        c.headers(1, get_fields("/h2c/closed"))
        f = c.expect((GOAWAY, RST_STREAM))
        self.assertIsNotNone(f, "HEADERS on a closed stream went unanswered")
        code = goaway_code(f[3]) if f[0] == GOAWAY else struct.unpack(">I", f[3])[0]
        self.assertIn(code, (STREAM_CLOSED, PROTOCOL_ERROR), "HEADERS on a closed stream")

    def test_data_on_closed_stream(self):
        c = self.conn()
        c.headers(1, get_fields("/h2c/closed-data"))
        c.response(1)
        c.send_frame(DATA, 0, 1, b"late")
        f = c.expect((GOAWAY, RST_STREAM))
        self.assertIsNotNone(f, "DATA on a closed stream went unanswered")
        code = goaway_code(f[3]) if f[0] == GOAWAY else struct.unpack(">I", f[3])[0]
        self.assertEqual(code, STREAM_CLOSED, "DATA on a closed stream")

    def test_priority_on_itself(self):
        c = self.conn()
        c.send_frame(PRIORITY, 0, 1, struct.pack(">IB", 1, 16))
        self.assertStreamError(c, 1, PROTOCOL_ERROR, "PRIORITY depending on itself")

    def test_priority_wrong_length(self):
        c = self.conn()
        c.send_frame(PRIORITY, 0, 1, b"\x00\x00\x00\x00")
        self.assertStreamError(c, 1, FRAME_SIZE_ERROR, "PRIORITY of 4 bytes")

    def test_headers_priority_on_itself(self):
        c = self.conn()
        c.send_frame(HEADERS, END_HEADERS | END_STREAM | PRIORITY_FLAG, 1,
                     struct.pack(">IB", 1, 16) + block(get_fields()))
        self.assertStreamError(c, 1, PROTOCOL_ERROR, "HEADERS depending on itself")

    def test_max_concurrent_streams(self):
        c = self.conn()
        limit = c.server_settings.get(S_MAX_CONCURRENT_STREAMS)
        self.assertIsNotNone(limit, "the server states SETTINGS_MAX_CONCURRENT_STREAMS")
        self.assertLessEqual(limit, 1000)
        # limit + 1 streams the origin answers slowly: the last one is
        # refused (§5.1.2: REFUSED_STREAM or PROTOCOL_ERROR)
        for i in range(limit + 1):
            c.headers(1 + 2 * i, get_fields("/h2c/slow%d?delay_ms=1500" % i))
        last = 1 + 2 * limit
        f = c.expect((RST_STREAM, GOAWAY, HEADERS))
        while f is not None and f[0] != GOAWAY and f[2] != last:
            f = c.expect((RST_STREAM, GOAWAY, HEADERS))
        self.assertIsNotNone(f, "the stream past the limit went unanswered")
        self.assertNotEqual(f[0], HEADERS, "the stream past the limit was served")
        code = goaway_code(f[3]) if f[0] == GOAWAY else struct.unpack(">I", f[3])[0]
        self.assertIn(code, (REFUSED_STREAM, PROTOCOL_ERROR))

    # -- §4.2 frame size ----------------------------------------------------
    def test_frame_larger_than_max_frame_size(self):
        c = self.conn()
        limit = c.server_settings.get(S_MAX_FRAME_SIZE, 16384)
        c.headers(1, [(":method", "POST")] + get_fields("/h2c/big?delay_ms=300")[1:],
                  end_stream=False)
        c.send_frame(DATA, 0, 1, b"x" * (limit + 1))
        # a DATA frame may be a stream error (§4.2); a GOAWAY is allowed too
        self.assertStreamError(c, 1, FRAME_SIZE_ERROR, "a DATA frame past SETTINGS_MAX_FRAME_SIZE")

    def test_headers_larger_than_max_frame_size(self):
        c = self.conn()
        limit = c.server_settings.get(S_MAX_FRAME_SIZE, 16384)
        c.send_frame(HEADERS, END_HEADERS | END_STREAM, 1,
                     block(get_fields(extra=[("x-pad", "p" * (limit + 10))])))
        self.assertConnError(c, FRAME_SIZE_ERROR, "a HEADERS frame past SETTINGS_MAX_FRAME_SIZE")

    # -- §5.5 extensions ----------------------------------------------------
    def test_unknown_frame_type_is_ignored(self):
        c = self.conn()
        c.send_frame(0xfa, 0xff, 0, b"whatever")
        c.send_frame(0xfa, 0, 1, b"")
        self.assertStillServes(c, 1, "after an unknown frame type")

    def test_unknown_flags_are_ignored(self):
        c = self.conn()
        c.send_frame(PING, 0xfe & ~ACK, 0, b"flagged!")
        f = c.expect((PING,))
        self.assertEqual(f[3], b"flagged!")
        c.send_frame(HEADERS, END_HEADERS | END_STREAM | 0x10 | 0x40, 1, block(get_fields()))
        status, _, _ = c.response(1)
        self.assertEqual(status, 200)

    # -- §6.2, §6.10 header blocks -------------------------------------------
    def test_continuation_without_headers(self):
        c = self.conn()
        c.send_frame(CONTINUATION, END_HEADERS, 1, block(get_fields()))
        self.assertConnError(c, PROTOCOL_ERROR, "CONTINUATION without HEADERS")

    def test_frame_between_headers_and_continuation(self):
        c = self.conn()
        b = block(get_fields())
        c.send_frame(HEADERS, END_STREAM, 1, b[:10])
        c.send_frame(PING, 0, 0, b"12345678")
        self.assertConnError(c, PROTOCOL_ERROR, "a PING inside a header block")

    def test_continuation_on_other_stream(self):
        c = self.conn()
        b = block(get_fields())
        c.send_frame(HEADERS, END_STREAM, 1, b[:10])
        c.send_frame(CONTINUATION, END_HEADERS, 3, b[10:])
        self.assertConnError(c, PROTOCOL_ERROR, "CONTINUATION of another stream")

    def test_headers_split_over_continuations(self):
        c = self.conn()
        b = block(get_fields("/h2c/split"))
        c.send_frame(HEADERS, END_STREAM, 1, b[:7])
        c.send_frame(CONTINUATION, 0, 1, b[7:20])
        c.send_frame(CONTINUATION, END_HEADERS, 1, b[20:])
        self.assertEqual(c.response(1)[0], 200)

    def test_padded_headers(self):
        c = self.conn()
        b = block(get_fields("/h2c/padded"))
        c.send_frame(HEADERS, END_HEADERS | END_STREAM | PADDED, 1, b"\x05" + b + b"\x00" * 5)
        self.assertEqual(c.response(1)[0], 200)

    def test_padding_longer_than_frame(self):
        c = self.conn()
        b = block(get_fields())
        c.send_frame(HEADERS, END_HEADERS | END_STREAM | PADDED, 1,
                     bytes([len(b) + 10]) + b)
        self.assertConnError(c, PROTOCOL_ERROR, "padding longer than the frame")

    def test_hpack_invalid_index(self):
        c = self.conn()
        c.send_frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\xbe")
        self.assertConnError(c, COMPRESSION_ERROR, "an index past both tables")

    def test_hpack_table_size_update_too_large(self):
        c = self.conn()
        c.send_frame(HEADERS, END_HEADERS | END_STREAM, 1,
                     hpack_int(1 << 20, 5, 0x20) + block(get_fields()))
        self.assertConnError(c, COMPRESSION_ERROR, "a table size above the setting")

    def huffman_case(self, coded, what):
        # x-h: <Huffman string>, a literal without indexing with a new name
        c = self.conn()
        bad = b"\x00\x03x-h" + bytes([0x80 | len(coded)]) + coded
        c.send_frame(HEADERS, END_HEADERS | END_STREAM, 1, block(get_fields()) + bad)
        self.assertConnError(c, COMPRESSION_ERROR, what)

    def test_hpack_huffman_padding_not_ones(self):
        # '0' is 00000; the 3 bits left must be the EOS prefix (ones)
        self.huffman_case(b"\x00", "Huffman padding of zeros")

    def test_hpack_huffman_padding_too_long(self):
        # 'a' is 00011, then 11 bits of ones: padding longer than 7 bits
        self.huffman_case(b"\x1f\xff", "Huffman padding of 11 bits")

    def test_hpack_huffman_eos(self):
        # 32 ones hold the 30-bit EOS symbol
        self.huffman_case(b"\xff\xff\xff\xff", "EOS in a Huffman string")

    # -- §8.2, §8.3 message rules: stream errors -------------------------------
    def stream_error_case(self, fields, what, end_stream=True):
        c = self.conn()
        c.headers(1, fields, end_stream=end_stream)
        self.assertStreamError(c, 1, PROTOCOL_ERROR, what)
        return c

    def test_uppercase_field_name(self):
        self.stream_error_case(get_fields(extra=[("X-Upper", "1")]), "an uppercase name")

    def test_connection_specific_fields(self):
        for name, value in (("connection", "keep-alive"), ("keep-alive", "timeout=5"),
                            ("proxy-connection", "keep-alive"),
                            ("transfer-encoding", "chunked"), ("upgrade", "h2c")):
            self.stream_error_case(get_fields(extra=[(name, value)]), name)

    def test_te_other_than_trailers(self):
        self.stream_error_case(get_fields(extra=[("te", "gzip")]), "te: gzip")

    def test_te_trailers_is_allowed(self):
        c = self.conn()
        c.headers(1, get_fields("/h2c/te", extra=[("te", "trailers")]))
        self.assertEqual(c.response(1)[0], 200)

    def test_missing_pseudo_headers(self):
        for drop in (":method", ":scheme", ":path"):
            fields = [f for f in get_fields() if f[0] != drop]
            self.stream_error_case(fields, "no %s" % drop)

    def test_empty_path(self):
        self.stream_error_case([(":method", "GET"), (":scheme", "http"),
                                (":authority", "example.com"), (":path", "")], "an empty :path")

    def test_duplicate_pseudo_header(self):
        self.stream_error_case(get_fields() + [(":path", "/again")], "two :path")

    def test_pseudo_after_regular(self):
        fields = [(":method", "GET"), (":scheme", "http"), ("x-a", "1"),
                  (":authority", "example.com"), (":path", "/")]
        self.stream_error_case(fields, "a pseudo-header after a field")

    def test_unknown_pseudo_header(self):
        self.stream_error_case(get_fields(extra=[(":foo", "bar")]), "an unknown pseudo-header")

    def test_response_pseudo_in_request(self):
        self.stream_error_case(get_fields(extra=[(":status", "200")]), ":status in a request")

    def test_pseudo_in_trailers(self):
        c = self.conn()
        c.headers(1, [(":method", "POST")] + get_fields("/h2c/tr")[1:], end_stream=False)
        c.send_frame(DATA, 0, 1, b"abc")
        c.send_frame(HEADERS, END_HEADERS | END_STREAM, 1, block([(":path", "/x")]))
        self.assertStreamError(c, 1, PROTOCOL_ERROR, "a pseudo-header in trailers")

    def test_trailers_without_end_stream(self):
        c = self.conn()
        c.headers(1, [(":method", "POST")] + get_fields("/h2c/tr2")[1:], end_stream=False)
        c.send_frame(DATA, 0, 1, b"abc")
        c.send_frame(HEADERS, END_HEADERS, 1, block([("x-trailer", "1")]))
        self.assertStreamError(c, 1, PROTOCOL_ERROR, "a second HEADERS without END_STREAM")

    def test_content_length_mismatch(self):
        c = self.conn()
        c.headers(1, [(":method", "POST")] + get_fields("/h2c/cl")[1:] +
                  [("content-length", "10")], end_stream=False)
        c.send_frame(DATA, END_STREAM, 1, b"abc")
        self.assertStreamError(c, 1, PROTOCOL_ERROR, "content-length 10 with 3 bytes of DATA")

    def test_content_length_exceeded(self):
        c = self.conn()
        c.headers(1, [(":method", "POST")] + get_fields("/h2c/cl2")[1:] +
                  [("content-length", "2")], end_stream=False)
        c.send_frame(DATA, END_STREAM, 1, b"abcdef")
        self.assertStreamError(c, 1, PROTOCOL_ERROR, "content-length 2 with 6 bytes of DATA")

    def test_field_value_with_newline(self):
        self.stream_error_case(get_fields(extra=[("x-bad", "a\r\nb")]), "CR LF in a value")

    def test_field_name_with_space(self):
        self.stream_error_case(get_fields(extra=[("x bad", "1")]), "a space in a name")

    def test_connect_without_authority(self):
        self.stream_error_case([(":method", "CONNECT")], "CONNECT without :authority")

    # -- §5.2, §6.9 flow control ----------------------------------------------
    def test_small_client_window_is_respected(self):
        c = self.conn(settings=struct.pack(">HI", S_INITIAL_WINDOW_SIZE, 100))
        c.headers(1, get_fields("/h2c/win?size=5000"))
        got, deadline = 0, time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                ftype, flags, sid, payload = c.read_frame(0.3)
            except TimeoutError:
                break
            if ftype == DATA and sid == 1:
                got += len(payload)
        self.assertLessEqual(got, 100, "the server sent past a 100-byte stream window")
        self.assertGreater(got, 0)
        c.send_frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 10000))
        c.send_frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 10000))
        _, _, rest = c.response(1)
        self.assertEqual(got + len(rest), 5000)

    def settings_acked(self, c, payload):
        c.send_frame(SETTINGS, 0, 0, payload)
        f = c.expect((SETTINGS,))
        while f is not None and not f[1] & ACK:
            f = c.expect((SETTINGS,))
        self.assertIsNotNone(f, "SETTINGS not acknowledged")

    def next_data(self, c, sid, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            ftype, flags, fsid, payload = c.read_frame(max(0.1, deadline - time.monotonic()))
            if ftype == DATA and fsid == sid:
                return payload
            self.assertNotIn(ftype, (GOAWAY, RST_STREAM), "the stream ended without DATA")

    def test_window_opened_by_settings(self):
        # §6.9.2: a change of SETTINGS_INITIAL_WINDOW_SIZE moves the
        # windows of open streams: 0, then 1 lets exactly one byte out
        c = self.conn()
        self.settings_acked(c, struct.pack(">HI", S_INITIAL_WINDOW_SIZE, 0))
        c.headers(1, get_fields("/h2c/win0?size=100"))
        time.sleep(0.3)
        self.settings_acked(c, struct.pack(">HI", S_INITIAL_WINDOW_SIZE, 1))
        self.assertEqual(len(self.next_data(c, 1)), 1)

    def test_negative_window_is_tracked(self):
        # §6.9.2: 3 bytes out, the window set to 2 (now -1), a WINDOW_UPDATE
        # of 2: exactly one more byte
        c = self.conn()
        self.settings_acked(c, struct.pack(">HI", S_INITIAL_WINDOW_SIZE, 3))
        c.headers(1, get_fields("/h2c/winneg?size=100"))
        got = b""
        while len(got) < 3:
            got += self.next_data(c, 1)
        self.assertEqual(len(got), 3)
        self.settings_acked(c, struct.pack(">HI", S_INITIAL_WINDOW_SIZE, 2))
        c.send_frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 2))
        self.assertEqual(len(self.next_data(c, 1)), 1)

    def test_settings_window_overflow_on_open_stream(self):
        # §6.9.2: a new initial window that takes an open stream's window past
        # 2^31-1 is a connection error FLOW_CONTROL_ERROR
        c = self.conn()
        c.headers(1, get_fields("/h2c/winover?size=100&delay_ms=500"))
        c.send_frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 0x7fffffff - 65535))
        c.send_frame(SETTINGS, 0, 0, struct.pack(">HI", S_INITIAL_WINDOW_SIZE, 65536))
        self.assertConnError(c, FLOW_CONTROL_ERROR, "a stream window past 2^31-1 by SETTINGS")

    # -- a request that works, for reference --------------------------------
    def test_get_and_body(self):
        c = self.conn()
        c.headers(1, get_fields("/h2c/body?size=70000"))
        status, _, body = c.response(1)
        self.assertEqual(status, 200)
        self.assertEqual(body, bytes(k % 251 for k in range(70000)))

    def test_head_request(self):
        c = self.conn()
        c.headers(1, [(":method", "HEAD")] + get_fields("/h2c/head?size=300")[1:])
        status, _, body = c.response(1)
        self.assertEqual((status, body), (200, b""))

    def test_post_with_trailers(self):
        c = self.conn()
        c.headers(1, [(":method", "POST")] + get_fields("/h2c/trailers?echo=1")[1:] +
                  [("trailer", "x-test")], end_stream=False)
        c.send_frame(DATA, 0, 1, b"test")
        c.send_frame(HEADERS, END_HEADERS | END_STREAM, 1, block([("x-test", "ok")]))
        status, _, body = c.response(1)
        self.assertEqual((status, body), (200, b"test"))

    def test_goaway_from_client_is_honoured(self):
        c = self.conn()
        c.headers(1, get_fields("/h2c/bye"))
        self.assertEqual(c.response(1)[0], 200)
        # the client's last stream id names server-initiated streams: none
        c.send_frame(GOAWAY, 0, 0, struct.pack(">II", 0, NO_ERROR))
        f = c.expect((GOAWAY,), timeout=3.0)
        if f is not None:
            self.assertEqual(goaway_code(f[3]), NO_ERROR)



ENHANCE_YOUR_CALM = 11


class Defences(H2cNode):
    """The node's own budgets (not RFC rules): each flood ends its connection
    with GOAWAY ENHANCE_YOUR_CALM, an HPACK bomb is answered 431, and the node
    serves the next connection."""


    def flood(self, frames, what):
        c = self.conn()
        before = self.node.metric("outpost_h2_flood_total", default=0)
        try:
            c.send(b"".join(frames))
        except OSError:
            pass   # the node may close before it read every frame
        f = c.expect((GOAWAY,))
        self.assertIsNotNone(f, "%s: closed without GOAWAY" % what)
        self.assertEqual(goaway_code(f[3]), ENHANCE_YOUR_CALM, what)
        self.node.wait_metric("outpost_h2_flood_total", lambda v: v >= before + 1)

    def test_ping_flood(self):
        self.flood([frame(PING, 0, 0, struct.pack(">Q", i)) for i in range(1200)], "PING")

    def test_settings_flood(self):
        self.flood([frame(SETTINGS, 0, 0) for _ in range(1200)], "SETTINGS")

    def test_priority_flood(self):
        prio = struct.pack(">IB", 0, 15)
        self.flood([frame(PRIORITY, 0, 1 + 2 * (i % 50), prio) for i in range(1200)],
                   "PRIORITY")

    def test_empty_data_flood(self):
        open_stream = frame(HEADERS, END_HEADERS, 1,
                            block([(":method", "POST")] + get_fields("/h2c/empty")[1:]))
        self.flood([open_stream] + [frame(DATA, 0, 1) for _ in range(150)], "empty DATA")

    def test_hpack_bomb_is_431(self):
        # one 4000-byte field put in the dynamic table, then a head naming
        # it 100 times: 400 KB decoded from a few hundred bytes
        c = self.conn()
        before = self.node.metric("outpost_h2_too_large_total", default=0)
        seed = b"\x40" + hpack_int(6, 7) + b"x-bomb" + hpack_int(4000, 7) + b"b" * 4000
        c.send_frame(HEADERS, END_HEADERS | END_STREAM, 1,
                     block(get_fields("/h2c/seed")) + seed)
        self.assertEqual(c.response(1)[0], 200)
        c.send_frame(HEADERS, END_HEADERS | END_STREAM, 3,
                     block(get_fields("/h2c/bomb")) + b"\xbe" * 100)
        self.assertEqual(c.response(3)[0], 431)
        self.node.wait_metric("outpost_h2_too_large_total", lambda v: v >= before + 1)
        c.headers(5, get_fields("/h2c/after-bomb"))
        self.assertEqual(c.response(5)[0], 200)

if __name__ == "__main__":
    harness.main()
