#!/usr/bin/env bash
# make bench: loopback benchmarks against a baseline measured in the same run.
#
#   baseline   stock nginx (same binary) reading the POST body and proxying it
#              over keep-alive to an instant `return 200`; run before and
#              after each ratio's run, which is taken against their mean
#   send       single-recipient POST /api/send/sms with a send key
#   callbacks  verified Twilio status callbacks (pre-signed, distinct)
#   sendgrid   verified SendGrid Event Webhook batches (pre-signed ECDSA,
#              distinct, BENCH_SG_EVENTS events each)
#   meta       verified Meta webhook notifications (pre-signed, distinct)
#   bulk       100-recipient sends (recipients/s)
#   e2e        N messages through API -> sender -> simulator -> signed
#              callbacks -> "delivered" in MySQL (messages/s)
#   email      BENCH_EMAIL email recipients (requests of 1,000) through
#              the sender's 1,000-per-call SendGrid batching -> signed events
#              -> "delivered" in MySQL (recipients/s), on the e2e stack
#   run        send and callbacks again on a fresh stack as `make run`
#              configures it: access log on, and the sender, its recorder,
#              the simulator and MariaDB draining what the requests queue,
#              on the same cores (send, callbacks and api are isolated:
#              access log off, sender stopped)
#   audience   contacts at scale (bench/audience.sh): a CSV import and an
#              export of BENCH_AUDIENCE contacts (rows/s against LOAD DATA
#              and the mariadb client's dump), contact search p50/p99
#              against the module's statements through DBI
#   campaign   campaigns at scale (bench/campaign.sh): the fan-out of a
#              BENCH_CAMPAIGN-contact campaign (1,000,000; seconds and the
#              sender's peak RSS), a BENCH_CAMPAIGN_E2E-recipient SMS
#              campaign end to end (100,000; msgs/s), and two senders
#              holding one Meta number to BENCH_RATE/s (80) for
#              BENCH_RATE_SECONDS (20)
#   costs      per-message costs on a stack of its own (bench/costs.sh, also
#              make costs): CPU seconds per 1,000 messages of each process,
#              Redis commands and bytes, MySQL rows and bytes per message,
#              into var/bench/costs.txt (COSTS_* set its sizes)
#
# Environment: BENCH_PARTS (which of "api e2e run audience campaign costs"
# to measure; all), BENCH_AUDIENCE (1000000 contacts), BENCH_AUDIENCE_SEARCHES (200),
# BENCH_DURATION (10s), BENCH_CONNECTIONS (64), BENCH_THREADS
# (2), BENCH_E2E (50000 messages), BENCH_E2E_TIMEOUT (300 s),
# BENCH_SG_BODIES (4000 signed batches), BENCH_SG_EVENTS (10 per batch),
# BENCH_META (50000 notifications), BENCH_EMAIL (20000 recipients),
# BENCH_STRICT=1 (exit 1 when a target is missed), TEST_LEAVE=1 (keep dir).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$REPO/bench
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
NGINX=${BC_NGINX_BINARY:-/usr/sbin/nginx}
DUR=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
E2E_N=${BENCH_E2E:-50000}
E2E_TIMEOUT=${BENCH_E2E_TIMEOUT:-300}
SG_BODIES=${BENCH_SG_BODIES:-4000}
SG_EVENTS=${BENCH_SG_EVENTS:-10}
META_N=${BENCH_META:-50000}
EMAIL_N=${BENCH_EMAIL:-20000}
PARTS=" ${BENCH_PARTS:-api e2e run audience campaign costs} "
part() { [[ $PARTS == *" $1 "* ]]; }

command -v wrk >/dev/null || { echo "bench: wrk not installed (make deps)" >&2; exit 1; }

DIR=$(mktemp -d /tmp/bc-bench-XXXXXX)
chmod 755 "$DIR"
export BC_VAR=$DIR/var
export PORT=$(free_port) REDIS_PORT=$(free_port) MYSQL_PORT=$(free_port) SIM_PORT=$(free_port)
export BC_NGINX_ACCESS_LOG=off
BASE_PORT=$(free_port)
UP_PORT=$(free_port)
while [ "$UP_PORT" = "$BASE_PORT" ]; do UP_PORT=$(free_port); done

