-- SPDX-License-Identifier: BSD-2-Clause
-- tools/bench/text.lua — appended to report.lua by tools/bench/run for the
-- compress scenario: requests cycle through the paths listed in a file (one a
-- line: the text corpus); script arguments: LIST_FILE MODE [PREFIX], MODE
-- "hit" (the paths as they are) or "miss" (each request a new URL: a counter
-- in the query, after PREFIX, which the cache keys on).  Accept-Encoding
-- comes from wrk -H.
local paths, i, n, miss, prefix = {}, 0, 0, false, "x"
init = function(args)
	for line in io.lines(args[1]) do
		if line ~= "" then paths[#paths + 1] = line end
	end
	miss = args[2] == "miss"
	if args[3] then prefix = args[3] end
end
request = function()
	i = i % #paths + 1
	local p = paths[i]
	if miss then
		n = n + 1
		p = p .. "?c=" .. prefix .. "-" .. n
	end
	return wrk.format(nil, p)
end
