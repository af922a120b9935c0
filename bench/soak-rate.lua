-- make soak: single-recipient POST /api/send/sms with a send key
-- (BENCH_KEY) at a steady rate (SOAK_RATE requests/s over all threads).
--
-- wrk asks delay() before each request; each thread spaces its requests
-- SOAK_THREADS / SOAK_RATE apart on a monotonic clock (not after each
-- response, so the rate holds whatever the latency, while connections are
-- free). A thread that fell behind catches up for at most one second, so a
-- stall is not followed by a burst that would measure something else.
-- done() prints one machine-readable line for bench/soak.sh.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bc_soak_timespec;
int clock_gettime(int clk_id, bc_soak_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bc_soak_timespec")

local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

wrk.method = "POST"
wrk.path = "/api/send/sms"
wrk.body = '{"recipients":["+14155552671"],"message":"soak hello"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("BENCH_KEY")

local rate = tonumber(os.getenv("SOAK_RATE") or "100")
local threads = tonumber(os.getenv("SOAK_THREADS") or "1")
local interval_ms = threads * 1000 / rate
local next_ms = nil

function delay()
    local now = now_ms()
    if next_ms == nil then
        next_ms = now
    else
        next_ms = math.max(next_ms + interval_ms, now - 1000)
    end
    local wait = next_ms - now
    if wait < 0 then return 0 end
    return math.floor(wait)
end

function done(summary, latency, requests)
    local s = summary.errors
    io.write(string.format(
        "SOAK requests=%d seconds=%.3f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f " ..
        "non2xx=%d errors=%d\n",
        summary.requests, summary.duration / 1e6,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        latency.max / 1000, s.status,
        s.connect + s.read + s.write + s.timeout))
end
