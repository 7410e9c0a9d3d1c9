-- POST a fixed JSON hex body (BODY_FILE) to the URL path: generic 0x03 requests, no watermark.
dofile(os.getenv("BENCH_DIR") .. "/wrk_common.lua")
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
done = report_done
