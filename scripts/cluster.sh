#!/usr/bin/env bash
# The stack as several processes of each kind, on loopback (make cluster):
#   a Redis Cluster (3 masters, 3 replicas; scripts/redis_cluster.sh),
#   a MariaDB primary and one GTID replica, nginx on PORT and PORT+1,
#   three senders (consumers sender-1..3) and the simulator.
#
#   scripts/cluster.sh start    start what is not running yet
#   scripts/cluster.sh stop     stop everything by pid, wait, check none is left
#   scripts/cluster.sh status   each process, the cluster's state, the replica
#
# Everything but Redis is scripts/stack.sh's: it is run once for the shared
# parts and the first nginx and sender, then once per further nginx or
# sender with BC_INSTANCE=N (their own prefix, pid file, conf and log) and
# REDIS_NODES naming the cluster instead of a Redis of its own.
#
# Environment (and all of scripts/stack.sh's, e.g. BC_BUILD, BC_SIM_ARGS):
#   BC_VAR              state directory (default: <repo>/var/cluster)
#   PORT                first nginx (8080); node N listens on PORT+N-1
#   BC_NGINX_NODES      nginx nodes (2)
#   BC_SENDERS          sender processes (3)
#   REDIS_CLUSTER_PORT  first Redis node (7001); masters x (1 + replicas)
#                       nodes on consecutive ports, their bus ports +10000
#   REDIS_MASTERS (3), REDIS_REPLICAS (1)
#   BC_REDIS_LANES      lanes of the send queue and events stream (as many
#                       as masters: each lane's tag is on its own master in
#                       an even split of the slots, docs/DESIGN.md)
#   MYSQL_PORT (3390), MYSQL_REPLICA_PORT (MYSQL_PORT + 1), SIM_PORT (8090)
#   BC_REDIS_CLUSTER_SCRIPT  another scripts/redis_cluster.sh (same interface)
#
# Writes $BC_VAR/cluster.env (mode 600): NGINX_URLS, REDIS_NODES,
# MYSQL_PRIMARY, MYSQL_REPLICA, SIM_URL, the provider credentials of
# providers.env, REDIS_USER/REDIS_PASSWORD (the product's ACL user),
# REDIS_ADMIN_USER/REDIS_ADMIN_PASSWORD, ADMIN_USER/ADMIN_PASSWORD (as in
# admin.credentials). With the default BC_VAR, var/cluster.env links to it.
# The cluster keeps no data across a stop (no AOF, no snapshots): work still
# queued in Redis then is lost; MariaDB's data stays.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEFAULT_VAR=$REPO/var/cluster
BC_VAR=${BC_VAR:-$DEFAULT_VAR}
mkdir -p "$BC_VAR"
BC_VAR=$(cd "$BC_VAR" && pwd)
export BC_VAR

PORT=${PORT:-8080}
BC_NGINX_NODES=${BC_NGINX_NODES:-2}
BC_SENDERS=${BC_SENDERS:-3}
REDIS_CLUSTER_PORT=${REDIS_CLUSTER_PORT:-7001}
REDIS_MASTERS=${REDIS_MASTERS:-3}
REDIS_REPLICAS=${REDIS_REPLICAS:-1}
MYSQL_PORT=${MYSQL_PORT:-3390}
MYSQL_REPLICA_PORT=${MYSQL_REPLICA_PORT:-$((MYSQL_PORT + 1))}
SIM_PORT=${SIM_PORT:-8090}
BC_REDIS_LANES=${BC_REDIS_LANES:-$REDIS_MASTERS}
export MYSQL_PORT MYSQL_REPLICA_PORT SIM_PORT BC_REDIS_LANES
# every process of the stack takes the consumer name of its instance
unset BC_CONSUMER BC_INSTANCE
REDIS_NODES=

STACK=$REPO/scripts/stack.sh
REDIS_CLUSTER_SCRIPT=${BC_REDIS_CLUSTER_SCRIPT:-$REPO/scripts/redis_cluster.sh}
SECRETS=$BC_VAR/secrets
CLUSTER_DIR=$BC_VAR/redis-cluster
NODES_FILE=$CLUSTER_DIR/nodes.env
ENV_FILE=$BC_VAR/cluster.env

umask 022

