-- SPDX-License-Identifier: BSD-2-Clause
-- tools/bench/slice.lua — appended to report.lua by tools/bench/run for the
-- slices scenario: every request asks for the URL's bytes A-B of one slice,
-- `Range: bytes=A-B` with A = K x SIZE and B = A + SIZE - 1, K uniformly
-- random in 0..COUNT-1 (the script arguments: COUNT SIZE, default 100 slices
-- of 1 MiB): the aligned slices the run's warm-up fetched through every proxy.
local count, size = 100, 1048576
local headers = {}
init = function(args)
	if args[1] then count = tonumber(args[1]) end
	if args[2] then size = tonumber(args[2]) end
	math.randomseed(os.time())
end
request = function()
	local a = (math.random(count) - 1) * size
	headers["Range"] = string.format("bytes=%d-%d", a, a + size - 1)
	return wrk.format(nil, nil, headers)
end
