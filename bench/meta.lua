-- verified Meta webhook notifications: cycles through pre-signed bodies
-- (BENCH_META: lines "sha256=<hex><TAB>json")
local reqs = {}
local n = 0
local i = 0

function init(args)
  for line in io.lines(os.getenv("BENCH_META")) do
    local sig, body = line:match("^([^\t]+)\t(.*)$")
    if sig then
      n = n + 1
      reqs[n] = wrk.format("POST", "/webhooks/meta", {
        ["Content-Type"] = "application/json",
        ["X-Hub-Signature-256"] = sig,
      }, body)
    end
  end
  i = math.random(n) - 1
end

function request()
  i = i % n + 1
  return reqs[i]
end
