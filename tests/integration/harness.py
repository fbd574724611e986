# SPDX-License-Identifier: BSD-2-Clause
"""Integration test harness for Outpost (Python 3 stdlib only).

Starts the real daemon ($OUTPOST_BIN) with a temporary config and loopback
ports, scripted origins (origin.py, one process each), and prints TAP.
Every wait, loop and socket operation is bounded in time; processes are
stopped by pid (TERM, then KILL) whatever happens.

A test file looks like:

    #!/usr/bin/env python3
    import harness

    class T(harness.OutpostTestCase):
        def test_x(self):
            origin = self.start_origin()
            node = self.start_outpost(origin)
            r = node.get("/x")
            self.assertEqual(r.status, 200)

    if __name__ == "__main__":
        harness.main()
"""

import atexit
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import origin as origin_mod  # noqa: E402  (pattern helpers shared with the origin)

pattern_chunks = origin_mod.pattern_chunks
pattern_bytes = origin_mod.pattern_bytes
pattern_digest = origin_mod.pattern_digest

OUTPOST_BIN = os.environ.get("OUTPOST_BIN", "")
OUTPOST_SRCDIR = os.environ.get("OUTPOST_SRCDIR", os.path.dirname(os.path.dirname(HERE)))
PYTHON = sys.executable or "/usr/bin/python3"

FILE_TIMEOUT = float(os.environ.get("OUTPOST_TEST_FILE_TIMEOUT", "300"))
HEALTHZ_TIMEOUT = 10.0
IO_TIMEOUT = 10.0

SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                      "runtime error:", "WARNING: ThreadSanitizer",
                      "ERROR: ThreadSanitizer", "ERROR: MemorySanitizer")


# ---------------------------------------------------------------------------
# availability

def outpost_skip_reason():
    if not OUTPOST_BIN:
        return "OUTPOST_BIN is not set"
    if not (os.path.isfile(OUTPOST_BIN) and os.access(OUTPOST_BIN, os.X_OK)):
        return "OUTPOST_BIN %s is not an executable file" % OUTPOST_BIN
    return None


def require_outpost():
    reason = outpost_skip_reason()
    if reason:
        raise unittest.SkipTest(reason)


# ---------------------------------------------------------------------------
# process registry, watchdog

_children = set()
_children_lock = threading.Lock()


def _register(proc):
    with _children_lock:
        _children.add(proc)


def _unregister(proc):
    with _children_lock:
        _children.discard(proc)


def kill_all_children():
    with _children_lock:
        procs = list(_children)
    for p in procs:
        try:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass


atexit.register(kill_all_children)


def stop_pid(proc, sig=signal.SIGTERM, timeout=5.0):
    """Sends sig to proc by pid, waits up to timeout, then SIGKILL.
    Returns (returncode, needed_kill)."""
    if proc.poll() is not None:
        _unregister(proc)
        return proc.returncode, False
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=timeout)
        _unregister(proc)
        return proc.returncode, False
    except subprocess.TimeoutExpired:
        pass
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    _unregister(proc)
    return proc.returncode, True


def _watchdog_fire():
    sys.stdout.write("Bail out! test file exceeded %.0f s (OUTPOST_TEST_FILE_TIMEOUT)\n"
                     % FILE_TIMEOUT)
    sys.stdout.flush()
    kill_all_children()
    os._exit(1)


def install_watchdog():
    t = threading.Timer(FILE_TIMEOUT, _watchdog_fire)
    t.daemon = True
    t.start()

    def on_term(signum, frame):
        kill_all_children()
        os._exit(1)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)


# ---------------------------------------------------------------------------
# small utilities

