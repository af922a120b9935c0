# shellcheck shell=bash
# bench/lib.sh, sourced by bench.sh, soak.sh and costs.sh: the helpers they
# share, each run against the caller's private stack. They read the
# caller's REPO, BC_VAR, PORT and REDIS_PORT when called, so the caller may
# source this before it sets them.

# a free loopback port (the kernel's choice)
free_port() {
    perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(Listen => 1,
        LocalAddr => "127.0.0.1", LocalPort => 0) or die; print $s->sockport'
}
stack() { bash "$REPO/scripts/stack.sh" "$@"; }
api() {   # method path [curl args...]
    local m=$1 p=$2
    shift 2
    curl -sS -X "$m" "http://127.0.0.1:$PORT$p" -H 'Content-Type: application/json' "$@"
}
json_field() { perl -MJSON::PP -0777 -ne 'my $j = decode_json($_); print $j->{'"$1"'} // ""'; }
mysql_q() { mariadb --no-defaults -S "$BC_VAR/mysql/mysql.sock" -u "$(id -un)" -N -B broadcast -e "$1"; }
redis() {
    REDISCLI_AUTH=$(cat "$BC_VAR/secrets/redis_admin.password") \
        redis-cli --no-auth-warning --user admin -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}
group_depth() {   # stream -> lag + pending over its consumer groups
    redis XINFO GROUPS "$1" 2>/dev/null | awk '
        prev == "pending" { d += $1 } prev == "lag" && $1 ~ /^[0-9]+$/ { d += $1 }
        { prev = $1 } END { print d + 0 }'
}
lanes_depth() {   # q|ev -> group_depth summed over the stack's lanes
    local sfx=stream:send lane d=0
    [ "$1" = ev ] && sfx=stream:events
    for (( lane = 0; lane < ${BC_REDIS_LANES:-1}; lane++ )); do
        if [ "$lane" -eq 0 ]; then
            d=$(( d + $(group_depth "bc:{$1}:$sfx") ))
        else
            d=$(( d + $(group_depth "bc:{$1:$lane}:$sfx") ))
        fi
    done
    echo "$d"
}
