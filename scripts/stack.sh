#!/usr/bin/env bash
# Starts, stops and reports the whole broadcast stack on loopback:
#   redis mysql sim sender nginx
#
#   scripts/stack.sh start  [component...]   start what is not running yet
#   scripts/stack.sh stop   [component...]   stop by pid and wait for exit
#   scripts/stack.sh status [component...]
#   scripts/stack.sh render                   only write var/nginx/conf/nginx.conf
#
# Environment:
#   BC_VAR       state directory (default: <repo>/var)
#   BC_BUILD     build directory (default: <repo>/build)
#   PORT         nginx port (8080)       REDIS_PORT  (6390)
#   MYSQL_PORT   (3390)                  SIM_PORT    (8090)
#   BC_RECLAIM_IDLE_MS, BC_MAX_INFLIGHT, BC_MAX_ATTEMPTS, BC_TWILIO_LIST_PAGE_SIZE,
#   BC_REQUEST_TIMEOUT_MS, BC_RATE_PER_SENDER, BC_LOG_LEVEL, BC_CONSUMER
#                sender.conf values (see docs/DESIGN.md)
#   BC_SIM_ARGS  extra arguments for broadcast-sim (e.g. --latency-ms 50)
#   BC_CAMPAIGNS=off  a sender without the campaign dispatcher
#   BC_NGINX_ACCESS_LOG  "off" disables nginx's access log
#   BC_NGINX_WORKERS     worker_processes (default: auto)
#   BC_MYSQL_EXTRA       extra mariadbd options
#   MYSQL_REPLICA_PORT   also a MariaDB replica on this port (GTID
#                replication; nginx gets broadcast_mysql_replica, the
#                sender mysql_replica)
#   BC_PUBLIC_URL        public URL (default http://127.0.0.1:$PORT)
#   BC_BACKEND_TIMEOUT   broadcast_backend_timeout (default 3s)
#   BC_NGINX_NO_SMS_FROM=1  render nginx.conf without broadcast_sms_from
#   BC_MAX_RECIPIENTS    broadcast_max_recipients (default: conf.example's)
#   BC_SENDGRID_BATCH_MAX  sender.conf sendgrid_batch_max (default 1000)
#   BC_ENCRYPTION=off    no key file: bodies stored in plaintext (default:
#                a key file generated once in secrets/encryption.keys,
#                configured for nginx and the sender)
#   BC_RETENTION_MESSAGES_DAYS, BC_RETENTION_EVENTS_DAYS,
#   BC_RETENTION_WEBHOOK_LOG_DAYS, BC_RETENTION_INTERVAL_S,
#   BC_RETENTION_BATCH   sender.conf retention_* values (default 0: keep)
#   BC_MODULE_SO, BC_SENDER_BIN, BC_CTL_BIN, BC_SQL_DIR, BC_HTML_DIR
#                installed files instead of the build's and the clone's
#                (t/42 runs the Debian packages' module, sender, broadcastctl,
#                migrations and console)
#   BC_RUN_USER  started as root: the unprivileged user every process runs
#                as (default "broadcast", created if missing); only the
#                nginx master stays root. Ignored when not started as root.
#   REDIS_NODES  host:port[,host:port...]: an external Redis (a Redis
#                Cluster's nodes, scripts/cluster.sh) that nginx.conf and
#                sender.conf name instead of the stack's own; the component
#                "redis" is then not part of the stack
#   BC_INSTANCE  N (2, 3, ...): a further nginx and sender of the same
#                stack: nginx in $BC_VAR/nginx-N (on PORT), the sender with
#                sender-N.conf, run/sender-N.pid, log/sender-N.log and the
#                consumer name sender-N (unless BC_CONSUMER says otherwise)
#   Unset, both leave everything as it was (one nginx, one sender, a Redis).
#
# Nothing is written outside BC_VAR. Starting again is harmless: only
# components that are not running (pid file + kill -0) are started, so a
# crashed sender is brought back by `stack.sh start sender` (or `start`).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BC_VAR=${BC_VAR:-$REPO/var}
mkdir -p "$BC_VAR"
BC_VAR=$(cd "$BC_VAR" && pwd)
BC_BUILD=${BC_BUILD:-$REPO/build}
BIN=$BC_BUILD/bin
MODULE_SO=${BC_MODULE_SO:-$BC_BUILD/nginx/ngx_http_broadcast_module.so}
SENDER_BIN=${BC_SENDER_BIN:-$BIN/broadcast-sender}
CTL_BIN=${BC_CTL_BIN:-$BIN/broadcastctl}
SQL_DIR=${BC_SQL_DIR:-$REPO/sql}
HTML_DIR=${BC_HTML_DIR:-$REPO/html}
NGINX=${BC_NGINX_BINARY:-/usr/sbin/nginx}

# Stock nginx running a sanitized module (make asan) needs the sanitizer
# runtime preloaded; nginx's own exit-time allocations are not ours to chase.
nginx_run() {
    if [ -n "${BC_NGINX_PRELOAD:-}" ]; then
        LD_PRELOAD="$BC_NGINX_PRELOAD" \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
            "$NGINX" "$@"
    else
        "$NGINX" "$@"
    fi
}

