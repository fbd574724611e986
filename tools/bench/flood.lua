-- SPDX-License-Identifier: BSD-2-Clause
-- tools/bench/flood.lua — appended to report.lua by tools/bench/run for the
-- policy scenario's flood: each request carries X-Forwarded-For with the next
-- of COUNT distinct IPv4 addresses (10.0.0.1 onwards, counting up; script
-- argument COUNT), sent from a trusted peer, so each is a new client to the
-- node.  Once COUNT responses are in, it prints "FLOOD_DONE t=UNIX_TIME" and
-- stops sending (tools/bench/run then ends wrk with SIGINT: it still reports).
local count, n, got = 1000000, 0, 0
init = function(args)
	if args[1] then count = tonumber(args[1]) end
end
request = function()
	local a = 0x0a000001 + n % count
	n = n + 1
	wrk.headers["X-Forwarded-For"] = string.format("%d.%d.%d.%d",
		math.floor(a / 16777216) % 256, math.floor(a / 65536) % 256,
		math.floor(a / 256) % 256, a % 256)
	return wrk.format()
end
response = function()
	got = got + 1
	if got == count then
		io.write(string.format("FLOOD_DONE t=%d\n", os.time()))
		io.stdout:flush()
		wrk.thread:stop()
	end
end
