-- verified Twilio status callbacks: cycles through pre-signed bodies
-- (BENCH_CALLBACKS: lines "signature<TAB>form body")
init, request = dofile(os.getenv("BENCH_DIR") .. "/signed.lua")(
  "BENCH_CALLBACKS", "/webhooks/twilio/sms/status", function(line)
    local sig, body = line:match("^([^\t]+)\t(.*)$")
    if sig then
      return {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = sig,
      }, body
    end
  end)