PORT=${PORT:-8080}
REDIS_PORT=${REDIS_PORT:-6390}
MYSQL_PORT=${MYSQL_PORT:-3390}
SIM_PORT=${SIM_PORT:-8090}
PUBLIC_URL=${BC_PUBLIC_URL:-http://127.0.0.1:$PORT}

RUN=$BC_VAR/run
LOG=$BC_VAR/log
SECRETS=$BC_VAR/secrets
MYSQL_DIR=$BC_VAR/mysql
MYSQL_SOCK=$MYSQL_DIR/mysql.sock
SIM_DIR=$BC_VAR/sim
NGX_PREFIX=$BC_VAR/nginx

# a further nginx and sender of this stack (scripts/cluster.sh): their own
# prefix, pid file, configuration and log; the backends stay shared
BC_INSTANCE=${BC_INSTANCE:-}
INSTANCE_SUFFIX=
if [ -n "$BC_INSTANCE" ]; then
    [[ $BC_INSTANCE =~ ^[1-9][0-9]*$ ]] || { echo "stack: BC_INSTANCE must be a number" >&2; exit 2; }
    INSTANCE_SUFFIX=-$BC_INSTANCE
    NGX_PREFIX=$BC_VAR/nginx$INSTANCE_SUFFIX
    BC_CONSUMER=${BC_CONSUMER:-sender$INSTANCE_SUFFIX}
fi
SENDER_CONF=$BC_VAR/sender$INSTANCE_SUFFIX.conf
SENDER_PID=$RUN/sender$INSTANCE_SUFFIX.pid
SENDER_LOG=$LOG/sender$INSTANCE_SUFFIX.log

# REDIS_NODES: Redis is someone else's (a cluster), not a component here
REDIS_NODES=${REDIS_NODES:-}
if [ -n "$REDIS_NODES" ]; then
    [[ $REDIS_NODES =~ ^[A-Za-z0-9.:-]+(,[A-Za-z0-9.:-]+)*$ ]] \
        || { echo "stack: REDIS_NODES must be host:port[,host:port...]" >&2; exit 2; }
    ALL_COMPONENTS=(mysql sim nginx sender)
else
    ALL_COMPONENTS=(redis mysql sim nginx sender)
fi

umask 022

say()  { printf '%s\n' "$*"; }
warn() { printf 'stack: %s\n' "$*" >&2; }
die()  { warn "$*"; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Started as root, nothing of the stack runs as root but the nginx master
# (it reads the secrets and could bind a low port): the workers, the sender,
# Redis, MariaDB and the simulator run as RUN_USER. Not root: as ourselves.
RUN_USER=
if is_root; then
    RUN_USER=${BC_RUN_USER:-broadcast}
fi

ensure_run_user() {
    [ -n "$RUN_USER" ] || return 0
    RUN_AS=(setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups --)
    id -u "$RUN_USER" >/dev/null 2>&1 && return 0
    useradd --system --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$RUN_USER" 2>/dev/null \
        || id -u "$RUN_USER" >/dev/null 2>&1 \
        || die "cannot create the unprivileged user $RUN_USER"
}

# the prefix that runs an external command as RUN_USER (for setsid)
RUN_AS=()

# runs a command as RUN_USER (or as we are)
as_run_user() {
    if [ -n "$RUN_USER" ]; then
        setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups -- "$@"
    else
        "$@"
    fi
}

# RUN_USER must reach BC_VAR and the console's files: each directory on
# the way needs the search bit for others. A checkout under /root lacks it;
# then only that bit is added (nothing becomes listable or readable).
ensure_reachable() {
    [ -n "$RUN_USER" ] || return 0
    local d
    for d in "$BC_VAR" "$HTML_DIR"; do
        "${RUN_AS[@]}" test -x "$d" && continue
        while [ "$d" != / ]; do
            d=$(dirname "$d")
            if [ "$(( $(stat -c '%a' "$d") % 10 & 1 ))" -eq 0 ]; then
                warn "adding o+x to $d so that $RUN_USER can reach $BC_VAR"
                chmod o+x "$d"
            fi
        done
    done
}

# what RUN_USER's processes write or read: theirs
own_runtime() {
    [ -n "$RUN_USER" ] || return 0
    # logs the servers open themselves, so a root shell's redirection
    # must not create them first
    touch "$LOG"/{mysqld,redis,sender,sim}.log
    chown -R "$RUN_USER:" "$RUN" "$LOG" "$SECRETS" "$SIM_DIR" "$BC_VAR/redis" \
        "$MYSQL_DIR" "$NGX_PREFIX/tmp"
    [ ! -e "$BC_VAR/sender.conf" ] || chown "$RUN_USER:" "$BC_VAR/sender.conf"
    [ ! -e "$SENDER_CONF" ] || chown "$RUN_USER:" "$SENDER_CONF"
}

pidfile_of() {
    case $1 in
        redis)  echo "$RUN/redis.pid" ;;
        mysql)  echo "$RUN/mysqld.pid" ;;
        mysql_replica) echo "$RUN/mysqld-replica.pid" ;;
        sim)    echo "$SIM_DIR/sim.pid" ;;
        sender) echo "$SENDER_PID" ;;
        nginx)  echo "$NGX_PREFIX/logs/nginx.pid" ;;
        *)      die "unknown component: $1" ;;
    esac
}

pid_of() {
    local f
    f=$(pidfile_of "$1")
    [ -s "$f" ] || return 1
    local p
    p=$(tr -dc 0-9 < "$f")
    [ -n "$p" ] || return 1
    echo "$p"
}

