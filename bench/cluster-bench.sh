#!/usr/bin/env bash
# make cluster-bench: end-to-end SMS messages/s (API -> sender -> simulator
# -> two signed callbacks -> "delivered" in MySQL) on the cluster stack
# (scripts/cluster.sh: Redis Cluster, two nginx nodes) with 3, 2 and 1
# senders (senders stopped between the runs), and on a plain stack (one
# Redis, one nginx, one sender) beside them. The table is printed and
# written to var/bench/cluster.txt.
#
# Each run enqueues BENCH_CLUSTER_N (20000) messages with 8 clients in
# requests of 100 (bench/enqueue.pl; on the cluster half through each nginx
# node) and ends when the simulator has sent both callbacks of every message
# and MySQL has every one "delivered".
#
# Environment: BENCH_CLUSTER_N, BENCH_CLUSTER_TIMEOUT (300 s per run),
# TEST_LEAVE=1 (keep the state directory).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$REPO/bench
N=${BENCH_CLUSTER_N:-20000}
TIMEOUT=${BENCH_CLUSTER_TIMEOUT:-300}
OUT=$REPO/var/bench/cluster.txt

DIR=$(mktemp -d /tmp/bc-cbench-XXXXXX)
chmod 755 "$DIR"
free_port() {
    perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(Listen => 1,
        LocalAddr => "127.0.0.1", LocalPort => 0) or die; print $s->sockport'
}
# a first port with $1 consecutive free ones (and their cluster bus ports)
free_run() {
    perl -MIO::Socket::INET -e '
        my ($n, $bus) = @ARGV;
        for (1 .. 200) {
            my $b = $bus ? 10000 + int rand(12000) : 22000 + int rand(10700);
            my @p = map { $b + $_ } 0 .. $n - 1;
            push @p, map { $_ + 10000 } @p if $bus;
            next if grep { !IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1",
                                                  LocalPort => $_, ReuseAddr => 1) } @p;
            print $b; exit 0;
        }
        exit 1' "$1" "${2:-0}"
}
export BC_NGINX_ACCESS_LOG=off
PLAIN_VAR=$DIR/plain
CLUSTER_VAR=$DIR/cluster
C_PORT=

