-- verified Meta webhook notifications: cycles through pre-signed bodies
-- (BENCH_META: lines "sha256=<hex><TAB>json")
init, request = dofile(os.getenv("BENCH_DIR") .. "/signed.lua")(
  "BENCH_META", "/webhooks/meta", function(line)
    local sig, body = line:match("^([^\t]+)\t(.*)$")
    if sig then
      return {
        ["Content-Type"] = "application/json",
        ["X-Hub-Signature-256"] = sig,
      }, body
    end
  end)
