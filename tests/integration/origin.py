#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Scriptable test origin for the Outpost integration tests (stdlib only).

Run as its own process:

    python3 origin.py [--host 127.0.0.1] [--port 0] [--port-file F] [--script F]
                      [--idle-timeout-ms 30000] [--tls-cert PEM --tls-key KEY]

It listens on a raw socket (one thread per connection) so every byte it sends
is under the test's control, and counts every request it receives.

Behaviour of a request is looked up, in this order of precedence:
  1. query parameters of the request target (e.g. /x?status=404&cc=max-age%3D60),
  2. the script: a JSON object {"/exact/path": {...}, "/prefix/*": {...}} given
     with --script or added at runtime with POST /__script (JSON body),
  3. defaults (200, a short text body naming the request).

Behaviour keys (JSON name = query name):
  status (int), reason (str)
  headers  JSON: [[name, value], ...] or {name: value};  query: h=Name:%20value (repeatable)
           a given Date header replaces the origin's own, which is the next
           whole second (not the clock's, see below) unless the behaviour has
           date_headers or expires
  date_headers JSON {name: seconds}: header set to the HTTP date now + seconds,
           computed when the response is sent (e.g. {"Date": -30,
           "Last-Modified": -3600}); replaces a header of that name
  seq      JSON list of behaviours: the n-th request for this path (counted as in
           X-Origin-Count) uses item n-1 (the last one for later requests),
           merged over the rest of the behaviour; query parameters still win
  cc       shortcut for a Cache-Control header
  expires  seconds from now -> Expires header (may be negative)
  body     literal body text
  body_from NAME -> body is "NAME=<the request's NAME field value, or ->"
  size     body of N bytes of the repeating pattern (byte k == k % 251),
           generated on the fly, never held in memory
  seed     with size: start the pattern at byte `seed` (byte k == (k+seed) % 251),
           so objects of one size still differ
  delay_ms        sleep before sending the response head
  chunked         1 -> Transfer-Encoding: chunked
  chunk_size      bytes per chunk / per send (default 16384)
  chunk_delay_ms  sleep between chunks (also between sends of a plain body)
  no_length       1 -> neither Content-Length nor chunked: body delimited by close
  drop            1 -> close the connection without a response
  reset           1 -> close with SO_LINGER 0 (RST) without a response
  abort_after     N -> send the head and the first N body bytes, then close
                  with SO_LINGER 0 (RST): a body cut mid-way
  raw             send these bytes (latin-1 text) verbatim, then close
  raw_hold_ms     with raw: keep the connection open this long before closing
                  (a server that keeps it alive, e.g. after a body that only
                  the close delimits)
  echo            1 -> body is the request body (if <= 16 MiB); headers
                  X-Echo-Length, X-Echo-Sha256, X-Echo-Method, X-Echo-Chunked
  close           1 -> send Connection: close and close after the response
  close_after     1 -> close silently after the response (no Connection: close)
  keepalive_ms    close an idle keep-alive connection after this many ms
  no_continue     1 -> do not answer Expect: 100-continue with 100 Continue
  no_cond         1 -> ignore the request's conditionals (see below)
  ranges          1 -> a GET answered 200 with a Range "bytes=A-B" or "bytes=A-"
                  gets 206 and that slice (Content-Range), or 416 past the end

Conditional requests (RFC 9110 §13.1): when the behaviour gives an ETag header
and the request's If-None-Match lists it (weak comparison, or "*"), or, without
If-None-Match, gives a Last-Modified no later than the request's
If-Modified-Since, a GET/HEAD that would be answered 200 gets 304 Not Modified
with the same header fields and no body.  Every recorded request carries the
status it was answered with ("status"), so /__count?path=P&status=304 counts
the 304s and status=200 the full answers.

Control endpoints (never counted, never scripted), on the same port:
  GET  /__count?path=P       {"count": n}  requests whose path (or, if P has a '?',
                             whose full target) equals P; prefix=P counts a prefix;
                             no argument: all requests; status=S: only those
                             answered with status S
  GET  /__requests?path=P    [{"method", "target", "path", "version", "headers":
                             [[n, v], ...], "body_length", "body_sha256", "chunked",
                             "peer_port" (the client's port: one per connection),
                             "tls_client" (CN of a verified TLS client certificate),
                             "tls" (the request came over TLS),
                             "response_headers" (the head's fields as sent, but
                             for raw answers)}]
  POST /__script             merge the JSON body into the script
  POST /__reset              forget counts and recorded requests
  GET  /__ping               200 "pong"

Every response carries X-Origin-Count (requests seen so far for this path) and
Date.  Default body: "origin METHOD TARGET n=COUNT\n".
"""

import argparse
import email.utils
import hashlib
import json
import math
import os
import re
import signal
import socket
import ssl
import struct
import threading
import time
import traceback
import urllib.parse

PATTERN_MOD = 251
# 261 * 251 bytes: a whole number of pattern periods, so blocks can be
# concatenated and the sequence continues.
PATTERN_BLOCK = bytes(i % PATTERN_MOD for i in range(PATTERN_MOD * 261))
_PATTERN_DOUBLE = memoryview(PATTERN_BLOCK * 2)

MAX_HEAD = 256 * 1024
MAX_ECHO = 16 * 1024 * 1024
IO_TIMEOUT = 30.0


def pattern_chunks(size, chunk=None):
    """Yields memoryviews over the pattern body of `size` bytes, `chunk` bytes
    at a time (default and maximum: len(PATTERN_BLOCK))."""
    n_max = len(PATTERN_BLOCK)
    chunk = n_max if not chunk or chunk > n_max else int(chunk)
    dbl = _PATTERN_DOUBLE
    off = 0
    while off < size:
        n = min(size - off, chunk)
        s = off % PATTERN_MOD
        yield dbl[s:s + n]
        off += n


def pattern_slice_chunks(first, n, chunk=None):
    """Like pattern_chunks, for bytes first..first+n-1 of a pattern body."""
    off = first % PATTERN_MOD
    for c in pattern_chunks(n + off, chunk):
        if off >= len(c):
            off -= len(c)
            continue
        yield c[off:]
        off = 0


def pattern_bytes(size):
    return b"".join(bytes(c) for c in pattern_chunks(size))


def pattern_digest(size, algo="sha256"):
    h = hashlib.new(algo)
    for c in pattern_chunks(size):
        h.update(c)
    return h.hexdigest()


def truthy(v):
    if isinstance(v, bool):
        return v
    if v is None:
        return False
    return str(v).strip().lower() not in ("", "0", "no", "false", "off")


class BadRequest(Exception):
    pass


class Closed(Exception):
    pass


class Conn:
    """Buffered reader over a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.peer_port = None
        self.tls_client = None
        self.tls = False

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.buf += data

    def read_head(self):
        while True:
            i = self.buf.find(b"\r\n\r\n")
            j = self.buf.find(b"\n\n")
            if i >= 0 and (j < 0 or i <= j):
                head = bytes(self.buf[:i])
                del self.buf[:i + 4]
                return head
            if j >= 0:
                head = bytes(self.buf[:j])
                del self.buf[:j + 2]
                return head
            if len(self.buf) > MAX_HEAD:
                raise BadRequest("head too large")
            if not self.buf:
                # allow leading empty lines between requests
                pass
            self.fill()

    def read_line(self, limit=65536):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > limit:
                raise BadRequest("line too long")
            self.fill()

    def read_exact(self, n, sink):
        while n > 0:
            if not self.buf:
                self.fill()
            take = min(n, len(self.buf))
            sink(bytes(self.buf[:take]))
            del self.buf[:take]
            n -= take


class Origin:
    def __init__(self, script=None, idle_timeout_ms=30000, tls=None):
        self.tls = tls             # ssl.SSLContext, or None
        self.lock = threading.Lock()
        self.script = dict(script or {})
        self.records = []          # list of dicts (request heads)
        self.counts = {}           # path -> n
        self.idle_timeout = idle_timeout_ms / 1000.0

    # ---- bookkeeping -------------------------------------------------
    def record(self, rec):
        with self.lock:
            self.records.append(rec)
            n = self.counts.get(rec["path"], 0) + 1
            self.counts[rec["path"]] = n
            return n

    def select(self, path=None, prefix=None):
        with self.lock:
            recs = list(self.records)
        if path is not None:
            if "?" in path:
                return [r for r in recs if r["target"] == path]
            return [r for r in recs if r["path"] == path]
        if prefix is not None:
            return [r for r in recs if r["target"].startswith(prefix)]
        return recs

    def behaviour(self, path, query):
        with self.lock:
            script = dict(self.script)
            n = self.counts.get(path, 0) + 1   # this request's number, for seq
        b = {}
        if path in script:
            b.update(script[path])
        else:
            best = None
            for k in script:
                if k.endswith("*") and path.startswith(k[:-1]):
                    if best is None or len(k) > len(best):
                        best = k
            if best is not None:
                b.update(script[best])
        seq = b.pop("seq", None)
        if isinstance(seq, list) and seq:
            b.update(seq[min(n, len(seq)) - 1])
        hdrs = []
        h = b.get("headers")
        if isinstance(h, dict):
            hdrs = [[k, v] for k, v in h.items()]
        elif isinstance(h, list):
            hdrs = [list(x) for x in h]
        for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
            if k == "h":
                name, _, value = v.partition(":")
                hdrs.append([name.strip(), value.strip()])
            else:
                b[k] = v
        b["headers"] = hdrs
        return b

    # ---- serving ------------------------------------------------------
    def serve_forever(self, lsock):
        lsock.settimeout(0.5)
        while True:
            try:
                s, _ = lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                time.sleep(0.01)
                continue
            t = threading.Thread(target=self.handle, args=(s,), daemon=True)
            t.start()

    def handle(self, sock):
        try:
            sock.settimeout(IO_TIMEOUT)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            peer_port = sock.getpeername()[1]
            if self.tls is not None and sock.recv(1, socket.MSG_PEEK)[:1] == b"\x16":
                sock = self.tls.wrap_socket(sock, server_side=True)
            conn = Conn(sock)
            conn.peer_port = peer_port
            conn.tls = isinstance(sock, ssl.SSLSocket)
            cert = sock.getpeercert() if isinstance(sock, ssl.SSLSocket) else None
            conn.tls_client = dict(x[0] for x in cert["subject"]).get("commonName") \
                if cert else None
            idle = self.idle_timeout
            while True:
                sock.settimeout(idle)
                try:
                    # skip blank lines before a request line
                    while conn.buf[:2] == b"\r\n" or conn.buf[:1] == b"\n":
                        del conn.buf[:2 if conn.buf[:2] == b"\r\n" else 1]
                    head = conn.read_head()
                except (Closed, socket.timeout):
                    return
                sock.settimeout(IO_TIMEOUT)
                keep, idle_ms = self.handle_one(conn, head)
                if not keep:
                    return
                idle = self.idle_timeout if idle_ms is None else idle_ms / 1000.0
        except (Closed, ConnectionError, socket.timeout, OSError):
            pass
        except BadRequest as e:
            try:
                self.send_simple(sock, 400, str(e).encode(), close=True)
            except OSError:
                pass
        except Exception:
            traceback.print_exc()
        finally:
            try:
                sock.close()
            except OSError:
                pass

    @staticmethod
    def send_simple(sock, status, body, close=False, extra=()):
        lines = ["HTTP/1.1 %d X" % status, "Content-Type: text/plain",
                 "Content-Length: %d" % len(body)]
        lines += ["%s: %s" % kv for kv in extra]
        if close:
            lines.append("Connection: close")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def handle_one(self, conn, head):
        sock = conn.sock
        lines = head.replace(b"\r\n", b"\n").split(b"\n")
        try:
            reqline = lines[0].decode("latin-1")
            method, target, version = reqline.split(" ")
        except ValueError:
            self.record({"method": "", "target": "<malformed>", "path": "<malformed>",
                         "version": "", "headers": [], "body_length": 0,
                         "body_sha256": "", "chunked": False, "time": time.time()})
            raise BadRequest("bad request line")
        headers = []
        for ln in lines[1:]:
            if not ln:
                continue
            name, sep, value = ln.decode("latin-1").partition(":")
            if not sep:
                raise BadRequest("bad header line")
            headers.append([name.strip(), value.strip()])

        def hget(name):
            vals = [v for k, v in headers if k.lower() == name]
            return ", ".join(vals) if vals else None

        path_part = target
        if target.startswith("http://") or target.startswith("https://"):
            u = urllib.parse.urlsplit(target)
            path_part = u.path + ("?" + u.query if u.query else "")
        path, _, query = path_part.partition("?")

        conn_tokens = [t.strip().lower() for t in (hget("connection") or "").split(",")]
        if version == "HTTP/1.0":
            keep = "keep-alive" in conn_tokens
        else:
            keep = "close" not in conn_tokens

        # control plane
        if path.startswith("/__"):
            body = self.read_body(conn, headers, hget, keep_max=1 << 20)
            self.control(sock, method, path, query, body[0])
            return keep, None

        b = self.behaviour(path, query)
        expect = (hget("expect") or "").lower()
        if expect == "100-continue" and not truthy(b.get("no_continue")):
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        echo = truthy(b.get("echo"))
        body, blen, bsha, chunked = self.read_body(conn, headers, hget,
                                                   keep_max=MAX_ECHO if echo else 0)
        rec = {"method": method, "target": target, "path": path,
               "version": version, "headers": headers,
               "body_length": blen, "body_sha256": bsha,
               "chunked": chunked, "time": time.time(), "status": None,
               "peer_port": conn.peer_port, "tls_client": conn.tls_client,
               "tls": conn.tls}
        n = self.record(rec)

        delay = float(b.get("delay_ms", 0) or 0) / 1000.0
        if delay > 0:
            time.sleep(delay)

        if truthy(b.get("drop")):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return False, None
        if truthy(b.get("reset")):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False, None
        if b.get("raw") is not None:
            sock.sendall(str(b["raw"]).encode("latin-1"))
            hold = float(b.get("raw_hold_ms", 0) or 0) / 1000.0
            if hold > 0:
                time.sleep(hold)
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return False, None

        status = int(b.get("status", 200))
        reason = str(b.get("reason", "") or _REASONS.get(status, "Status"))
        dated = b.get("date_headers") or {}
        # Date is whole seconds: read just before a second turns, it is a
        # second old when the node gets it, and a max-age=1 answer without
        # validators is then stale on arrival (not stored).  Tests that are
        # not about Date must not hang on that, so the origin's own Date is
        # the next whole second; scripted dates and Expires keep the clock.
        now = time.time()
        if not dated and b.get("expires") is None:
            now = math.ceil(now)
        out_headers = [["Date", email.utils.formatdate(now, usegmt=True)],
                       ["X-Origin-Count", str(n)]]
        for name, offset in dated.items():
            b["headers"] = [h for h in b["headers"] if h[0].lower() != name.lower()]
            b["headers"].append([name, email.utils.formatdate(time.time() + float(offset),
                                                              usegmt=True)])
        if any(k.lower() == "date" for k, _ in b["headers"]):
            out_headers = out_headers[1:]
        if b.get("cc") is not None:
            out_headers.append(["Cache-Control", str(b["cc"])])
        if b.get("expires") is not None:
            out_headers.append(["Expires", email.utils.formatdate(
                time.time() + float(b["expires"]), usegmt=True)])
        user_names = {k.lower() for k, _ in b["headers"]}
        if "content-type" not in user_names:
            out_headers.append(["Content-Type", "text/plain" if "size" not in b
                                else "application/octet-stream"])
        out_headers += b["headers"]

        if status == 200 and method in ("GET", "HEAD") and not truthy(b.get("no_cond")) \
                and self.not_modified(hget, b["headers"]):
            status, reason = 304, "Not Modified"
        rec["status"] = status

        # body source
        size = None
        chunks = None
        if echo:
            out_headers += [["X-Echo-Length", str(blen)], ["X-Echo-Sha256", bsha],
                            ["X-Echo-Method", method],
                            ["X-Echo-Chunked", "1" if chunked else "0"]]
            data = body if body is not None else b""
            size, chunks = len(data), self.split(data, b)
        elif b.get("size") is not None:
            size = int(b["size"])
            seed = int(b.get("seed", 0) or 0) % PATTERN_MOD
            chunks = (pattern_slice_chunks(seed, size, self.chunk_len(b)) if seed
                      else pattern_chunks(size, self.chunk_len(b)))
        elif b.get("body_from"):
            data = ("%s=%s\n" % (b["body_from"], hget(b["body_from"].lower()) or "-")
                    ).encode("latin-1", "replace")
            size, chunks = len(data), self.split(data, b)
        else:
            data = (b["body"] if b.get("body") is not None else
                    "origin %s %s n=%d\n" % (method, target, n)).encode("latin-1", "replace")
            size, chunks = len(data), self.split(data, b)
        rng = hget("range") if truthy(b.get("ranges")) and status == 200 \
            and method == "GET" and not echo else None
        if rng and hget("if-range") is not None and hget("if-range").strip() not in [
                v.strip() for k, v in out_headers if k.lower() in ("etag", "last-modified")]:
            rng = None  # RFC 9110 §13.1.5: the validator does not match: the whole 200
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip()) if rng else None
        if m and int(m.group(1)) >= size:
            status, reason = 416, "Range Not Satisfiable"
            out_headers.append(["Content-Range", "bytes */%d" % size])
            size, chunks = 0, iter(())
        elif m:
            first = int(m.group(1))
            last = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            status, reason = 206, "Partial Content"
            out_headers.append(["Content-Range", "bytes %d-%d/%d" % (first, last, size)])
            if b.get("size") is not None:
                chunks = pattern_slice_chunks(first, last + 1 - first, self.chunk_len(b))
            else:
                chunks = self.split(data[first:last + 1], b)
            size = last + 1 - first
        rec["status"] = status
        head_only = method == "HEAD" or status in (204, 304) or 100 <= status < 200

        is_chunked = truthy(b.get("chunked")) and not head_only
        no_length = truthy(b.get("no_length"))
        close = truthy(b.get("close")) or not keep or no_length
        if is_chunked:
            out_headers.append(["Transfer-Encoding", "chunked"])
        elif not no_length and status not in (204, 304) and not 100 <= status < 200:
            out_headers.append(["Content-Length", str(size)])
        if close:
            out_headers.append(["Connection", "close"])
        elif version == "HTTP/1.0":
            out_headers.append(["Connection", "keep-alive"])

        rec["response_headers"] = [list(h) for h in out_headers]
        headtxt = "HTTP/1.1 %d %s\r\n" % (status, reason)
        headtxt += "".join("%s: %s\r\n" % (k, v) for k, v in out_headers) + "\r\n"
        head = headtxt.encode("latin-1")
        if not head_only and not is_chunked and size <= 65536 and \
                b.get("abort_after") is None and not float(b.get("chunk_delay_ms", 0) or 0):
            # one write: an origin stopped mid-answer (a test killing a
            # member under load) never leaves half a small response behind
            head += b"".join(chunks)
            chunks = iter(())
        sock.sendall(head)
        if not head_only:
            cdelay = float(b.get("chunk_delay_ms", 0) or 0) / 1000.0
            abort_after = b.get("abort_after")
            sent = 0
            first = True
            for c in chunks:
                if not first and cdelay > 0:
                    time.sleep(cdelay)
                first = False
                if abort_after is not None and sent + len(c) > int(abort_after):
                    c = c[:int(abort_after) - sent]
                    if is_chunked and len(c) > 0:
                        sock.sendall(b"%x\r\n" % len(c))
                    sock.sendall(c)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
                    return False, None
                sent += len(c)
                rec["body_sent"] = sent  # so far: a test sees a reader stop
                if is_chunked:
                    sock.sendall(b"%x\r\n" % len(c))
                    sock.sendall(c)
                    sock.sendall(b"\r\n")
                else:
                    sock.sendall(c)
            if is_chunked:
                sock.sendall(b"0\r\n\r\n")
        if close or truthy(b.get("close_after")):
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            # let the peer read everything before the socket is closed
            return False, None
        ka = b.get("keepalive_ms")
        return True, (float(ka) if ka is not None else None)

    @staticmethod
    def not_modified(hget, out_headers):
        """RFC 9110 §13.1.2 / §13.1.3 against the scripted ETag / Last-Modified."""
        def scripted(name):
            vals = [v for k, v in out_headers if k.lower() == name]
            return vals[-1] if vals else None

        def opaque(tag):
            tag = tag.strip()
            return tag[2:] if tag.startswith("W/") else tag

        etag, lm = scripted("etag"), scripted("last-modified")
        inm, ims = hget("if-none-match"), hget("if-modified-since")
        if inm is not None:
            if etag is None:
                return False
            tags = [t.strip() for t in inm.split(",")]
            return "*" in tags or opaque(etag) in [opaque(t) for t in tags]
        if ims is not None and lm is not None:
            try:
                return (email.utils.parsedate_to_datetime(lm) <=
                        email.utils.parsedate_to_datetime(ims))
            except (TypeError, ValueError):
                return False
        return False

    @staticmethod
    def chunk_len(b):
        cs = int(b.get("chunk_size", 0) or 0)
        if cs > 0:
            return cs
        if truthy(b.get("chunked")) or b.get("chunk_delay_ms"):
            return 16384
        return None

    @staticmethod
    def split(data, b):
        cs = int(b.get("chunk_size", 0) or 0) or 16384
        mv = memoryview(data)
        return [mv[i:i + cs] for i in range(0, len(data), cs)] or []

    def read_body(self, conn, headers, hget, keep_max):
        """Returns (body-or-None, length, sha256hex, chunked)."""
        h = hashlib.sha256()
        kept = bytearray()
        total = [0]
        overflow = [False]

        def sink(data):
            h.update(data)
            total[0] += len(data)
            if not overflow[0]:
                if len(kept) + len(data) <= keep_max:
                    kept.extend(data)
                else:
                    overflow[0] = True

        te = (hget("transfer-encoding") or "").lower()
        chunked = "chunked" in te
        if chunked:
            while True:
                line = conn.read_line().strip()
                size_txt = line.split(b";")[0].strip()
                try:
                    size = int(size_txt, 16)
                except ValueError:
                    raise BadRequest("bad chunk size")
                if size == 0:
                    while conn.read_line().strip():
                        pass          # trailers
                    break
                conn.read_exact(size, sink)
                conn.read_line()      # CRLF after chunk data
        else:
            cl = hget("content-length")
            if cl:
                try:
                    n = int(cl.split(",")[0].strip())
                except ValueError:
                    raise BadRequest("bad content-length")
                conn.read_exact(n, sink)
        body = None if overflow[0] else bytes(kept)
        return body, total[0], h.hexdigest(), chunked

    def control(self, sock, method, path, query, body):
        q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        if path == "/__count":
            recs = self.select(q.get("path"), q.get("prefix"))
            if q.get("status"):
                recs = [r for r in recs if str(r.get("status")) == q["status"]]
            out = {"count": len(recs)}
        elif path == "/__requests":
            recs = self.select(q.get("path"), q.get("prefix"))
            out = [{k: v for k, v in r.items()} for r in recs]
        elif path == "/__script" and method == "POST":
            try:
                upd = json.loads(body or b"{}")
            except ValueError as e:
                self.send_simple(sock, 400, str(e).encode())
                return
            with self.lock:
                self.script.update(upd)
            out = {"ok": True}
        elif path == "/__reset" and method == "POST":
            with self.lock:
                self.records = []
                self.counts = {}
            out = {"ok": True}
        elif path == "/__ping":
            self.send_simple(sock, 200, b"pong")
            return
        else:
            self.send_simple(sock, 404, b"unknown control path\n")
            return
        data = json.dumps(out).encode()
        self.send_simple(sock, 200, data)


_REASONS = {200: "OK", 201: "Created", 204: "No Content", 206: "Partial Content",
            301: "Moved Permanently", 302: "Found", 304: "Not Modified",
            400: "Bad Request", 403: "Forbidden", 404: "Not Found",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def main(argv=None):
    ap = argparse.ArgumentParser(description="scriptable test origin")
    ap.add_argument("--host", default="127.0.0.1",
                    help="address to bind; '::' binds dual-stack")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--script", help="JSON file with per-path behaviour")
    ap.add_argument("--idle-timeout-ms", type=int, default=30000)
    ap.add_argument("--tls-cert", help="PEM certificate chain: a connection that starts "
                    "with a TLS handshake gets TLS (plain HTTP still works, for control)")
    ap.add_argument("--tls-key", help="PEM private key of --tls-cert")
    ap.add_argument("--tls-client-ca", help="PEM CA: ask TLS clients for a certificate "
                    "(optional) and verify it; requests record its CN as tls_client")
    args = ap.parse_args(argv)
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_client_ca:
            tls.verify_mode = ssl.CERT_OPTIONAL
            tls.load_verify_locations(args.tls_client_ca)

    script = {}
    if args.script:
        with open(args.script) as f:
            script = json.load(f)

    fam = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    lsock = socket.socket(fam, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        try:
            lsock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        except OSError:
            pass
    lsock.bind((args.host, args.port))
    lsock.listen(256)
    port = lsock.getsockname()[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    print("origin listening on %s port %d" % (args.host, port), flush=True)

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    Origin(script, args.idle_timeout_ms, tls).serve_forever(lsock)


if __name__ == "__main__":
    main()
