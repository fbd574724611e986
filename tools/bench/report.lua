-- SPDX-License-Identifier: BSD-2-Clause
-- tools/bench/report.lua — wrk script: at the end of a run, prints one
-- machine-readable line that tools/bench/bench.py parses (latencies in µs,
-- exact counts instead of wrk's rounded human units).
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"BENCH requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d " ..
		"mean_us=%.1f max_us=%d err_connect=%d err_read=%d err_write=%d " ..
		"err_status=%d err_timeout=%d\n",
		summary.requests, summary.duration, summary.bytes,
		latency:percentile(50), latency:percentile(99), latency.mean,
		latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