say()  { printf '%s\n' "$*"; }
warn() { printf 'cluster: %s\n' "$*" >&2; }
die()  { warn "$*"; exit 1; }

for n in PORT BC_NGINX_NODES BC_SENDERS REDIS_CLUSTER_PORT REDIS_MASTERS \
         REDIS_REPLICAS MYSQL_PORT MYSQL_REPLICA_PORT SIM_PORT; do
    [[ ${!n} =~ ^[0-9]+$ ]] || die "$n must be a number (is '${!n}')"
done
[ "$BC_NGINX_NODES" -ge 1 ] && [ "$BC_SENDERS" -ge 1 ] \
    || die "BC_NGINX_NODES and BC_SENDERS must be at least 1"

# nginx node N's port, and the node sender S calls back to (round robin, so
# status callbacks reach every node)
node_port() { echo $(( PORT + $1 - 1 )); }
sender_node() { echo $(( ($1 - 1) % BC_NGINX_NODES + 1 )); }

# stack.sh for the shared parts, or for instance N (2, 3, ...)
stack() {   # instance port args...
    local inst=$1 port=$2
    shift 2
    if [ "$inst" = 1 ]; then
        PORT=$port REDIS_NODES=$REDIS_NODES bash "$STACK" "$@"
    else
        BC_INSTANCE=$inst PORT=$port REDIS_NODES=$REDIS_NODES bash "$STACK" "$@"
    fi
}

env_get() {   # file key
    [ -f "$1" ] || return 0
    sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1" | head -n1 | sed 's/[[:space:]]*$//'
}

# ------------------------------------------------------------------ redis
secret_once() {   # path: a random value, made once (as stack.sh makes them)
    [ -s "$1" ] && return 0
    ( umask 077
      head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '\n=' > "$1.tmp"
      echo >> "$1.tmp" )
    mv -f "$1.tmp" "$1"
}

admin_password() { head -n1 "$SECRETS/redis_admin.password"; }

rcli() {   # port args...: redis-cli as the cluster's admin user
    local port=$1
    shift
    REDISCLI_AUTH=$(admin_password) redis-cli --no-auth-warning --user admin \
        -h 127.0.0.1 -p "$port" "$@"
}

cluster_nodes() { env_get "$NODES_FILE" REDIS_NODES; }