cleanup() {
    declare -F camp_senders_stop > /dev/null && camp_senders_stop
    bash "$REPO/scripts/stack.sh" stop >/dev/null 2>&1 || true
    if [ -s "$DIR/baseline/logs/nginx.pid" ]; then
        kill -QUIT "$(cat "$DIR/baseline/logs/nginx.pid")" 2>/dev/null || true
    fi
    if [ "${TEST_LEAVE:-}" = 1 ]; then echo "bench: kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

sim_callbacks_sent() {
    curl -sS "http://127.0.0.1:$SIM_PORT/sim/health" | perl -ne 'print $1 if /"callbacks_sent":(\d+)/' || echo 0
}

worker_rss() {   # master pid file -> "pid:rssKB ..."
    local master
    master=$(cat "$1")
    ps -o pid=,rss= --ppid "$master" | awk '{printf "%s:%dMB ", $1, $2/1024}'
}

declare -A RPS NON2XX REQS
run_wrk() {   # name port script [env...]
    local name=$1 port=$2 script=$3 out
    shift 3
    out=$(env BENCH_DIR="$BENCH" "$@" wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s "$BENCH/$script" \
          "http://127.0.0.1:$port/" 2>&1)
    RPS[$name]=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    REQS[$name]=$(awk '/ requests in / {print $1}' <<<"$out")
    NON2XX[$name]=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    NON2XX[$name]=${NON2XX[$name]:-0}
    printf '  %-10s %12s req/s  (non-2xx: %s)\n' "$name" "${RPS[$name]:-?}" "${NON2XX[$name]}"
    [ -n "${RPS[$name]}" ] || echo "$out" >&2
}

# ------------------------------------------------------------ the stack
# starts a stack on an empty BC_VAR (log file name [env...]), signs in and
# makes a send KEY; the providers' credentials (new per stack) are exported
fresh_stack() {
    local log=$1
    shift
    stack stop >/dev/null 2>&1 || true
    rm -rf "$BC_VAR"
    env "$@" bash "$REPO/scripts/stack.sh" start > "$DIR/$log" 2>&1 \
        || { cat "$DIR/$log"; exit 1; }
    ADMIN=$(head -n1 "$BC_VAR/admin.credentials")
    TOKEN=$(api POST /api/login -d "{\"username\":\"${ADMIN%%:*}\",\"password\":\"${ADMIN#*:}\"}" | json_field token)
    [ -n "$TOKEN" ] || { echo "bench: login failed" >&2; exit 1; }
    KEY=$(api POST /api/keys -H "Authorization: Bearer $TOKEN" -d '{"name":"bench","scope":"send"}' | json_field api_key)
    [ -n "$KEY" ] || { echo "bench: key creation failed" >&2; exit 1; }
    . <(grep -E '^(TWILIO_[A-Z_]+|META_[A-Z_]+|SENDGRID_[A-Z_]+|SIM_URL)=' "$BC_VAR/providers.env" | sed 's/^/export /')
}

if part api; then
    echo "== starting a private stack in $BC_VAR"
    fresh_stack stack.log
fi

# ------------------------------------------------------------ baseline nginx
mkdir -p "$DIR/baseline"/{conf,logs,tmp}
USER_LINE=
[ "$(id -u)" -eq 0 ] && USER_LINE='user root;'
cat > "$DIR/baseline/conf/nginx.conf" <<EOF
$USER_LINE
worker_processes ${BC_NGINX_WORKERS:-auto};
pid logs/nginx.pid;
error_log logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    client_max_body_size 2m;
    upstream instant { server 127.0.0.1:$UP_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$BASE_PORT;
        location / {
            proxy_pass http://instant;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    server {
        listen 127.0.0.1:$UP_PORT;
        location / { return 200 '{"ok":true}'; }
    }
}
EOF
"$NGINX" -p "$DIR/baseline/" -c conf/nginx.conf -e logs/error.log
for _ in $(seq 100); do curl -fsS -o /dev/null -X POST -d x "http://127.0.0.1:$BASE_PORT/" 2>/dev/null && break; sleep 0.1; done

# ------------------------------------------------------------ API benches
if part api; then
echo "== generating 50000 signed callbacks"
perl "$BENCH/gen-callbacks.pl" "$TWILIO_AUTH_TOKEN" "http://127.0.0.1:$PORT" \
    "$TWILIO_ACCOUNT_SID" "$TWILIO_SMS_FROM" 50000 > "$DIR/callbacks.txt"

# the sender and simulator would compete for the CPU with what is measured
stack stop sender >/dev/null

# Every ratio is taken against the baseline runs just before and just after
# its own run (their mean): this VM's speed drifts by up to 2x within
# minutes, and one baseline at the start made later ratios read that drift.
echo "== wrk -t$THREADS -c$CONNS -d$DUR"
run_wrk baseline0 "$BASE_PORT" baseline.lua
run_wrk send "$PORT" send.lua BENCH_KEY="$KEY"
run_wrk baseline1 "$BASE_PORT" baseline.lua
run_wrk callbacks "$PORT" callbacks.lua BENCH_CALLBACKS="$DIR/callbacks.txt"
run_wrk baseline2 "$BASE_PORT" baseline.lua
run_wrk bulk "$PORT" bulk.lua BENCH_KEY="$KEY"
# signed just before use: the timestamps must stay within the module's
# broadcast_sendgrid_timestamp_tolerance (300 s) while wrk runs
echo "== generating $META_N signed Meta notifications and $SG_BODIES signed SendGrid batches"
perl "$BENCH/gen-meta.pl" "$META_APP_SECRET" "$META_PHONE_NUMBER_ID" \
    "$META_DISPLAY_PHONE_NUMBER" "$META_WABA_ID" "$META_N" > "$DIR/meta.txt"
mkdir -p "$DIR/sg"
perl "$BENCH/gen-sendgrid.pl" "$SENDGRID_WEBHOOK_PRIVATE_KEY" "$SG_BODIES" "$SG_EVENTS" \
    "$DIR/sg" > "$DIR/sendgrid.txt"
run_wrk sendgrid "$PORT" sendgrid.lua BENCH_SENDGRID="$DIR/sendgrid.txt"
run_wrk baseline3 "$BASE_PORT" baseline.lua
run_wrk meta "$PORT" meta.lua BENCH_META="$DIR/meta.txt"
run_wrk baseline4 "$BASE_PORT" baseline.lua
RSS_MODULE=$(worker_rss "$BC_VAR/nginx/logs/nginx.pid")
RSS_BASE=$(worker_rss "$DIR/baseline/logs/nginx.pid")
fi

# ------------------------------------------------------------ end to end
if part e2e; then
echo "== end to end: $E2E_N messages (fresh stack)"
fresh_stack stack2.log
cb0=$(sim_callbacks_sent)
E2E_START=$(date +%s.%N)
# Eight concurrent clients, so the enqueue does not hide the pipeline's rate.
ACCEPTED=$(perl "$BENCH/enqueue.pl" "$PORT" "$KEY" "$E2E_N" 8 sms)
ENQ_END=$(date +%s.%N)
# Done when every message has its "delivered" row. Counting rows is a full
# scan (status has no index), so one long-lived poller (drain-wait.pl) first
# waits, cheaply, for the simulator to have sent both callbacks of every
# message and for the recorder's group to have nothing unread or
# unacknowledged; the rows are counted only then, so the measurement does
# not load the machine it measures.
delivered=0
deadline=$(( $(date +%s) + E2E_TIMEOUT ))
while :; do
    left=$(( deadline - $(date +%s) ))
    if [ "$left" -gt 0 ] && perl "$REPO/bench/drain-wait.pl" "$SIM_PORT" "$REDIS_PORT" \
            $(( cb0 + 2 * ACCEPTED )) "$left"; then
        delivered=$(mysql_q "SELECT COUNT(*) FROM messages WHERE status='delivered'" 2>/dev/null || echo 0)
        [ "$delivered" -ge "$ACCEPTED" ] && break
    fi
    if [ "$(date +%s)" -ge $deadline ]; then
        delivered=$(mysql_q "SELECT COUNT(*) FROM messages WHERE status='delivered'" 2>/dev/null || echo 0)
        echo "bench: e2e timed out with $delivered/$ACCEPTED delivered"
        break
    fi
    sleep 0.05
done
E2E_END=$(date +%s.%N)
E2E_SECS=$(awk -v a="$E2E_START" -v b="$E2E_END" 'BEGIN {printf "%.2f", b - a}')
ENQ_SECS=$(awk -v a="$E2E_START" -v b="$ENQ_END" 'BEGIN {printf "%.2f", b - a}')
E2E_RATE=$(awk -v n="$delivered" -v s="$E2E_SECS" 'BEGIN {printf "%.0f", n / s}')

# ------------------------------------------------------------ email end to end
echo "== email end to end: $EMAIL_N recipients in requests of 1,000"
FROM_EMAIL=$(grep -E '^SENDGRID_FROM_EMAIL=' "$BC_VAR/providers.env" | cut -d= -f2-)
EMAIL_START=$(date +%s.%N)
EMAIL_ACCEPTED=$(perl "$BENCH/enqueue.pl" "$PORT" "$KEY" "$EMAIL_N" 4 email "$FROM_EMAIL" || echo 0)
EMAIL_ACCEPTED=${EMAIL_ACCEPTED:-0}
email_delivered=0
deadline=$(( $(date +%s) + E2E_TIMEOUT ))
while [ "$EMAIL_ACCEPTED" -gt 0 ]; do
    email_delivered=$(mysql_q "SELECT COUNT(*) FROM messages WHERE channel='email' AND status='delivered'" 2>/dev/null || echo 0)
    [ "$email_delivered" -ge "$EMAIL_ACCEPTED" ] && break
    [ "$(date +%s)" -lt $deadline ] || { echo "bench: email e2e timed out with $email_delivered/$EMAIL_ACCEPTED delivered"; break; }
    sleep 0.5
done
EMAIL_END=$(date +%s.%N)
EMAIL_SECS=$(awk -v a="$EMAIL_START" -v b="$EMAIL_END" 'BEGIN {printf "%.2f", b - a}')
EMAIL_RATE=$(awk -v n="$email_delivered" -v s="$EMAIL_SECS" 'BEGIN {printf "%.0f", n / s}')
EMAIL_CALLS=$(mysql_q "SELECT COUNT(*), COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) n FROM messages WHERE channel='email' AND provider_request_id IS NOT NULL GROUP BY provider_request_id) c" 2>/dev/null | tr '\t' ' ' || echo "? ?")
fi

# ------------------------------------------------------------ as `make run` runs
# What users meet: nginx writes its access log, and the sender's send loop
# and recorder, the simulator (two callbacks per message) and MariaDB drain
# what each request queued, on the cores nginx runs on. Each measured run is
# bracketed by baseline runs as above; the pipeline is waited for after it
# (the simulator has sent every callback, the recorder's group is empty), so
# the next baseline is not measured under the backlog it left.
drain() {   # callbacks the simulator must have sent by then
    local t0=$(date +%s.%N)
    if perl "$BENCH/drain-wait.pl" "$SIM_PORT" "$REDIS_PORT" "$1" "$E2E_TIMEOUT"; then
        awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "  %-10s %12.1f s to drain what the run left\n", "", b - a }'
    else
        echo "bench: the pipeline did not drain within ${E2E_TIMEOUT}s"
    fi
}
if part run; then
echo "== as make run configures it: access log on, sender running (fresh stack)"
fresh_stack stack3.log BC_NGINX_ACCESS_LOG=on
perl "$BENCH/gen-callbacks.pl" "$TWILIO_AUTH_TOKEN" "http://127.0.0.1:$PORT" \
    "$TWILIO_ACCOUNT_SID" "$TWILIO_SMS_FROM" 50000 > "$DIR/callbacks-run.txt"
