-- 100-recipient POST /api/send/sms (BENCH_KEY); recipients/s = req/s * 100
local to = {}
for i = 0, 99 do
  to[#to + 1] = string.format('"+1415555%04d"', 2000 + i)
end
wrk.method = "POST"
wrk.path = "/api/send/sms"
wrk.body = '{"recipients":[' .. table.concat(to, ",") .. '],"message":"bench bulk"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("BENCH_KEY")
