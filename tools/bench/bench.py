#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""tools/bench/bench.py — helper of tools/bench/run (Python 3, stdlib only).

  bench.py ports N
      prints N distinct free TCP ports on 127.0.0.1 (bound to port 0, closed).
  bench.py record TSV KEY PROXY PASS ORDER WRK_OUT CPU_TICKS CLK_TCK
                  CPU0_BUSY CPU0_TOTAL CPU0_SOFTIRQ CPU1_BUSY CPU1_TOTAL RSS_KB
                  ORIGIN_DELTA
      parses the "BENCH ..." line that report.lua made wrk print into WRK_OUT,
      appends one row to TSV and prints a one-line summary of the run.
  bench.py h2load H2LOAD_OUT
      prints the BENCH line of an h2load run's output (requests that
      succeeded, the measured duration, body and header bytes, errors: failed,
      errored and timed-out requests and non-2xx answers; no latency
      percentiles: -1).
  bench.py warm HOST PORT PATH_FORMAT N SIZE [CONNS]
      GETs PATH_FORMAT % i for i = 1..N, on CONNS keep-alive connections in
      as many processes (default 1; process k asks for i = k, k+CONNS, ...);
      each answer must be 200 with SIZE body bytes (exit 1 otherwise).
  bench.py rangewarm HOST PORT PATH FILE SLICE [CONNS [WHAT [METRICS_URL]]]
      GETs every aligned SLICE-byte range of PATH (`Range: bytes=A-B`, A =
      k x SLICE, B = A + SLICE - 1, the last one cut at the end), on CONNS
      keep-alive connections in as many processes (default 1; process j asks
      for k = j-1, j-1+CONNS, ...), then PATH once whole (WHAT: ranges, whole
      or both, the default); each range must be a 206 with `Content-Range:
      bytes A-B/SIZE` and those bytes of FILE, the whole answer a 200 with
      all of FILE (SIZE its length; read in chunks, never held whole); exit 1
      otherwise.  With METRICS_URL (an Outpost's /metrics), each range waits
      (up to 60 s) until that Outpost's memory has room for 2 x CONNS slices
      (outpost_cache_memory_bytes against outpost_cache_memory_budget_bytes:
      the objects queued for its disk tier count, and a fill past the budget
      is not stored): the fill goes at the pace of its disk writer.
  bench.py textwarm HOST PORT LIST CODING ROOT
      GETs every path in LIST (one a line) on one keep-alive connection with
      Accept-Encoding: CODING (no such field for identity); each answer must be 200
      with Content-Encoding CODING (none for identity) and decode to the file
      ROOT/PATH (gzip with zlib, br and zstd with the brotli and zstd tools);
      prints "files=N body_bytes=CODED identity_bytes=DECODED".
  bench.py report TSV META OUT
      prints one table per scenario KEY (hit-1k, hit-16k, ..., c1000-1k, close-1k,
      disk-1k, ..., slice-range-100m, ..., slice-whole-1g, miss-1k, tls-1k, tlsclose-1k, handshake; medians over passes, ratios Outpost/peer for
      every peer, per-pass ratios) and writes the same as Markdown to OUT
      (META: "key=value" lines about the machine and the command; with
      mem_tsv=FILE in it, also the memory-per-object table of that file's
      "key=value" lines, one per proxy and body size; with purge_tsv=FILE,
      the purge scenario's tables from its "kind=... key=value" lines; with
      edge_tsv=FILE, the compress, geo and policy tables from its lines).
      Exits 1 if any run had errors, made the origin serve a request (hits),
      or did not send every request to the origin (miss-*).
"""
import gzip
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

COLS = ["size", "proxy", "pass", "order", "requests", "duration_us", "bytes",
        "p50_us", "p99_us", "errors", "cpu_ticks", "clk_tck", "cpu0_busy",
        "cpu0_total", "cpu0_softirq", "cpu1_busy", "cpu1_total", "rss_kb", "origin_delta",
        "rss0_kb", "rss1_kb", "setup_us", "disk_hits", "ram_hits"]


def cmd_ports(n):
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    print(" ".join(str(p) for p in ports))


def warm_range(host, port, fmt_, first, n, step, size):
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    for i in range(first, n + 1, step):
        path = fmt_ % i
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200 or len(body) != int(size):
            sys.stderr.write("bench.py warm: %s:%s%s: status %d, %d bytes\n"
                             % (host, port, path, resp.status, len(body)))
            return 1
    conn.close()
    return 0


def cmd_warm(host, port, fmt_, n, size, conns="1"):
    n, conns = int(n), max(1, int(conns))
    return 1 if forked(range(1, conns + 1), lambda k: warm_range(host, port, fmt_, k, n, conns, size),
                       "bench.py warm: %s:%s" % (host, port)) else 0


def forked(args, fn, what):
    """Runs fn(a) for each a of args in a process of its own (exit 0 when it
    returns 0, 1 when it returns non-zero or raises, saying so on stderr
    after WHAT); the number of processes that failed."""
    kids = []
    for a in args:
        pid = os.fork()
        if pid == 0:
            rc = 1
            try:
                rc = fn(a)
            except Exception as e:  # noqa: BLE001 -- any failure is this child's exit 1
                sys.stderr.write("%s: %s\n" % (what, e))
            finally:
                os._exit(rc)
        kids.append(pid)
    return sum(os.waitpid(pid, 0)[1] != 0 for pid in kids)


def outpost_metrics(url, names):
    """{name: value} of the counters NAMES in an Outpost's /metrics at URL."""
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode("utf-8", "replace")
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) == 2 and f[0] in names:
            out[f[0]] = float(f[1])
    return out


def wait_room(url, room):
    """Waits (at most 60 s) until the Outpost at URL has ROOM bytes left in its
    memory budget; False if it never had."""
    names = ("outpost_cache_memory_bytes", "outpost_cache_memory_budget_bytes")
    for _ in range(1200):
        m = outpost_metrics(url, names)
        if len(m) < 2:
            raise SystemExit("bench.py rangewarm: no %s in %s" % (" or ".join(names), url))
        if m[names[0]] + room <= m[names[1]]:
            return True
        time.sleep(0.05)
    return False


