-- make costs: an exact number of requests. Loads the request script named
-- by BENCH_SCRIPT (send.lua, callbacks.lua, ...) and stops each thread after
-- BENCH_N requests of its own. Run with one connection per thread (-c equal
-- to -t): a connection sends its next request only after the answer to the
-- last one, so nothing is left in flight when the thread stops and the
-- server sees exactly threads x BENCH_N requests. wrk itself sleeps for
-- its whole -d: each thread that is done appends a line to BENCH_DONE, and
-- costs.sh interrupts wrk (SIGINT, its own "stop now") once all are.
dofile(os.getenv("BENCH_DIR") .. "/" .. os.getenv("BENCH_SCRIPT"))

local limit = tonumber(os.getenv("BENCH_N"))
local answered = 0

function response(status, headers, body)
  answered = answered + 1
  if answered == limit then
    local f = assert(io.open(os.getenv("BENCH_DONE"), "a"))
    f:write("done\n")
    f:close()
    wrk.thread:stop()
  end
end

-- each thread's slice of a file of pre-signed requests (signed.lua): thread
-- k starts at line k x BENCH_N, so no two requests repeat a body
local threads = 0
function setup(thread)
  thread:set("bench_offset", threads * limit)
  threads = threads + 1
end
