#!/usr/bin/env bash
# make costs (also a part of make bench): what one message costs each
# process, measured on a private stack (docs/CAPACITY.md plans from it).
#
# Around each scenario, run to completion (polled, never slept on), it takes
# the deltas of:
#   CPU      utime + stime (/proc/<pid>/stat, every thread) of the nginx
#            workers (summed), the sender, redis-server, mariadbd (the
#            primary, writing a ROW binlog), its GTID replica (each scenario
#            waits for it to catch up) and the simulator (reported, not
#            planned: it stands for the providers)
#   Redis    INFO commandstats calls per command (INFO itself left out),
#            total_net_input_bytes / total_net_output_bytes
#   MySQL    SHOW GLOBAL STATUS: rows written, updated, deleted (Handler_*)
#            and read (Rows_read; MariaDB 10.11 has no Innodb_rows_*),
#            Com_*, redo, data and binlog bytes written, fsyncs; every scenario ends with InnoDB's dirty
#            pages flushed (innodb_max_dirty_pages_pct 0 until they are
#            few), so the page writes are charged to the scenario that
#            dirtied them (an upper bound: a busy server folds several
#            changes of a page into one write)
#
#   api       COSTS_SENDS (30,000) single-recipient POST /api/send/sms (wrk,
#             bench/send.lua), sent by the sender to the simulator, both
#             status callbacks (sent, delivered) recorded: until the
#             simulator has sent every callback and both consumer groups
#             (bc:{q}:stream:send, bc:{ev}:stream:events) are drained
#   campaign  a COSTS_CAMPAIGN (20,000) recipient SMS campaign (contacts and
#             group written in SQL beforehand, a two-variable template): from
#             POST .../start to the last callback recorded
#   status    COSTS_WEBHOOKS (30,000) signed Twilio status callbacks of
#             messages we do not know (bench/gen-callbacks.pl): each is
#             queued and recorded with an audit row
#   inbound   COSTS_WEBHOOKS signed Twilio inbound SMS (bench/gen-inbound.pl)
#
# then, with the sender stopped, COSTS_QUEUE (10,000) sends queued: Redis
# used_memory and AOF bytes per queued message (the sender drains them
# after); and the bytes per row of the message tables (information_schema
# after ANALYZE TABLE).
#
# The fixed table goes to COSTS_REPORT (<repo>/var/bench/costs.txt) and to
# stdout. Environment: COSTS_SENDS, COSTS_CAMPAIGN, COSTS_WEBHOOKS,
# COSTS_QUEUE, COSTS_CLIENTS (4 wrk threads of one connection each),
# COSTS_REPLICA=0 (no replica, and so no binlog on the primary),
# COSTS_TIMEOUT (300 s per wait), COSTS_REPORT, TEST_LEAVE=1 (keep the
# stack's directory). About 40 seconds at the defaults on 2 cores.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$REPO/bench
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
SENDS=${COSTS_SENDS:-30000}
CAMPAIGN=${COSTS_CAMPAIGN:-20000}
WEBHOOKS=${COSTS_WEBHOOKS:-30000}
QUEUE=${COSTS_QUEUE:-10000}
CLIENTS=${COSTS_CLIENTS:-4}
TIMEOUT=${COSTS_TIMEOUT:-300}
REPORT=${COSTS_REPORT:-$REPO/var/bench/costs.txt}

command -v wrk >/dev/null || { echo "costs: wrk not installed (make deps)" >&2; exit 1; }
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

DIR=$(mktemp -d /tmp/bc-costs-XXXXXX)
chmod 755 "$DIR"
mkdir -p "$DIR/snap"
export BC_VAR=$DIR/var
PORT=$(free_port) REDIS_PORT=$(free_port) MYSQL_PORT=$(free_port) SIM_PORT=$(free_port)
export PORT REDIS_PORT MYSQL_PORT SIM_PORT
# the planned topology: a primary (binlog on) and a replica taking reads
REPLICA=${COSTS_REPLICA:-1}
if [ "$REPLICA" = 1 ]; then
    MYSQL_REPLICA_PORT=$(free_port)
    export MYSQL_REPLICA_PORT
fi
export BC_NGINX_ACCESS_LOG=off