def free_port(host="127.0.0.1"):
    """An unused loopback port (bind to 0, close; accept the small race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until truthy (returned) or timeout (AssertionError)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:   # retried until the deadline
            last_exc = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s%s" % (
                timeout, what, (" (last error: %r)" % last_exc) if last_exc else ""))
        time.sleep(interval)


def tail(text, n=40):
    lines = text.splitlines()
    return "\n".join(lines[-n:])


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def sanitizer_report(text):
    for p in SANITIZER_PATTERNS:
        i = text.find(p)
        if i >= 0:
            return text[max(0, i - 200):i + 3000]
    return None


class Background:
    """Runs fn(*args) in a thread; .result(timeout) returns or re-raises."""

    def __init__(self, fn, *args, **kw):
        self._value = None
        self._exc = None
        self._t = threading.Thread(target=self._run, args=(fn, args, kw), daemon=True)
        self._t.start()

    def _run(self, fn, args, kw):
        try:
            self._value = fn(*args, **kw)
        except BaseException as e:   # handed to the caller
            self._exc = e

    def done(self):
        return not self._t.is_alive()

    def result(self, timeout=IO_TIMEOUT):
        self._t.join(timeout)
        if self._t.is_alive():
            raise AssertionError("background operation did not finish in %.1f s" % timeout)
        if self._exc is not None:
            raise self._exc
        return self._value


# ---------------------------------------------------------------------------
# HTTP responses and a raw parser

class Response:
    def __init__(self, status, reason="", version="HTTP/1.1", headers=None, body=b"",
                 chunked=False, head=b""):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = list(headers or [])
        self.body = body
        self.chunked = chunked
        self.head = head

    def header(self, name, default=None):
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(vals) if vals else default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header_tokens(self, name):
        v = self.header(name) or ""
        return [t.strip().lower() for t in v.split(",") if t.strip()]

    def __repr__(self):
        return "<Response %s %r headers=%r body=%r>" % (
            self.status, self.reason, self.headers, self.body[:200])


class IncompleteResponse(Exception):
    pass


class _Reader:
    """Buffered reader over bytes, optionally refilled from a socket."""

    def __init__(self, data=b"", sock=None, deadline=None):
        self.buf = bytearray(data)
        self.sock = sock
        self.deadline = deadline
        self.eof = sock is None

    def fill(self):
        if self.sock is None or self.eof:
            raise IncompleteResponse("no more data")
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(left)
        data = self.sock.recv(1 << 20)
        if not data:
            self.eof = True
            raise IncompleteResponse("connection closed")
        self.buf += data

    def read_until(self, sep, limit=1 << 20):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise IncompleteResponse("line or head too long")
            self.fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_to_close(self):
        while True:
            try:
                self.fill()
            except IncompleteResponse:
                break
        out = bytes(self.buf)
        self.buf.clear()
        return out


def _read_response(rd, head_request=False, allow_interim=False):
    while True:
        head = rd.read_until(b"\r\n\r\n", limit=1 << 20)
        lines = head.split(b"\r\n")
        m = re.match(rb"(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise IncompleteResponse("bad status line %r" % lines[0][:200])
        version = m.group(1).decode()
        status = int(m.group(2))
        reason = (m.group(3) or b"").decode("latin-1")
        headers = []
        for ln in lines[1:]:
            name, sep, value = ln.decode("latin-1").partition(":")
            if not sep:
                raise IncompleteResponse("bad header line %r" % ln[:200])
            headers.append((name, value.strip()))
        if 100 <= status < 200 and not allow_interim:
            continue
        break
    r = Response(status, reason, version, headers, b"", head=head)
    te = (r.header("transfer-encoding") or "").lower()
    cl = r.header("content-length")
    if head_request or status in (204, 304) or 100 <= status < 200:
        return r
    if "chunked" in te:
        r.chunked = True
        parts = []
        while True:
            line = rd.read_until(b"\r\n")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while rd.read_until(b"\r\n"):
                    pass
                break
            parts.append(rd.read_exact(size))
            if rd.read_exact(2) != b"\r\n":
                raise IncompleteResponse("missing CRLF after chunk")
        r.body = b"".join(parts)
    elif cl is not None:
        r.body = rd.read_exact(int(cl.split(",")[0]))
    else:
        r.body = rd.read_to_close()
    return r


def parse_responses(data, head_requests=()):
    """Parses every complete response in data (bytes). head_requests: indexes
    of responses that answer HEAD requests. Returns a list of Response."""
    rd = _Reader(data)
    out = []
    while rd.buf:
        try:
            out.append(_read_response(rd, head_request=len(out) in head_requests))
        except IncompleteResponse:
            break
    return out


class RawReply(bytes):
    """Bytes received on a raw connection; .closed (the peer closed or reset
    the connection within the timeout), .reset (it was a reset), .elapsed."""
    closed = False
    reset = False
    elapsed = 0.0

    def responses(self, head_requests=()):
        return parse_responses(bytes(self), head_requests)

    def first(self):
        rs = self.responses()
        if not rs:
            raise AssertionError("no complete HTTP response in %r" % bytes(self)[:500])
        return rs[0]


class RawConn:
    """A raw client connection with bounded operations."""

    def __init__(self, port, host="127.0.0.1", timeout=IO_TIMEOUT):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rd = _Reader(sock=self.sock, deadline=time.monotonic() + timeout)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def send_lenient(self, data):
        """Sends, ignoring errors from a peer that already closed."""
        try:
            self.send(data)
            return True
        except OSError:
            return False

    def read_response(self, head=False, timeout=None, allow_interim=False):
        self.rd.deadline = time.monotonic() + (timeout or self.timeout)
        return _read_response(self.rd, head_request=head, allow_interim=allow_interim)

    def read_some(self, timeout=None):
        """Whatever is buffered or arrives within timeout (b"" on timeout)."""
        if self.rd.buf:
            out = bytes(self.rd.buf)
            self.rd.buf.clear()
            return out
        self.sock.settimeout(timeout or self.timeout)
        try:
            return self.sock.recv(1 << 20)
        except socket.timeout:
            return b""

    def wait_closed(self, timeout):
        """Reads until EOF/reset. Returns (closed, data_read, elapsed)."""
        start = time.monotonic()
        deadline = start + timeout
        data = bytearray(self.rd.buf)
        self.rd.buf.clear()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False, bytes(data), time.monotonic() - start
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                return False, bytes(data), time.monotonic() - start
            except ConnectionError:
                return True, bytes(data), time.monotonic() - start
            if not chunk:
                return True, bytes(data), time.monotonic() - start
            data += chunk

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def purge_raw(port, target, token, host="example.com", source=None, extra=""):
    """PURGE target with a bearer token over a fresh connection (from the
    address source, when given); the reply."""
    head = "PURGE %s HTTP/1.1\r\n" % target
    if host is not None:
        head += "Host: %s\r\n" % host
    if token is not None:
        head += "Authorization: Bearer %s\r\n" % token
    head += extra + "\r\n"
    s = socket.create_connection(("127.0.0.1", port), timeout=5,
                                 source_address=(source, 0) if source else None)
    try:
        s.sendall(head.encode("latin-1"))
        rd = _Reader(sock=s, deadline=time.monotonic() + 5)
        return _read_response(rd)
    finally:
        s.close()


def raw_exchange(port, data, timeout=5.0, host="127.0.0.1", shut_wr=False):
    """Connects, sends data (bytes or list of bytes pieces), reads until the
    peer closes or timeout. Returns a RawReply."""
    start = time.monotonic()
    out = bytearray()
    closed = reset = False
    with socket.create_connection((host, port), timeout=timeout) as s:
        pieces = data if isinstance(data, (list, tuple)) else [data]
        try:
            for p in pieces:
                s.sendall(p.encode("latin-1") if isinstance(p, str) else p)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass    # the server may close early (e.g. 414 before we finished)
        deadline = start + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(1 << 16)
            except socket.timeout:
                break
            except ConnectionError:
                closed = reset = True
                break
            if not chunk:
                closed = True
                break
            out += chunk
    r = RawReply(bytes(out))
    r.closed, r.reset, r.elapsed = closed, reset, time.monotonic() - start
    return r


def http_request(port, method, path, headers=None, body=None, timeout=IO_TIMEOUT,
                 host="127.0.0.1"):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.reason, "HTTP/1.%d" % (resp.version - 10),
                        resp.getheaders(), data,
                        chunked=resp.chunked if hasattr(resp, "chunked") else False)
    finally:
        conn.close()


def http_stream(port, method, path, headers=None, timeout=IO_TIMEOUT, algo="sha256",
                host="127.0.0.1"):
    """Streams a response body without keeping it. Returns
    (Response with empty body, nbytes, hexdigest)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, headers=dict(headers or {}))
        resp = conn.getresponse()
        h = hashlib.new(algo)
        n = 0
        buf = bytearray(1 << 20)
        mv = memoryview(buf)
        while True:
            k = resp.readinto(buf)
            if not k:
                break
            h.update(mv[:k])
            n += k
        r = Response(resp.status, resp.reason, "HTTP/1.%d" % (resp.version - 10),
                     resp.getheaders(), b"")
        return r, n, h.hexdigest()
    finally:
        conn.close()


