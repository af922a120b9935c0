#!/usr/bin/env bash
# make valgrind: the sender under valgrind's memcheck on a private stack.
# 250 SMS go through send, callbacks and recording, 20 more through a
# campaign (the dispatcher thread); 30 more are accepted
# with the simulator's callbacks held back, so SIGTERM finds results still
# waiting for the recorder. Passes when valgrind reports no error, nothing
# in use at exit and the sender exits 0 with every message recorded.
#
# The sender links jemalloc: --soname-synonyms points memcheck's malloc
# replacement at it (otherwise it would see no heap at all).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BC_BUILD:-$REPO/build}/bin
DIR=$(mktemp -d /tmp/bc-valgrind-XXXXXX)
chmod 755 "$DIR"
free_port() {
    perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(Listen => 1,
        LocalAddr => "127.0.0.1", LocalPort => 0) or die; print $s->sockport'
}
export BC_VAR=$DIR/var PORT=$(free_port) REDIS_PORT=$(free_port) \
       MYSQL_PORT=$(free_port) SIM_PORT=$(free_port)
stack() { bash "$REPO/scripts/stack.sh" "$@"; }
VG_PID=
cleanup() {
    [ -n "$VG_PID" ] && kill -KILL "$VG_PID" 2>/dev/null
    stack stop >/dev/null 2>&1 || true
    [ "${TEST_LEAVE:-}" = 1 ] || rm -rf "$DIR"
}
trap cleanup EXIT
fail() { echo "valgrind-sender: $*" >&2; tail -n 40 "$DIR/valgrind.log" >&2 || true; exit 1; }

command -v valgrind >/dev/null || fail "valgrind is not installed (make deps)"
echo "== private stack in $DIR"
stack start > "$DIR/stack.log" 2>&1 || { cat "$DIR/stack.log"; exit 1; }
stack stop sender >/dev/null

api() {
    local m=$1 p=$2
    shift 2
    curl -sS -X "$m" "http://127.0.0.1:$PORT$p" -H 'Content-Type: application/json' "$@"
}
json_field() { perl -MJSON::PP -0777 -ne 'my $j = decode_json($_); print $j->{'"$1"'} // ""'; }
mysql_q() {
    mariadb --no-defaults -S "$BC_VAR/mysql/mysql.sock" -u "$(id -un)" -N -B broadcast -e "$1"
}
# polls until the query prints at least $2, for at most $3 seconds
wait_count() {
    local deadline=$(( $(date +%s) + $3 ))
    until [ "$(mysql_q "$1")" -ge "$2" ]; do
        kill -0 "$VG_PID" 2>/dev/null || fail "the sender exited early"
        [ "$(date +%s)" -lt $deadline ] || fail "timed out waiting for $2: $1"
        sleep 0.2
    done
}

ADMIN=$(head -n1 "$BC_VAR/admin.credentials")
TOKEN=$(api POST /api/login -d "{\"username\":\"${ADMIN%%:*}\",\"password\":\"${ADMIN#*:}\"}" | json_field token)
KEY=$(api POST /api/keys -H "Authorization: Bearer $TOKEN" -d '{"name":"valgrind","scope":"send"}' | json_field api_key)
[ -n "$KEY" ] || fail "could not create an API key"

echo "== broadcast-sender under valgrind"
valgrind --soname-synonyms='somalloc=*jemalloc*' --leak-check=full \
    --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=9 \
    --log-file="$DIR/valgrind.log" \
    "$BIN/broadcast-sender" --config "$BC_VAR/sender.conf" > "$DIR/sender.out" 2>&1 &
VG_PID=$!

for i in 1 2 3 4 5; do
    to=$(seq -f '"+1415555%04g"' 2000 2049 | paste -sd,)
    api POST /api/send/sms -H "X-API-Key: $KEY" \
        -d "{\"recipients\":[$to],\"message\":\"valgrind $i\"}" | grep -q '"queued"' \
        || fail "send $i was not accepted"
done
wait_count "SELECT COUNT(*) FROM messages WHERE status='delivered'" 250 300
echo "   250 messages delivered"

# a campaign through the dispatcher thread: fan-out with a filter (the
# country through libphonenumber), a skip, rendering, queueing, completion
from=$(sed -n 's/^TWILIO_SMS_FROM=//p' "$BC_VAR/providers.env")
vals=$(for i in $(seq 1 20); do
    printf "('vg %d','+1415557%04d','{\\\"plan\\\":\\\"gold\\\"}',UTC_TIMESTAMP(3),UTC_TIMESTAMP(3))\n" "$i" "$i"
done | paste -sd,)
mysql_q "INSERT INTO contacts (name,phone,attributes,created_at,updated_at) VALUES $vals,
         ('vg none',NULL,'{\"plan\":\"gold\"}',UTC_TIMESTAMP(3),UTC_TIMESTAMP(3))"
mysql_q "INSERT INTO campaigns (name,channel,status,batch_id,audience,rate_per_second,created_at,updated_at)
         VALUES ('vg','sms','running','01JVALGR1ND0000000000000AA',
         '{\"all\":true,\"filter\":{\"country\":\"US\",\"attributes\":{\"plan\":\"gold\"}}}',0,
         UTC_TIMESTAMP(3),UTC_TIMESTAMP(3));
         INSERT INTO campaign_variants (campaign_id,idx,name,weight,proto) VALUES (LAST_INSERT_ID(),0,'default',1,
         '{\"channel\":\"sms\",\"provider\":\"twilio\",\"from\":\"$from\",\"body\":\"Hi {{name}} {{plan}}\",\"extra\":null}')"
wait_count "SELECT COUNT(*) FROM campaigns WHERE name='vg' AND status='completed'" 1 300
wait_count "SELECT COUNT(*) FROM messages WHERE status='delivered'" 270 300
echo "   a campaign of 20 completed"

# results the recorder still holds (no callbacks come) when SIGTERM arrives
curl -sS -X POST "http://127.0.0.1:$SIM_PORT/sim/config" -d '{"callback_delay_ms":3600000}' >/dev/null
to=$(seq -f '"+1415556%04g"' 2000 2029 | paste -sd,)
api POST /api/send/sms -H "X-API-Key: $KEY" \
    -d "{\"recipients\":[$to],\"message\":\"valgrind quiet\"}" | grep -q '"queued"' \
    || fail "the last send was not accepted"
wait_count "SELECT COUNT(*) FROM messages WHERE send_state='done' AND provider_message_id IS NOT NULL" 300 300

kill -TERM "$VG_PID"
rc=0
wait "$VG_PID" || rc=$?
VG_PID=
grep -E "ERROR SUMMARY|in use at exit" "$DIR/valgrind.log"
[ "$rc" -eq 0 ] || fail "the sender exited $rc under valgrind (9: memcheck found errors)"
grep -q "ERROR SUMMARY: 0 errors" "$DIR/valgrind.log" || fail "memcheck reported errors"
grep -q "in use at exit: 0 bytes in 0 blocks" "$DIR/valgrind.log" || fail "memory still in use at exit"
pending=$(mysql_q "SELECT COUNT(*) FROM messages WHERE send_state<>'done'")
[ "$pending" -eq 0 ] || fail "$pending messages were not recorded before exit"
echo "valgrind-sender: ok (0 errors, 0 bytes in use at exit, 300 messages recorded)"
