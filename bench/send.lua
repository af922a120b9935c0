-- single-recipient POST /api/send/sms with a send key (BENCH_KEY)
wrk.method = "POST"
wrk.path = "/api/send/sms"
wrk.body = '{"recipients":["+14155552671"],"message":"bench hello"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("BENCH_KEY")