cleanup() {
    stack stop >/dev/null 2>&1 || true
    if [ "${TEST_LEAVE:-}" = 1 ]; then echo "costs: kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
die() { echo "costs: $*" >&2; exit 1; }

sim_field() {   # a number of GET /sim/health
    curl -sS "http://127.0.0.1:$SIM_PORT/sim/health" | perl -ne 'print $1 if /"'"$1"'":(\d+)/'
}

# ------------------------------------------------------------ measuring
pid_of() { cat "$BC_VAR/$1"; }
workers() { ps -o pid= --ppid "$(pid_of nginx/logs/nginx.pid)" | tr '\n' ' '; }
snap() {   # name: CPU ticks, Redis INFO, MySQL status into DIR/snap/<name>
    local f=$DIR/snap/$1
    {
        # shellcheck disable=SC2046
        echo "cpu.nginx $(perl "$BENCH/costs.pl" ticks $(workers))"
        echo "cpu.sender $(perl "$BENCH/costs.pl" ticks "$(pid_of run/sender.pid)")"
        echo "cpu.redis $(perl "$BENCH/costs.pl" ticks "$(pid_of run/redis.pid)")"
        echo "cpu.mysql $(perl "$BENCH/costs.pl" ticks "$(pid_of run/mysqld.pid)")"
        echo "cpu.sim $(perl "$BENCH/costs.pl" ticks "$(pid_of sim/sim.pid)")"
        [ "$REPLICA" != 1 ] || echo "cpu.replica $(perl "$BENCH/costs.pl" ticks "$(pid_of run/mysqld-replica.pid)")"
        echo "time $(date +%s.%N)"
        redis INFO commandstats
        redis INFO stats
        redis INFO memory
        redis INFO persistence
        mysql_q "SHOW GLOBAL STATUS"
    } > "$f"
}
wait_for() {   # what timeout_s command...: polls every 0.1 s
    local what=$1 deadline=$(( $(date +%s) + $2 ))
    shift 2
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || die "$what did not happen within ${TIMEOUT}s"
        sleep 0.1
    done
}
send_drained() { [ "$(lanes_depth q)" -eq 0 ]; }
# the simulator has sent `target` callbacks and both groups are drained
drained() {   # target
    perl "$BENCH/drain-wait.pl" "$SIM_PORT" "$REDIS_PORT" "$1" "$TIMEOUT" \
        || die "the pipeline did not drain within ${TIMEOUT}s"
    wait_for "the send group's drain" "$TIMEOUT" send_drained
}
# InnoDB writes changed pages back long after the commit: flushed here, so
# a scenario's page writes are its own
dirty_pages() { mysql_q "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'" | cut -f2; }
few_dirty() { [ "$(dirty_pages)" -le 64 ]; }
replica_q() { mariadb --no-defaults -S "$BC_VAR/mysql-replica/mysql.sock" -u "$(id -un)" -N -B -e "$1"; }
caught_up() { [ "$(replica_q 'SELECT @@gtid_slave_pos')" = "$(mysql_q 'SELECT @@gtid_binlog_pos')" ]; }
flush_dirty() {   # (and the replica caught up: its work is the scenario's too)
    local pct
    [ "$REPLICA" != 1 ] || wait_for "the replica's catching up" "$TIMEOUT" caught_up
    pct=$(mysql_q "SELECT @@GLOBAL.innodb_max_dirty_pages_pct")
    mysql_q "SET GLOBAL innodb_max_dirty_pages_pct = 0"
    wait_for "the dirty pages' flush" "$TIMEOUT" few_dirty
    mysql_q "SET GLOBAL innodb_max_dirty_pages_pct = $pct"
}
wrk_n() {   # script per_thread [env...]: CLIENTS x per_thread requests, one in flight per connection
    local script=$1 per=$2 pid out bad
    shift 2
    : > "$DIR/wrk.done"
    env BENCH_DIR="$BENCH" BENCH_SCRIPT="$script" BENCH_N="$per" BENCH_DONE="$DIR/wrk.done" "$@" \
        wrk -t"$CLIENTS" -c"$CLIENTS" -d"${TIMEOUT}s" -s "$BENCH/costs-n.lua" \
        "http://127.0.0.1:$PORT/" > "$DIR/wrk.out" 2>&1 &
    pid=$!
    wait_for "$script's requests" "$TIMEOUT" wrk_done "$pid"
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" || true
    out=$(cat "$DIR/wrk.out")
    bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    [ -z "$bad" ] || { echo "$out" >&2; die "$bad requests of $script were refused"; }
    awk '/ requests in / {print $1}' <<<"$out"
}
wrk_done() { [ "$(wc -l < "$DIR/wrk.done")" -ge "$CLIENTS" ] || ! kill -0 "$1" 2>/dev/null; }
scenario() {   # key unit count what
    printf '%s\t%s\t%s\t%s\n' "$@" >> "$DIR/scenarios"
    printf '  %-9s %s %s in %.1f s\n' "$1" "$3" "$2" \
        "$(awk -v a="$(sed -n 's/^time //p' "$DIR/snap/$1.0")" -v b="$(sed -n 's/^time //p' "$DIR/snap/$1.1")" 'BEGIN { print b - a }')"
}

# ------------------------------------------------------------ the stack
echo "== a private stack in $BC_VAR"
stack start > "$DIR/stack.log" 2>&1 || { cat "$DIR/stack.log"; exit 1; }
ADMIN=$(head -n1 "$BC_VAR/admin.credentials")
TOKEN=$(api POST /api/login -d "{\"username\":\"${ADMIN%%:*}\",\"password\":\"${ADMIN#*:}\"}" | json_field token)
[ -n "$TOKEN" ] || die "login failed"
KEY=$(api POST /api/keys -H "Authorization: Bearer $TOKEN" -d '{"name":"costs","scope":"send"}' | json_field api_key)
MKEY=$(api POST /api/keys -H "Authorization: Bearer $TOKEN" -d '{"name":"costs-manage","scope":"manage"}' | json_field api_key)
[ -n "$KEY" ] || die "key creation failed"
[ -n "$MKEY" ] || die "key creation failed"
# shellcheck source=/dev/null
. <(grep -E '^(TWILIO_[A-Z_]+)=' "$BC_VAR/providers.env" | sed 's/^/export /')
per_thread() { echo $(( ($1 + CLIENTS - 1) / CLIENTS )); }

# warm-up, not measured: connections, prepared statements, first pages
cb=$(sim_field callbacks_sent)
WARM=$(wrk_n send.lua "$(per_thread 400)" BENCH_KEY="$KEY")
drained $(( cb + 2 * WARM ))
flush_dirty

# ------------------------------------------------------------ api
echo "== scenarios"
cb=$(sim_field callbacks_sent)
snap api.0
n=$(wrk_n send.lua "$(per_thread "$SENDS")" BENCH_KEY="$KEY")
drained $(( cb + 2 * n ))
flush_dirty
snap api.1
scenario api messages "$n" "single-recipient POST /api/send/sms, sent, both callbacks recorded"

# ------------------------------------------------------------ campaign
mysql_q "INSERT INTO contact_groups (name, created_at, updated_at) VALUES ('costs', NOW(3), NOW(3));
         INSERT INTO contacts (name, phone, attributes, created_at, updated_at)
         SELECT CONCAT('C', seq), CONCAT('+1415', 5000000 + seq),
                CONCAT('{\"city\":\"city', seq % 100, '\"}'), NOW(3), NOW(3)
         FROM seq_1_to_$CAMPAIGN;
         INSERT INTO contact_group_members (group_id, contact_id, created_at)
         SELECT g.id, c.id, NOW(3) FROM contacts c JOIN contact_groups g ON g.name = 'costs'"
gid=$(mysql_q "SELECT id FROM contact_groups WHERE name = 'costs'")
tpl=$(api POST /api/templates -H "X-API-Key: $MKEY" \
      -d '{"channel":"sms","name":"costs","body":"Hello {{name}} in {{city}}"}' | json_field id)
cid=$(api POST /api/campaigns -H "X-API-Key: $MKEY" -d "{\"name\":\"costs\",\"channel\":\"sms\",
      \"template_id\":$tpl,\"audience\":{\"group_ids\":[$gid]},\"rate_per_second\":0}" | json_field id)
[ -n "$cid" ] || die "the campaign was not created"
flush_dirty
cb=$(sim_field callbacks_sent)
snap campaign.0
api POST "/api/campaigns/$cid/start" -H "X-API-Key: $MKEY" > /dev/null
drained $(( cb + 2 * CAMPAIGN ))
flush_dirty
snap campaign.1
scenario campaign messages "$CAMPAIGN" "a $CAMPAIGN-recipient SMS campaign, start to the last callback recorded"

# ------------------------------------------------------------ webhooks alone
perl "$BENCH/gen-callbacks.pl" "$TWILIO_AUTH_TOKEN" "http://127.0.0.1:$PORT" \
    "$TWILIO_ACCOUNT_SID" "$TWILIO_SMS_FROM" "$WEBHOOKS" > "$DIR/status.txt"
perl "$BENCH/gen-inbound.pl" "$TWILIO_AUTH_TOKEN" "http://127.0.0.1:$PORT" \
    "$TWILIO_ACCOUNT_SID" "$TWILIO_SMS_FROM" "$WEBHOOKS" > "$DIR/inbound.txt"
cb=$(sim_field callbacks_sent)
for kind in status inbound; do
    snap "$kind.0"
    if [ "$kind" = status ]; then
        n=$(wrk_n callbacks.lua $(( WEBHOOKS / CLIENTS )) BENCH_CALLBACKS="$DIR/status.txt")
        what="signed Twilio status callbacks of unknown messages (an audit row each)"
    else
        n=$(wrk_n inbound.lua $(( WEBHOOKS / CLIENTS )) BENCH_INBOUND="$DIR/inbound.txt")
        what="signed Twilio inbound SMS (a message row each)"
    fi
    drained "$cb"
    flush_dirty
    snap "$kind.1"
    scenario "$kind" events "$n" "$what"
done

# ------------------------------------------------------------ queued bytes
stack stop sender > /dev/null
info_num() { redis INFO "$1" | tr -d '\r' | sed -n "s/^$2://p"; }
aof_size() { info_num persistence aof_current_size; }
{ echo "used0 $(info_num memory used_memory)"; echo "aof0 $(aof_size)"; } > "$DIR/memory"
n=$(wrk_n send.lua "$(per_thread "$QUEUE")" BENCH_KEY="$KEY")
{ echo "queued $n"; echo "used1 $(info_num memory used_memory)"; echo "aof1 $(aof_size)"; } >> "$DIR/memory"
cb=$(sim_field callbacks_sent)
stack start sender > /dev/null
drained $(( cb + 2 * n ))

# ------------------------------------------------------------ checks, storage
got=$(mysql_q "SELECT COUNT(*) FROM messages WHERE direction = 'outbound' AND status = 'delivered'")
want=$(awk -F'\t' '$2 == "messages" { s += $3 } END { print s + 0 }' "$DIR/scenarios")
want=$(( want + n + WARM ))
[ "$got" -eq "$want" ] || die "$got messages delivered, $want expected"
mysql_q "ANALYZE TABLE messages, message_events, campaign_recipients" > /dev/null
for t in messages message_events campaign_recipients; do
    mysql_q "SELECT table_name, (SELECT COUNT(*) FROM $t), data_length, index_length
             FROM information_schema.tables WHERE table_schema = 'broadcast' AND table_name = '$t'"
done > "$DIR/storage"
# the messages table's indexes one by one (pages after ANALYZE TABLE): the
# random-keyed ones are what must stay in memory as the table grows
mysql_q "SELECT CONCAT('messages.', index_name), (SELECT COUNT(*) FROM messages), 0, stat_value * @@innodb_page_size
         FROM mysql.innodb_index_stats
         WHERE database_name = 'broadcast' AND table_name = 'messages' AND stat_name = 'size'
         ORDER BY index_name = 'PRIMARY' DESC, index_name" >> "$DIR/storage"

# ------------------------------------------------------------ report
{
    echo "date $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), $(free -g | awk '/^Mem:/ { print $2 }') GB RAM, load average before the run $LOAD0"
    echo "workers $(workers | wc -w)"
    echo "clients $CLIENTS"
    echo "notes per unit = per message (api, campaign) or per webhook event (status, inbound); a message's two status callbacks are inside api and campaign; bodies sealed at rest (as make run); MariaDB as make run starts it (flush_log_at_trx_commit 1, 512M buffer pool and redo)$([ "$REPLICA" = 1 ] && echo ", binlog ROW with a GTID replica"); $got outbound messages delivered (warm-up and queue batch included)"
} > "$DIR/meta"
mkdir -p "$(dirname "$REPORT")"
perl "$BENCH/costs.pl" report "$DIR" > "$REPORT"
echo
cat "$REPORT"
echo "costs: report in $REPORT"