alive_pid() {   # kill -0, but a zombie (exited, not yet reaped) is not alive
    kill -0 "$1" 2>/dev/null || return 1
    [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

running() {
    local p
    p=$(pid_of "$1") || return 1
    alive_pid "$p"
}

# wait_for DESCRIPTION TIMEOUT_S CMD... : polls CMD every 0.1 s
wait_for() {
    local what=$1 timeout=$2
    shift 2
    local deadline=$(( $(date +%s%N) / 1000000 + timeout * 1000 ))
    while :; do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        if [ $(( $(date +%s%N) / 1000000 )) -ge $deadline ]; then
            warn "timed out after ${timeout}s waiting for $what"
            return 1
        fi
        sleep 0.1
    done
}

gen_secret() {
    # 32 url-safe characters from 24 random bytes
    head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '\n='
}

write_secret() {   # path value
    local old_umask
    old_umask=$(umask)
    umask 077
    printf '%s\n' "$2" > "$1.tmp"
    umask "$old_umask"
    chmod 600 "$1.tmp"
    mv -f "$1.tmp" "$1"
}

secret_once() {    # path: creates it with a random value if missing
    [ -s "$1" ] || write_secret "$1" "$(gen_secret)"
    chmod 600 "$1"
}

tail_log() {
    [ -f "$1" ] && { warn "--- last lines of $1:"; tail -n 20 "$1" >&2; } || true
}

need_bin() {
    [ -x "$1" ] || die "$1 not found: run 'make all' first"
}

prepare_dirs() {
    mkdir -p "$RUN" "$LOG" "$SECRETS" "$SIM_DIR" "$BC_VAR/redis" "$MYSQL_DIR" \
             "$NGX_PREFIX"/{conf,logs,tmp}
    chmod 700 "$SECRETS"
    # nginx workers (nobody/www-data when not root) must be able to traverse
    chmod 755 "$BC_VAR" "$NGX_PREFIX"
    ensure_run_user
    ensure_reachable
    own_runtime
}

# ---------------------------------------------------------------- redis
# Redis is a trust boundary: whoever can XADD to the send stream sends
# messages. So nobody gets in without a password; "broadcast" (module, sender) may
# run only the command groups the product uses on bc:* keys, nothing
# @dangerous (CONFIG, KEYS, FLUSHALL, SHUTDOWN, ...); "admin" (this script,
# the tests, an operator) may do anything. Passwords are generated once
# into secrets/; the ACL file holds their SHA-256 only.
rcli() {
    REDISCLI_AUTH=$(cat "$SECRETS/redis_admin.password" 2>/dev/null) \
        redis-cli --no-auth-warning --user admin -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

redis_ping() { [ "$(rcli ping 2>/dev/null)" = PONG ]; }

sha256_of() { printf '%s' "$(cat "$1")" | sha256sum | cut -d' ' -f1; }

write_redis_acl() {
    secret_once "$SECRETS/redis.password"
    secret_once "$SECRETS/redis_admin.password"
    ( umask 077
      {
        # "default" needs a password but keeps every right: Redis 7.0
        # replays the AOF as the default user and re-checks a MULTI/EXEC's
        # rights at EXEC, so a restricted default user would drop every
        # queued transaction on restart
        echo "user default on #$(sha256_of "$SECRETS/redis_admin.password") ~* &* +@all"
        echo "user broadcast on #$(sha256_of "$SECRETS/redis.password") ~bc:* resetchannels -@all +@read +@write +@string +@hash +@list +@set +@sortedset +@stream +@keyspace +@transaction +@scripting +@connection +time -@dangerous +cluster|slots +cluster|shards +cluster|info +info +readonly +asking"
        echo "user admin on #$(sha256_of "$SECRETS/redis_admin.password") ~* &* +@all"
      } > "$BC_VAR/redis/users.acl" )
}

start_redis() {
    rm -f "$RUN/redis.pid"
    write_redis_acl
    # AOF with an fsync every second (as before). Rewrites (a fork that
    # re-serialises the whole dataset) start only once the AOF reaches 1gb
    # instead of 64mb, and without LZF compression of the rewritten
    # snapshot preamble: on a busy two-core host each rewrite took CPU from
    # the pipeline. The cost is disk space and a longer AOF replay at
    # startup, not durability.
    own_runtime
    as_run_user redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
        --pidfile "$RUN/redis.pid" --dir "$BC_VAR/redis" \
        --logfile "$LOG/redis.log" --appendonly yes --appendfsync everysec \
        --save '' --protected-mode yes --aclfile "$BC_VAR/redis/users.acl" \
        --auto-aof-rewrite-min-size 1gb --rdbcompression no \
        || { tail_log "$LOG/redis.log"; die "redis-server failed"; }
    wait_for "redis on port $REDIS_PORT" 30 redis_ping \
        || { tail_log "$LOG/redis.log"; die "redis did not come up"; }
    say "redis   : 127.0.0.1:$REDIS_PORT (pid $(pid_of redis))"
}

stop_redis() {
    local p
    p=$(pid_to_stop redis) || return 0
    kill -CONT "$p" 2>/dev/null || true
    rcli shutdown >/dev/null 2>&1 \
        || kill -TERM "$p" 2>/dev/null || true
    wait_exit redis "$p" 20
}

# ---------------------------------------------------------------- mysql
# shellcheck source=scripts/stack_replica.sh
. "$REPO/scripts/stack_replica.sh"

mysql_admin() {
    # the OS user's own account via the socket (unix_socket auth, created by
    # mariadb-install-db for root or for --auth-root-socket-user)
    mariadb --no-defaults -S "$MYSQL_SOCK" -u "$(id -un)" "$@"
}

mysql_alive() { mysql_admin -N -e 'SELECT 1'; }

start_mysql() {
    local user_opt=()
    # mariadbd started as root switches to this user itself
    [ -n "$RUN_USER" ] && user_opt=(--user="$RUN_USER")
    # a tmpdir of its own: a server starting up deletes the "#sql" files it
    # finds in its tmpdir, and in a shared /tmp those can be another
    # instance's (mariadb-install-db then fails with 1051 tmp_user_sys)
    mkdir -p "$MYSQL_DIR/tmp"
    own_runtime
    if [ ! -d "$MYSQL_DIR/data/mysql" ]; then
        rm -rf "$MYSQL_DIR/data"
        say "mysql   : initialising $MYSQL_DIR/data"
        mariadb-install-db --no-defaults --datadir="$MYSQL_DIR/data" \
            --tmpdir="$MYSQL_DIR/tmp" \
            "${user_opt[@]}" --auth-root-authentication-method=socket \
            --auth-root-socket-user="$(id -un)" --skip-test-db \
            > "$LOG/mysql-install.log" 2>&1 \
            || { tail_log "$LOG/mysql-install.log"; die "mariadb-install-db failed"; }
    fi
    rm -f "$RUN/mysqld.pid"
    # Write-heavy ledger (4 row writes per message, 2 audit rows):
    #  - innodb_flush_log_at_trx_commit=1: every commit is fsynced. The
    #    ledger's "claimed before the provider call" row must survive an OS
    #    crash or power loss, or that message could be sent again after
    #    reboot. The sender commits in batches, so this costs nothing
    #    measurable here (make bench: 3,484 msg/s end to end with it, 3,201
    #    without, within run-to-run noise).
    #  - a 512M redo log (default 96M) spaces out checkpoints, so pages are
    #    flushed in the background instead of under log pressure; 512M of
    #    buffer pool keeps the working set in memory. Recovery after a crash
    #    replays at most that much log.
    #  - no binlog unless a replica is configured, no name resolution, no
    #    performance_schema instrumentation.
    # shellcheck disable=SC2086
    setsid mariadbd --no-defaults --datadir="$MYSQL_DIR/data" \
        --tmpdir="$MYSQL_DIR/tmp" \
        --socket="$MYSQL_SOCK" --port="$MYSQL_PORT" --bind-address=127.0.0.1 \
        "${user_opt[@]}" --pid-file="$RUN/mysqld.pid" \
        --log-error="$LOG/mysqld.log" $(replica_primary_opts) --skip-name-resolve \
        --innodb-buffer-pool-size=512M --innodb-flush-log-at-trx-commit=1 \
        --innodb-log-file-size=512M --innodb-log-buffer-size=32M \
        --innodb-io-capacity=2000 --performance-schema=OFF \
        --max-connections=500 ${BC_MYSQL_EXTRA:-} \
        < /dev/null >> "$LOG/mysqld.log" 2>&1 &
    local spid=$!
    local deadline=$(( $(date +%s) + 120 ))
    until mysql_alive >/dev/null 2>&1; do
        if ! kill -0 "$spid" 2>/dev/null; then
            tail_log "$LOG/mysqld.log"; die "mariadbd exited"
        fi
        [ "$(date +%s)" -lt $deadline ] || { tail_log "$LOG/mysqld.log"; die "mariadbd did not answer"; }
        sleep 0.1
    done
    wait_for "mysqld pid file" 10 test -s "$RUN/mysqld.pid"
    say "mysql   : 127.0.0.1:$MYSQL_PORT socket $MYSQL_SOCK (pid $(pid_of mysql))"
}

# database, users, schema, admin. Idempotent: runs on every `start mysql`.
ensure_mysql() {
    secret_once "$SECRETS/mysql.password"
    secret_once "$SECRETS/mysql_migrate.password"
    local pw mpw
    pw=$(head -n1 "$SECRETS/mysql.password")
    mpw=$(head -n1 "$SECRETS/mysql_migrate.password")
    mysql_admin <<SQL
CREATE DATABASE IF NOT EXISTS broadcast CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'broadcast'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER 'broadcast'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT SELECT, INSERT, UPDATE, DELETE ON broadcast.* TO 'broadcast'@'127.0.0.1';
CREATE USER IF NOT EXISTS 'broadcast_migrate'@'127.0.0.1' IDENTIFIED BY '$mpw';
ALTER USER 'broadcast_migrate'@'127.0.0.1' IDENTIFIED BY '$mpw';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, REFERENCES
    ON broadcast.* TO 'broadcast_migrate'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
    replica_grants
    write_sender_conf
    need_bin "$CTL_BIN"
    "$CTL_BIN" migrate --config "$BC_VAR/migrate.conf" --sql-dir "$SQL_DIR" \
        >> "$LOG/broadcastctl.log" 2>&1 \
        || { tail_log "$LOG/broadcastctl.log"; die "broadcastctl migrate failed"; }

    # admin credentials: generated once, never changed here afterwards
    if [ ! -s "$BC_VAR/admin.credentials" ]; then
        write_secret "$BC_VAR/admin.credentials" "admin:$(gen_secret | cut -c1-20)"
    fi
    chmod 600 "$BC_VAR/admin.credentials"
    local cred user
    cred=$(head -n1 "$BC_VAR/admin.credentials")
    user=${cred%%:*}
    write_secret "$SECRETS/admin.password" "${cred#*:}"
    "$CTL_BIN" bootstrap-admin --config "$SENDER_CONF" \
        --username "$user" --password-file "$SECRETS/admin.password" \
        >> "$LOG/broadcastctl.log" 2>&1 \
        || { tail_log "$LOG/broadcastctl.log"; die "broadcastctl bootstrap-admin failed"; }
}

stop_mysql() {
    local p
    p=$(pid_to_stop mysql) || return 0
    term_wait mysql "$p" 60
}

# ---------------------------------------------------------------- sim
env_get() {   # file key
    [ -f "$1" ] || return 0
    sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1" | head -n1 | sed 's/[[:space:]]*$//'
}

sim_up() { curl -fsS -o /dev/null "http://127.0.0.1:$SIM_PORT/sim/messages"; }

# every key the simulator writes to sim.env; all are copied to providers.env
SIM_ENV_KEYS=(TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN TWILIO_SMS_FROM SIM_URL
    TWILIO_WHATSAPP_FROM META_ACCESS_TOKEN META_APP_SECRET META_VERIFY_TOKEN
    META_PHONE_NUMBER_ID META_DISPLAY_PHONE_NUMBER META_WABA_ID
    META_API_VERSION SENDGRID_API_KEY SENDGRID_FROM_EMAIL
    SENDGRID_WEBHOOK_PUBLIC_KEY SENDGRID_WEBHOOK_PRIVATE_KEY
    SENDGRID_INBOUND_AUTH)

start_sim() {
    need_bin "$BIN/broadcast-sim"
    rm -f "$SIM_DIR/sim.env" "$SIM_DIR/sim.pid"
    # a restarted simulator keeps the credentials nginx and the sender know
    local creds=() pe=$BC_VAR/providers.env v opt key
    local sid token
    sid=$(env_get "$pe" TWILIO_ACCOUNT_SID)
    token=$(env_get "$pe" TWILIO_AUTH_TOKEN)
    [ -n "$sid" ] && [ -n "$token" ] && creds=(--account-sid "$sid" --auth-token "$token")
    for opt in twilio-whatsapp-from:TWILIO_WHATSAPP_FROM \
               meta-access-token:META_ACCESS_TOKEN \
               meta-app-secret:META_APP_SECRET \
               meta-verify-token:META_VERIFY_TOKEN \
               meta-phone-number-id:META_PHONE_NUMBER_ID \
               meta-display-phone-number:META_DISPLAY_PHONE_NUMBER \
               meta-waba-id:META_WABA_ID \
               sendgrid-api-key:SENDGRID_API_KEY \
               sendgrid-from-email:SENDGRID_FROM_EMAIL \
               sendgrid-inbound-auth:SENDGRID_INBOUND_AUTH; do
        key=${opt#*:}
        v=$(env_get "$pe" "$key")
        [ -n "$v" ] && creds+=("--${opt%%:*}" "$v")
    done
    # the webhook key pair: both or neither
    local pub priv
    pub=$(env_get "$pe" SENDGRID_WEBHOOK_PUBLIC_KEY)
    priv=$(env_get "$pe" SENDGRID_WEBHOOK_PRIVATE_KEY)
    [ -n "$pub" ] && [ -n "$priv" ] && creds+=(--sendgrid-webhook-public-key "$pub" \
        --sendgrid-webhook-private-key "$priv")
    # where the simulator posts inbound messages and Meta / SendGrid events
    # (the same public URL the sender gives Twilio as StatusCallback)
    local hooks=(--webhook-base "$PUBLIC_URL"
                 --meta-webhook-url "$PUBLIC_URL/webhooks/meta"
                 --sendgrid-webhook-url "$PUBLIC_URL/webhooks/sendgrid")
    # shellcheck disable=SC2086
    own_runtime
    setsid "${RUN_AS[@]}" "$BIN/broadcast-sim" --port "$SIM_PORT" --state-dir "$SIM_DIR" \
        "${creds[@]}" "${hooks[@]}" ${BC_SIM_ARGS:-} < /dev/null >> "$LOG/sim.log" 2>&1 &
    local spid=$!
    local deadline=$(( $(date +%s) + 30 ))
    until [ -s "$SIM_DIR/sim.env" ] && sim_up; do
        kill -0 "$spid" 2>/dev/null || { tail_log "$LOG/sim.log"; die "broadcast-sim exited"; }
        [ "$(date +%s)" -lt $deadline ] || { tail_log "$LOG/sim.log"; die "broadcast-sim did not come up"; }
        sleep 0.1
    done
    # the simulator writes its own pid file; fall back to ours
    [ -s "$SIM_DIR/sim.pid" ] || echo "$spid" > "$SIM_DIR/sim.pid"
    say "sim     : http://127.0.0.1:$SIM_PORT (pid $(pid_of sim))"
}

copy_sim_creds() {
    [ -s "$SIM_DIR/sim.env" ] || return 0
    local k v tmp=$BC_VAR/providers.env.tmp pe=$BC_VAR/providers.env
    ( umask 077
      {
        echo "# provider credentials (from the simulator's $SIM_DIR/sim.env)"
        for k in "${SIM_ENV_KEYS[@]}"; do
            v=$(env_get "$SIM_DIR/sim.env" "$k")
            echo "$k=$v"
        done
        # anything newer the simulator writes is kept as well
        grep -E '^[A-Z][A-Z0-9_]*=' "$SIM_DIR/sim.env" | while IFS= read -r v; do
            in_list "${v%%=*}" "${SIM_ENV_KEYS[@]}" || printf '%s\n' "$v"
        done
      } > "$tmp" )
    chmod 600 "$tmp"
    mv -f "$tmp" "$pe"
    write_provider_secrets
}

# secrets as files (mode 600) for nginx's *_file directives and the sender
write_provider_secrets() {
    local pe=$BC_VAR/providers.env f k v
    for f in twilio_auth_token:TWILIO_AUTH_TOKEN meta_app_secret:META_APP_SECRET \
             meta_verify_token:META_VERIFY_TOKEN meta_access_token:META_ACCESS_TOKEN \
             sendgrid_api_key:SENDGRID_API_KEY \
             sendgrid_inbound_auth:SENDGRID_INBOUND_AUTH; do
        k=${f#*:}
        v=$(env_get "$pe" "$k")
        [ -n "$v" ] || v=unset:unset
        write_secret "$SECRETS/${f%%:*}" "$v"
    done
}

# placeholders so that nginx -t finds every file before the simulator ran
# the encryption key file (README "Privacy"): one key, made once; a test or
# an operator adds keys to it (the last line encrypts)
encryption_key_file() {
    [ "${BC_ENCRYPTION:-on}" != off ] || return 0
    local f=$SECRETS/encryption.keys
    [ -s "$f" ] || write_secret "$f" "k1 $(head -c 32 /dev/urandom | base64 -w0)"
    chmod 600 "$f"
    echo "$f"
}

placeholder_secrets() {
    local f
    # (user:password for the Inbound Parse credentials)
    for f in twilio_auth_token meta_app_secret meta_verify_token \
             meta_access_token sendgrid_api_key sendgrid_inbound_auth; do
        [ -s "$SECRETS/$f" ] || write_secret "$SECRETS/$f" "unset:unset"
    done
}

stop_sim() {
    local p
    p=$(pid_to_stop sim) || return 0
    term_wait sim "$p" 20
}

# ---------------------------------------------------------------- configs
write_conf_file() {   # path user password_file
    local sid sim_url api_version
    sid=$(env_get "$BC_VAR/providers.env" TWILIO_ACCOUNT_SID)
    sim_url=$(env_get "$BC_VAR/providers.env" SIM_URL)
    [ -n "$sim_url" ] || sim_url=http://127.0.0.1:$SIM_PORT
    api_version=$(env_get "$BC_VAR/providers.env" META_API_VERSION)
    [ -n "$api_version" ] || api_version=v21.0
    cat > "$1.tmp" <<EOF
# generated by scripts/stack.sh; edit the environment, not this file
redis = ${REDIS_NODES:-127.0.0.1:$REDIS_PORT}
redis_user = broadcast
redis_password_file = $SECRETS/redis.password
${REDIS_NODES:+redis_wait_replicas = 1}
redis_lanes = ${BC_REDIS_LANES:-1}
campaigns = ${BC_CAMPAIGNS:-on}
mysql_host = 127.0.0.1
mysql_port = $MYSQL_PORT
mysql_user = $2
mysql_password_file = $3
mysql_database = broadcast
${MYSQL_REPLICA_PORT:+mysql_replica = 127.0.0.1:$MYSQL_REPLICA_PORT}
consumer = ${BC_CONSUMER:-sender-1}
public_url = $PUBLIC_URL
twilio_api_base = $sim_url
twilio_account_sid = $sid
twilio_auth_token_file = $SECRETS/twilio_auth_token
meta_graph_base = $sim_url/$api_version
meta_access_token_file = $SECRETS/meta_access_token
sendgrid_api_base = $sim_url
sendgrid_api_key_file = $SECRETS/sendgrid_api_key
sendgrid_batch_max = ${BC_SENDGRID_BATCH_MAX:-1000}
max_inflight = ${BC_MAX_INFLIGHT:-256}
max_attempts = ${BC_MAX_ATTEMPTS:-8}
reclaim_idle_ms = ${BC_RECLAIM_IDLE_MS:-30000}
twilio_list_page_size = ${BC_TWILIO_LIST_PAGE_SIZE:-1000}
request_timeout_ms = ${BC_REQUEST_TIMEOUT_MS:-10000}
rate_per_sender = ${BC_RATE_PER_SENDER:-0}
log_level = ${BC_LOG_LEVEL:-info}
encryption_key_file = $(encryption_key_file)
retention_messages_days = ${BC_RETENTION_MESSAGES_DAYS:-0}
retention_events_days = ${BC_RETENTION_EVENTS_DAYS:-0}
retention_webhook_log_days = ${BC_RETENTION_WEBHOOK_LOG_DAYS:-0}
retention_interval_s = ${BC_RETENTION_INTERVAL_S:-3600}
retention_batch = ${BC_RETENTION_BATCH:-1000}
EOF
    chmod 600 "$1.tmp"
    mv -f "$1.tmp" "$1"
}

# (a further sender, BC_INSTANCE, writes its own file: sender.conf keeps
# the first sender's consumer name)
write_sender_conf() {
    write_conf_file "$SENDER_CONF" broadcast "$SECRETS/mysql.password"
    write_conf_file "$BC_VAR/migrate.conf" broadcast_migrate "$SECRETS/mysql_migrate.password"
}

# broadcast_redis's addresses: the stack's Redis, or REDIS_NODES (space
# separated, as the directive takes several; a cluster has replicas, so an
# accepted write waits for one: wait_replicas=1), and the lanes of the
# send queue and events stream (BC_REDIS_LANES, default 1: bc_lane.h)
redis_addresses() {
    if [ -n "$REDIS_NODES" ]; then
        echo "${REDIS_NODES//,/ } wait_replicas=1 wait_timeout=${BC_REDIS_WAIT_TIMEOUT:-100ms}${BC_REDIS_LANES:+ lanes=$BC_REDIS_LANES}"
    else
        echo "127.0.0.1:$REDIS_PORT${BC_REDIS_LANES:+ lanes=$BC_REDIS_LANES}"
    fi
}

# conf.example uses realistic deployment paths; they are replaced here.
render_nginx_conf() {
    local sid from user_line access pe=$BC_VAR/providers.env sim_url api_version
    local wa_from waba meta_pid sg_key email_from
    sid=$(env_get "$pe" TWILIO_ACCOUNT_SID)
    from=$(env_get "$pe" TWILIO_SMS_FROM)
    sim_url=$(env_get "$pe" SIM_URL)
    api_version=$(env_get "$pe" META_API_VERSION)
    wa_from=$(env_get "$pe" TWILIO_WHATSAPP_FROM)
    waba=$(env_get "$pe" META_WABA_ID)
    meta_pid=$(env_get "$pe" META_PHONE_NUMBER_ID)
    sg_key=$(env_get "$pe" SENDGRID_WEBHOOK_PUBLIC_KEY)
    email_from=$(env_get "$pe" SENDGRID_FROM_EMAIL)
    [ -n "$sid" ] || sid=AC0123456789abcdef0123456789abcdef
    [ -n "$from" ] || from=+15005550006
    [ -n "$sim_url" ] || sim_url=http://127.0.0.1:$SIM_PORT
    [ -n "$api_version" ] || api_version=v21.0
    placeholder_secrets
    # the master stays root; its workers run unprivileged
    if [ -n "$RUN_USER" ]; then user_line="user $RUN_USER;"; else user_line=''; fi
    access="logs/access.log broadcast"
    [ "${BC_NGINX_ACCESS_LOG:-}" = off ] && access=off
    local extra=()
    [ -n "$wa_from" ] && extra+=(-e "s|^\( *broadcast_whatsapp_from\) [^;]*;|\1 $wa_from;|")
    [ -n "$waba" ] && extra+=(-e "s|^\( *broadcast_meta_waba_id\) [^;]*;|\1 $waba;|")
    [ -n "$meta_pid" ] && extra+=(-e "s|^\( *broadcast_meta_phone_number_id\) [^;]*;|\1 $meta_pid;|")
    [ -n "$sg_key" ] && extra+=(-e "s|^\( *broadcast_sendgrid_webhook_key\) [^;]*;|\1 $sg_key;|")
    [ -n "$email_from" ] && extra+=(-e "s|^\( *broadcast_email_from\) [^;]*;|\1 $email_from;|")
    local keys
    keys=$(encryption_key_file)
    [ -n "$keys" ] && extra+=(-e "s|^\( *\)# \(broadcast_encryption_key_file\) [^;]*;|\1\2 $keys;|")
    replica_enabled && extra+=(-e "s|^\( *\)# \(broadcast_mysql_replica\) 127.0.0.1:3307 |\1\2 127.0.0.1:$MYSQL_REPLICA_PORT |")
    [ -n "${BC_MAX_RECIPIENTS:-}" ] && extra+=(-e "s|^\( *broadcast_max_recipients\) [0-9]*;|\1 $BC_MAX_RECIPIENTS;|")
    sed -e "s|^user www-data;|$user_line|" \
        -e "s|^worker_processes auto;|worker_processes ${BC_NGINX_WORKERS:-auto};|" \
        -e "s|/usr/lib/nginx/modules/ngx_http_broadcast_module.so|$MODULE_SO|" \
        -e "s|/run/nginx-broadcast.pid|logs/nginx.pid|" \
        -e "s|/var/log/nginx/broadcast-error.log|logs/error.log|" \
        -e "s|/var/log/nginx/broadcast-access.log broadcast;|$access;|" \
        -e "s|/var/log/nginx/broadcast-access.log|$access|" \
        -e "s|/var/lib/nginx/broadcast/|tmp/|g" \
        -e "s|127.0.0.1:6379|$(redis_addresses)|" \
        -e "s|127.0.0.1:3306|127.0.0.1:$MYSQL_PORT|" \
        -e "s|/etc/broadcast/|$SECRETS/|g" \
        -e "s|listen 127.0.0.1:8080;|listen 127.0.0.1:$PORT;|" \
        -e "s|https://sms.example.com|$PUBLIC_URL|" \
        -e "s|broadcast_cookie_secure on;|broadcast_cookie_secure off;|" \
        -e "s|AC0123456789abcdef0123456789abcdef|$sid|" \
        -e "s|+15005550006|$from|" \
        -e "s|https://graph.facebook.com/v21.0|$sim_url/$api_version|" \
        -e "s|https://content.twilio.com|$sim_url|" \
        -e "s|/usr/share/broadcast/html|$HTML_DIR|" \
        -e "s|^\( *broadcast_backend_timeout\) 3s;|\1 ${BC_BACKEND_TIMEOUT:-3s};|" \
        "${extra[@]}" \
        "$REPO/conf.example" > "$NGX_PREFIX/conf/nginx.conf.tmp"
    # BC_NGINX_NO_SMS_FROM=1: no default sender (tests of requests without one)
    if [ "${BC_NGINX_NO_SMS_FROM:-}" = 1 ]; then
        sed -i '/^ *broadcast_sms_from /d' "$NGX_PREFIX/conf/nginx.conf.tmp"
    fi
    mv -f "$NGX_PREFIX/conf/nginx.conf.tmp" "$NGX_PREFIX/conf/nginx.conf"
}

# ---------------------------------------------------------------- nginx
health_ok() {
    [ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$PORT/health")" = 200 ]
}

start_nginx() {
    [ -f "$MODULE_SO" ] || die "$MODULE_SO not found: run 'make all' first"
    render_nginx_conf
    nginx_run -p "$NGX_PREFIX/" -c conf/nginx.conf -e logs/error.log -t -q \
        || die "nginx -t failed for $NGX_PREFIX/conf/nginx.conf"
    rm -f "$NGX_PREFIX/logs/nginx.pid"
    nginx_run -p "$NGX_PREFIX/" -c conf/nginx.conf -e logs/error.log \
        || { tail_log "$NGX_PREFIX/logs/error.log"; die "nginx failed to start"; }
    wait_for "nginx pid file" 10 test -s "$NGX_PREFIX/logs/nginx.pid" \
        || { tail_log "$NGX_PREFIX/logs/error.log"; die "nginx did not start"; }
    if ! wait_for "http://127.0.0.1:$PORT/health" 30 health_ok; then
        tail_log "$NGX_PREFIX/logs/error.log"
        warn "nginx is running but /health is not 200"
    fi
    say "nginx   : http://127.0.0.1:$PORT/ (pid $(pid_of nginx))"
}

stop_nginx() {
    local p
    p=$(pid_to_stop nginx) || return 0
    kill -QUIT "$p" 2>/dev/null || true
    if ! wait_exit nginx "$p" 15 quiet; then
        kill -TERM "$p" 2>/dev/null || true
        wait_exit nginx "$p" 10
    fi
}

# ---------------------------------------------------------------- sender
start_sender() {
    need_bin "$SENDER_BIN"
    write_sender_conf
    rm -f "$SENDER_PID"
    own_runtime
    setsid "${RUN_AS[@]}" "$SENDER_BIN" --config "$SENDER_CONF" \
        < /dev/null >> "$SENDER_LOG" 2>&1 &
    local spid=$!
    echo "$spid" > "$SENDER_PID"
    # catch an immediate failure (bad config, unreachable backends)
    local i
    for i in 1 2 3 4 5; do
        kill -0 "$spid" 2>/dev/null || { tail_log "$SENDER_LOG"; die "broadcast-sender exited"; }
        sleep 0.1
    done
    say "sender  : pid $spid, log $SENDER_LOG"
}

stop_sender() {
    local p
    p=$(pid_to_stop sender) || return 0
    if ! term_wait sender "$p" 20 quiet; then
        kill -KILL "$p" 2>/dev/null || true
        wait_exit sender "$p" 5
    fi
}

# ---------------------------------------------------------------- common
wait_exit() {   # name pid timeout [quiet]
    local deadline=$(( $(date +%s%N) / 1000000 + $3 * 1000 ))
    while alive_pid "$2"; do
        if [ $(( $(date +%s%N) / 1000000 )) -ge $deadline ]; then
            [ "${4:-}" = quiet ] || warn "$1 (pid $2) did not exit within $3 s"
            return 1
        fi
        sleep 0.05
    done
    say "stopped $1 (pid $2)"
    return 0
}

pid_to_stop() {   # name: its pid, if kill -0 reaches it (a zombie too)
    local p
    p=$(pid_of "$1") || return 1
    kill -0 "$p" 2>/dev/null || return 1
    echo "$p"
}

term_wait() {   # name pid timeout [quiet]: TERM (and CONT, if stopped), wait_exit
    kill -TERM "$2" 2>/dev/null || true
    kill -CONT "$2" 2>/dev/null || true
    wait_exit "$@" && return 0
    # Still there after its timeout (seen: an ASan build's exit-time leak
    # check stuck with its ptrace tracer, spinning a core): nothing of a
    # stopped stack may be left running, so it and its children are killed
    pkill -KILL -P "$2" 2>/dev/null || true
    kill -KILL "$2" 2>/dev/null || true
    wait_exit "$1" "$2" 5 quiet || true
    return 1
}

in_list() { local x=$1; shift; local y; for y in "$@"; do [ "$x" = "$y" ] && return 0; done; return 1; }

cmd_start() {
    local want=("$@")
    [ ${#want[@]} -gt 0 ] || want=("${ALL_COMPONENTS[@]}")
    local c
    for c in "${want[@]}"; do in_list "$c" "${ALL_COMPONENTS[@]}" || die "unknown component: $c${REDIS_NODES:+ (REDIS_NODES names an external Redis)}"; done
    prepare_dirs
    if in_list redis "${want[@]}"; then
        running redis && say "redis   : already running (pid $(pid_of redis))" || start_redis
    fi
    if in_list mysql "${want[@]}"; then
        running mysql && say "mysql   : already running (pid $(pid_of mysql))" || start_mysql
        ensure_mysql
        start_mysql_replica
        ensure_replication
    fi
    if in_list sim "${want[@]}"; then
        if running sim; then
            say "sim     : already running (pid $(pid_of sim))"
        else
            start_sim
        fi
        copy_sim_creds
        write_sender_conf
    fi
    if in_list nginx "${want[@]}"; then
        running nginx && say "nginx   : already running (pid $(pid_of nginx))" || start_nginx
    fi
    if in_list sender "${want[@]}"; then
        running sender && say "sender  : already running (pid $(pid_of sender))" || start_sender
    fi
    if [ ${#want[@]} -eq ${#ALL_COMPONENTS[@]} ]; then
        say ""
        say "URL:            http://127.0.0.1:$PORT/"
        [ -s "$BC_VAR/admin.credentials" ] && say "admin login:    $(head -n1 "$BC_VAR/admin.credentials")  (from $BC_VAR/admin.credentials)"
        say "providers.env:  $BC_VAR/providers.env"
        say "logs:           $LOG/ and $NGX_PREFIX/logs/"
    fi
}

cmd_stop() {
    local want=("$@")
    [ ${#want[@]} -gt 0 ] || want=("${ALL_COMPONENTS[@]}")
    local c rc=0
    # reverse dependency order
    for c in sender nginx sim redis mysql; do
        in_list "$c" "${want[@]}" || continue
        [ "$c" != mysql ] || stop_mysql_replica || rc=1
        "stop_$c" || rc=1
    done
    return $rc
}

cmd_status() {
    local want=("$@")
    [ ${#want[@]} -gt 0 ] || want=("${ALL_COMPONENTS[@]}")
    local c rc=0
    for c in "${want[@]}"; do
        if running "$c"; then
            printf '%-7s running (pid %s)\n' "$c" "$(pid_of "$c")"
        else
            printf '%-7s stopped\n' "$c"
            rc=3
        fi
    done
    return $rc
}

action=${1:-}
[ $# -gt 0 ] && shift
case $action in
    start)  cmd_start "$@" ;;
    stop)   cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    # render: write secrets placeholders and nginx.conf only (for nginx -t)
    render) prepare_dirs; secret_once "$SECRETS/mysql.password"; secret_once "$SECRETS/redis.password"
            render_nginx_conf
            echo "$NGX_PREFIX/conf/nginx.conf" ;;
    *) echo "usage: $0 start|stop|status [redis mysql sim sender nginx]" >&2; exit 2 ;;
esac
