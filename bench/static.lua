-- GET the URL as is (HTTP floor: GET /authorized_keys answers a constant {}).
dofile(os.getenv("BENCH_DIR") .. "/wrk_common.lua")
done = report_done