def range_part(host, port, path, fh, size, slice_, first, step, pace_url):
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    for k in range(first, (size + slice_ - 1) // slice_, step):
        a = k * slice_
        if pace_url and not wait_room(pace_url, 2 * step * (slice_ + 65536)):
            sys.stderr.write("bench.py rangewarm: %s: no room for %d slices in 60 s\n"
                             % (pace_url, 2 * step))
            return 1
        b = min(a + slice_, size) - 1
        conn.request("GET", path, headers={"Range": "bytes=%d-%d" % (a, b)})
        resp = conn.getresponse()
        body = resp.read()
        cr = resp.getheader("Content-Range") or ""
        fh.seek(a)
        if resp.status != 206 or cr != "bytes %d-%d/%d" % (a, b, size) \
                or body != fh.read(b - a + 1):
            sys.stderr.write("bench.py rangewarm: %s:%s%s bytes=%d-%d: status %d, "
                             "Content-Range %r, %d bytes%s\n"
                             % (host, port, path, a, b, resp.status, cr, len(body),
                                "" if len(body) != b - a + 1 else ", not the file's"))
            return 1
    conn.close()
    return 0


def cmd_rangewarm(host, port, path, file_, slice_, conns="1", what="both", pace_url=""):
    size, slice_, conns = os.path.getsize(file_), int(slice_), max(1, int(conns))
    if what not in ("ranges", "whole", "both"):
        sys.stderr.write("bench.py rangewarm: %s: not ranges, whole or both\n" % what)
        return 2
    def part(j):
        with open(file_, "rb") as fh:
            return range_part(host, port, path, fh, size, slice_, j, conns, pace_url)

    bad = forked(range(conns if what != "whole" else 0), part,
                 "bench.py rangewarm: %s:%s%s" % (host, port, path))
    if bad:
        return 1
    if what == "ranges":
        return 0
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("GET", path)
    resp = conn.getresponse()
    got = 0
    with open(file_, "rb") as fh:
        while True:
            chunk = resp.read(1 << 20)
            if not chunk:
                break
            if chunk != fh.read(len(chunk)):
                sys.stderr.write("bench.py rangewarm: %s:%s%s: the body differs from %s "
                                 "after byte %d\n" % (host, port, path, file_, got))
                return 1
            got += len(chunk)
    conn.close()
    if resp.status != 200 or got != size:
        sys.stderr.write("bench.py rangewarm: %s:%s%s: status %d, %d bytes\n"
                         % (host, port, path, resp.status, got))
        return 1
    return 0


def decode(coding, body):
    if coding == "identity":
        return body
    if coding == "gzip":
        return gzip.decompress(body)
    tool = {"br": ["brotli", "-d", "-c"], "zstd": ["zstd", "-d", "-c", "-q"]}[coding]
    return subprocess.run(tool, input=body, stdout=subprocess.PIPE, check=True,
                          timeout=60).stdout


def cmd_textwarm(host, port, listfile, coding, root):
    with open(listfile, encoding="utf-8") as f:
        paths = [line.strip() for line in f if line.strip()]
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    coded = plain = 0
    for path in paths:
        # as wrk asks: identity is no Accept-Encoding field at all (a cache
        # may keep "identity" named apart from no field)
        conn.putrequest("GET", path, skip_accept_encoding=True)
        if coding != "identity":
            conn.putheader("Accept-Encoding", coding)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        ce = (resp.getheader("Content-Encoding") or "identity").strip().lower()
        if resp.status != 200 or ce != coding:
            sys.stderr.write("bench.py textwarm: %s:%s%s (%s): status %d, Content-Encoding %s\n"
                             % (host, port, path, coding, resp.status, ce))
            return 1
        with open(root + path, "rb") as f:
            want = f.read()
        if decode(coding, body) != want:
            sys.stderr.write("bench.py textwarm: %s:%s%s (%s): the body does not decode to "
                             "the file\n" % (host, port, path, coding))
            return 1
        coded += len(body)
        plain += len(want)
    conn.close()
    print("files=%d body_bytes=%d identity_bytes=%d" % (len(paths), coded, plain))
    return 0


def parse_wrk(path):
    """The BENCH line (report.lua's), plus an EXTRA line tools/bench/run may add."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    m = re.search(r"^BENCH (.*)$", text, re.M)
    if not m:
        raise SystemExit("bench.py: no BENCH line in %s (did wrk fail?)\n%s" % (path, text))
    line = m.group(1)
    m = re.search(r"^EXTRA (.*)$", text, re.M)
    if m:
        line += " " + m.group(1)
    return {k: float(v) for k, v in (kv.split("=") for kv in line.split())}


def derive(r):
    """Adds the derived metrics to a row (values are numbers)."""
    secs = r["duration_us"] / 1e6
    cpu_s = r["cpu_ticks"] / r["clk_tck"]
    r["rps"] = r["requests"] / secs if secs else 0.0
    r["mib_s"] = r["bytes"] / secs / 2**20 if secs else 0.0
    r["cpu_s"] = cpu_s
    r["cpu_us_req"] = cpu_s * 1e6 / r["requests"] if r["requests"] else float("nan")
    r["cpu_s_gib"] = cpu_s / (r["bytes"] / 2**30) if r["bytes"] > 0 else float("nan")
    r["busy_pct"] = 100.0 * r["cpu0_busy"] / r["cpu0_total"] if r["cpu0_total"] else 0.0
    r["soft_pct"] = 100.0 * r["cpu0_softirq"] / r["cpu0_total"] if r["cpu0_total"] else 0.0
    r["wrk_busy_pct"] = 100.0 * r["cpu1_busy"] / r["cpu1_total"] if r["cpu1_total"] else 0.0
    # the load generator's core time per request: when it is the bottleneck
    # (core 1 near 100 %), what each proxy costs the client shows here
    r["wrk_us_req"] = r["wrk_busy_pct"] / 100.0 * secs * 1e6 / r["requests"] \
        if r["requests"] else float("nan")
    r["rss_mib"] = r["rss_kb"] / 1024.0
    r["p50_ms"] = r["p50_us"] / 1000.0 if r["p50_us"] >= 0 else float("nan")
    r["p99_ms"] = r["p99_us"] / 1000.0 if r["p99_us"] >= 0 else float("nan")
    r["rss0_mib"] = r["rss0_kb"] / 1024.0 if r["rss0_kb"] >= 0 else float("nan")
    r["rss1_mib"] = r["rss1_kb"] / 1024.0 if r["rss1_kb"] >= 0 else float("nan")
    r["kib_per_conn"] = (r["rss1_kb"] - r["rss0_kb"]) / r["requests"] \
        if r["rss0_kb"] >= 0 and r["requests"] else float("nan")
    r["setup_s"] = r["setup_us"] / 1e6 if r["setup_us"] >= 0 else float("nan")
    r["disk_per_req"] = r["disk_hits"] / r["requests"] if r["disk_hits"] >= 0 and r["requests"] \
        else float("nan")
    r["ram_per_req"] = r["ram_hits"] / r["requests"] if r["ram_hits"] >= 0 and r["requests"] \
        else float("nan")
    r["origin_per_req"] = r["origin_delta"] / r["requests"] if r["requests"] else float("nan")
    return r


def cmd_h2load(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    fin = re.search(r"^finished in ([0-9.]+)(ms|s),", text, re.M)
    req = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored, (\d+) timeout", text, re.M)
    codes = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    traffic = re.search(r"^traffic: \S+ \((\d+)\) total", text, re.M)
    if not (fin and req and codes and traffic):
        sys.stderr.write("bench.py h2load: unexpected output in %s\n" % path)
        return 1
    secs = float(fin.group(1)) / (1000.0 if fin.group(2) == "ms" else 1.0)
    print("BENCH requests=%s duration_us=%d bytes=%s p50_us=-1 p99_us=-1 err_failed=%s "
          "err_errored=%s err_timeout=%s err_status=%d"
          % (req.group(4), secs * 1e6, traffic.group(1), req.group(5), req.group(6),
             req.group(7), int(codes.group(2)) + int(codes.group(3)) + int(codes.group(4))))
    return 0


def cmd_record(tsv, args):
    (size, proxy, npass, order, wrk_out, ticks, clk, busy, total, soft, busy1, total1,
     rss, odelta) = args
    w = parse_wrk(wrk_out)
    errors = sum(w[k] for k in w if k.startswith("err_"))
    row = {"size": size, "proxy": proxy, "pass": npass, "order": order,
           "requests": w["requests"], "duration_us": w["duration_us"],
           "bytes": w["bytes"], "p50_us": w["p50_us"], "p99_us": w["p99_us"],
           "errors": errors, "cpu_ticks": ticks, "clk_tck": clk,
           "cpu0_busy": busy, "cpu0_total": total, "cpu0_softirq": soft,
           "cpu1_busy": busy1, "cpu1_total": total1, "rss_kb": rss,
           "origin_delta": odelta, "rss0_kb": w.get("rss0_kb", -1),
           "rss1_kb": w.get("rss1_kb", -1), "setup_us": w.get("setup_us", -1),
           "disk_hits": w.get("disk_hits", -1), "ram_hits": w.get("ram_hits", -1)}
    new = not os.path.exists(tsv)
    with open(tsv, "a", encoding="utf-8") as f:
        if new:
            f.write("\t".join(COLS) + "\n")
        f.write("\t".join(str(row[c]) for c in COLS) + "\n")
    r = derive(load_row(row))
    print("  %-7s %-9s pass %s: %9.0f req/s  %6.1f CPU us/req  p50 %6.2f ms  "
          "p99 %6.2f ms  %7.1f MiB/s  core0 %5.1f%% (softirq %4.1f%%)  core1 %5.1f%%  RSS %6.1f MiB  errors %d  "
          "origin +%d" % (proxy, size, npass, r["rps"], r["cpu_us_req"], r["p50_ms"],
                          r["p99_ms"], r["mib_s"], r["busy_pct"], r["soft_pct"],
                          r["wrk_busy_pct"], r["rss_mib"],
                          r["errors"], r["origin_delta"]))


def load_row(d):
    out = dict(d)
    for c in COLS:
        if c not in ("size", "proxy", "order"):
            out[c] = float(d.get(c, -1))
    out["pass"] = int(float(d["pass"]))
    return out


def load(tsv):
    rows = []
    if not os.path.exists(tsv):  # only the trace scenario ran
        return rows
    with open(tsv, encoding="utf-8") as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(derive(load_row(dict(zip(head, line.rstrip("\n").split("\t"))))))
    return rows


PROXY_ORDER = ["outpost", "outpost_ram", "baseline", "nginx", "nginx2", "varnish", "ats"]
PROXY_LABEL = {"outpost": "Outpost", "outpost_ram": "Outpost RAM only",
               "baseline": "Outpost (baseline)", "nginx": "nginx",
               "nginx2": "nginx #2", "varnish": "Varnish", "ats": "ATS"}


def size_key(s):
    m = re.match(r"(\d+)([kKmMgG]?)", s)
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 2**20, "g": 2**30}[m.group(2).lower()]


def size_label(s):
    n = size_key(s)
    return "%d GiB" % (n // 2**30) if n >= 2**30 else "%d MiB" % (n // 2**20) if n >= 2**20 \
        else "%d KiB" % (n // 1024) if n >= 1024 else "%d B" % n


def key_parts(k):
    """(scenario, kind, size) of a key: "slice-range-1g" -> ("slice", "range",
    "1g"), "hit-1k" -> ("hit", "", "1k"), "idle" -> ("idle", "", "")."""
    sc, _, size = k.partition("-")
    kind = ""
    if sc == "slice":
        kind, _, size = size.partition("-")
    return sc, kind, size


SCEN_ORDER = ["hit", "c1000", "close", "disk", "slice", "miss", "tls", "tlsclose", "handshake",
              "h2", "idle"]
SLICE_KINDS = ["range", "whole"]  # the slices scenario's rows, in this order
DISK_RAM = 16 * 2**20  # the disk-tier Outpost's cache.ram (tools/bench/run)


def disk_objects(size):
    """Objects in the disk scenario's working set for SIZE: 4x DISK_RAM in
    bytes, at least 64 (tools/bench/run computes the same)."""
    return max(64, 4 * DISK_RAM // size_key(size))


def key_sort(k):
    sc, kind, size = key_parts(k)
    return (SCEN_ORDER.index(sc) if sc in SCEN_ORDER else 99,
            SLICE_KINDS.index(kind) if kind in SLICE_KINDS else 0, size_key(size) if size else 0)


def large(k):
    """Large-object rows: compared by the proxy's CPU time per GiB served."""
    sc, _, size = key_parts(k)
    return (sc == "hit" and size_key(size) >= 128 * 1024) or sc == "slice"


def key_title(k):
    sc, kind, size = key_parts(k)
    lab = size_label(size) if size else ""
    if sc == "slice":
        return ("Slices from a disk cache: random 1 MiB-aligned 1 MiB ranges of a %s object"
                if kind == "range" else
                "Slices from a disk cache: whole GETs of a %s object stored as 1 MiB slices") % lab
    return {
        "hit": "Cache hits, keep-alive, %s objects" % lab,
        "c1000": "Cache hits, keep-alive, 1,000 active connections, %s" % lab,
        "disk": "Disk tier: %s hits, random over a working set 4x Outpost's RAM tier" % lab,
        "close": "Cache hits, a new connection per request (`Connection: close`), %s" % lab,
        "miss": "Misses: a new URL per request, %s (the miss path)" % lab,
        "tls": "TLS 1.3 (ECDSA P-256), keep-alive cache hits, %s" % lab,
        "tlsclose": "TLS 1.3 (ECDSA P-256), a new connection per request "
                    "(`Connection: close`, sessions resumed), %s hits" % lab,
        "handshake": "TLS 1.3 (ECDSA P-256) full handshakes (`openssl s_time -new`)",
        "h2": "HTTP/2 over TLS 1.3, keep-alive cache hits, %s" % lab,
        "idle": "10,000 idle keep-alive connections: RSS per connection",
    }.get(sc, k)


SLICE_SETUP = (
    "the object a sparse file of the origin's (`truncate -s`); the Outpost column is the "
    "disk tier's Outpost (`cache.ram: 16MiB`, `cache.max_object: 2MiB`, `cache.disk` "
    "LMDB 2GiB, `cache.slice: { size: 1MiB }`: each slice its own entry, a whole GET "
    "served from them), nginx has `location /big/ { slice 1m; proxy_cache_key "
    "$uri$is_args$args$slice_range; proxy_set_header Range $slice_range; "
    "proxy_cache_valid 200 206 1h; ... }` (`max_size=2g`), ATS `map .../big/ ... "
    "@plugin=cache_range_requests.so` (each Range value its own cache key; a request "
    "without Range cached whole, as without the plugin) with a 4 GiB disk cache; no other "
    "peer.  Before the passes every aligned 1 MiB slice of the 100 MiB and the 1 GiB "
    "object is fetched by range through each proxy (`tools/bench/bench.py rangewarm`, "
    "4 connections, bodies compared with the files): through Outpost at the pace of its "
    "LMDB writer (each range waits for room in its memory budget, `cache.ram` + "
    "`cache.fill_memory`, which the slices queued for LMDB count against: past it a fill "
    "is not stored), through nginx and ATS again until a pass makes the origin serve "
    "nothing (ATS leaves fills unstored when its disk writes lag); Outpost's "
    "`outpost_cache_disk_objects` must grow by the slices (1,124); then each object is "
    "fetched once whole, and a second pass of all of it must leave the origin's counter "
    "unchanged.  The RAM-tier and disk-tier hits per request are the disk-tier "
    "Outpost's `outpost_slice_hits_total` (slices found stored) and "
    "`outpost_cache_disk_hits_total` (those read from LMDB): a whole GET counts its "
    "slices, and bytes of responses still under way when a run ends count, requests "
    "only once complete (few for 1 GiB: compare CPU s per GiB)")


def key_load(k):
    sc, kind, size = key_parts(k)
    n = disk_objects(size) if sc == "disk" else 0
    if sc == "slice" and kind == "range":
        return ("`wrk -t1 -c64 --latency -s slice.lua URL -- %d 1048576` (`Range: "
                "bytes=A-B`, A = K x 1048576, B = A + 1048575, K uniformly random in "
                "0..%d; `/big/obj-%s.bin`); %s" % (size_key(size) >> 20,
                                                    (size_key(size) >> 20) - 1, size,
                                                    SLICE_SETUP))
    if sc == "slice":
        c = 4 if size == "1g" else 8
        return ("`wrk -t1 -c%d --timeout 60s --latency URL` (`/big/obj-%s.bin`, no Range; "
                "%d connections: %d x %s in flight; requests/s counts completed responses, "
                "transfer every byte; compare CPU s per GiB); %s"
                % (c, size, c, c, size_label(size), SLICE_SETUP))
    return {
        "hit": "`wrk -t1 -c8 --timeout 60s --latency URL` (8 connections: 64 x 100 MiB "
               "in flight would not complete within a run; requests/s counts completed "
               "responses, transfer every byte; compare CPU s per GiB)" if k == "hit-100m"
        else "`wrk -t1 -c64 --latency URL`",
        "c1000": "`wrk -t1 -c1000 --latency URL` (every connection busy: 1,000 requests "
                 "in flight)",
        "disk": "`wrk -t1 -c64 --latency -s disk.lua URL -- %d /ds-%s/obj-` (path "
                "`/ds-%s/obj-N.bin`, N uniformly random in 1..%d: %d MiB of %s objects; "
                "the Outpost column is a second Outpost with `cache.ram: 16MiB` over "
                "`cache.disk` (LMDB, 2GiB), \"Outpost RAM only\" the main one "
                "(`cache.ram: 512MiB`); the peers as everywhere (see the notes); the "
                "RAM-tier and disk-tier hits per request are the disk-tier Outpost's "
                "`outpost_cache_hits_total` and `outpost_cache_disk_hits_total` "
                "before and after each run" % (n, size, size, n, n * size_key(size) // 2**20,
                                               size_label(size)) if sc == "disk" else "",
        "close": "`wrk -t1 -c64 --latency -H 'Connection: close' URL`",
        "miss": "`wrk -t1 -c64 --latency -s miss.lua URL -- PREFIX` "
                "(path `/obj-1k.bin?m=PREFIX-N`, N counting up; the origin, "
                "pinned to core 1 with wrk, serves every request)",
        "tls": "`wrk -t1 -c64 --latency https://...` (TLS 1.3, one handshake per connection)",
        "tlsclose": "`wrk -t1 -c64 --latency -H 'Connection: close' https://...` (64 "
                    "concurrent clients, each request on a new connection; wrk resumes "
                    "its previous session with the ticket it got, so these are TLS 1.3 "
                    "PSK + ECDHE handshakes, without the certificate and signature; "
                    "latency includes the handshake)",
        "handshake": "`openssl s_time -new -tls1_3 -connect ... -time S` (one connection at "
                     "a time, no HTTP request; \"requests\" = handshakes, the client is "
                     "the bottleneck: compare CPU µs per handshake)",
        "h2": "`h2load -t1 -c4 -m%d -D S https://...` (%d concurrent streams per "
              "connection; h2 checked in h2load's output; no latency percentiles)"
              % ((8, 8) if size == "1m" else (100, 100)),
        "idle": "`tools/bench/idle.py` on core 1 opens 10,000 connections, gets one 1 KiB "
                "hit on each, holds them idle for the run's seconds; the proxy's RSS "
                "(all its processes) is read before and 1 s after all are idle; RSS "
                "figures are pass 1's (later passes reuse the memory the first one "
                "grew, as the per-pass table shows)",
    }.get(sc, "")


# (key, label, format)
METRICS = [
    ("rps", "requests/s", "%.0f"),
    ("cpu_us_req", "proxy CPU µs / request", "%.2f"),
    ("cpu_s_gib", "proxy CPU s / GiB served", "%.3f"),
    ("p50_ms", "latency p50 (ms)", "%.3f"),
    ("p99_ms", "latency p99 (ms)", "%.3f"),
    ("mib_s", "transfer (MiB/s)", "%.1f"),
    ("cpu_s", "proxy CPU time (s)", "%.2f"),
    ("busy_pct", "core 0 (proxy) busy (%)", "%.1f"),
    ("soft_pct", "core 0 softirq (%)", "%.1f"),
    ("wrk_busy_pct", "core 1 (load generator) busy (%)", "%.1f"),
    ("wrk_us_req", "core 1 (load generator) µs / request", "%.1f"),
    ("rss_mib", "proxy RSS after run (MiB)", "%.1f"),
    ("errors", "load generator errors (sum over passes)", "%d"),
    ("origin_delta", "origin requests during load (sum)", "%d"),
    ("origin_per_req", "origin requests per proxy request", "%.3f"),
    ("ram_per_req", "RAM-tier hits per request (Outpost's /metrics)", "%.3f"),
    ("disk_per_req", "disk-tier (LMDB) hits per request (Outpost's /metrics)", "%.3f"),
]
IDLE_METRICS = [
    ("requests", "connections held (median)", "%.0f"),
    ("errors", "connections failed or closed by the proxy (sum)", "%d"),
    ("rss0_mib", "proxy RSS before (MiB)", "%.1f"),
    ("rss1_mib", "proxy RSS with the connections idle (MiB)", "%.1f"),
    ("kib_per_conn", "RSS per idle connection (KiB; pass 1, see below)", "%.2f"),
    ("setup_s", "time to open them and get one hit on each (s)", "%.2f"),
    ("cpu_s", "proxy CPU time (s)", "%.2f"),
    ("origin_delta", "origin requests during the run (sum)", "%d"),
]
SUMMED = ("errors", "origin_delta")
NO_RATIO = ("errors", "origin_delta", "origin_per_req", "disk_per_req", "ram_per_req")


def fmt(f, v):
    if v != v:  # NaN
        return "n/a"
    return f % v


def ratio(a, b):
    if a != a or b != b or not b:
        return "n/a"
    return "%.2f" % (a / b)


def is_bad(r):
    if r["errors"]:
        return True
    if r["size"].startswith("miss"):
        return r["origin_delta"] < r["requests"]
    return r["origin_delta"] != 0


def tables(rows):
    """Returns [(key, proxies, lines, pass_rps, pass_cpu)], the cells as strings."""
    out = []
    for key in sorted({r["size"] for r in rows}, key=key_sort):
        rs = [r for r in rows if r["size"] == key]
        present = [p for p in PROXY_ORDER if any(r["proxy"] == p for r in rs)]
        present += sorted({r["proxy"] for r in rs} - set(present))
        peers = [p for p in present if p != "outpost"]
        by = {p: [r for r in rs if r["proxy"] == p] for p in present}
        lines = []
        for mkey, label, f in (IDLE_METRICS if key == "idle" else METRICS):
            if key == "handshake":
                if mkey in ("p50_ms", "p99_ms", "mib_s", "origin_per_req"):
                    continue
                label = label.replace("requests/s", "handshakes/s").replace(
                    "/ request", "/ handshake")
            if not key.startswith("miss") and mkey == "origin_per_req":
                continue
            if not key.startswith(("disk", "slice")) and mkey in ("disk_per_req", "ram_per_req"):
                continue
            if mkey == "cpu_s_gib" and not large(key):
                continue
            if mkey == "rps" and large(key):
                f = "%.1f"  # 100 MiB: a few requests/s
            agg = {}
            for p, prs in by.items():
                vals = [r[mkey] for r in prs]
                if not vals:
                    agg[p] = float("nan")
                elif mkey in SUMMED:
                    agg[p] = sum(vals)
                elif key == "idle" and mkey in ("kib_per_conn", "rss0_mib", "rss1_mib"):
                    # only the first pass sees a fresh heap: later passes reuse the
                    # memory the first one grew (malloc keeps it), so show pass 1
                    agg[p] = [r[mkey] for r in prs if r["pass"] == min(x["pass"] for x in prs)][0]
                else:
                    agg[p] = statistics.median(vals)
            cells = [label] + [fmt(f, agg[p]) for p in present]
            if "outpost" in agg:
                cells += ["" if mkey in NO_RATIO else ratio(agg["outpost"], agg[p])
                          for p in peers]
            lines.append(cells)
        pass_rps, pass_cpu = [], []
        for n in sorted({r["pass"] for r in rs}):
            pr = {p: [r for r in by[p] if r["pass"] == n] for p in present}
            pr = {p: v[0] for p, v in pr.items() if v}
            first = next(iter(pr.values()))["order"] if pr else "?"
            pm = (("rss0_mib", "%.1f"), ("kib_per_conn", "%.2f")) if key == "idle" else \
                (("rps", "%.1f"), ("cpu_s_gib", "%.3f")) if large(key) else \
                (("rps", "%.0f"), ("cpu_us_req", "%.2f"))
            for dest, (m, f) in zip((pass_rps, pass_cpu), pm):
                cells = ["%d" % n, first]
                cells += [f % pr[p][m] if p in pr else "n/a" for p in present]
                cells += [ratio(pr["outpost"][m], pr[p][m]) if "outpost" in pr and p in pr
                          else "n/a" for p in peers]
                dest.append(cells)
        out.append((key, present, lines, pass_rps, pass_cpu))
    return out


def heads(key, present):
    peers = [p for p in present if p != "outpost"]
    lab = [PROXY_LABEL.get(p, p) for p in present]
    rat = ["Outpost/%s" % PROXY_LABEL.get(p, p) for p in peers]
    unit = "handshakes/s" if key == "handshake" else "req/s"
    cunit = "CPU µs/handshake" if key == "handshake" else "CPU µs/req"
    if key == "idle":
        unit, cunit = "RSS before (MiB)", "KiB/connection"
    elif large(key):
        cunit = "CPU s/GiB"
    return (["metric (median of passes)"] + lab + rat,
            ["pass", "first"] + ["%s %s" % (x, unit) for x in lab] + rat,
            ["pass", "first"] + ["%s %s" % (x, cunit) for x in lab] + rat)


def text_table(head, lines):
    w = [max(len(x[i]) for x in [head] + lines) for i in range(len(head))]
    sep = "  "
    out = [sep.join(h.ljust(w[i]) if i == 0 else h.rjust(w[i]) for i, h in enumerate(head))]
    out.append(sep.join("-" * x for x in w))
    for ln in lines:
        out.append(sep.join(c.ljust(w[i]) if i == 0 else c.rjust(w[i])
                            for i, c in enumerate(ln)))
    return "\n".join(out)


def md_table(head, lines):
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    for ln in lines:
        out.append("| " + " | ".join(ln) + " |")
    return "\n".join(out)


def read_meta(path):
    meta = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                if k == "command" and k in meta:  # results merged from several runs
                    meta[k] += "\n" + v
                else:
                    meta[k] = v
    return meta


def trace_refs(readme):
    """{(pct, policy): (object hit ratio, byte hit ratio)} from the reference
    miss-ratio table of the traces' README ("| 1 % | .800/.760 | ..."), {} if
    there is none."""
    refs, policies = {}, []
    try:
        with open(readme, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return refs
    for ln in lines:
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        if cells and cells[0] == "size" and "S3-FIFO" in cells:
            policies = cells[1:]
            continue
        m = re.match(r"(\d+) %$", cells[0]) if policies and cells else None
        if m and len(cells) == len(policies) + 1:
            for pol, c in zip(policies, cells[1:]):
                om, _, bm = c.partition("/")
                refs[(int(m.group(1)), pol)] = (1 - float(om), 1 - float(bm))
    return refs


def trace_section(meta):
    """Markdown and text lines of the trace replay (meta: trace_tsv, ...)."""
    rows = []
    with open(meta["trace_tsv"], encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append({k: float(v) for k, v in (kv.split("=") for kv in line.split())})
    # references: simulated on the same trace and cache size by tools/bench/run
    # (trace.py simulate), else the table of a README next to the trace file
    refs = {}
    for r in rows:
        for k in r:
            if k.startswith("ref_obj_"):
                pol = k[len("ref_obj_"):]
                refs[(int(r["pct"]), pol)] = (r[k], r.get("ref_byte_" + pol, float("nan")))
    if not refs:
        refs = trace_refs(os.path.join(os.path.dirname(meta["trace_file"]), "README.md"))
    pols = [p for p in ("S3-FIFO", "SIEVE", "LRU") if any(k[1] == p for k in refs)]
    head = ["RAM tier (% of unique bytes)", "cache.ram (bytes)", "requests",
            "object hit ratio"] + ["%s ref." % p for p in pols] + \
        ["byte hit ratio"] + ["%s ref." % p for p in pols] + \
        ["origin requests", "origin MiB fetched", "objects in RAM at the end",
         "RAM evictions", "Outpost CPU µs / request", "errors", "replay (s)"]
    lines, bad = [], 0
    for r in rows:
        pct = int(r["pct"])
        req = r["requests"] or float("nan")
        cells = ["%d %%" % pct, "%d" % r["ram"], "%d" % r["requests"],
                 "%.3f" % (r["hits"] / req)]
        cells += ["%.3f" % refs[(pct, p)][0] if (pct, p) in refs else "n/a" for p in pols]
        cells += ["%.3f" % (r["hit_bytes"] / r["bytes"] if r["bytes"] else float("nan"))]
        cells += ["%.3f" % refs[(pct, p)][1] if (pct, p) in refs else "n/a" for p in pols]
        cells += ["%d" % r["origin_requests"], "%.1f" % (r["origin_bytes"] / 2**20),
                  "%d" % r["ram_objects"], "%d" % r["evictions"],
                  "%.1f" % (r["cpu_ticks"] / r["clk_tck"] * 1e6 / req),
                  "%d" % r["errors"], "%.0f" % r["secs"]]
        lines.append(cells)
        bad += r["errors"] > 0
    return head, lines, bad


def peer_section(meta):
    """(head, lines, bad) of the peering table (meta: peer_tsv, one line per
    run, without and with siblings)."""
    head = ["siblings", "requests", "distinct objects", "origin requests",
            "origin requests / distinct objects", "origin MiB fetched", "distinct MiB",
            "object hit ratio", "hit p50 / p99 (ms)", "sibling fills",
            "sibling fill p50 / p99 (ms)", "origin fills", "origin fill p50 / p99 (ms)",
            "errors", "replay (s)"]
    lines, bad = [], 0
    with open(meta["peer_tsv"], encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = {k: float(v) for k, v in (kv.split("=") for kv in line.split())}
            req = r["requests"] or float("nan")
            lines.append([
                "on" if r["siblings"] else "off", "%d" % r["requests"],
                "%d" % r["objects"], "%d" % r["origin_requests"],
                "%.4f" % (r["origin_requests"] / r["objects"]),
                "%.1f" % (r["origin_bytes"] / 2**20), "%.1f" % (r["object_bytes"] / 2**20),
                "%.3f" % (r["hits"] / req),
                "%.2f / %.2f" % (r["hit_p50_ms"], r["hit_p99_ms"]),
                "%d" % r["sibling_n"],
                "%.2f / %.2f" % (r["sibling_p50_ms"], r["sibling_p99_ms"]),
                "%d" % r["origin_n"],
                "%.2f / %.2f" % (r["origin_p50_ms"], r["origin_p99_ms"]),
                "%d" % r["errors"], "%.0f" % r["secs"]])
            bad += r["errors"] > 0
    return head, lines, bad


def mem_section(meta):
    """(head, lines, bad) of the memory-per-object table (meta: mem_tsv, one
    "key=value" line per proxy and body size, tools/bench/run's memory
    scenario)."""
    head = ["proxy", "body (bytes)", "objects filled", "origin requests", "fill (s)",
            "PSS before (MiB)", "PSS after (MiB)", "memory / object (bytes)",
            "overhead / object (bytes, minus the body if held in memory)",
            "RAM tier accounts / object (bytes)",
            "cache files on disk / object (bytes)", "errors"]
    lines, bad = [], 0
    with open(meta["mem_tsv"], encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = dict(kv.split("=", 1) for kv in line.split())
            v = {k: float(x) for k, x in r.items() if k != "proxy"}
            n = v["objects"] or float("nan")
            per = (v["pss1_kb"] - v["pss0_kb"]) * 1024 / n
            ram = v["ram_bytes"] / v["ram_objects"] if v.get("ram_objects", 0) > 0 \
                else float("nan")
            disk = v["disk_kb"] * 1024 / n if v.get("disk_kb", -1) >= 0 else float("nan")
            lines.append([PROXY_LABEL.get(r["proxy"], r["proxy"]), "%d" % v["body"],
                          "%d" % v["objects"], "%d" % v["origin"], "%.1f" % (v["fill_ms"] / 1000),
                          "%.1f" % (v["pss0_kb"] / 1024), "%.1f" % (v["pss1_kb"] / 1024),
                          fmt("%.0f", per), fmt("%.0f", per - v["body"] * v["body_in_memory"]),
                          fmt("%.0f", ram),
                          fmt("%.0f", disk), "%d" % v["errors"]])
            bad += v["errors"] > 0 or v["origin"] < v["objects"]
    return head, lines, bad


def edge_rows(path):
    """The lines of tools/bench/run's edge_tsv: (runs, kinds): runs are the wrk
    runs (scen=...), kinds the other lines (kind=...) by kind."""
    runs, kinds = [], {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            d = dict(kv.split("=", 1) for kv in line.split())
            if "kind" in d:
                kinds[d["kind"]] = d
                continue
            r = {k: (v if k in ("scen", "phase", "proxy", "coding", "first") else float(v))
                 for k, v in d.items()}
            r["errors"] = sum(v for k, v in r.items() if k.startswith("err_"))
            secs = r["duration_us"] / 1e6
            r["rps"] = r["requests"] / secs if secs else 0.0
            r["cpu_s"] = r["cpu_ticks"] / r["clk_tck"]
            r["cpu_us_req"] = r["cpu_s"] * 1e6 / r["requests"] if r["requests"] else float("nan")
            r["bytes_req"] = r["bytes"] / r["requests"] if r["requests"] else float("nan")
            runs.append(r)
    return runs, kinds


EDGE_LABEL = {"outpost_gz": "Outpost", "nginx_gz": "nginx", "outpost_geo": "Outpost, geo on",
              "outpost_nogeo": "Outpost, no geo", "outpost_pol": "Outpost, policy on",
              "outpost_nopol": "Outpost, no policy",
              "outpost_pol_xff": "trusted_proxies only (X-Forwarded-For walked)",
              "outpost_pol_acl": "access only (100 CIDR rules)",
              "outpost_pol_rl": "rate_limit only (never triggers)"}


def med(rows, k):
    v = [r[k] for r in rows]
    return statistics.median(v) if v else float("nan")


def edge_section(meta):
    """(tables, bad) of the compress, geo and policy scenarios: tables are
    (title, text before the table, head, lines)."""
    runs, kinds = edge_rows(meta["edge_tsv"])
    tables, bad = [], 0
    for r in runs:
        miss = r["phase"] == "miss"
        bad += r["errors"] > 0 or (r["origin"] < r["requests"] if miss else r["origin"] != 0)
    groups = {}
    for r in runs:
        groups.setdefault((r["scen"], r["phase"], r["proxy"], r["coding"]), []).append(r)
    corpus = kinds.get("corpus")
    if corpus and meta.get("text_sizes"):
        with open(meta["text_sizes"], encoding="utf-8") as f:
            sizes = [int(x) for x in f if x.strip()]
        total = sum(sizes)

        def text_mib(requests):
            """MiB of text in the first REQUESTS requests of a run (text.lua
            cycles through the list in order)."""
            n = int(requests)
            return (n // len(sizes) * total + sum(sizes[:n % len(sizes)])) / 2**20

        for phase in ("hit", "miss"):
            keys = [k for k in groups if k[0] == "compress" and k[1] == phase]
            if not keys:
                continue
            head = ["proxy", "Accept-Encoding", "req/s", "CPU µs/request"]
            if phase == "hit":
                head += ["body bytes, whole corpus", "saved vs identity",
                         "response bytes / request (wrk)"]
            else:
                head += ["CPU ms / MiB of text", "over identity (ms / MiB)",
                         "response bytes / KiB of text (wrk)", "saved vs identity"]
            head += ["p50 ms", "p99 ms", "errors", "origin requests / request"]
            lines = []
            for k in keys:
                g = groups[k]
                ident = groups.get(("compress", phase, k[2], "identity"))
                line = [EDGE_LABEL.get(k[2], k[2]), "(none)" if k[3] == "identity" else k[3],
                        "%.0f" % med(g, "rps"), "%.1f" % med(g, "cpu_us_req")]
                if phase == "hit":
                    tw = kinds.get("textwarm-%s-%s" % (k[2], k[3]))
                    body = float(tw["body_bytes"]) if tw else float("nan")
                    plain = float(tw["identity_bytes"]) if tw else float("nan")
                    line += ["%.0f" % body, fmt("%.1f %%", 100 * (1 - body / plain)),
                             "%.0f" % med(g, "bytes_req")]
                else:
                    def per_mib(rows, key):
                        return statistics.median([x[key] / text_mib(x["requests"]) for x in rows])
                    cpu = per_mib(g, "cpu_s") * 1e3
                    wire = per_mib(g, "bytes") / 1024
                    line += ["%.1f" % cpu,
                             "%+.1f" % (cpu - per_mib(ident, "cpu_s") * 1e3) if ident else "-",
                             "%.0f" % wire,
                             fmt("%.1f %%", 100 * (1 - wire / (per_mib(ident, "bytes") / 1024)))
                             if ident else "-"]
                line += ["%.2f" % (med(g, "p50_us") / 1000), "%.2f" % (med(g, "p99_us") / 1000),
                         "%d" % sum(x["errors"] for x in g),
                         "%.2f" % (sum(x["origin"] for x in g) / max(1, sum(x["requests"] for x in g)))]
                lines.append(line)
            ratios = []
            for c in ("gzip", "identity"):
                a = groups.get(("compress", phase, "outpost_gz", c))
                b = groups.get(("compress", phase, "nginx_gz", c))
                if a and b:
                    ratios.append("%s: Outpost/nginx CPU µs/request %s, req/s %s" % (
                        c, ratio(med(a, "cpu_us_req"), med(b, "cpu_us_req")),
                        ratio(med(a, "rps"), med(b, "rps"))))
            title = "Compression, %s: %s files of text, %s bytes" % (
                "keep-alive hits" if phase == "hit" else "misses (a new URL per request)",
                corpus["files"], corpus["bytes"])
            tables.append((title, "; ".join(ratios), head, lines))
    for scen, phase, on, off, target in (("geo", "hit", "outpost_geo", "outpost_nogeo", 1.03),
                                         ("policy", "hit", "outpost_pol", "outpost_nopol", 1.05),
                                         ("policy", "signed", "outpost_pol", "outpost_nopol",
                                          1.05)):
        a = groups.get((scen, phase, on, "-"))
        b = groups.get((scen, phase, off, "-"))
        if not a or not b:
            continue
        head = ["pass", "first", "%s req/s" % EDGE_LABEL[on], "%s req/s" % EDGE_LABEL[off],
                "%s CPU µs/req" % EDGE_LABEL[on], "%s CPU µs/req" % EDGE_LABEL[off],
                "CPU ratio on/off"]
        lines = []
        for x in a:
            y = [z for z in b if z["pass"] == x["pass"]]
            if not y:
                continue
            y = y[0]
            lines.append(["%d" % x["pass"], EDGE_LABEL.get(x["first"].rsplit("--", 1)[0].rstrip("-"),
                                                          x["first"]),
                          "%.0f" % x["rps"], "%.0f" % y["rps"], "%.2f" % x["cpu_us_req"],
                          "%.2f" % y["cpu_us_req"], ratio(x["cpu_us_req"], y["cpu_us_req"])])
        r_med = med(a, "cpu_us_req") / med(b, "cpu_us_req")
        lines.append(["median", "", "%.0f" % med(a, "rps"), "%.0f" % med(b, "rps"),
                      "%.2f" % med(a, "cpu_us_req"), "%.2f" % med(b, "cpu_us_req"),
                      "%.3f" % r_med])
        errs = sum(x["errors"] + x["origin"] for x in a + b)
        note = "ratio of the medians %.3f, target <= %.2f: %s; errors + origin requests: %d" % (
            r_med, target, "met" if r_med <= target else "NOT met (see the noise note)", errs)
        if scen == "geo" and "geo" in kinds:
            note += "; databases: %s IPv4 networks (+ a quarter as many IPv6), country %s bytes, ASN %s bytes" % (
                kinds["geo"]["networks"], kinds["geo"]["country_db_bytes"],
                kinds["geo"]["asn_db_bytes"])
        title = "%s: 1 KiB keep-alive hits, on next to off" % scen.capitalize()
        if phase == "signed":
            title = ("Policy: 1 KiB keep-alive hits of the signed-URL route, signed (policy on) "
                     "next to plain (no policy)")
        tables.append((title, note, head, lines))
        parts = [(k, groups.get((scen, "hit", k, "-"))) for k in
                 ("outpost_pol_xff", "outpost_pol_acl", "outpost_pol_rl")]
        if scen == "policy" and phase == "hit" and all(g for _, g in parts):
            lines = [["all three (policy on)" if k == on else EDGE_LABEL[k], "%.0f" % med(g, "rps"), "%.2f" % med(g, "cpu_us_req"),
                      "%+.2f" % (med(g, "cpu_us_req") - med(b, "cpu_us_req")),
                      "%.3f" % (med(g, "cpu_us_req") / med(b, "cpu_us_req"))]
                     for k, g in parts + [(on, a)]]
            tables.append(("Policy: each part alone, next to none", "medians over the passes",
                           ["Outpost with", "req/s", "CPU µs/req", "over none (µs)",
                            "ratio to none"], lines))
    fl = kinds.get("flood")
    if fl:
        v = {k: float(x) for k, x in fl.items() if k != "kind"}
        secs = v["duration_us"] / 1e6
        head = ["addresses", "requests", "time (s)", "req/s", "CPU µs/request", "RSS before (MiB)",
                "RSS after (MiB)", "RSS 2 s later (MiB)", "growth (MiB)", "429s (metric)",
                "wrk errors"]
        errors = sum(x for k, x in v.items() if k.startswith("err_"))
        lines = [["%d" % v["addresses"], "%d" % v["requests"], "%.1f" % secs,
                  "%.0f" % (v["requests"] / secs if secs else 0),
                  "%.1f" % (v["cpu_ticks"] / v["clk_tck"] * 1e6 / max(1, v["requests"])),
                  "%.1f" % (v["rss0_kb"] / 1024), "%.1f" % (v["rss1_kb"] / 1024),
                  "%.1f" % (v["rss2_kb"] / 1024), "%+.1f" % ((v["rss2_kb"] - v["rss0_kb"]) / 1024),
                  "%d" % v["rate_limited"], "%d" % errors]]
        note = "every address sent" if v["done"] else \
            "NOT every address sent within --flood-seconds (%s s)" % meta.get("flood_seconds", "?")
        bad += errors > 0
        tables.append(("Policy flood: distinct clients in X-Forwarded-For against a "
                       "rate-limited route", note, head, lines))
    return tables, bad


EDGE_SETUP = """Each scenario starts its own processes on core 0 (`node.workers: 1`,
`cache.ram: 512MiB`), the load (`wrk -t1 -c64`) on core 1; the runs of a
table take turns going first.  "CPU" is the process's utime+stime over the run.

- **compress**: the text corpus is the `.html`, `.css` and `.js` files of at
  least 1 KiB of Debian's `sqlite3-doc` (`/usr/share/doc/sqlite3`), copied
  under `/text/` in the origin's docroot; `tools/bench/text.lua` cycles through
  them.  Outpost: a route with `compression: { levels: { gzip: 6, br: 5, zstd:
  3 } }`: on a miss it codes the body as it streams and stores the variant,
  a hit serves the stored variant.  nginx: `proxy_cache` with `gzip on;
  gzip_comp_level 6; gzip_static off; gzip_proxied any; gzip_min_length 1024`:
  it stores the identity body and compresses on every hit.  Before the hits
  every file is fetched twice through each proxy in each coding, and the
  second pass must be all hits with bodies that decode to the file.  Misses
  put a new counter in the query of every request (both caches key on it):
  "CPU ms / MiB of text" is the proxy's CPU over the identity bytes it fetched
  and coded; "over identity" is that minus the same proxy's identity misses
  (the coding's own cost); a run's text is counted from the list, in the
  order text.lua asks for it.  "Body bytes, whole corpus" and its saving are
  from the check pass (every file once); wrk's response bytes include the
  headers.
- **geo**: two Outposts in the same passes; the one with geo loads a country
  and an ASN database written by `tools/bench/geo-mmdb.pl` (random networks,
  and 127.0.0.0/8, the clients, located in DE / EU, AS64500), has
  `geo.headers: true` and `access: { deny: [5 countries], status: 451 }` on
  its site.  The other has none of it.  Both have the same routes: `/` (the
  load) and two check routes, which in the geo Outpost deny `country:DE` and
  `asn:64500`: both must answer 451 before the passes (the client is located).
- **policy**: two Outposts in the same passes; the one with policy has
  `trusted_proxies: [127.0.0.1/32]`, 100 CIDR rules in its site's `access`
  (50 IPv4 /24, 50 IPv6 /48; none matches the client) and a `rate_limit` of
  1000000/s; both get `X-Forwarded-For: 198.51.100.7` on every request.
  Three more Outposts, each with one of the three alone, give the
  breakdown.  The policy Outpost also has a signed-URL route (`/sg-1k/`,
  one HMAC key): a second set of passes asks it for that route's URL with a
  valid signature, next to the same URL unsigned on the Outpost without
  policy.  A client in a denied CIDR must get 403, an unsigned URL of the
  signed route 403, and one client at full
  speed for 1 s 429s on the rate-limited route, before the flood.  The flood
  then sends %s distinct IPv4 addresses (10.0.0.1 upwards) in
  `X-Forwarded-For` (`tools/bench/flood.lua`) to a route of the policy
  Outpost limited to 100/s per address: RSS before, right after and 2 s
  after.
- The machine is shared (2 vCPUs, other builds and tests run): compare the
  ratios measured in the same passes, not figures across runs.
"""


PURGE_MODES = {
    "ram": "RAM tier only (no purge log, no NATS)",
    "disk": "with a disk tier: the purge log synced before each reply, no NATS",
    "fleet": "fleet node: purge log + NATS publish (the 4 other nodes apply it)",
}


def purge_section(meta):
    """(tables, load, bad) of the purge scenario (meta: purge_tsv, one
    "kind=... key=value" line per result, tools/bench/run's purge scenario);
    tables: [(title, head, lines)]."""
    rows, load = [], {}
    with open(meta["purge_tsv"], encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(dict(kv.split("=", 1) for kv in line.split()))
    num = lambda r, k: float(r.get(k, "nan"))  # noqa: E731
    ms = lambda r, k: fmt("%.2f", num(r, k) / 1000)  # noqa: E731
    bad = sum(r["kind"] == "error" for r in rows)
    prop = []
    for role, label in (("remote", "the 4 other nodes (over NATS)"),
                        ("local", "the node that took the purge")):
        r = next((x for x in rows if x["kind"] == "prop" and x["role"] == role), None)
        if r is None:
            continue
        prop.append([label, r["pairs"], ms(r, "p50_us"), ms(r, "p99_us"), ms(r, "max_us"),
                     r.get("timeouts", "0"), ms(r, "round_us")])
        bad += int(r.get("timeouts", "0")) > 0
    rate = []
    for r in (x for x in rows if x["kind"] == "rate"):
        n, secs = num(r, "purges"), num(r, "secs")
        cpu = num(r, "cpu_ticks") / num(r, "clk_tck")
        rate.append([PURGE_MODES.get(r["mode"], r["mode"]), r["clients"], "%d" % n,
                     fmt("%.0f", n / secs if secs else float("nan")),
                     fmt("%.0f", cpu * 1e6 / n if n else float("nan")), r["errors"]])
        bad += int(r["errors"]) > 0 or r.get("rc", "0") != "0"
    onworker = []
    for r in (x for x in rows if x["kind"] == "onworker"):
        n, secs = num(r, "purges"), num(r, "secs")
        onworker.append([r["clients"], "%d" % n,
                         fmt("%.0f", n / secs if secs and n else float("nan")),
                         r["probe_requests"], ms(r, "probe_p50_us"), ms(r, "probe_p99_us"),
                         ms(r, "probe_max_us"),
                         "%d" % (int(r["purge_errors"]) + int(r["probe_errors"]))])
        bad += onworker[-1][-1] != "0" or r.get("rc", "0") != "0"
    hot = []
    for r in (x for x in rows if x["kind"] == "hot"):
        secs = num(r, "wrk_duration_us") / 1e6
        errs = sum(int(v) for k, v in r.items() if k.startswith("wrk_err_")) + \
            int(r["probe_errors"])
        label = "no purge" if r["phase"] == "idle" else \
            "tag purge of %s objects at 0.3 s" % meta.get("purge_objects", "?")
        hot.append([label, fmt("%.0f", num(r, "wrk_requests") / secs if secs else float("nan")),
                    ms(r, "wrk_p50_us"), ms(r, "wrk_p99_us"), ms(r, "wrk_max_us"),
                    r["probe_requests"], ms(r, "probe_p50_us"), ms(r, "probe_p99_us"),
                    ms(r, "probe_max_us"), "%d" % errs])
        bad += errs > 0 or r.get("rc", "0") != "0"
        if r["phase"] == "purge":
            hot.append(["the same, probe requests sent between the reply and \"done\"", "",
                        "", "", "", r["win_requests"], ms(r, "win_p50_us"),
                        ms(r, "win_p99_us"), ms(r, "win_max_us"), ""])
            load["sweep"] = "reply %s ms; `GET /purge/<id>` \"done\" %s ms after the reply " \
                "(%s objects removed); all %s sampled tagged objects MISS %s ms after " \
                "the reply (in %s round(s) of only-if-cached GETs)" % (
                    r["reply_ms"], r["done_ms"], r["purged"], r["sample"],
                    r["sample_miss_ms"], r.get("sample_rounds", "?"))
            bad += r["done_ms"] == "nan" or r["sample_miss_ms"] == "nan"
    for r in (x for x in rows if x["kind"] == "load"):
        load[r["when"]] = r["loadavg"]
    tables = [
        ("Propagation latency: `POST /purge` reply to MISS, per node (%s purges, "
         "5 nodes)" % next((x["purges"] for x in rows if x.get("role") == "all"), "?"),
         ["nodes", "(purge, node) pairs", "p50 (ms)", "p99 (ms)", "max (ms)",
          "no MISS within 2 s", "poll round (ms, the resolution)"], prop),
        ("Purges per second on one node (URL purges, one keep-alive connection "
         "per client)", ["node", "clients", "purges", "purges/s", "node CPU µs / purge",
                         "errors"], rate),
        ("Hits on the one worker of the disk node while PURGEs sent to it are made "
         "durable (purge.client_listeners; a probe on one keep-alive connection)",
         ["PURGE clients", "purges", "purges/s", "probe requests", "probe p50 (ms)",
          "probe p99 (ms)", "probe max (ms)", "errors"], onworker),
        ("Hits on a hot 1 KiB object (wrk -t1 -c64, and a probe on one more "
         "connection)", ["run", "wrk requests/s", "wrk p50 (ms)", "wrk p99 (ms)",
                         "wrk max (ms)", "probe requests", "probe p50 (ms)",
                         "probe p99 (ms)", "probe max (ms)", "errors"], hot),
    ]
    return [t for t in tables if t[2]], load, bad


def rss_start_table(meta):
    """(head, lines) of the proxies' RSS at start, from meta rss_start
    ("proxy:KiB ..."), with Outpost's ratio to each peer; None without it."""
    vals = []
    for item in meta.get("rss_start", "").split():
        name, _, kb = item.partition(":")
        if kb.isdigit():
            vals.append((name, int(kb)))
    if not vals:
        return None
    own = dict(vals).get("outpost")
    lines = [[name, "%.1f" % (kb / 1024.0),
              "%.2f" % (own / kb) if own and kb and name != "outpost" else ""]
             for name, kb in vals]
    return ["proxy", "RSS at start (MiB)", "Outpost / this"], lines


def purge_markdown(purge, meta):
    """The purge scenario's section of the report."""
    tables, load, _ = purge
    md = ["## Purge: fleet propagation, purges per second, hits during a tag purge\n",
          """Outpost alone: nginx, Varnish and ATS have no purge API that reaches a
fleet (nginx's `proxy_cache_purge` is in the commercial version; Varnish
bans and ATS's PURGE are per instance), so there is nothing to set side by
side.  Everything on loopback, the Outposts on core 0 (`node.workers: 1`),
the clients (`tools/bench/purge.py`, wrk) on core 1; the purge token has
`purge.rate: 0` (no per-token limit).  Load average (1/5/15 min) at the
start of the scenario %s, at the end %s.

- **Propagation**: 5 nodes on 127.0.0.2–127.0.0.6 (same port; each its own
  `cache.disk` and purge log) share one `nats-server -js` (`fleet.nats`).
  %s times: the object `/obj-1k.bin?pg=N` is made a HIT on every node, a URL
  purge goes to one node (rotating), and from the moment its reply is read
  every node is polled (one keep-alive connection each; a GET with
  `Cache-Control: only-if-cached` to every node still HIT, then the answers,
  then 0.5 ms) until it answers MISS (a 504: no origin fetch in the time),
  at most 2 s.  Latency = MISS read minus reply read: an upper bound, by at
  most one poll round.  The node that took the purge bans before it
  replies, so its figure is one GET's round trip by construction.  Target:
  p99 < 50 ms over the other nodes.
- **Purges per second**: URL purges of new URLs back to back for the run's
  seconds, one client and 4 (processes, one keep-alive connection each).
- **Hits during a tag purge**: one RAM-only node (`cache.ram: 1GiB`) holding
  %s 1 KiB objects filled with `Surrogate-Key: bench-tag` and a hot untagged
  1 KiB object; wrk on the hot object for the run's seconds, with a probe
  timing each request of its own on one more connection; first without a
  purge, then with `{"tags": ["bench-tag"]}` sent 0.3 s in, after which
  `GET /purge/<id>` is polled every 5 ms until "done" while another process
  checks 200 of the tagged objects (only-if-cached) until each is a MISS.
  The "probe between the reply and done" row is the probe's requests sent
  while the background sweep ran.  `--passes` does not apply: one run each.
""" % (load.get("start", "?"), load.get("end", "?"), meta.get("purges", "?"),
            meta.get("purge_objects", "?"))]
    for title, head, lines in tables:
        md.append("### %s\n" % title)
        md.append(md_table(head, lines))
        md.append("")
    if "sweep" in load:
        md.append("Tag purge: %s.\n" % load["sweep"])
    return "\n".join(md)


def cmd_report(tsv, meta_path, out):
    rows = load(tsv)
    meta = read_meta(meta_path)
    tabs = tables(rows)
    bad = [r for r in rows if is_bad(r)]
    trace = trace_section(meta) if meta.get("trace_tsv") else None
    if trace and trace[2]:
        bad.append("trace")
    peer = peer_section(meta) if meta.get("peer_tsv") else None
    if peer and peer[2]:
        bad.append("peering")
    mem = mem_section(meta) if meta.get("mem_tsv") else None
    if mem and mem[2]:
        bad.append("memory")
    purge = purge_section(meta) if meta.get("purge_tsv") else None
    if purge and purge[2]:
        bad.append("purge")
    edge = edge_section(meta) if meta.get("edge_tsv") else None
    if edge and edge[1]:
        bad.append("edge")

    for key, present, lines, pass_rps, pass_cpu in tabs:
        mh, rh, ch = heads(key, present)
        print("\n== %s: %s passes x %s s, load on core 1, proxy on core 0 ==" % (
            key_title(key), meta.get("passes"), meta.get("seconds")))
        print(text_table(mh, lines))
        print()
        print(text_table(rh, pass_rps))
        print()
        print(text_table(ch, pass_cpu))
    rss = rss_start_table(meta)
    if rss:
        print("\n== RSS at start (each proxy as started, before any request) ==")
        print(text_table(rss[0], rss[1]))
    if mem:
        print("\n== Memory per cached object ==")
        print(text_table(mem[0], mem[1]))
    if trace:
        print("\n== Trace replay: %s ==" % meta["trace_file"])
        print(text_table(trace[0], trace[1]))
    if peer:
        print("\n== Peering: %s through three nodes in turn ==" % meta["trace_file"])
        print(text_table(peer[0], peer[1]))
    if purge:
        for title, head, lines in purge[0]:
            print("\n== Purge, Outpost alone: %s ==" % title)
            print(text_table(head, lines))
        if "sweep" in purge[1]:
            print("tag purge: %s" % purge[1]["sweep"])
        print("load average (1/5/15 min) at the start %s, at the end %s" % (
            purge[1].get("start", "?"), purge[1].get("end", "?")))
    if edge:
        for title, note, head, lines in edge[0]:
            print("\n== %s ==" % title)
            print(text_table(head, lines))
            if note:
                print(note)
    if bad:
        print("\nWARNING: %d run(s) had load-generator errors or unexpected origin "
              "requests (hits: any; misses: fewer than the requests)" % len(bad))

    md = []
    md.append("# Benchmarks: Outpost vs nginx proxy_cache, Varnish and Apache Traffic Server, "
              "on loopback\n")
    md.append("<!-- Generated by tools/bench/run; do not edit by hand: rerun the command. -->\n")
    md.append("Regenerate with (as root, from the top of the tree):\n")
    md.append("```sh\n%s\n```\n" % meta.get("command", "tools/bench/run"))
    md.append("## Setup\n")
    md.append("| | |\n|---|---|")
    for k, label in [("date", "date (UTC)"), ("nproc", "nproc"), ("cpu", "CPU (lscpu model name)"),
                     ("kernel", "kernel"), ("outpost", "outpost"),
                     ("outpost_build", "outpost build"), ("nginx", "nginx"),
                     ("varnish", "Varnish"), ("ats", "Traffic Server"), ("wrk", "wrk"),
                     ("openssl", "openssl (s_time, certificate)"),
                     ("proxies", "proxies in this run"),
                     ("passes", "passes"), ("seconds", "seconds per run"),
                     ("warmup", "warm-up run per scenario and proxy (s, not measured)")]:
        if k in meta:
            md.append("| %s | %s |" % (label, meta[k]))
    md.append("")
    if rss:
        md.append("RSS at start (each proxy as started, before any request; target: "
                  "Outpost's at most nginx's):\n")
        md.append(md_table(rss[0], rss[1]))
        md.append("")
    md.append("""What is measured:

- Everything on 127.0.0.1.  The origin is nginx serving static files with
  `Cache-Control: public, max-age=3600` (pinned to core 1, idle during hit runs).
  Every proxy is pinned to core 0 (`taskset -c 0`), the load generator to core 1.
- **Outpost**: `node.workers: 1`, `cache.ram: 512MiB`, `cache.max_object:
  128MiB` (so the 100 MiB object is stored, and stored twice, as the cache key
  includes the scheme and the TLS scenarios fetch it over https too; with
  these two the RAM tier has one shard), no access log, one pool with the origin; a second listener with
  `tls: true` for the TLS scenarios.  The disk and slices scenarios add a
  second Outpost (`cache.ram: 16MiB`, `cache.max_object: 2MiB`, `cache.disk`
  2GiB in the temp dir, `cache.slice.size: 1MiB`) and the trace replay one
  fresh Outpost per cache size.
- **nginx** (caching reverse proxy): 1 worker process (+ master, cache manager
  and loader), `proxy_cache` with a `keys_zone` and its cache directory in a
  temp dir, `proxy_cache_valid 200 1h`, `upstream` with `keepalive`,
  `proxy_http_version 1.1`, `access_log off`, `keepalive_requests 1000000` (so
  no proxy closes the client connections during a run), and the usual
  tuning for serving cached files: `open_file_cache` (keeps the cache files
  open: no openat/fstat/close per hit), `sendfile on`, `tcp_nopush off` (Debian's
  default `on` adds two `setsockopt(TCP_CORK)` per response).  Its cached bodies
  are files, read from the page cache, so they are not in its RSS; Outpost's,
  Varnish's and ATS's are in theirs.  A `listen ... ssl` on the same server for
  TLS (`ssl_protocols TLSv1.2 TLSv1.3`, default session settings).
- **nginx #2** (when present): a second, identical nginx with its own cache, in
  the same passes: Outpost/nginx #2 next to Outpost/nginx shows how far two
  runs of the *same* software drift apart on this machine — the noise floor of
  every ratio.
- **Varnish**: `varnishd -F -j none -s malloc,512m -p thread_pools=1`, a VCL with
  only the origin as backend and an `X-Cache` header in `vcl_deliver`; the
  built-in VCL logic honours `Cache-Control`.  Varnish runs a thread per
  connection and cannot be held to one thread: `thread_pools=1` and the core-0
  pin are what can be done.  CPU and RSS are the manager's and the child's.
  No TLS in Varnish (it needs a separate terminator), so it is left out of the
  TLS scenarios.
- **ATS**: `traffic_server` as the `trafficserver` user from a runroot in the
  temp dir (it refuses root), `exec_thread.limit 1` (one ET_NET thread),
  `accept_threads 0`, `task_threads 1`, RAM cache 512 MiB (objects up to
  128 MiB) over a 1 GiB file-backed disk cache in the temp dir (4 GiB in a
  run with the slices scenario), `remap_required` with one `map` per listener
  to the origin (and one for `/big/` with `cache_range_requests.so`), logging off, the `xdebug` plugin so `X-Debug: X-Cache`
  gives the cache status for the check; TLS via `ssl_multicert.config` with the
  same certificate.  Its other threads (ET_TASK, ET_AIO, LOG_*) are idle on hits.
- TLS: one ECDSA P-256 self-signed certificate made with `openssl req` at the
  start of the run, used by every TLS listener; clients negotiate TLS 1.3.
- Before measuring, every URL is fetched through every proxy until it is a hit
  (Outpost `X-Cache: HIT`, nginx `X-Cache-Status: HIT`, Varnish `X-Cache: HIT`,
  ATS `X-Cache: hit-fresh`) with the full, identical body.  The origin's request
  counter (`stub_status`) is read before and after every run: "origin requests
  during load" must be 0 for hit scenarios, and at least the request count for
  the miss scenario (every request a miss).
- For each scenario the proxies take turns going first (rotation by pass), with
  an unmeasured warm-up run per proxy before the passes.
- CPU: utime+stime of the proxy's process(es) from `/proc/PID/stat` before and
  after the run, divided by the completed requests (handshakes);
  "core 0 busy" is from `/proc/stat` `cpu0` (everything but idle and iowait, so
  loopback softirq work and any other process on that core are included), "core
  1 busy" the same for the load generator's core: near 100 % means the client,
  not the proxy, limits requests/s.  CPU accounting is tick-based on this
  kernel (no IRQ time accounting), so the loopback softirq work that runs in the
  proxy's context is charged to the proxy, the same way for all.  RSS: VmRSS
  after the run (all the proxy's processes).  Latency percentiles are wrk's
  (closed-loop, coordinated-omission-prone, at 64 connections).
- Medians over passes; the ratio columns are Outpost / peer: above 1 is better
  for Outpost in requests/s and transfer, worse in CPU µs/request, latency and RSS.
- **The machine is shared** (2 vCPUs; other builds and tests may run
  during a pass): hence the alternating order, the several passes, the medians,
  and the nginx #2 row.  Compare CPU µs per request first; requests/s is often
  limited by the single wrk core.
- wrk runs with `--timeout 60s` (a 100 MiB response takes seconds); a
  response slower than that would count as an error.
""")
    if bad:
        md.append("**WARNING: %d run(s) had load-generator errors or unexpected origin "
                  "requests; those numbers are suspect.**\n" % len(bad))
    for key, present, lines, pass_rps, pass_cpu in tabs:
        mh, rh, ch = heads(key, present)
        md.append("## %s\n" % key_title(key))
        md.append("Load: %s.\n" % key_load(key))
        md.append(md_table(mh, lines))
        md.append("")
        md.append("Per pass (\"first\" = the proxy measured first in that pass):\n")
        md.append(md_table(rh, pass_rps))
        md.append("")
        md.append(md_table(ch, pass_cpu))
        md.append("")
    if mem:
        md.append("## Memory per cached object\n")
        md.append("""Each proxy a fresh instance started for this table (core 0): Outpost
with `cache.ram: 1GiB` and no disk tier, nginx with `keys_zone=bench:64m` (its
bodies go to files: their page cache is not its memory, the last column is
`du` of its cache directory), Varnish `-s malloc,1g`.  `tools/bench/bench.py
warm` (4 processes, keep-alive, core 1) fetches %s distinct URLs
`/mem-SIZE/obj-N.bin` through it, once each (every one a miss, stored), first
with 1 KiB bodies, then as many more with 1-byte bodies (the smallest
body every proxy stores alike).  PSS
(`/proc/PID/smaps_rollup`, summed over all the proxy's processes: shared pages
counted once) is read 1 s before and 1 s after each fill; memory per object is
the difference over the objects filled, the overhead that minus the body
(nginx: not minus, its bodies are in files).  For Outpost, "RAM tier accounts" is
the growth of `outpost_cache_ram_bytes` over that of
`outpost_cache_ram_objects` (headers + body + bookkeeping, the figure its byte
budget counts).
""" % meta.get("mem_objects", "?"))
        md.append(md_table(mem[0], mem[1]))
        md.append("")
    if trace:
        md.append("## Trace replay: object and byte hit ratios\n")
        md.append("""Trace: `%s` (%s unique bytes), its first %s requests replayed in
order by `tools/bench/trace.py replay` on one keep-alive connection (core 1)
through a fresh Outpost per row (core 0, `node.workers: 1`, `cache.ram` = the
share of the trace's unique bytes shown, `cache.max_object: 4MiB` so the
largest object (~3.9 MiB) fits, no disk tier; with these sizes the RAM tier has
one shard).  The origin (`tools/bench/trace.py origin`, core 1) answers
`GET /t/ID` with the object's first size in the trace and `Cache-Control:
public, max-age=86400`.  A hit is a response with `X-Cache: HIT`; the byte hit
ratio weights each request by its size in the trace.  The reference columns are
simulations of LRU, SIEVE and S3-FIFO of the same byte capacity over the same
requests (`tools/bench/trace.py simulate`: cold start, no expiry, each object at
its first size, as the origin serves it).  "origin requests" and "origin MiB fetched" are the
origin's own counts.
""" % (meta["trace_file"], meta.get("trace_unique_bytes", "?"),
            meta.get("trace_requests", "?")))
        md.append(md_table(trace[0], trace[1]))
        md.append("")
    if peer:
        md.append("## Peering: one origin fill per object for a PoP\n")
        md.append("""Trace: `%s`, its first %s requests replayed in order by `tools/bench/trace.py
replay` (core 1) through three Outposts on 127.0.0.2, .3 and .4 (core 0, one
port, `node.workers: 1`, `cache.ram` twice the trace's unique bytes: nothing
is evicted), one keep-alive connection to each, the requests going to them in
turn, as a load balancer spreading clients over a PoP would.  The first row
runs without `siblings`, the second with the three nodes as siblings
(`outpost.yaml(5)`).  "origin requests" is the origin's own count; with
siblings it should be the distinct objects of the requests replayed.  Latency is from request to
the whole body, by kind of answer: a hit, a miss the key's owner answered
("sibling" in `Cache-Status`), a miss filled from the origin.
""" % (meta["trace_file"], meta.get("trace_requests", "?")))
        md.append(md_table(peer[0], peer[1]))
        md.append("")
    if purge:
        md.append(purge_markdown(purge, meta))
    if edge:
        md.append("## Compression, geo and the policy stage\n")
        md.append(EDGE_SETUP % meta.get("flood", "?"))
        for title, note, head, lines in edge[0]:
            md.append("### %s\n" % title)
            md.append(md_table(head, lines))
            md.append("")
            if note:
                md.append(note + ".\n")
    if meta.get("notes_file"):
        with open(meta["notes_file"], encoding="utf-8") as f:
            md.append(f.read().rstrip("\n") + "\n")
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(md).rstrip("\n") + "\n")
    print("\nwrote %s" % out)
    return 1 if bad else 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "ports":
        cmd_ports(int(argv[1]))
        return 0
    if len(argv) == 16 and argv[0] == "record":
        cmd_record(argv[1], argv[2:])
        return 0
    if len(argv) == 2 and argv[0] == "h2load":
        return cmd_h2load(argv[1])
    if len(argv) in (6, 7) and argv[0] == "warm":
        return cmd_warm(*argv[1:])
    if len(argv) in (6, 7, 8, 9) and argv[0] == "rangewarm":
        return cmd_rangewarm(*argv[1:])
    if len(argv) == 6 and argv[0] == "textwarm":
        return cmd_textwarm(*argv[1:])
    if len(argv) == 4 and argv[0] == "report":
        return cmd_report(argv[1], argv[2], argv[3])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
