-- verified SendGrid Event Webhook batches: cycles through pre-signed bodies
-- (BENCH_SENDGRID: lines "timestamp<TAB>signature<TAB>json"; sent + CRLF)
init, request = dofile(os.getenv("BENCH_DIR") .. "/signed.lua")(
  "BENCH_SENDGRID", "/webhooks/sendgrid", function(line)
    local ts, sig, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
    if ts then
      return {
        ["Content-Type"] = "application/json",
        ["X-Twilio-Email-Event-Webhook-Signature"] = sig,
        ["X-Twilio-Email-Event-Webhook-Timestamp"] = ts,
      }, body .. "\r\n"
    end
  end)
