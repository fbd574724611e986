#!/usr/bin/env python3
"""tools/bench/bench.py — helper of tools/bench/run (Python 3, stdlib only).

  bench.py ports N
      prints N distinct free TCP ports on 127.0.0.1 (bound to port 0, closed).
  bench.py record TSV SIZE PROXY PASS ORDER WRK_OUT CPU_TICKS CLK_TCK
                  CPU0_BUSY CPU0_TOTAL CPU0_SOFTIRQ CPU1_BUSY CPU1_TOTAL RSS_KB
                  ORIGIN_DELTA
      parses the "BENCH ..." line that report.lua made wrk print into WRK_OUT,
      appends one row to TSV and prints a one-line summary of the run.
  bench.py report TSV META OUT
      prints one table per object size (medians over passes, ratios
      Outpost/nginx, per-pass ratios) and writes the same as Markdown to OUT
      (META: "key=value" lines about the machine and the command).
      Exits 1 if any run had errors or made the origin serve a request.
"""
import os
import re
import socket
import statistics
import sys

COLS = ["size", "proxy", "pass", "order", "requests", "duration_us", "bytes",
        "p50_us", "p99_us", "errors", "cpu_ticks", "clk_tck", "cpu0_busy",
        "cpu0_total", "cpu0_softirq", "cpu1_busy", "cpu1_total", "rss_kb", "origin_delta"]


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


def parse_wrk(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    m = re.search(r"^BENCH (.*)$", text, re.M)
    if not m:
        raise SystemExit("bench.py: no BENCH line in %s (did wrk fail?)\n%s" % (path, text))
    return {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def derive(r):
    """Adds the derived metrics to a row (values are numbers)."""
    secs = r["duration_us"] / 1e6
    cpu_s = r["cpu_ticks"] / r["clk_tck"]
    r["rps"] = r["requests"] / secs if secs else 0.0
    r["mib_s"] = r["bytes"] / secs / 2**20 if secs else 0.0
    r["cpu_s"] = cpu_s
    r["cpu_us_req"] = cpu_s * 1e6 / r["requests"] if r["requests"] else float("nan")
    r["busy_pct"] = 100.0 * r["cpu0_busy"] / r["cpu0_total"] if r["cpu0_total"] else 0.0
    r["soft_pct"] = 100.0 * r["cpu0_softirq"] / r["cpu0_total"] if r["cpu0_total"] else 0.0
    r["wrk_busy_pct"] = 100.0 * r["cpu1_busy"] / r["cpu1_total"] if r["cpu1_total"] else 0.0
    r["rss_mib"] = r["rss_kb"] / 1024.0
    r["p50_ms"] = r["p50_us"] / 1000.0
    r["p99_ms"] = r["p99_us"] / 1000.0
    return r


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
           "origin_delta": odelta}
    new = not os.path.exists(tsv)
    with open(tsv, "a", encoding="utf-8") as f:
        if new:
            f.write("\t".join(COLS) + "\n")
        f.write("\t".join(str(row[c]) for c in COLS) + "\n")
    r = derive(load_row(row))
    print("  %-7s %-5s pass %s: %9.0f req/s  %6.1f CPU us/req  p50 %6.2f ms  "
          "p99 %6.2f ms  %7.1f MiB/s  core0 %5.1f%% (softirq %4.1f%%)  core1 %5.1f%%  RSS %6.1f MiB  errors %d  "
          "origin +%d" % (proxy, size, npass, r["rps"], r["cpu_us_req"], r["p50_ms"],
                          r["p99_ms"], r["mib_s"], r["busy_pct"], r["soft_pct"],
                          r["wrk_busy_pct"], r["rss_mib"],
                          r["errors"], r["origin_delta"]))


def load_row(d):
    out = dict(d)
    for c in COLS:
        if c not in ("size", "proxy", "order"):
            out[c] = float(d[c])
    out["pass"] = int(float(d["pass"]))
    return out


def load(tsv):
    rows = []
    with open(tsv, encoding="utf-8") as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(derive(load_row(dict(zip(head, line.rstrip("\n").split("\t"))))))
    return rows


def size_key(s):
    m = re.match(r"(\d+)([kKmM]?)", s)
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 2**20}[m.group(2).lower()]