stop_all() {
    BC_VAR=$PLAIN_VAR bash "$REPO/scripts/stack.sh" stop >/dev/null 2>&1 || true
    [ ! -d "$CLUSTER_VAR" ] || BC_VAR=$CLUSTER_VAR PORT=$C_PORT \
        bash "$REPO/scripts/cluster.sh" stop >/dev/null 2>&1 || true
}
cleanup() {
    stop_all
    if [ "${TEST_LEAVE:-}" = 1 ]; then echo "bench: kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

json_field() { perl -MJSON::PP -0777 -ne 'my $j = eval { decode_json($_) } || {}; print $j->{'"$1"'} // ""'; }

# signs in on http://127.0.0.1:$1 with $2/admin.credentials; prints a send key
send_key() {
    local port=$1 var=$2 admin token
    admin=$(head -n1 "$var/admin.credentials")
    token=$(curl -sS "http://127.0.0.1:$port/api/login" -H 'Content-Type: application/json' \
            -d "{\"username\":\"${admin%%:*}\",\"password\":\"${admin#*:}\"}" | json_field token)
    [ -n "$token" ] || return 1
    curl -sS "http://127.0.0.1:$port/api/keys" -H 'Content-Type: application/json' \
        -H "Authorization: Bearer $token" -d '{"name":"bench","scope":"send"}' | json_field api_key
}

delivered() {   # var: messages delivered so far
    mariadb --no-defaults -S "$1/mysql/mysql.sock" -u "$(id -un)" -N -B broadcast \
        -e "SELECT COUNT(*) FROM messages WHERE status = 'delivered'" 2>/dev/null || echo 0
}
callbacks_sent() {   # sim port
    curl -sS "http://127.0.0.1:$1/sim/health" | perl -ne 'print $1 if /"callbacks_sent":(\d+)/' || echo 0
}

# e2e VAR SIM_PORT KEY PORT... : N messages spread over the nginx ports;
# sets RUN_SECS, RUN_RATE, RUN_DONE ("" when it did not finish)
e2e() {
    local var=$1 sim=$2 key=$3
    shift 3
    local ports=("$@") per=$(( N / $# )) d0 cb0 t0 t1 accepted=0 p f
    d0=$(delivered "$var")
    cb0=$(callbacks_sent "$sim")
    t0=$(date +%s.%N)
    for p in "${ports[@]}"; do
        perl "$BENCH/enqueue.pl" "$p" "$key" "$per" $(( 8 / $# )) sms > "$DIR/enq-$p" &
    done
    wait
    for p in "${ports[@]}"; do
        f=$(tr -dc 0-9 < "$DIR/enq-$p")
        accepted=$(( accepted + ${f:-0} ))
    done
    local deadline=$(( $(date +%s) + TIMEOUT )) done=0
    # the simulator's counter first (cheap), the rows only then
    while [ "$(date +%s)" -lt $deadline ]; do
        if [ "$(callbacks_sent "$sim")" -ge $(( cb0 + 2 * accepted )) ] \
           && [ "$(delivered "$var")" -ge $(( d0 + accepted )) ]; then
            done=1
            break
        fi
        sleep 0.1
    done
    t1=$(date +%s.%N)
    RUN_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    RUN_ACCEPTED=$accepted
    if [ $done = 1 ] && [ "$accepted" -gt 0 ]; then
        RUN_RATE=$(awk -v n="$accepted" -v s="$RUN_SECS" 'BEGIN { printf "%.0f", n / s }')
    else
        RUN_RATE=n/a
        echo "bench: $accepted accepted, $(( $(delivered "$var") - d0 )) delivered in ${RUN_SECS}s: not finished" >&2
    fi
}

declare -A RATE SECS MSGS
record() { RATE[$1]=$RUN_RATE; SECS[$1]=$RUN_SECS; MSGS[$1]=$RUN_ACCEPTED; }

# ------------------------------------------------------------ a plain stack
P_PORT=$(free_run 1); P_SIM=$(free_run 1)
echo "== plain stack (one Redis, one nginx, one sender): $N messages"
if BC_VAR=$PLAIN_VAR PORT=$P_PORT REDIS_PORT=$(free_port) MYSQL_PORT=$(free_run 1) SIM_PORT=$P_SIM \
       bash "$REPO/scripts/stack.sh" start > "$DIR/plain.log" 2>&1 \
   && KEY=$(send_key "$P_PORT" "$PLAIN_VAR") && [ -n "$KEY" ]; then
    e2e "$PLAIN_VAR" "$P_SIM" "$KEY" "$P_PORT"
    record single
else
    echo "bench: the plain stack did not start or sign in (see $DIR/plain.log)" >&2
    RATE[single]=n/a
fi
BC_VAR=$PLAIN_VAR bash "$REPO/scripts/stack.sh" stop > /dev/null 2>&1 || true

# ------------------------------------------------------------ the cluster
C_PORT=$(free_run 2); C_SIM=$(free_run 1); C_MYSQL=$(free_run 2)
echo "== cluster (Redis Cluster 3+3, two nginx nodes): $N messages with 3, 2, 1 senders"
C_REDIS=$(free_run 6 1)
cl_env=("BC_VAR=$CLUSTER_VAR" "PORT=$C_PORT" "REDIS_CLUSTER_PORT=$C_REDIS"
        "MYSQL_PORT=$C_MYSQL" "MYSQL_REPLICA_PORT=$((C_MYSQL + 1))" "SIM_PORT=$C_SIM")
if env "${cl_env[@]}" bash "$REPO/scripts/cluster.sh" start > "$DIR/cluster.log" 2>&1 \
   && KEY=$(send_key "$C_PORT" "$CLUSTER_VAR") && [ -n "$KEY" ]; then
    for s in 3 2 1; do
        if [ "$s" -lt 3 ]; then
            BC_VAR=$CLUSTER_VAR BC_INSTANCE=$((s + 1)) bash "$REPO/scripts/stack.sh" stop sender > /dev/null
        fi
        echo "  $s sender(s)"
        e2e "$CLUSTER_VAR" "$C_SIM" "$KEY" "$C_PORT" $((C_PORT + 1))
        record "cluster-$s"
    done
else
    echo "bench: the cluster did not start or sign in (see $DIR/cluster.log; the" \
         "product needs the Redis Cluster client for this)" >&2
    for s in 3 2 1; do RATE[cluster-$s]=n/a; done
fi
stop_all

# ------------------------------------------------------------ the table
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
mkdir -p "$(dirname "$OUT")"
{
    echo "cluster-bench $(date -u +%Y-%m-%dT%H:%M:%SZ): $N SMS end to end per run, $(nproc) cores"
    printf '%-36s %9s %8s %8s %10s\n' "setup" "messages" "seconds" "msgs/s" "vs single"
    printf '%-36s %9s %8s %8s %10s\n' "single Redis, 1 nginx, 1 sender" "${MSGS[single]:--}" \
        "${SECS[single]:--}" "${RATE[single]}" 1.00
    for s in 1 2 3; do
        printf '%-36s %9s %8s %8s %10s\n' "Redis Cluster, 2 nginx, $s sender(s)" \
            "${MSGS[cluster-$s]:--}" "${SECS[cluster-$s]:--}" "${RATE[cluster-$s]}" \
            "$(ratio "${RATE[cluster-$s]}" "${RATE[single]}")"
    done
} | tee "$OUT"
for k in single cluster-1 cluster-2 cluster-3; do
    [ "${RATE[$k]}" != n/a ] || exit 1
done
