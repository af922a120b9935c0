-- verified Twilio status callbacks: cycles through pre-signed bodies
-- (BENCH_CALLBACKS: lines "signature<TAB>form body")
local reqs = {}
local n = 0
local i = 0

function init(args)
  local path = "/webhooks/twilio/sms/status"
  for line in io.lines(os.getenv("BENCH_CALLBACKS")) do
    local sig, body = line:match("^([^\t]+)\t(.*)$")
    if sig then
      n = n + 1
      reqs[n] = wrk.format("POST", path, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = sig,
      }, body)
    end
  end
  -- threads start at different offsets
  i = math.random(n) - 1
end

function request()
  i = i % n + 1
  return reqs[i]
end