def size_label(s):
    n = size_key(s)
    return "%d MiB" % (n // 2**20) if n >= 2**20 else "%d KiB" % (n // 1024) if n >= 1024 \
        else "%d B" % n


# (key, label, format)
METRICS = [
    ("rps", "requests/s", "%.0f"),
    ("cpu_us_req", "proxy CPU µs / request", "%.2f"),
    ("p50_ms", "latency p50 (ms)", "%.3f"),
    ("p99_ms", "latency p99 (ms)", "%.3f"),
    ("mib_s", "transfer (MiB/s)", "%.1f"),
    ("cpu_s", "proxy CPU time (s)", "%.2f"),
    ("busy_pct", "core 0 (proxy) busy (%)", "%.1f"),
    ("soft_pct", "core 0 softirq (%)", "%.1f"),
    ("wrk_busy_pct", "core 1 (wrk) busy (%)", "%.1f"),
    ("rss_mib", "proxy RSS after run (MiB)", "%.1f"),
    ("errors", "wrk errors (sum over passes)", "%d"),
    ("origin_delta", "origin requests during load (sum)", "%d"),
]
SUMMED = ("errors", "origin_delta")


def fmt(f, v):
    if v != v:  # NaN
        return "n/a"
    return f % v


def tables(rows):
    """Returns [(size, header, lines, pass_lines)], the cells as strings."""
    out = []
    for size in sorted({r["size"] for r in rows}, key=size_key):
        rs = [r for r in rows if r["size"] == size]
        by = {p: [r for r in rs if r["proxy"] == p] for p in ("outpost", "nginx")}
        lines = []
        for key, label, f in METRICS:
            agg = {}
            for p, prs in by.items():
                vals = [r[key] for r in prs]
                if not vals:
                    agg[p] = float("nan")
                elif key in SUMMED:
                    agg[p] = sum(vals)
                else:
                    agg[p] = statistics.median(vals)
            ratio = ""
            if key not in SUMMED and agg["nginx"] and agg["nginx"] == agg["nginx"]:
                ratio = "%.2f" % (agg["outpost"] / agg["nginx"])
            lines.append([label, fmt(f, agg["outpost"]), fmt(f, agg["nginx"]), ratio])
        passes = []
        for n in sorted({r["pass"] for r in rs}):
            o = [r for r in by["outpost"] if r["pass"] == n]
            g = [r for r in by["nginx"] if r["pass"] == n]
            if not o or not g:
                continue
            o, g = o[0], g[0]
            passes.append(["%d" % n, o["order"],
                           "%.0f" % o["rps"], "%.0f" % g["rps"],
                           "%.2f" % (o["rps"] / g["rps"]) if g["rps"] else "n/a",
                           "%.2f" % o["cpu_us_req"], "%.2f" % g["cpu_us_req"],
                           "%.2f" % (o["cpu_us_req"] / g["cpu_us_req"])
                           if g["cpu_us_req"] else "n/a"])
        out.append((size, lines, passes))
    return out


METRIC_HEAD = ["metric (median of passes)", "outpost", "nginx", "outpost/nginx"]
PASS_HEAD = ["pass", "first", "outpost req/s", "nginx req/s", "req/s ratio",
             "outpost CPU µs/req", "nginx CPU µs/req", "CPU/req ratio"]


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
                meta[k] = v
    return meta


def cmd_report(tsv, meta_path, out):
    rows = load(tsv)
    meta = read_meta(meta_path)
    tabs = tables(rows)
    bad = [r for r in rows if r["errors"] or r["origin_delta"]]

    for size, lines, passes in tabs:
        print("\n== %s objects: %s passes x %s s, wrk -t1 -c64 on core 1, proxy on core 0 ==" % (
            size_label(size), meta.get("passes"), meta.get("seconds")))
        print(text_table(METRIC_HEAD, lines))
        print()
        print(text_table(PASS_HEAD, passes))
    if bad:
        print("\nWARNING: %d run(s) had wrk errors or origin requests during the load" %
              len(bad))

    md = []
    md.append("# Benchmarks: Outpost vs nginx proxy_cache, cache hits on loopback\n")
    md.append("<!-- Generated by tools/bench/run; do not edit by hand: rerun the command. -->\n")
    md.append("Regenerate with (as root, from the top of the tree):\n")
    md.append("```sh\n%s\n```\n" % meta.get("command", "tools/bench/run"))
    md.append("## Setup\n")
    md.append("| | |\n|---|---|")
    for k, label in [("date", "date (UTC)"), ("nproc", "nproc"), ("cpu", "CPU (lscpu model name)"),
                     ("kernel", "kernel"), ("outpost", "outpost"),
                     ("outpost_build", "outpost build"), ("nginx", "nginx"), ("wrk", "wrk"),
                     ("passes", "passes"), ("seconds", "seconds per run"),
                     ("warmup", "wrk warm-up per size and proxy (s, not measured)")]:
        md.append("| %s | %s |" % (label, meta.get(k, "?")))
    md.append("")
    md.append("""What is measured:

- Everything on 127.0.0.1.  The origin is nginx serving static files with
  `Cache-Control: public, max-age=3600` (pinned to core 1, idle during the load).
- **Outpost**: `node.workers: 1`, `cache.ram: 256MiB`, no access log, one pool
  with the origin; pinned to core 0 (`taskset -c 0`).
- **nginx** (caching reverse proxy): 1 worker process (+ master, cache manager
  and loader), `proxy_cache` with a `keys_zone` and its cache directory in a
  temp dir, `proxy_cache_valid 200 1h`, `upstream` with `keepalive`,
  `proxy_http_version 1.1`, `access_log off`, `keepalive_requests 1000000` (so
  neither proxy closes the client connections during a run), and the usual
  tuning for serving cached files: `open_file_cache` (keeps the cache files
  open: no openat/fstat/close per hit), `sendfile on`, `tcp_nopush off` (Debian's
  default `on` adds two `setsockopt(TCP_CORK)` per response).  Pinned to core 0.
  Its cached bodies are files, read from the page cache, so they are not in its
  RSS; Outpost's are in its RSS.
- Before measuring, every URL is fetched through both proxies until it is a hit
  (Outpost `X-Cache: HIT`, nginx `X-Cache-Status: HIT`) with the full body length.
  The origin's request counter (`stub_status`) is read before and after every
  run: "origin requests during load" must be 0.
- Load: `taskset -c 1 wrk -t1 -c64 -dS --latency`, one URL per object size,
  keep-alive; wrk runs on core 1, the proxy alone on core 0.  For each size the
  proxies alternate which one goes first in each pass.
- CPU: utime+stime of the proxy's process(es) (nginx: all its processes) from
  `/proc/PID/stat` before and after the run, divided by wrk's completed requests;
  "core 0 busy" is from `/proc/stat` `cpu0` (everything but idle and iowait, so
  loopback softirq work and any other process on that core are included), "core
  1 (wrk) busy" the same for the load generator's core: near 100 % means wrk,
  not the proxy, limits requests/s.  CPU accounting is tick-based on this
  kernel (no IRQ time accounting), so the loopback softirq work that runs in the
  proxy's context (delivering its responses to wrk's sockets) is charged to the
  proxy, the same way for both.  RSS: VmRSS after the run (nginx: all its processes).  Latency percentiles are wrk's (its coordinated-omission-prone
  closed-loop numbers, at 64 connections).
- Medians over passes; the ratio column is Outpost / nginx: above 1 is better
  for Outpost in requests/s and transfer, worse in CPU µs/request and latency.
""")
    if bad:
        md.append("**WARNING: %d run(s) had wrk errors or made the origin serve requests "
                  "during the load; those numbers are suspect.**\n" % len(bad))
    for size, lines, passes in tabs:
        md.append("## %s objects\n" % size_label(size))
        md.append(md_table(METRIC_HEAD, lines))
        md.append("")
        md.append("Per pass (\"first\" = the proxy measured first in that pass):\n")
        md.append(md_table(PASS_HEAD, passes))
        md.append("")
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
    if len(argv) == 4 and argv[0] == "report":
        return cmd_report(argv[1], argv[2], argv[3])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
