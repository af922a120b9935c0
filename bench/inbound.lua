-- verified Twilio inbound SMS: cycles through pre-signed bodies
-- (BENCH_INBOUND: lines "signature<TAB>form body", bench/gen-inbound.pl)
init, request = dofile(os.getenv("BENCH_DIR") .. "/signed.lua")(
  "BENCH_INBOUND", "/webhooks/twilio/sms/inbound", function(line)
    local sig, body = line:match("^([^\t]+)\t(.*)$")
    if sig then
      return {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = sig,
      }, body
    end
  end)