# one node of the cluster answers and says cluster_state:ok
cluster_ok() {
    local a
    for a in ${REDIS_NODES//,/ }; do
        rcli "${a##*:}" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && return 0
    done
    return 1
}

# the nodes the cluster script will print (masters first), for the parts
# started before it answers
expected_nodes() {
    local i list=''
    for (( i = 0; i < REDIS_MASTERS * (1 + REDIS_REPLICAS); i++ )); do
        list+="${list:+,}127.0.0.1:$(( REDIS_CLUSTER_PORT + i ))"
    done
    echo "$list"
}

make_redis_secrets() {
    mkdir -p "$SECRETS"
    chmod 700 "$SECRETS"
    # one set of passwords: the cluster's ACL file and nginx.conf /
    # sender.conf (which name $SECRETS) must agree
    secret_once "$SECRETS/redis.password"
    secret_once "$SECRETS/redis_admin.password"
}

# as stack.sh runs its processes: started as root, the nodes run as the
# unprivileged user stack.sh made (it ran first), owning their directory
run_cluster_script() {
    if [ "$(id -u)" -eq 0 ]; then
        local u=${BC_RUN_USER:-broadcast}
        chown -R "$u:" "$CLUSTER_DIR"
        setpriv --reuid="$u" --regid="$u" --init-groups -- bash "$REDIS_CLUSTER_SCRIPT" "$@"
    else
        bash "$REDIS_CLUSTER_SCRIPT" "$@"
    fi
}

start_redis_cluster() {
    REDIS_NODES=$(cluster_nodes)
    if [ -n "$REDIS_NODES" ] && cluster_ok; then
        say "redis   : cluster already running ($REDIS_NODES)"
        return 0
    fi
    [ -f "$REDIS_CLUSTER_SCRIPT" ] || die "$REDIS_CLUSTER_SCRIPT not found"
    # a stopped cluster kept nothing worth having (no AOF), but its nodes.conf
    # files would make its nodes refuse to form a new cluster
    mkdir -p "$CLUSTER_DIR"
    find "$CLUSTER_DIR" -mindepth 1 -maxdepth 1 ! -name secrets -exec rm -rf {} +
    mkdir -p "$CLUSTER_DIR/secrets"
    chmod 700 "$CLUSTER_DIR/secrets"
    cp -p "$SECRETS/redis.password" "$SECRETS/redis_admin.password" "$CLUSTER_DIR/secrets/"
    local out
    out=$(run_cluster_script start "$CLUSTER_DIR" "$REDIS_CLUSTER_PORT" \
          "$REDIS_MASTERS" "$REDIS_REPLICAS") \
        || { printf '%s\n' "$out" >&2; die "the Redis Cluster did not start"; }
    REDIS_NODES=$(printf '%s\n' "$out" | sed -n 's/^REDIS_NODES=//p' | tail -n1)
    [ -n "$REDIS_NODES" ] || { printf '%s\n' "$out" >&2; die "redis_cluster.sh printed no REDIS_NODES"; }
    # its passwords must be ours (it makes them only when missing)
    cmp -s "$SECRETS/redis.password" "$CLUSTER_DIR/secrets/redis.password" \
        || die "$CLUSTER_DIR/secrets/redis.password differs from $SECRETS/redis.password"
    printf 'REDIS_NODES=%s\n' "$REDIS_NODES" > "$NODES_FILE"
    say "redis   : cluster $REDIS_NODES"
}

# ------------------------------------------------------------------ env
write_cluster_env() {
    local urls='' n cred
    for n in $(seq 1 "$BC_NGINX_NODES"); do
        urls+="${urls:+,}http://127.0.0.1:$(node_port "$n")"
    done
    cred=$(head -n1 "$BC_VAR/admin.credentials")
    ( umask 077
      {
        echo "# scripts/cluster.sh: where the cluster's parts listen, and their credentials"
        echo "NGINX_URLS=$urls"
        echo "REDIS_NODES=$REDIS_NODES"
        echo "MYSQL_PRIMARY=127.0.0.1:$MYSQL_PORT"
        echo "MYSQL_REPLICA=127.0.0.1:$MYSQL_REPLICA_PORT"
        echo "SIM_URL=http://127.0.0.1:$SIM_PORT"
        # the provider credentials as providers.env has them
        grep -E '^[A-Z][A-Z0-9_]*=' "$BC_VAR/providers.env" | grep -v '^SIM_URL=' || true
        echo "REDIS_USER=broadcast"
        echo "REDIS_PASSWORD=$(head -n1 "$SECRETS/redis.password")"
        echo "REDIS_ADMIN_USER=admin"
        echo "REDIS_ADMIN_PASSWORD=$(admin_password)"
        echo "ADMIN_USER=${cred%%:*}"
        echo "ADMIN_PASSWORD=${cred#*:}"
      } > "$ENV_FILE.tmp" )
    mv -f "$ENV_FILE.tmp" "$ENV_FILE"
    if [ "$BC_VAR" = "$DEFAULT_VAR" ]; then
        ln -sfn cluster/cluster.env "$REPO/var/cluster.env"
    fi
}

# ------------------------------------------------------------------ start
cmd_start() {
    local n s
    make_redis_secrets
    # the shared backends first: stack.sh makes the run user and BC_VAR's
    # directories the cluster's nodes then use
    REDIS_NODES=$(cluster_nodes)
    REDIS_NODES=${REDIS_NODES:-$(expected_nodes)}
    stack 1 "$PORT" start mysql sim
    start_redis_cluster
    stack 1 "$PORT" start nginx sender
    for n in $(seq 2 "$BC_NGINX_NODES"); do
        stack "$n" "$(node_port "$n")" start nginx
    done
    for s in $(seq 2 "$BC_SENDERS"); do
        stack "$s" "$(node_port "$(sender_node "$s")")" start sender
    done
    write_cluster_env
    say ""
    say "nginx:          $(env_get "$ENV_FILE" NGINX_URLS)"
    say "redis cluster:  $REDIS_NODES"
    say "mysql:          127.0.0.1:$MYSQL_PORT (replica 127.0.0.1:$MYSQL_REPLICA_PORT)"
    say "admin login:    $(head -n1 "$BC_VAR/admin.credentials")  (from $BC_VAR/admin.credentials)"
    say "cluster.env:    $ENV_FILE"
}

# ------------------------------------------------------------------ stop
# the instances that exist on disk, whatever BC_NGINX_NODES / BC_SENDERS
# say now: a stop after a start with other numbers still stops them all
instances() {   # glob-prefix glob-suffix
    local f n
    for f in $1-*$2; do
        [ -e "$f" ] || continue
        n=${f#"$1"-}
        n=${n%"$2"}
        [[ $n =~ ^[0-9]+$ ]] && echo "$n"
    done | sort -un
}

# every pid file of the cluster's processes
pid_files() {
    ls "$BC_VAR"/run/*.pid "$BC_VAR"/sim/sim.pid "$BC_VAR"/nginx*/logs/nginx.pid \
        2>/dev/null || true
    find "$CLUSTER_DIR" -name '*.pid' 2>/dev/null || true
}

cmd_stop() {
    local rc=0 n left=() f p
    REDIS_NODES=$(cluster_nodes)
    REDIS_NODES=${REDIS_NODES:-127.0.0.1:$REDIS_CLUSTER_PORT}
    export REDIS_NODES
    # what was running, to check afterwards that nothing is left
    local pids=()
    while read -r f; do
        [ -n "$f" ] && p=$(tr -dc 0-9 < "$f") && [ -n "$p" ] && pids+=("$p")
    done < <(pid_files)
    for n in $(instances "$BC_VAR/run/sender" .pid); do
        stack "$n" "$PORT" stop sender || rc=1
    done
    for n in $(instances "$BC_VAR/nginx" ''); do
        stack "$n" "$(node_port "$n")" stop nginx || rc=1
    done
    stack 1 "$PORT" stop || rc=1
    if [ -d "$CLUSTER_DIR" ] && [ -f "$REDIS_CLUSTER_SCRIPT" ]; then
        bash "$REDIS_CLUSTER_SCRIPT" stop "$CLUSTER_DIR" || rc=1
    fi
    for p in "${pids[@]}"; do
        kill -0 "$p" 2>/dev/null && [ "$(ps -o stat= -p "$p" | cut -c1)" != Z ] && left+=("$p")
    done
    if [ ${#left[@]} -gt 0 ]; then
        warn "still running after stop: ${left[*]}"
        rc=1
    fi
    rm -f "$NODES_FILE"
    return $rc
}

# ------------------------------------------------------------------ status
cmd_status() {
    local rc=0 a role state n s code io
    REDIS_NODES=$(cluster_nodes)
    export REDIS_NODES
    if [ -z "$REDIS_NODES" ]; then
        say "redis   cluster not started"
        rc=3
    fi
    for a in ${REDIS_NODES//,/ }; do
        state=$(rcli "${a##*:}" cluster info 2>/dev/null | sed -n 's/^cluster_state:\([a-z]*\).*/\1/p')
        role=$(rcli "${a##*:}" role 2>/dev/null | head -n1)
        if [ -n "$state" ]; then
            printf 'redis   %s %s, cluster_state:%s\n' "$a" "$role" "$state"
            [ "$state" = ok ] || rc=3
        else
            printf 'redis   %s not answering\n' "$a"
            rc=3
        fi
    done
    stack 1 "$PORT" status mysql sim nginx sender || rc=3
    io=$(mariadb --no-defaults -S "$BC_VAR/mysql-replica/mysql.sock" -u "$(id -un)" \
         -e 'SHOW SLAVE STATUS\G' 2>/dev/null \
         | sed -n 's/^ *\(Slave_IO_Running\|Slave_SQL_Running\|Seconds_Behind_Master\): /\1=/p' | tr '\n' ' ')
    if [ -n "$io" ]; then say "replica $io"; else say "replica not replicating"; rc=3; fi
    for n in $(seq 1 "$BC_NGINX_NODES"); do
        [ "$n" = 1 ] || stack "$n" "$(node_port "$n")" status nginx \
            | sed "s/^nginx  /nginx-$n/" || rc=3
        code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$(node_port "$n")/health" || true)
        say "health  http://127.0.0.1:$(node_port "$n")/health: $code"
    done
    for s in $(seq 2 "$BC_SENDERS"); do
        stack "$s" "$PORT" status sender | sed "s/^sender /sender-$s/" || rc=3
    done
    return $rc
}

action=${1:-}
case $action in
    start)  cmd_start ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
