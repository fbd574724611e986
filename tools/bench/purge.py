#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""tools/bench/purge.py — the purge scenario's client for tools/bench/run
(Python 3, stdlib only).  The purge token is read from the environment
(BENCH_PURGE_TOKEN), never from the command line.  Every request carries
`Host: example.com` unless said otherwise, so a URL purge names the same
cache key on every node.  Each command prints one "key=value" result line
(the prefix named below) on stdout; exit 1 when a request failed.

  purge.py propagation PORT ADMIN_PORT IPS PATH K MAX_S
      IPS: comma-separated addresses of the fleet's nodes (same PORT and
      ADMIN_PORT on each).  First a check: one purge with ?wait=10s must be
      acked by every node.  Then K times (at most MAX_S seconds in all):
      GET PATH?pg=N on every node until it answers X-Cache: HIT (a MISS, then
      a HIT), POST /purge {"urls": [...]} to node N mod len(IPS), take the
      time the reply was read, then poll every node (one keep-alive
      connection each: a GET on each node still HIT, then the answers, then
      0.5 ms) until it answers MISS, at most 2 s; the polls carry
      Cache-Control: only-if-cached, so a MISS is a 504 with no origin fetch.  Latency = MISS read minus
      reply read.  Prints "PROP role=remote|local pairs= p50_us= p99_us=
      max_us= timeouts= round_us=" (round_us: the mean poll round, the
      resolution) and "PROP role=all purges= ...".
  purge.py rate IP ADMIN_PORT SECONDS CLIENTS
      CLIENTS processes, each over one keep-alive connection, POST /purge of
      a new URL after the previous reply, for SECONDS.  Prints "RATE
      clients= purges= secs= errors=".
  purge.py onworker IP PORT HOT_PATH SECONDS CLIENTS
      The PURGE method on a client listener (the node's purge.client_listeners
      names this client) while the same (one-worker) node serves hits: a
      probe process GETs HOT_PATH back to back over one keep-alive
      connection and times each request, and CLIENTS processes, each over one
      keep-alive connection to PORT, send PURGE of a new URL after the
      previous reply, for SECONDS.  Prints "ONWORKER clients= purges= secs=
      purge_errors= probe_requests= probe_p50_us= probe_p99_us= probe_max_us=
      probe_errors=".
  purge.py hot IP PORT HOT_PATH SECONDS [ADMIN_PORT TAG TAG_FMT N SAMPLE]
      A probe process GETs HOT_PATH (Host: IP:PORT) back to back over one
      keep-alive connection for SECONDS and times each request.  With the
      purge arguments, 0.3 s in: POST /purge {"tags": [TAG]}, then every
      5 ms GET /purge/<id> until "done" and, in another process, rounds of
      GET TAG_FMT % i (Host: IP:PORT, only-if-cached) over SAMPLE objects
      evenly spread over 1..N until each has answered MISS (or 504) once
      (each at most 60 s).  Prints "HOT probe_requests=
      probe_p50_us= probe_p99_us= probe_max_us= probe_errors=" over the
      whole probe and, with a purge, "reply_ms= done_ms= sample_miss_ms=
      sample_rounds= purged= sample= win_requests= win_p50_us= win_p99_us=
      win_max_us="
      (win: the probe's requests sent between the reply and "done").
"""
import json
import math
import os
import socket
import sys
import time

HOST = "example.com"
IO_TIMEOUT = 10.0
# RFC 9111 §5.2.1.7: a miss is a 504 at once, no fetch from the origin (which
# would add its round trip to every MISS timed here)
OIC = {"Cache-Control": "only-if-cached"}


def purged(status, hdrs):
    """Whether an only-if-cached GET found the object gone (None: an error)."""
    if status == 504:
        return True
    if status == 200:
        return hdrs.get("x-cache") != "HIT"
    return None


def token():
    t = os.environ.get("BENCH_PURGE_TOKEN", "")
    if not t:
        raise SystemExit("purge.py: BENCH_PURGE_TOKEN is not set")
    return t


class Conn:
    """One keep-alive HTTP/1.1 connection; responses framed by
    Content-Length (every Outpost answer has one)."""

    def __init__(self, ip, port, host=HOST):
        self.addr = (ip, int(port))
        self.host = host
        self.sock = None
        self.buf = b""

    def connect(self):
        self.sock = socket.create_connection(self.addr, IO_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, method, path, headers=None, body=b""):
        if self.sock is None:
            self.connect()
        h = "%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, path, self.host)
        for k, v in (headers or {}).items():
            h += "%s: %s\r\n" % (k, v)
        if body or method == "POST":
            h += "Content-Length: %d\r\n" % len(body)
        self.sock.sendall(h.encode() + b"\r\n" + body)

    def read(self):
        """(status, {lower-case name: value}, body)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        self.buf = rest
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return status, hdrs, body

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise ConnectionError("%s:%d closed the connection" % self.addr)
        self.buf += d

    def request(self, method, path, headers=None, body=b""):
        self.send(method, path, headers, body)
        return self.read()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def post_purge(conn, body, wait=None):
    path = "/purge" if wait is None else "/purge?wait=" + wait
    st, _, b = conn.request("POST", path, {"Authorization": "Bearer " + token(),
                                           "Content-Type": "application/json"},
                            json.dumps(body).encode())
    return st, b


def pct(vals, p):
    """Nearest-rank percentile of a sorted list (NaN when empty)."""
    if not vals:
        return float("nan")
    k = max(0, min(len(vals) - 1, math.ceil(p / 100.0 * len(vals)) - 1))
    return vals[k]


def summary(vals, prefix=""):
    v = sorted(vals)
    return "{0}p50_us={1:.0f} {0}p99_us={2:.0f} {0}max_us={3:.0f}".format(
        prefix, pct(v, 50), pct(v, 99), v[-1] if v else float("nan"))


def cmd_propagation(port, admin_port, ips, path, k, max_s):
    ips = ips.split(",")
    k, max_s = int(k), float(max_s)
    nodes = [Conn(ip, port) for ip in ips]
    admins = [Conn(ip, admin_port) for ip in ips]
    st, b = post_purge(admins[0], {"urls": ["http://%s%s?pg=check" % (HOST, path)]}, "10s")
    acked = json.loads(b).get("fleet", {}).get("acked", []) if st == 200 else []
    if len(acked) != len(ips):
        raise SystemExit("purge.py: the check purge got %d: acked by %s, not %d nodes (%s)"
                         % (st, acked, len(ips), b[:300]))
    remote, local, timeouts, rounds, round_us = [], [], 0, 0, 0.0
    t_end = time.monotonic() + max_s
    done = 0
    for n in range(k):
        if time.monotonic() > t_end:
            break
        url_path = "%s?pg=%d-%d" % (path, os.getpid(), n)
        for i, c in enumerate(nodes):
            for _ in range(20):
                st, h, _ = c.request("GET", url_path)
                if st == 200 and h.get("x-cache") == "HIT":
                    break
            else:
                raise SystemExit("purge.py: %s%s is not a HIT on %s" % (HOST, url_path, ips[i]))
        to = n % len(ips)
        st, b = post_purge(admins[to], {"urls": ["http://%s%s" % (HOST, url_path)]})
        t_reply = time.monotonic()
        if st != 200:
            raise SystemExit("purge.py: POST /purge on %s: %d %s" % (ips[to], st, b[:300]))
        pending = set(range(len(ips)))
        deadline = t_reply + 2.0
        while pending and time.monotonic() < deadline:
            r0 = time.monotonic()
            for i in pending:
                nodes[i].send("GET", url_path, OIC)
            for i in sorted(pending):
                st, h, _ = nodes[i].read()
                t = time.monotonic()
                gone = purged(st, h)
                if gone is None:
                    raise SystemExit("purge.py: GET on %s: %d" % (ips[i], st))
                if gone:
                    (local if i == to else remote).append((t - t_reply) * 1e6)
                    pending.discard(i)
            rounds += 1
            round_us += (time.monotonic() - r0) * 1e6
            if pending:
                time.sleep(0.0005)
        timeouts += len(pending)
        done += 1
    rnd = round_us / rounds if rounds else float("nan")
    print("PROP role=remote pairs=%d %s timeouts=%d round_us=%.0f" % (
        len(remote), summary(remote), timeouts, rnd))
    print("PROP role=local pairs=%d %s round_us=%.0f" % (len(local), summary(local), rnd))
    print("PROP role=all purges=%d nodes=%d" % (done, len(ips)))
    return 1 if timeouts else 0


def rate_client(ip, port, secs, cid, wfd, method):
    """Purges of new URLs back to back: POST /purge to the admin listener at
    port, or (method "PURGE") the PURGE method to a client listener."""
    c = Conn(ip, port)
    n = errors = 0
    t0 = time.monotonic()
    t_end = t0 + secs
    while time.monotonic() < t_end:
        path = "/rate/%d-%d-%d" % (os.getpid(), cid, n)
        try:
            if method == "PURGE":
                st, _, _ = c.request("PURGE", path, {"Authorization": "Bearer " + token()})
            else:
                st, _ = post_purge(c, {"urls": ["http://%s%s" % (HOST, path)]})
        except (OSError, ConnectionError, ValueError):
            errors += 1
            c.close()
            continue
        if st == 200:
            n += 1
        else:
            errors += 1
    os.write(wfd, ("%d %d %.6f\n" % (n, errors, time.monotonic() - t0)).encode())


def spawn_rate(ip, port, secs, clients, method="POST"):
    """clients rate_client processes; (purges, errors, seconds, failed)."""
    r, w = os.pipe()
    kids = []
    for cid in range(clients):
        pid = os.fork()
        if pid == 0:
            rc = 1
            try:
                rate_client(ip, port, secs, cid, w, method)
                rc = 0
            finally:
                os._exit(rc)
        kids.append(pid)
    os.close(w)
    bad = sum(os.waitpid(pid, 0)[1] != 0 for pid in kids)
    data = b""
    while True:
        d = os.read(r, 4096)
        if not d:
            break
        data += d
    n = errors = 0
    dur = 0.0
    for ln in data.decode().split("\n"):
        if ln:
            a, e, s = ln.split()
            n, errors, dur = n + int(a), errors + int(e), max(dur, float(s))
    return n, errors, dur, bad


def cmd_rate(ip, admin_port, secs, clients):
    clients = int(clients)
    n, errors, dur, bad = spawn_rate(ip, admin_port, float(secs), clients)
    print("RATE clients=%d purges=%d secs=%.3f errors=%d" % (clients, n, dur, errors + bad))
    return 1 if errors or bad else 0


def probe(ip, port, path, secs, wfd):
    """Times each GET of path back to back; writes "t_send_us lat_us" lines
    (t relative to CLOCK_MONOTONIC) and the error count."""
    c = Conn(ip, port, "%s:%s" % (ip, port))
    out, errors = [], 0
    t_end = time.monotonic() + secs
    while time.monotonic() < t_end:
        t = time.monotonic()
        try:
            st, _, _ = c.request("GET", path)
        except (OSError, ConnectionError, ValueError):
            errors += 1
            c.close()
            continue
        out.append("%.1f %.1f" % (t * 1e6, (time.monotonic() - t) * 1e6))
        errors += st != 200
    out.append("E %d" % errors)
    data = ("\n".join(out) + "\n").encode()
    while data:
        k = os.write(wfd, data)
        data = data[k:]


def sample_gone(ip, port, fmt_, todo, deadline, wfd):
    """Rounds of only-if-cached GETs over todo until each object has been
    found gone once (5 ms apart, until deadline); writes the monotonic time
    of the last (or "nan") and the rounds it took."""
    obj = Conn(ip, port, "%s:%s" % (ip, port))
    rounds = 0
    while todo and time.monotonic() < deadline:
        rounds += 1
        left = []
        for i in todo:
            st, h, _ = obj.request("GET", fmt_ % i, OIC)
            if not purged(st, h):
                left.append(i)
        todo = left
        if todo:
            time.sleep(0.005)
    os.write(wfd, ("%s %d\n" % ("%.6f" % time.monotonic() if not todo else "nan",
                                 rounds)).encode())


def tag_purge(ip, port, admin_port, tag, fmt_, n, sample):
    """POST the tag purge; the sample is checked by a child process while
    this one polls GET /purge/<id> every 5 ms (each at most 60 s)."""
    adm = Conn(ip, admin_port)
    t0 = time.monotonic()
    st, b = post_purge(adm, {"tags": [tag]})
    t_reply = time.monotonic()
    if st != 200:
        raise SystemExit("purge.py: tag purge: %d %s" % (st, b[:300]))
    pid = json.loads(b)["id"]
    deadline = t_reply + 60
    r, w = os.pipe()
    kid = os.fork()
    if kid == 0:
        rc = 1
        try:
            os.close(r)
            sample_gone(ip, port, fmt_, sorted({1 + i * n // sample for i in range(sample)}),
                        deadline, w)
            rc = 0
        finally:
            os._exit(rc)
    os.close(w)
    t_done, removed = None, -1
    while time.monotonic() < deadline:
        st, _, b = adm.request("GET", "/purge/" + pid)
        if st == 200 and json.loads(b).get("done"):
            t_done = time.monotonic()
            removed = json.loads(b).get("purged", -1)
            break
        time.sleep(0.005)
    got = os.read(r, 64).decode().split()
    os.close(r)
    if os.waitpid(kid, 0)[1] != 0 or len(got) != 2:
        got = ["nan", "0"]
    t_miss = float(got[0])
    ms = lambda t: (t - t_reply) * 1e3 if t is not None else float("nan")  # noqa: E731
    return t_reply, t_done, "reply_ms=%.1f done_ms=%.1f sample_miss_ms=%.1f sample_rounds=%s " \
        "purged=%d sample=%d" % ((t_reply - t0) * 1e3, ms(t_done), ms(t_miss), got[1], removed,
                                 sample)


def fork_probe(ip, port, path, secs):
    """A probe process; (its pid, the read end of its pipe)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        rc = 1
        try:
            os.close(r)
            probe(ip, port, path, secs, w)
            rc = 0
        finally:
            os._exit(rc)
    os.close(w)
    return pid, r


def read_probe(pid, r, win=None):
    """The probe's latencies, those sent within win, its errors."""
    data = b""
    while True:
        d = os.read(r, 1 << 20)
        if not d:
            break
        data += d
    os.close(r)
    bad = os.waitpid(pid, 0)[1] != 0
    lats, wl, errors = [], [], 0
    for ln in data.decode().split("\n"):
        if ln.startswith("E "):
            errors = int(ln[2:])
        elif ln:
            t, lat = (float(x) for x in ln.split())
            lats.append(lat)
            if win and win[0] <= t <= win[1]:
                wl.append(lat)
    return lats, wl, errors + bad


def cmd_onworker(ip, port, path, secs, clients):
    secs, clients = float(secs), int(clients)
    pid, r = fork_probe(ip, port, path, secs)
    n, errors, dur, bad = spawn_rate(ip, port, secs, clients, "PURGE")
    lats, _, perr = read_probe(pid, r)
    print("ONWORKER clients=%d purges=%d secs=%.3f purge_errors=%d probe_requests=%d %s "
          "probe_errors=%d" % (clients, n, dur, errors + bad, len(lats),
                               summary(lats, "probe_"), perr))
    return 1 if errors or bad or perr else 0


def cmd_hot(ip, port, path, secs, purge_args):
    secs = float(secs)
    pid, r = fork_probe(ip, port, path, secs)
    extra, win = "", None
    if purge_args:
        admin_port, tag, fmt_, n, sample = purge_args
        time.sleep(0.3)
        t_reply, t_done, extra = tag_purge(ip, port, admin_port, tag, fmt_, int(n), int(sample))
        win = (t_reply * 1e6, (t_done if t_done is not None else float("inf")) * 1e6)
    lats, wl, errors = read_probe(pid, r, win)
    line = "HOT probe_requests=%d %s probe_errors=%d" % (len(lats), summary(lats, "probe_"),
                                                          errors)
    if purge_args:
        line += " %s win_requests=%d %s" % (extra, len(wl), summary(wl, "win_"))
    print(line)
    return 1 if errors else 0


def main(argv):
    try:
        if len(argv) == 7 and argv[0] == "propagation":
            return cmd_propagation(*argv[1:])
        if len(argv) == 5 and argv[0] == "rate":
            return cmd_rate(*argv[1:])
        if len(argv) == 6 and argv[0] == "onworker":
            return cmd_onworker(*argv[1:])
        if len(argv) in (5, 10) and argv[0] == "hot":
            return cmd_hot(argv[1], argv[2], argv[3], argv[4], argv[5:])
    except (OSError, ConnectionError, ValueError) as e:
        sys.stderr.write("purge.py %s: %s\n" % (argv[0], e))
        return 1
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