def parse_prometheus(text):
    """{(name, labels-text): value} from Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not m:
            continue
        try:
            v = float(m.group(3))
        except ValueError:
            continue
        out[(m.group(1), m.group(2) or "")] = v
    return out


# ---------------------------------------------------------------------------
# the scripted origin

class OriginProcess:
    def __init__(self, script=None, host="127.0.0.1", idle_timeout_ms=None, tmpdir=None,
                 port=0, tls_cert=None, tls_key=None, tls_client_ca=None):
        """port: 0 = any free port; a given port lets a test restart an origin
        where a stopped one listened."""
        self.tmpdir = tmpdir or tempfile.mkdtemp(prefix="outpost-origin-")
        self.own_tmpdir = tmpdir is None
        self.log_path = os.path.join(self.tmpdir, "origin-%d.log" % id(self))
        port_file = os.path.join(self.tmpdir, "origin-%d.port" % id(self))
        args = [PYTHON, os.path.join(HERE, "origin.py"), "--host", host,
                "--port", str(int(port)), "--port-file", port_file]
        if script:
            spath = os.path.join(self.tmpdir, "origin-%d.json" % id(self))
            with open(spath, "w") as f:
                json.dump(script, f)
            args += ["--script", spath]
        if idle_timeout_ms is not None:
            args += ["--idle-timeout-ms", str(int(idle_timeout_ms))]
        if tls_cert is not None:   # TLS when the client starts a handshake
            args += ["--tls-cert", tls_cert, "--tls-key", tls_key]
        if tls_client_ca is not None:
            args += ["--tls-client-ca", tls_client_ca]
        self.host = "127.0.0.1" if host in ("::", "0.0.0.0", "127.0.0.1") else host
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        _register(self.proc)
        self.pid = self.proc.pid
        try:
            def ready():
                if self.proc.poll() is not None:
                    raise AssertionError("origin exited with %s:\n%s" % (
                        self.proc.returncode, tail(read_text(self.log_path))))
                return os.path.exists(port_file)
            deadline = time.monotonic() + 10
            while not ready():
                if time.monotonic() > deadline:
                    raise AssertionError("origin did not start within 10 s")
                time.sleep(0.02)
            with open(port_file) as f:
                self.port = int(f.read().strip())
        except BaseException:
            self.stop()
            raise

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def _control(self, method, path, body=None):
        r = http_request(self.port, method, path, body=body, timeout=5, host=self.host,
                         headers={"Content-Type": "application/json"} if body else None)
        if r.status != 200:
            raise AssertionError("origin control %s %s -> %d %r" % (method, path, r.status,
                                                                   r.body))
        return json.loads(r.body)

    def count(self, path=None, prefix=None):
        """Requests received for path (exact path; with '?' the exact target),
        or whose target starts with prefix, or all requests."""
        q = {}
        if path is not None:
            q["path"] = path
        if prefix is not None:
            q["prefix"] = prefix
        return self._control("GET", "/__count?" + urllib.parse.urlencode(q))["count"]

    def requests(self, path=None, prefix=None):
        """Recorded request heads: dicts with method, target, path, version,
        headers ([[name, value]...]), body_length, body_sha256, chunked."""
        q = {}
        if path is not None:
            q["path"] = path
        if prefix is not None:
            q["prefix"] = prefix
        return self._control("GET", "/__requests?" + urllib.parse.urlencode(q))

    def script(self, mapping):
        """Adds per-path behaviour at runtime (see origin.py)."""
        return self._control("POST", "/__script", json.dumps(mapping).encode())

    def reset(self):
        return self._control("POST", "/__reset", b"{}")

    def log(self):
        return read_text(self.log_path)

    def stop(self):
        rc, _ = stop_pid(self.proc, signal.SIGTERM, 5.0)
        try:
            self.logf.close()
        except OSError:
            pass
        if self.own_tmpdir and not os.environ.get("OUTPOST_KEEP_TMP"):
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        return rc

    close_and_check = stop


def req_header(rec, name):
    """Joined value of a header in a recorded origin request (or None)."""
    vals = [v for k, v in rec["headers"] if k.lower() == name.lower()]
    return ", ".join(vals) if vals else None


def split_list(value):
    return [t.strip() for t in (value or "").split(",") if t.strip()]


# ---------------------------------------------------------------------------
# YAML writer (enough for config files)

_PLAIN = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./ -]*")


def yaml_scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if (_PLAIN.fullmatch(s) and not s.endswith(" ")
            and not re.fullmatch(r"[-+]?[0-9.]+|true|false|yes|no|on|off|null|~", s, re.I)):
        return s
    return json.dumps(s)


def to_yaml(obj, indent=0):
    pad = " " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)):
                if not v:
                    lines.append("%s%s: %s" % (pad, k, "{}" if isinstance(v, dict) else "[]"))
                else:
                    lines.append("%s%s:" % (pad, k))
                    lines.append(to_yaml(v, indent + 2))
            else:
                lines.append("%s%s: %s" % (pad, k, yaml_scalar(v)))
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)) and item:
                sub = to_yaml(item, indent + 2)
                lines.append(pad + "- " + sub[indent + 2:])
            elif isinstance(item, dict):
                lines.append(pad + "- {}")
            elif isinstance(item, list):
                lines.append(pad + "- []")
            else:
                lines.append(pad + "- " + yaml_scalar(item))
    else:
        lines.append(pad + yaml_scalar(obj))
    return "\n".join(lines)


def deep_merge(base, over):
    """Dicts merge recursively; anything else (lists included) replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = deep_merge(base[k], v) if k in base else v
        return out
    return over