echo "== wrk -t$THREADS -c$CONNS -d$DUR"
run_wrk baseline5 "$BASE_PORT" baseline.lua
cb0=$(sim_callbacks_sent)
run_wrk send_run "$PORT" send.lua BENCH_KEY="$KEY"
drain $(( cb0 + 2 * (${REQS[send_run]:-0} - ${NON2XX[send_run]}) ))
run_wrk baseline6 "$BASE_PORT" baseline.lua
run_wrk callbacks_run "$PORT" callbacks.lua BENCH_CALLBACKS="$DIR/callbacks-run.txt"
drain "$(sim_callbacks_sent)"
run_wrk baseline7 "$BASE_PORT" baseline.lua
fi

# ------------------------------------------------------------ audience
. "$BENCH/audience.sh"
if part audience; then
    audience_bench
fi

# ------------------------------------------------------------ campaigns
. "$BENCH/campaign.sh"
if part campaign; then
    campaign_bench
fi

# ------------------------------------------------------------ costs
# a stack of its own, alone on the machine: this one's processes stopped
if part costs; then
    stack stop >/dev/null 2>&1 || true
    echo "== per-message costs (bench/costs.sh)"
    bash "$BENCH/costs.sh" || echo "bench: the costs part failed"
fi

# ------------------------------------------------------------ report
# the baseline runs around each measured run (see above)
declare -A BEFORE=([send]=baseline0 [callbacks]=baseline1 [sendgrid]=baseline2 [meta]=baseline3
                   [send_run]=baseline5 [callbacks_run]=baseline6)
