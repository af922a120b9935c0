#!/usr/bin/env bash
# A local Redis Cluster for tests (t/44-redis-cluster.t and others).
#
#   redis_cluster.sh start <dir> <first_port> [masters=3] [replicas=1]
#   redis_cluster.sh stop <dir>
#
# start runs masters x (1 + replicas) redis-server nodes on
# 127.0.0.1:<first_port>.. in cluster mode (a 1 s node timeout: a failover
# in about two seconds), with the ACL users of scripts/stack.sh (passwords
# in <dir>/secrets/redis.password and redis_admin.password, made if
# missing), creates the cluster, waits until every node says
# cluster_state:ok and every replica has its master's data (a replica that
# never synced refuses to take over: a master lost in the first seconds
# would leave its slots down), and prints
#   REDIS_NODES=127.0.0.1:p1,127.0.0.1:p2,...   (masters first)
# stop ends every node it started, by pid: TERM, then KILL after 10 s.
set -euo pipefail

die() { echo "redis_cluster.sh: $*" >&2; exit 1; }

secret_once() {
    [ -s "$1" ] || ( umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$1" )
    chmod 600 "$1"
}

sha256_of() { printf '%s' "$(cat "$1")" | sha256sum | cut -d' ' -f1; }

# the product's user may run what it runs on a single Redis plus what a
# cluster client needs: the slot map, INFO (the mode), ASKING, READONLY
write_acl() {
    local dir=$1
    ( umask 077
      {
        echo "user default on #$(sha256_of "$dir/secrets/redis_admin.password") ~* &* +@all"
        echo "user broadcast on #$(sha256_of "$dir/secrets/redis.password") ~bc:* resetchannels -@all +@read +@write +@string +@hash +@list +@set +@sortedset +@stream +@keyspace +@transaction +@scripting +@connection +time -@dangerous +cluster|slots +cluster|shards +cluster|info +info +readonly +asking"
        echo "user admin on #$(sha256_of "$dir/secrets/redis_admin.password") ~* &* +@all"
      } > "$dir/users.acl" )
}

rcli() {    # port args...: as admin
    local port=$1; shift
    REDISCLI_AUTH=$(cat "$DIR/secrets/redis_admin.password") \
        redis-cli --no-auth-warning --user admin -h 127.0.0.1 -p "$port" "$@"
}

wait_for() {    # seconds command...: polls every 0.1 s
    local deadline=$(( $(date +%s) + $1 )); shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

ping_node() { [ "$(rcli "$1" ping 2>/dev/null)" = PONG ]; }

# every replica's link to its master is up (its first sync done)
replicas_synced() {
    local p info
    for p in "${PORTS[@]}"; do
        info=$(rcli "$p" info replication 2>/dev/null) || return 1
        if grep -q '^role:slave' <<<"$info"; then
            grep -q '^master_link_status:up' <<<"$info" || return 1
        fi
    done
}

cluster_ok() {
    local p
    for p in "${PORTS[@]}"; do
        rcli "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    done
}

start_node() {
    local port=$1 d="$DIR/node-$1"
    mkdir -p "$d"
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes \
        --pidfile "$d/redis.pid" --dir "$d" --logfile "$d/redis.log" \
        --cluster-enabled yes --cluster-config-file "$d/nodes.conf" \
        --cluster-node-timeout 1000 --appendonly no --save '' \
        --repl-diskless-sync-delay 0 \
        --protected-mode yes --aclfile "$DIR/users.acl" \
        --masteruser admin \
        --masterauth "$(cat "$DIR/secrets/redis_admin.password")" \
        || die "redis-server on port $port failed (see $d/redis.log)"
}

start() {
    local first=$1 masters=${2:-3} replicas=${3:-1} i n addrs=()
    [ "$masters" -ge 3 ] || die "a cluster needs at least 3 masters"
    mkdir -p "$DIR/secrets"
    secret_once "$DIR/secrets/redis.password"
    secret_once "$DIR/secrets/redis_admin.password"
    write_acl "$DIR"

    n=$(( masters * (1 + replicas) ))
    PORTS=()
    for (( i = 0; i < n; i++ )); do
        PORTS+=( $(( first + i )) )
    done
    printf '%s\n' "${PORTS[@]}" > "$DIR/ports"

    for i in "${PORTS[@]}"; do start_node "$i"; done
    for i in "${PORTS[@]}"; do
        wait_for 20 ping_node "$i" || die "node $i did not come up"
        addrs+=( "127.0.0.1:$i" )
    done

    # redis-cli makes the first <masters> addresses masters
    REDISCLI_AUTH=$(cat "$DIR/secrets/redis_admin.password") \
        redis-cli --no-auth-warning --user admin --cluster create \
        "${addrs[@]}" --cluster-replicas "$replicas" --cluster-yes \
        > "$DIR/create.log" 2>&1 || die "cluster create failed: $(tail -n 5 "$DIR/create.log")"

    wait_for 30 cluster_ok || die "the cluster did not reach cluster_state:ok"
    wait_for 30 replicas_synced || die "a replica did not finish its first sync"
    echo "REDIS_NODES=$(IFS=,; echo "${addrs[*]}")"
}

stop() {
    local p pids=() f i
    [ -f "$DIR/ports" ] || return 0
    while read -r p; do
        f="$DIR/node-$p/redis.pid"
        [ -s "$f" ] || continue
        i=$(cat "$f")
        kill -TERM "$i" 2>/dev/null && pids+=( "$i" )
    done < "$DIR/ports"
    for i in "${pids[@]}"; do
        for (( n = 0; n < 100; n++ )); do
            kill -0 "$i" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$i" 2>/dev/null || true
    done
}

cmd=${1:-}; DIR=${2:-}
[ -n "$cmd" ] && [ -n "$DIR" ] || die "usage: $0 start <dir> <first_port> [masters] [replicas] | stop <dir>"
case "$cmd" in
    start) [ -n "${3:-}" ] || die "start needs <first_port>"
           mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd); start "$3" "${4:-3}" "${5:-1}" ;;
    stop)  stop ;;
    *)     die "unknown command $cmd (start, stop)" ;;
esac
