-- SPDX-License-Identifier: BSD-2-Clause
-- tools/bench/disk.lua — appended to report.lua by tools/bench/run for the
-- disk scenario: every request asks for PREFIX N .bin (default
-- /ds-16k/obj-N.bin), N uniformly random in 1..COUNT (the script arguments:
-- COUNT PREFIX), a working set four times the disk-tier Outpost's RAM tier, so
-- most of its hits come from LMDB.
local count, prefix = 4096, "/ds-16k/obj-"
init = function(args)
	if args[1] then count = tonumber(args[1]) end
	if args[2] then prefix = args[2] end
	math.randomseed(os.time())
end
request = function()
	return wrk.format(nil, prefix .. math.random(count) .. ".bin")
end
