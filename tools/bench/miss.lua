-- SPDX-License-Identifier: BSD-2-Clause
-- tools/bench/miss.lua — appended to report.lua by tools/bench/run for the
-- miss scenario: every request asks for a URL never asked before (a counter in
-- the query, after a per-run prefix given as the script argument), so every
-- request is a cache miss fetched from the origin.
local prefix, n = "x", 0
init = function(args)
	if args[1] then prefix = args[1] end
end
request = function()
	n = n + 1
	return wrk.format(nil, wrk.path .. "?m=" .. prefix .. "-" .. n)
end