declare -A AFTER=([send]=baseline1 [callbacks]=baseline2 [sendgrid]=baseline3 [meta]=baseline4
                  [send_run]=baseline6 [callbacks_run]=baseline7)
base_of() { awk -v a="${RPS[${BEFORE[$1]}]:-0}" -v b="${RPS[${AFTER[$1]}]:-0}" 'BEGIN { printf "%.2f", (a + b) / 2 }'; }
ratio() { awk -v a="${RPS[$1]:-0}" -v b="$(base_of "$1")" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
BASELINES=()
for b in baseline0 baseline1 baseline2 baseline3 baseline4 baseline5 baseline6 baseline7; do
    [ -n "${RPS[$b]:-}" ] && BASELINES+=("${RPS[$b]}")
done
RPS[baseline]=$(printf '%s\n' "${BASELINES[@]:-0}" | awk '{ s += $1 } END { printf "%.2f", s / NR }')
BASE_RANGE=$(printf '%s\n' "${BASELINES[@]:-0}" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f-%.0f", lo, hi }')
ok() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 >= t) ? "ok" : "MISSED" }'; }
row() { printf '%-38s %14s %10s %10s %8s\n' "$@"; }
echo
row benchmark rate ratio target result
[ "${#BASELINES[@]}" -gt 0 ] && row "baseline (proxy), mean of ${#BASELINES[@]}" "${RPS[baseline]} req/s" 1.00 - -
if part api; then
    BULK_RCPT=$(awk -v r="${RPS[bulk]:-0}" 'BEGIN {printf "%.0f", r * 100}')
    SG_EVENTS_RATE=$(awk -v r="${RPS[sendgrid]:-0}" -v e="$SG_EVENTS" 'BEGIN {printf "%.0f", r * e}')
    row "send, 1 recipient" "${RPS[send]} req/s" "$(ratio send)" ">= 0.5" "$(ok "$(ratio send)" 0.5)"
    row "verified status callbacks" "${RPS[callbacks]} req/s" "$(ratio callbacks)" ">= 0.5" "$(ok "$(ratio callbacks)" 0.5)"
    row "verified SendGrid event batches" "${RPS[sendgrid]} req/s" "$(ratio sendgrid)" - -
    row "  = SendGrid events" "$SG_EVENTS_RATE ev/s" - - -
    row "verified Meta notifications" "${RPS[meta]} req/s" "$(ratio meta)" - -
    row "send, 100 recipients" "$BULK_RCPT rcpt/s" - - -