def base_node():
    """The node section of every test config.  As root the daemon would switch
    to the user "outpost" (and refuse to start without it): tests keep root
    explicitly, except those of the switch itself (t64_privdrop.py)."""
    node = {"name": "test-node", "workers": 2}
    if os.geteuid() == 0:
        node["user"] = "root"
    return node


def base_config(port, admin_port, origin_port, tmpdir):
    return {
        "node": base_node(),
        "listen": [{"address": "127.0.0.1:%d" % port}],
        "admin": {"listen": "127.0.0.1:%d" % admin_port},
        "cache": {"ram": "64MiB", "max_object": "16MiB"},
        "timeouts": {"header": "2s", "idle": "5s", "body": "5s", "send": "10s",
                     "drain": "5s"},
        "limits": {"request_line": "8KiB", "headers": "32KiB", "header_count": 100,
                   "body": "1MiB"},
        "log": {"access": os.path.join(tmpdir, "access.log"), "level": "info"},
        "sites": [
            {"name": "main", "hosts": ["example.com", "*.example.com"],
             "routes": [
                 {"path": "/nocache/", "pool": "web", "cache": {"enabled": False}},
                 {"path": "/", "pool": "web"},
             ]},
            {"name": "other", "hosts": ["localhost"], "pool": "web"},
        ],
        "pools": [
            {"name": "web",
             "members": [{"address": "127.0.0.1:%d" % origin_port}],
             "timeouts": {"connect": "1s", "first_byte": "2s", "between_bytes": "2s"},
             "keepalive": {"idle": "30s", "max_idle": 32}},
        ],
    }


