-- tools/bench/disk.lua — appended to report.lua by tools/bench/run for the
-- disk scenario: every request asks for /ds/obj-N.bin, N uniformly random in
-- 1..COUNT (the script argument), a working set four times the disk-tier
-- Outpost's RAM tier, so most of its hits come from LMDB.
local count = 4096
init = function(args)
	if args[1] then count = tonumber(args[1]) end
	math.randomseed(os.time())
end
request = function()
	return wrk.format(nil, "/ds/obj-" .. math.random(count) .. ".bin")
end