fi
if part run; then
    row "send, 1 recipient, as make run" "${RPS[send_run]} req/s" "$(ratio send_run)" - -
    row "verified status callbacks, as make run" "${RPS[callbacks_run]} req/s" "$(ratio callbacks_run)" - -
fi
if part audience; then
    audience_report
fi
if part campaign; then
    campaign_report
fi
if part e2e; then
    row "end to end ($delivered msgs, ${E2E_SECS}s)" "$E2E_RATE msg/s" - ">= 5000" "$(ok "$E2E_RATE" 5000)"
    row "email e2e ($email_delivered rcpt, ${EMAIL_SECS}s)" "$EMAIL_RATE rcpt/s" - - -
fi
echo
if part api; then
    echo "non-2xx: send ${NON2XX[send]}, callbacks ${NON2XX[callbacks]}, sendgrid ${NON2XX[sendgrid]}, meta ${NON2XX[meta]}, bulk ${NON2XX[bulk]} (should be 0)"
fi
if part run; then
    echo "as make run: non-2xx send ${NON2XX[send_run]}, callbacks ${NON2XX[callbacks_run]} (should be 0); access log on, the sender, its recorder, the simulator and MariaDB drain on the same cores; send and callbacks above are isolated (access log off, sender stopped)"
fi
if part e2e; then
    echo "email: $EMAIL_ACCEPTED accepted; mail/send calls and the largest: ${EMAIL_CALLS:-?} (at most 1000 per call)"
fi
if [ "${#BASELINES[@]}" -gt 0 ]; then
    echo -n "baseline runs: $BASE_RANGE req/s; each ratio is against the mean of the runs just before and after it ("
    for n in send callbacks sendgrid meta send_run callbacks_run; do
        [ -n "${RPS[$n]:-}" ] && echo -n "$n $(base_of "$n") "
    done
    echo ")"
fi
if part campaign; then
    campaign_notes
fi
if part e2e; then
    echo "enqueue of $E2E_N messages took ${ENQ_SECS}s"
fi
if part api; then
    echo "nginx worker RSS after the API benches: module $RSS_MODULE| baseline $RSS_BASE"
fi
echo "$(nproc) cores, wrk -t$THREADS -c$CONNS -d$DUR, loopback"

if [ "${BENCH_STRICT:-}" = 1 ]; then
    part api || part e2e || part audience || part campaign || exit 0
    for r in $(part api && echo "$(ok "$(ratio send)" 0.5)" "$(ok "$(ratio callbacks)" 0.5)") \
             $(part e2e && ok "$E2E_RATE" 5000) \
             $(part audience && audience_report | awk '{ print $NF }' | grep -v -- '^-$') \
             $(part campaign && campaign_report | awk '{ print $NF }' | grep -v -- '^-$'); do
        [ "$r" = ok ] || exit 1
    done
fi
