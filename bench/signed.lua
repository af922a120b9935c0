-- what the signed-webhook scripts (callbacks.lua, meta.lua, sendgrid.lua)
-- share: init() reads one pre-signed request a line from the file named by
-- the environment variable var (parse(line) gives its headers and body, or
-- nil for a line to skip), request() cycles through them; each thread
-- starts at its own random offset, or at the line after bench_offset when
-- the caller set it (costs-n.lua: each thread its own slice, no repeats)
return function(var, path, parse)
  local reqs = {}
  local n = 0
  local i = 0

  local function init(args)
    for line in io.lines(os.getenv(var)) do
      local headers, body = parse(line)
      if headers then
        n = n + 1
        reqs[n] = wrk.format("POST", path, headers, body)
      end
    end
    local offset = rawget(_G, "bench_offset")
    if offset then
      i = offset % n
    else
      i = math.random(n) - 1
    end
  end

  local function request()
    i = i % n + 1
    return reqs[i]
  end

  return init, request
end
