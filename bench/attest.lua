-- Watermarked throughput: each request is an attestation (0x13 || chain || forged tag-21 op) with a
-- strictly increasing level. Run with as many wrk threads as connections (-tN -cN): each thread
-- then has exactly one connection, so its requests reach vigil one after the other and can never
-- overtake each other. Threads never share a watermark record:
--   WM_MODE=keys    thread i signs with key i of WM_KEYS (comma list), chain NetXdQprcVkpaWU
--   WM_MODE=chains  every thread signs with the first key of WM_KEYS, thread i on its own chain id
-- WM_LEVEL_BASE (default 1) offsets the levels so several runs against one daemon stay increasing.
dofile(os.getenv("BENCH_DIR") .. "/wrk_common.lua")

local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

local BRANCH = "8fcf233671b6a04fcf679d2a381c2544ea6c1ea29ba6157776ed8424c7ccd00b"
local PAYLOAD = "d161d71145abeec5ef15abcf0459cec60a27321e2f0ac0ef7ace5254f5944476"
local path, chain, level

function init(args)
  local keys = {}
  for k in string.gmatch(os.getenv("WM_KEYS") or "", "[^,]+") do keys[#keys + 1] = k end
  assert(#keys > 0, "WM_KEYS is empty")
  local mode = os.getenv("WM_MODE") or "keys"
  local myid = id or 0
  if mode == "chains" then
    path = "/keys/" .. keys[1]
    chain = string.format("%08x", 0x20000000 + myid)
  else
    assert(myid < #keys, "more threads than keys: two threads would share a watermark record")
    path = "/keys/" .. keys[myid + 1]
    chain = "7a06a770"
  end
  level = tonumber(os.getenv("WM_LEVEL_BASE") or "1")
end

function request()
  level = level + 1
  local hex = "13" .. chain .. BRANCH .. "15" .. "0000" .. string.format("%08x", level) .. "00000000" .. PAYLOAD
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, '"' .. hex .. '"')
end

done = report_done
