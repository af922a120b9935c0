-- baseline: POST the same JSON body a single-recipient send carries
wrk.method = "POST"
wrk.body = '{"recipients":["+14155552671"],"message":"bench hello"}'
wrk.headers["Content-Type"] = "application/json"
