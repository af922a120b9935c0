# scripts/stack_replica.sh, sourced by stack.sh: a MariaDB replica of the
# stack's database (GTID replication), started with mysql when
# MYSQL_REPLICA_PORT is set. The primary then writes a binlog (server-id
# 1) from its first start, so the replica, starting from an empty GTID
# position, replays everything: the database, the users, the migrations.
# nginx reads listings, stats and exports from it (broadcast_mysql_replica).

MYSQL_REPLICA_PORT=${MYSQL_REPLICA_PORT:-}
REPLICA_DIR=$BC_VAR/mysql-replica
REPLICA_SOCK=$REPLICA_DIR/mysql.sock

replica_enabled() { [ -n "$MYSQL_REPLICA_PORT" ]; }

# the primary's binlog options (none without a replica)
replica_primary_opts() {
    if replica_enabled; then
        echo "--log-bin=mysql-bin --server-id=1 --binlog-format=ROW"
    else
        echo "--skip-log-bin"
    fi
}

replica_admin() {
    mariadb --no-defaults -S "$REPLICA_SOCK" -u "$(id -un)" "$@"
}

# on the primary, in ensure_mysql: the replication user, and the product
# user's right to read the replica's lag (SHOW SLAVE STATUS)
replica_grants() {
    replica_enabled || return 0
    secret_once "$SECRETS/mysql_repl.password"
    local rpw
    rpw=$(head -n1 "$SECRETS/mysql_repl.password")
    mysql_admin <<SQL
CREATE USER IF NOT EXISTS 'broadcast_repl'@'127.0.0.1' IDENTIFIED BY '$rpw';
ALTER USER 'broadcast_repl'@'127.0.0.1' IDENTIFIED BY '$rpw';
GRANT REPLICATION SLAVE ON *.* TO 'broadcast_repl'@'127.0.0.1';
GRANT SLAVE MONITOR ON *.* TO 'broadcast'@'127.0.0.1';
SQL
}

start_mysql_replica() {
    replica_enabled || return 0
    if running mysql_replica; then
        say "replica : already running (pid $(pid_of mysql_replica))"
        return 0
    fi
    local user_opt=()
    [ -n "$RUN_USER" ] && user_opt=(--user="$RUN_USER")
    mkdir -p "$REPLICA_DIR/tmp"
    [ -z "$RUN_USER" ] || chown -R "$RUN_USER:" "$REPLICA_DIR"
    if [ ! -d "$REPLICA_DIR/data/mysql" ]; then
        rm -rf "$REPLICA_DIR/data"
        mariadb-install-db --no-defaults --datadir="$REPLICA_DIR/data" \
            --tmpdir="$REPLICA_DIR/tmp" "${user_opt[@]}" \
            --auth-root-authentication-method=socket \
            --auth-root-socket-user="$(id -un)" --skip-test-db \
            > "$LOG/mysql-replica-install.log" 2>&1 \
            || { tail_log "$LOG/mysql-replica-install.log"; die "mariadb-install-db (replica) failed"; }
    fi
    rm -f "$RUN/mysqld-replica.pid"
    setsid mariadbd --no-defaults --datadir="$REPLICA_DIR/data" \
        --tmpdir="$REPLICA_DIR/tmp" --socket="$REPLICA_SOCK" \
        --port="$MYSQL_REPLICA_PORT" --bind-address=127.0.0.1 \
        "${user_opt[@]}" --pid-file="$RUN/mysqld-replica.pid" \
        --log-error="$LOG/mysqld-replica.log" --skip-log-bin \
        --skip-name-resolve --server-id=2 --read-only=ON \
        --relay-log="$REPLICA_DIR/data/relay-bin" \
        --innodb-buffer-pool-size=128M --performance-schema=OFF \
        < /dev/null >> "$LOG/mysqld-replica.log" 2>&1 &
    wait_for "the replica to answer" 120 replica_admin -N -e 'SELECT 1'
    wait_for "mysqld-replica pid file" 10 test -s "$RUN/mysqld-replica.pid"
    say "replica : 127.0.0.1:$MYSQL_REPLICA_PORT (pid $(pid_of mysql_replica))"
}

# after ensure_mysql: replicate from the primary and wait until caught up
ensure_replication() {
    replica_enabled || return 0
    local rpw pos
    rpw=$(head -n1 "$SECRETS/mysql_repl.password")
    if ! replica_admin -N -e 'SHOW SLAVE STATUS' | grep -q .; then
        replica_admin <<SQL
CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$MYSQL_PORT,
    MASTER_USER='broadcast_repl', MASTER_PASSWORD='$rpw',
    MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
START SLAVE;
SQL
    fi
    pos=$(mysql_admin -N -e 'SELECT @@gtid_binlog_pos')
    [ "$(replica_admin -N -e "SELECT MASTER_GTID_WAIT('$pos', 60)")" = 0 ] \
        || { tail_log "$LOG/mysqld-replica.log"; die "the replica did not catch up"; }
}

stop_mysql_replica() {
    local p
    p=$(pid_to_stop mysql_replica) || return 0
    term_wait mysql_replica "$p" 60
}