def add_route(cfg, route, site="main"):
    """Adds a route to a site (routes match by longest prefix)."""
    for s in cfg["sites"]:
        if s["name"] == site:
            s.setdefault("routes", []).insert(0, route)
            return cfg
    raise KeyError(site)


def add_pool(cfg, name, address, **extra):
    pool = {"name": name, "members": [{"address": address}],
            "timeouts": {"connect": "1s", "first_byte": "2s", "between_bytes": "2s"}}
    pool.update(extra)
    cfg["pools"].append(pool)
    return cfg


def add_pool_route(cfg, name, members, **extra):
    """Adds pool name with members [(address, {extra member keys})...] and a
    cache-less route /name/ to it."""
    add_pool(cfg, name, members[0][0], **extra)
    cfg["pools"][-1]["members"] = [dict({"address": a}, **kw) for a, kw in members]
    add_route(cfg, {"path": "/%s/" % name, "pool": name, "cache": {"enabled": False}})
    return cfg


# ---------------------------------------------------------------------------
# the daemon

def run_outpost(args, timeout=10.0):
    """Runs $OUTPOST_BIN with args to completion (bounded). Returns
    CompletedProcess with text stdout/stderr; a run that does not end within
    timeout is killed and reported as an AssertionError."""
    p = subprocess.Popen([OUTPOST_BIN] + list(args), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _register(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_pid(p, signal.SIGKILL, 5)
        out, err = p.communicate(timeout=5)
        raise AssertionError("outpost %s did not exit within %.0f s\nstderr:\n%s" % (
            " ".join(args), timeout, tail(err.decode("utf-8", "replace"))))
    finally:
        _unregister(p)
    cp = subprocess.CompletedProcess(p.args, p.returncode,
                                     out.decode("utf-8", "replace"),
                                     err.decode("utf-8", "replace"))
    rep = sanitizer_report(cp.stdout + cp.stderr)
    if rep:
        raise AssertionError("sanitizer report from outpost %s:\n%s" % (" ".join(args), rep))
    if cp.returncode < 0:
        raise AssertionError("outpost %s died of signal %d\nstderr:\n%s" % (
            " ".join(args), -cp.returncode, tail(cp.stderr)))
    return cp


class Outpost:
    """A running daemon. Use start_outpost() / OutpostTestCase.start_outpost()."""

    ip = "127.0.0.1"  # the address of its listener and admin listener

    def __init__(self, origin=None, overrides=None, mutate=None, origin_port=None,
                 extra_args=(), env=None, attempts=3):
        require_outpost()
        self.tmpdir = tempfile.mkdtemp(prefix="outpost-test-")
        self.config_path = os.path.join(self.tmpdir, "outpost.yaml")
        self.stdout_path = os.path.join(self.tmpdir, "stdout.log")
        self.stderr_path = os.path.join(self.tmpdir, "stderr.log")
        self.access_log = os.path.join(self.tmpdir, "access.log")
        self.proc = None
        self.expected_signal = None
        self.stopped_by_harness = False
        self.returncode = None
        if origin_port is None:
            origin_port = origin.port if origin is not None else free_port()
        last = None
        for attempt in range(attempts):
            self.port = free_port()
            self.admin_port = free_port()
            while self.admin_port == self.port:
                self.admin_port = free_port()
            cfg = base_config(self.port, self.admin_port, origin_port, self.tmpdir)
            if overrides:
                cfg = deep_merge(cfg, overrides)
            if mutate:
                cfg = mutate(cfg) or cfg
            self.config = cfg
            with open(self.config_path, "w") as f:
                f.write(to_yaml(cfg) + "\n")
            try:
                self._spawn(extra_args, env)
                return
            except _BindRace as e:
                last = e
                continue
        raise AssertionError("outpost could not bind after %d attempts: %s" % (attempts, last))

    def _spawn(self, extra_args, env):
        self.out = open(self.stdout_path, "wb")
        self.err = open(self.stderr_path, "wb")
        e = dict(os.environ)
        if env:
            e.update(env)
        self.proc = subprocess.Popen([OUTPOST_BIN, "-c", self.config_path] + list(extra_args),
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=self.err, env=e)
        _register(self.proc)
        self.pid = self.proc.pid
        deadline = time.monotonic() + HEALTHZ_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                _unregister(self.proc)
                text = self.log() + read_text(self.stdout_path)
                if re.search(r"in use|EADDRINUSE", text, re.I):
                    raise _BindRace(tail(text, 5))
                raise AssertionError("outpost exited with status %s before /healthz answered"
                                     "\nconfig:\n%s\nlog:\n%s" % (
                                         self.proc.returncode, read_text(self.config_path),
                                         tail(text)))
            try:
                r = http_request(self.admin_port, "GET", "/healthz", timeout=1, host=self.ip)
                if r.status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                stop_pid(self.proc, signal.SIGKILL, 5)
                raise AssertionError("outpost /healthz did not answer 200 within %.0f s\nlog:\n%s"
                                     % (HEALTHZ_TIMEOUT, tail(self.log())))
            time.sleep(0.05)

    # -- client helpers --------------------------------------------------
    def request(self, method, path, headers=None, body=None, host="example.com",
                timeout=IO_TIMEOUT):
        h = {"Host": host} if host is not None else {}
        h.update(headers or {})
        return http_request(self.port, method, path, h, body, timeout, host=self.ip)

    def get(self, path, headers=None, host="example.com", timeout=IO_TIMEOUT):
        return self.request("GET", path, headers, None, host, timeout)

    def head(self, path, headers=None, host="example.com", timeout=IO_TIMEOUT):
        return self.request("HEAD", path, headers, None, host, timeout)

    def stream(self, path, headers=None, host="example.com", timeout=IO_TIMEOUT,
               algo="sha256"):
        h = {"Host": host}
        h.update(headers or {})
        return http_stream(self.port, "GET", path, h, timeout, algo)

    def raw(self, data, timeout=5.0, shut_wr=False):
        """Sends raw bytes; returns RawReply (bytes received until close or timeout)."""
        return raw_exchange(self.port, data, timeout, shut_wr=shut_wr)

    def connect(self, timeout=IO_TIMEOUT):
        return RawConn(self.port, timeout=timeout)

    def admin(self, path, method="GET", timeout=IO_TIMEOUT):
        return http_request(self.admin_port, method, path, timeout=timeout, host=self.ip)

    def metrics(self):
        r = self.admin("/metrics")
        if r.status != 200:
            raise AssertionError("/metrics -> %d" % r.status)
        return parse_prometheus(r.body.decode("utf-8", "replace"))

    def metric(self, name, labels=None, default=None):
        """Value of a metric, summed over its series (optionally only series whose
        label text contains every 'k="v"' of labels)."""
        vals = []
        for (n, lab), v in self.metrics().items():
            if n != name:
                continue
            if labels and not all('%s="%s"' % kv in lab for kv in labels.items()):
                continue
            vals.append(v)
        if not vals:
            if default is not None:
                return default
            raise AssertionError("metric %s%s not found in /metrics" % (name, labels or ""))
        return sum(vals)

    def wait_metric(self, name, pred, timeout=3.0, labels=None):
        """Polls until pred(value) holds; returns the value (counters are
        per-thread and may land a moment after the response)."""
        box = {}

        def check():
            box["v"] = self.metric(name, labels)
            return pred(box["v"])
        try:
            wait_until(check, timeout, what="metric %s" % name)
        except AssertionError:
            raise AssertionError("metric %s: last value %r did not satisfy the condition "
                                 "within %.1f s" % (name, box.get("v"), timeout))
        return box["v"]

    def log(self):
        """stderr of the daemon."""
        return read_text(self.stderr_path)

    def stdout(self):
        return read_text(self.stdout_path)

    def access_lines(self, path=None):
        """Parsed JSON access-log lines."""
        out = []
        for line in read_text(path or self.access_log).splitlines():
            line = line.strip()
            if line:
                out.append(json.loads(line))
        return out

    def vm_hwm_kib(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise AssertionError("no VmHWM")

    def is_sanitized(self):
        try:
            with open("/proc/%d/maps" % self.pid) as f:
                maps = f.read()
        except OSError:
            return False
        return any(s in maps for s in ("libasan", "libtsan", "libubsan"))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        os.kill(self.pid, sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=8.0):
        """Sends sig by pid, waits up to timeout (then KILL); returns the exit code."""
        if sig in (signal.SIGKILL, signal.SIGABRT, signal.SIGQUIT):
            self.expected_signal = sig
        rc, killed = stop_pid(self.proc, sig, timeout)
        self.killed_after_timeout = killed
        self.returncode = rc
        for f in (self.out, self.err):
            try:
                f.close()
            except OSError:
                pass
        return rc

    def problems(self):
        """What is wrong with the process right now (crash, sanitizer report)."""
        probs = []
        text = self.log() + read_text(self.stdout_path)
        rep = sanitizer_report(text)
        if rep:
            probs.append("sanitizer report in outpost log:\n" + rep)
        rc = self.proc.poll() if self.proc else None
        if rc is not None and rc < 0 and -rc != (self.expected_signal or 0):
            probs.append("outpost died of signal %d\nlog:\n%s" % (-rc, tail(self.log())))
        return probs

    def check_alive(self):
        probs = self.problems()
        if self.proc.poll() is not None and not probs:
            probs.append("outpost exited unexpectedly with status %d\nlog:\n%s" % (
                self.proc.returncode, tail(self.log())))
        if probs:
            raise AssertionError("\n".join(probs))

    def close_and_check(self):
        """Teardown: stop by pid if running; fail on signal death, a sanitizer
        report, or no clean exit after SIGTERM."""
        probs = []
        if self.proc is not None and self.proc.poll() is None:
            rc = self.stop(signal.SIGTERM, 8.0)
            if self.killed_after_timeout:
                probs.append("outpost did not exit within 8 s of SIGTERM (killed)")
            elif rc != 0:
                probs.append("outpost exited with status %s after SIGTERM" % rc)
        else:
            for f in (getattr(self, "out", None), getattr(self, "err", None)):
                try:
                    f and f.close()
                except OSError:
                    pass
        if not any("killed" in p for p in probs):
            probs += self.problems()
        if probs:
            raise AssertionError("\n".join(probs) + "\n(files kept in %s)" % self.tmpdir)
        if not os.environ.get("OUTPOST_KEEP_TMP"):
            shutil.rmtree(self.tmpdir, ignore_errors=True)


class OutpostAt(Outpost):
    """An outpost whose listener and admin listener are on another loopback
    address (127.0.0.N); port, admin_port: their ports (default: free ones)."""

    def __init__(self, ip, *a, port=None, admin_port=None, **kw):
        self.ip = ip
        self.fixed_port = port
        self.fixed_admin_port = admin_port
        super().__init__(*a, **kw)

    def _spawn(self, extra_args, env):
        if self.fixed_port is not None:
            self.port = self.fixed_port
        if self.fixed_admin_port is not None:
            self.admin_port = self.fixed_admin_port
        while self.admin_port == self.port:  # both free, chosen apart: they may meet
            self.admin_port = free_port(self.ip)
        self.config["listen"] = [{"address": "%s:%d" % (self.ip, self.port)}]
        self.config["admin"] = {"listen": "%s:%d" % (self.ip, self.admin_port)}
        with open(self.config_path, "w") as f:
            f.write(to_yaml(self.config) + "\n")
        super()._spawn(extra_args, env)


class _ClassTmpDir:
    """A directory of a test class (OutpostTestCase.class_tmpdir)."""

    def __init__(self, path):
        self.path = path

    def close_and_check(self):
        shutil.rmtree(self.path, ignore_errors=True)


class _BindRace(Exception):
    pass


def start_origin(script=None, **kw):
    return OriginProcess(script, **kw)


def start_outpost(origin=None, overrides=None, mutate=None, **kw):
    return Outpost(origin, overrides, mutate, **kw)


# ---------------------------------------------------------------------------
# a DNS responder on loopback

class DnsResponder:
    """dns_responder.py as a child process (stopped by pid)."""

    def __init__(self, zone):
        self.tmpdir = tempfile.mkdtemp(prefix="outpost-dns-")
        self.zone_path = os.path.join(self.tmpdir, "zone.json")
        self.log_path = os.path.join(self.tmpdir, "queries.log")
        port_file = os.path.join(self.tmpdir, "port")
        self.set(zone)
        self.proc = subprocess.Popen(
            [PYTHON, os.path.join(HERE, "dns_responder.py"),
             "--zone", self.zone_path, "--port-file", port_file, "--log", self.log_path],
            stdin=subprocess.DEVNULL)
        _register(self.proc)
        try:
            wait_until(lambda: os.path.exists(port_file) or self.proc.poll() is not None,
                       10, what="the DNS responder to start")
            with open(port_file) as f:
                self.port = int(f.read())
        except BaseException:
            self.close_and_check()
            raise

    def set(self, zone):
        tmp = self.zone_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(zone, f)
        os.rename(tmp, self.zone_path)

    def queries(self, name):
        try:
            with open(self.log_path) as f:
                return sum(1 for ln in f if ln.split()[0] == name)
        except OSError:
            return 0

    def close_and_check(self):
        stop_pid(self.proc, timeout=5)
        shutil.rmtree(self.tmpdir, ignore_errors=True)


# ---------------------------------------------------------------------------
# test case base

class OutpostTestCase(unittest.TestCase):
    """Per-test resources: self.start_origin / self.start_outpost (stopped and
    checked in cleanup). Shared per-class resources: override
    setup_class_resources(self) and create them with self.class_origin /
    self.class_outpost; they start lazily before the first test that runs,
    are checked after each test (still alive, no sanitizer report) and are
    stopped and checked in tearDownClass."""

    needs_outpost = True

    def setup_class_resources(self):
        pass

    def setUp(self):
        if self.needs_outpost:
            require_outpost()
        cls = type(self)
        if cls.__dict__.get("_class_error") is not None:
            raise AssertionError("class setup failed earlier: %s" % cls._class_error)
        if not cls.__dict__.get("_class_ready"):
            cls._class_resources = []
            cls._class_ready = True
            try:
                self.setup_class_resources()
            except unittest.SkipTest:
                raise
            except BaseException as e:
                cls._class_error = "%s: %s" % (type(e).__name__, e)
                raise

    def tearDown(self):
        for r in type(self).__dict__.get("_class_resources") or []:
            if isinstance(r, Outpost):
                r.check_alive()

    @classmethod
    def tearDownClass(cls):
        errors = []
        for r in reversed(cls.__dict__.get("_class_resources") or []):
            try:
                r.close_and_check()
            except AssertionError as e:
                errors.append(str(e))
        cls._class_resources = []
        if errors:
            raise AssertionError("\n".join(errors))

    # per-class
    def class_tmpdir(self, prefix):
        """A temporary directory removed after the class's daemons stop."""
        d = _ClassTmpDir(tempfile.mkdtemp(prefix=prefix))
        type(self)._class_resources.append(d)
        return d.path

    def class_origin(self, script=None, **kw):
        o = OriginProcess(script, **kw)
        type(self)._class_resources.append(o)
        return o

    def class_outpost(self, origin=None, overrides=None, mutate=None, **kw):
        n = Outpost(origin, overrides, mutate, **kw)
        type(self)._class_resources.append(n)
        return n

    # per-test
    def start_origin(self, script=None, **kw):
        o = OriginProcess(script, **kw)
        self.addCleanup(o.stop)
        return o

    def start_outpost(self, origin=None, overrides=None, mutate=None, **kw):
        n = Outpost(origin, overrides, mutate, **kw)
        self.addCleanup(n.close_and_check)
        return n

    # assertions
    def assertServing(self, node, path="/alive-check", host="example.com"):
        """The daemon is alive and answers a normal request."""
        r = node.get(path, host=host)
        self.assertEqual(r.status, 200, "daemon not serving normally: %r" % r)
        node.check_alive()


# ---------------------------------------------------------------------------
# TAP output

class TapResult(unittest.TestResult):
    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream or sys.stdout
        self.n = 0
        self.failed = 0
        self._cur = None
        self._t0 = 0.0

    def _name(self, test):
        tid = test.id()
        parts = tid.split(".")
        name = ".".join(parts[-2:]) if len(parts) >= 2 else tid
        return name.replace("#", "")

    def _emit(self, ok, name, directive="", diag=""):
        self.n += 1
        line = "%s %d - %s" % ("ok" if ok else "not ok", self.n, name)
        if directive:
            line += " # " + directive
        self.stream.write(line + "\n")
        if diag:
            for dl in diag.rstrip("\n").splitlines():
                self.stream.write("# " + dl + "\n")
        self.stream.flush()
        if not ok:
            self.failed += 1

    def startTest(self, test):
        super().startTest(test)
        self._cur = {"test": test, "problems": [], "skip": None, "xfail": False,
                     "xpass": False}
        self._t0 = time.monotonic()

    def stopTest(self, test):
        super().stopTest(test)
        cur, self._cur = self._cur, None
        if cur is None:
            return
        name = self._name(test)
        if cur["problems"]:
            self._emit(False, name, diag="\n".join(cur["problems"]))
        elif cur["skip"] is not None:
            self._emit(True, name, "SKIP " + cur["skip"].replace("\n", " "))
        elif cur["xfail"]:
            self._emit(True, name, "TODO expected failure")
        elif cur["xpass"]:
            self._emit(False, name, diag="unexpected success")
        else:
            self._emit(True, name + " (%.2fs)" % (time.monotonic() - self._t0))

    def _fmt(self, err, test):
        return self._exc_info_to_string(err, test)

    def _current(self, test):
        return self._cur is not None and self._cur["test"] is test

    def addError(self, test, err):
        super().addError(test, err)
        if self._current(test):
            self._cur["problems"].append(self._fmt(err, test))
        else:
            self._emit(False, str(test).replace("#", ""), diag=self._fmt(err, test))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        if self._current(test):
            self._cur["problems"].append(self._fmt(err, test))
        else:
            self._emit(False, str(test).replace("#", ""), diag=self._fmt(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if self._current(test):
            self._cur["skip"] = reason
        else:
            self._emit(True, str(test).replace("#", ""), "SKIP " + reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        if self._current(test):
            self._cur["xfail"] = True

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        if self._current(test):
            self._cur["xpass"] = True

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None and self._current(test):
            if issubclass(err[0], unittest.SkipTest):
                return
            self._cur["problems"].append("[%s]\n%s" % (subtest._subDescription(),
                                                       self._fmt(err, test)))

    def plan(self):
        if self.n == 0:
            self.stream.write("1..0 # SKIP no tests\n")
        else:
            self.stream.write("1..%d\n" % self.n)
        self.stream.flush()


def main(argv=None):
    """Runs the TestCases of __main__ (or the names in argv) and prints TAP."""
    argv = sys.argv[1:] if argv is None else argv
    install_watchdog()
    module = sys.modules["__main__"]
    loader = unittest.TestLoader()
    if argv:
        suite = loader.loadTestsFromNames(argv, module)
    else:
        suite = loader.loadTestsFromModule(module)
    reason = outpost_skip_reason()
    if reason:
        print("# %s: tests that need the daemon are skipped" % reason, flush=True)
    result = TapResult()
    try:
        suite.run(result)
    except BaseException:
        print("Bail out! %s" % traceback.format_exc().splitlines()[-1], flush=True)
        kill_all_children()
        sys.exit(1)
    result.plan()
    kill_all_children()
    sys.exit(1 if result.failed else 0)
