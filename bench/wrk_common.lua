-- Shared by the wrk scripts (loaded with dofile): prints one machine-readable result line.
function report_done(summary, latency, requests)
  local e = summary.errors
  local sockerr = e.connect + e.read + e.write + e.timeout
  local ok = summary.requests - e.status - sockerr
  local secs = summary.duration / 1e6
  io.write(string.format(
    "WRK requests=%d ok=%d non2xx=%d sockerr=%d duration_s=%.3f rps=%.1f ok_rps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f\n",
    summary.requests, ok, e.status, sockerr, secs, summary.requests / secs, ok / secs,
    latency:percentile(50.0), latency:percentile(90.0), latency:percentile(99.0), latency.max))
end
