-- verified SendGrid Event Webhook batches: cycles through pre-signed bodies
-- (BENCH_SENDGRID: lines "timestamp<TAB>signature<TAB>json"; sent + CRLF)
local reqs = {}
local n = 0
local i = 0

function init(args)
  for line in io.lines(os.getenv("BENCH_SENDGRID")) do
    local ts, sig, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
    if ts then
      n = n + 1
      reqs[n] = wrk.format("POST", "/webhooks/sendgrid", {
        ["Content-Type"] = "application/json",
        ["X-Twilio-Email-Event-Webhook-Signature"] = sig,
        ["X-Twilio-Email-Event-Webhook-Timestamp"] = ts,
      }, body .. "\r\n")
    end
  end
  i = math.random(n) - 1
end

function request()
  i = i % n + 1
  return reqs[i]
end
