#!/usr/bin/env bash
# make soak: the whole stack under a steady load for SOAK_MINUTES, watched
# for leaks (RSS, fds) and for latency drift. Not part of `make test`.
#
#   1. a private stack as `make run` starts it (redis, mariadb, simulator,
#      sender, nginx), except nginx's access log (off: 30 minutes of sends
#      would write about a gigabyte of it)
#   2. the maximum send rate, for SOAK_PROBE_SECONDS: wrk with
#      bench/send.lua (single-recipient POST /api/send/sms), the sender and
#      the simulator (which posts signed status callbacks) running; and the
#      end-to-end rate of those messages (until the queues are drained)
#   3. SOAK_MINUTES at SOAK_RATE (default: half the smaller maximum) with
#      bench/soak-rate.lua, in wrk runs of SOAK_INTERVAL seconds; after each
#      one, a sample: RSS and open fds of every nginx worker, the sender and
#      the simulator, p50/p99 latency of the interval, and the queue depth
#      (lag + pending of the consumer groups on bc:{q}:stream:send and
#      bc:{ev}:stream:events)
#   4. var/soak/report.txt: the table over time and the verdict
#
# Verdict (exit 1 when any fails; warm-up = the first SOAK_WARMUP_MINUTES):
#   rss      a process's RSS at the end exceeds its RSS at the end of
#            warm-up by more than max(SOAK_RSS_MB MB, SOAK_RSS_PCT %)
#   fds      a process's fewest fds over the last 3 samples exceed its
#            most fds during warm-up (a trend, not one busy moment); nginx's
#            workers are judged by their sum (a connection lands on either),
#            sampled once wrk's connections are closed, less their Redis and
#            MySQL links: those open lazily, one a pool thread, and are
#            judged against what the pool holds (3 x threads + 9 a worker)
#   p99      the last interval's p99 exceeds 2x the first steady one (the
#            first interval after warm-up)
#   errors   a non-2xx response or socket error in any interval
#
# Environment: SOAK_MINUTES (30), SOAK_INTERVAL (30 s), SOAK_WARMUP_MINUTES
# (5; a third of the run when the run is shorter than 3 warm-ups),
# SOAK_PROBE_SECONDS (20), SOAK_RATE (req/s; skips the probe),
# SOAK_CONNECTIONS (32), SOAK_THREADS (2), SOAK_RSS_MB (8), SOAK_RSS_PCT
# (10), SOAK_REPORT (<repo>/var/soak/report.txt), TEST_LEAVE=1 (keep the
# stack's directory).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$REPO/bench
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
MINUTES=${SOAK_MINUTES:-30}
INTERVAL=${SOAK_INTERVAL:-30}
WARMUP_MIN=${SOAK_WARMUP_MINUTES:-5}
PROBE=${SOAK_PROBE_SECONDS:-20}
CONNS=${SOAK_CONNECTIONS:-32}
THREADS=${SOAK_THREADS:-2}
RSS_MB=${SOAK_RSS_MB:-8}
RSS_PCT=${SOAK_RSS_PCT:-10}
REPORT=${SOAK_REPORT:-$REPO/var/soak/report.txt}

command -v wrk >/dev/null || { echo "soak: wrk not installed (make deps)" >&2; exit 1; }

SAMPLES=$(( MINUTES * 60 / INTERVAL ))
[ "$SAMPLES" -ge 3 ] || { echo "soak: SOAK_MINUTES too short for 3 samples" >&2; exit 2; }
WARMUP=$(( WARMUP_MIN * 60 / INTERVAL ))       # samples
[ $(( WARMUP * 3 )) -le "$SAMPLES" ] || WARMUP=$(( SAMPLES / 3 ))
[ "$WARMUP" -ge 1 ] || WARMUP=1

DIR=$(mktemp -d /tmp/bc-soak-XXXXXX)
chmod 755 "$DIR"
export BC_VAR=$DIR/var
export PORT=$(free_port) REDIS_PORT=$(free_port) MYSQL_PORT=$(free_port) SIM_PORT=$(free_port)
export BC_NGINX_ACCESS_LOG=off

cleanup() {
    stack stop >/dev/null 2>&1 || true
    if [ "${TEST_LEAVE:-}" = 1 ]; then echo "soak: kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

echo "== starting a private stack in $BC_VAR"
stack start > "$DIR/stack.log" 2>&1 || { cat "$DIR/stack.log"; exit 1; }
ADMIN=$(head -n1 "$BC_VAR/admin.credentials")
TOKEN=$(api POST /api/login -d "{\"username\":\"${ADMIN%%:*}\",\"password\":\"${ADMIN#*:}\"}" | json_field token)
[ -n "$TOKEN" ] || { echo "soak: login failed" >&2; exit 1; }
KEY=$(api POST /api/keys -H "Authorization: Bearer $TOKEN" -d '{"name":"soak","scope":"send"}' | json_field api_key)
[ -n "$KEY" ] || { echo "soak: key creation failed" >&2; exit 1; }

# ------------------------------------------------------------ samples
# the watched processes, "name:pid" (nginx workers by their master's pid
# file; a worker that is replaced would show as a new column, and fail)
procs() {
    local w
    for w in $(ps -o pid= --ppid "$(cat "$BC_VAR/nginx/logs/nginx.pid")"); do
        echo "nginx-$w:$w"
    done
    echo "sender:$(cat "$BC_VAR/run/sender.pid")"
    echo "sim:$(cat "$BC_VAR/sim/sim.pid")"
}
client_conns() {   # wrk's connections nginx has not closed yet (wrk has
                   # closed its side; the simulator's keep-alive callback
                   # connections stay established and are the workers')
    ss -Htn state close-wait "( sport = :$PORT )" | wc -l
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
fd_kinds() {   # pid -> "redis=N mysql=N ..." by what each fd is (explains a rise)
    local pid=$1
    ss -Htanep 2>/dev/null | perl -e '
        my ($pid, $redis, $mysql, $sim, $http) = @ARGV;
        my %peer;
        while (<STDIN>) {
            my @f = split " ";
            my ($ino) = /ino:(\d+)/ or next;
            my ($lport) = $f[3] =~ /:(\d+)$/;
            my ($rport) = $f[4] =~ /:(\d+)$/;
            $peer{$ino} = $rport == $redis ? "redis" : $rport == $mysql ? "mysql"
                : $rport == $sim ? "sim" : $lport == $http ? "http-in" : "tcp-other";
        }
        my %n;
        for my $fd (glob "/proc/$pid/fd/*") {
            my $t = readlink($fd) // next;
            my $k = $t =~ /^socket:\[(\d+)\]/ ? ($peer{$1} // "unix-or-udp")
                  : $t =~ /^pipe:/ ? "pipe" : $t =~ /^anon_inode:\[?(\w+)/ ? $1
                  : $t =~ m{^/} ? "file" : "other";
            $n{$k}++;
        }
        print join(" ", map { "$_=$n{$_}" } sort keys %n), "\n";
    ' "$pid" "$REDIS_PORT" "$MYSQL_PORT" "$SIM_PORT" "$PORT"
}

# ------------------------------------------------------------ probe
# Two maxima: what the API accepts (wrk for SOAK_PROBE_SECONDS) and what
# the pipeline carries end to end (those requests' messages sent by the
# sender, called back by the simulator and recorded: the time until both
# consumer groups are drained). Half of the API's maximum outruns the
# pipeline several times over on this machine: the queue would grow for
# the whole run (gigabytes of Redis and MariaDB), which soaks the disk,
# not the processes. The soak runs at half of the smaller one.
queue_depth() { echo $(( $(lanes_depth q) + $(lanes_depth ev) )); }
if [ -n "${SOAK_RATE:-}" ]; then
    RATE=$SOAK_RATE
    MAX_RATE="(not probed)"
else
    echo "== maximum send rate: wrk -t$THREADS -c64 -d${PROBE}s bench/send.lua"
    t0=$(date +%s.%N)
    out=$(env BENCH_KEY="$KEY" wrk -t"$THREADS" -c64 -d"${PROBE}s" -s "$BENCH/send.lua" \
          "http://127.0.0.1:$PORT/" 2>&1)
    API_RATE=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    ACCEPTED=$(awk '/ requests in / {print $1}' <<<"$out")
    NON2XX=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    [ -n "$API_RATE" ] || { echo "$out" >&2; exit 1; }
    ACCEPTED=$(( ACCEPTED - ${NON2XX:-0} ))
    for _ in $(seq 6000); do
        [ "$(queue_depth)" -eq 0 ] && break
        sleep 0.1
    done
    [ "$(queue_depth)" -eq 0 ] || { echo "soak: the probe's messages did not drain in 10 min" >&2; exit 1; }
    E2E_RATE=$(awk -v n="$ACCEPTED" -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", n / (b - a) }')
    MAX_RATE="api $API_RATE, end to end $E2E_RATE"
    RATE=$(( (API_RATE < E2E_RATE ? API_RATE : E2E_RATE) / 2 ))
    echo "   api $API_RATE req/s, end to end $E2E_RATE msg/s; soaking at $RATE req/s"
    curl -sS -o /dev/null -X POST "http://127.0.0.1:$SIM_PORT/sim/reset"
fi

# ------------------------------------------------------------ soak
mkdir -p "$DIR/samples"
TSV=$DIR/samples.tsv
: > "$TSV"   # sample proc rss_kb fds
LAT=$DIR/latency.tsv
: > "$LAT"   # sample requests rate p50 p99 max non2xx errors send_depth events_depth
echo "== soak: $MINUTES min at $RATE req/s, samples every ${INTERVAL}s, warm-up $WARMUP samples"
START=$(date +%s)
for i in $(seq 1 "$SAMPLES"); do
    out=$(env BENCH_KEY="$KEY" SOAK_RATE="$RATE" SOAK_THREADS="$THREADS" \
          wrk -t"$THREADS" -c"$CONNS" -d"${INTERVAL}s" -s "$BENCH/soak-rate.lua" \
          "http://127.0.0.1:$PORT/" 2>&1) || true
    line=$(grep '^SOAK ' <<<"$out" || true)
    [ -n "$line" ] || { echo "$out" >&2; echo "soak: wrk failed at sample $i" >&2; exit 1; }
    eval "$(sed 's/^SOAK //' <<<"$line")"   # requests= seconds= p50_ms= ...
    # the load generator's connections are counted in the workers' fds
    # until nginx has closed them: sampled once they are gone (up to 5 s)
    for _ in $(seq 50); do
        [ "$(client_conns)" -eq 0 ] && break
        sleep 0.1
    done
    sd=$(lanes_depth q)
    ed=$(lanes_depth ev)
    printf '%d\t%d\t%.0f\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n' "$i" "$requests" \
        "$(awk -v r="$requests" -v s="$seconds" 'BEGIN { print r / s }')" \
        "$p50_ms" "$p99_ms" "$max_ms" "$non2xx" "$errors" "$sd" "$ed" >> "$LAT"
    for p in $(procs); do
        printf '%d\t%s\t%s\t%s\n' "$i" "${p%%:*}" "$(rss_kb "${p#*:}")" "$(fd_count "${p#*:}")" >> "$TSV"
        printf '%d\t%s\t%s\n' "$i" "${p%%:*}" "$(fd_kinds "${p#*:}")" >> "$DIR/fd-kinds.tsv"
    done
    # the simulator keeps every accepted message for tests to read: cleared
    # after each sample, so its RSS shows leaks, not that store (callbacks
    # scheduled at that instant are dropped with it)
    curl -sS -o /dev/null -X POST "http://127.0.0.1:$SIM_PORT/sim/reset"
    printf '   %3d/%d  %5.1f min  %s\n' "$i" "$SAMPLES" \
        "$(awk -v a="$START" -v b="$(date +%s)" 'BEGIN { print (b - a) / 60 }')" \
        "$(tail -n1 "$LAT" | awk -F'\t' '{ printf "%d req/s p50 %s ms p99 %s ms queue %d+%d", $3, $4, $5, $9, $10 }')"
done

# ------------------------------------------------------------ report
mkdir -p "$(dirname "$REPORT")"
set +e
THREADS_POOL=$(grep -o 'thread_pool broadcast threads=[0-9]*' "$BC_VAR/nginx/conf/nginx.conf" \
               | grep -o '[0-9]*$' || echo 32)
perl - "$TSV" "$LAT" "$WARMUP" "$INTERVAL" "$RSS_MB" "$RSS_PCT" "$RATE" "$MAX_RATE" \
    "$MINUTES" "$DIR/fd-kinds.tsv" "$THREADS_POOL" > "$REPORT" <<'PERL'
use strict;
use warnings;
my ($tsv, $lat, $warm, $interval, $rss_mb, $rss_pct, $rate, $max_rate, $minutes,
    $kinds, $pool) = @ARGV;
my (%rss, %fds, %procs, @order);
open my $fh, '<', $tsv or die;
while (<$fh>) {
    chomp;
    my ($i, $p, $r, $f) = split /\t/;
    push @order, $p unless $procs{$p}++;
    $rss{$p}[$i] = $r;
    $fds{$p}[$i] = $f;
}
my @lat;
open $fh, '<', $lat or die;
while (<$fh>) { chomp; my @f = split /\t/; $lat[$f[0]] = \@f; }
my $n = $#lat;
my @fail;

printf "make soak: %d min at %s req/s (maxima measured: %s /s), %d s samples, warm-up %d samples (%.1f min)\n\n",
    $minutes, $rate, $max_rate, $interval, $warm, $warm * $interval / 60;
printf "%6s %6s %7s %8s %8s %8s %6s %5s %7s",
    'sample', 'min', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'non2xx', 'errs', 'queue';
printf " %18s", "$_ MB/fd" for @order;
print "\n";
for my $i (1 .. $n) {
    my $l = $lat[$i];
    printf "%6d %6.1f %7d %8.2f %8.2f %8.2f %6d %5d %7d", $i, $i * $interval / 60,
        $l->[2], $l->[3], $l->[4], $l->[5], $l->[6], $l->[7], $l->[8] + $l->[9];
    printf " %18s", defined $rss{$_}[$i] ? sprintf('%.1f/%d', $rss{$_}[$i] / 1024, $fds{$_}[$i]) : '-'
        for @order;
    print "\n";
}
print "\n";

# a worker's Redis and MySQL links belong to its thread pool: each thread
# opens its own the first time a task of its needs one, so they grow over
# the run up to what the pool holds (a Redis, a MySQL and a replica link a
# thread, the async Redis links: 3 x threads + 9). That is the pool
# warming, judged against its bound; a leak is growth of everything else
my (%backend, @over);
my $link_bound = 3 * $pool + 9;
open $fh, '<', $kinds or die;
while (<$fh>) {
    chomp;
    my ($i, $p, $k) = split /\t/;
    next unless $p =~ /^nginx-/;
    my $b = 0;
    $b += $1 while $k =~ /\b(?:redis|mysql)=(\d+)/g;
    $backend{$p}[$i] = $b;
    push @over, "$p: $b Redis/MySQL links at sample $i (its pool holds at most $link_bound)" if $b > $link_bound;
}

# wrk's and the simulator's connections land on either worker: the fds
# of nginx are judged as the workers' sum, less their backend links
my @checked = @order;
my @workers = grep { /^nginx-/ } @order;
if (@workers) {
    for my $i (1 .. $n) {
        my $sum = 0;
        $sum += ($fds{$_}[$i] // 0) - ($backend{$_}[$i] // 0) for @workers;
        $fds{'nginx workers'}[$i] = $sum;
    }
    push @checked, 'nginx workers';
}
push @fail, @over;
for my $p (@checked) {
    my $fd_only = $p eq 'nginx workers' || ($p =~ /^nginx-/ && @workers > 1);
    my ($r0, $r1) = $p eq 'nginx workers' ? (0, 0) : ($rss{$p}[$warm], $rss{$p}[$n]);
    if (!defined $r0 || !defined $r1) {
        push @fail, "$p: not present from the end of warm-up to the end (restarted?)";
        next;
    }
    my $grow = ($r1 - $r0) / 1024;
    my $bound = $rss_mb > $r0 / 1024 * $rss_pct / 100 ? $rss_mb : $r0 / 1024 * $rss_pct / 100;
    my $warm_fd = 0;
    for my $i (1 .. $warm) { $warm_fd = $fds{$p}[$i] if ($fds{$p}[$i] // 0) > $warm_fd; }
    my $tail_fd;
    for my $i ($n - 2 .. $n) {
        my $f = $fds{$p}[$i] // next;
        $tail_fd = $f if !defined $tail_fd || $f < $tail_fd;
    }
    if ($p eq 'nginx workers') {
        my @links = map { defined $backend{$_}[$n] ? $backend{$_}[$n] : '?' } @workers;
        printf "%-14s fds but Redis/MySQL links max %d in warm-up, min %d at the end; links at the end %s (bound %d a worker)\n",
            $p, $warm_fd, $tail_fd, join("+", @links), $link_bound;
    } else {
        printf "%-14s rss %7.1f -> %7.1f MB (%+.1f MB, bound %.1f MB)  fds max %d in warm-up, min %d at the end\n",
            $p, $r0 / 1024, $r1 / 1024, $grow, $bound, $warm_fd, $tail_fd;
    }
    push @fail, sprintf('%s: RSS grew %.1f MB after warm-up (bound %.1f MB)', $p, $grow, $bound)
        if $grow > $bound && $p ne 'nginx workers';
    push @fail, "$p: fds grew from at most $warm_fd in warm-up to at least $tail_fd at the end"
        if $tail_fd > $warm_fd && ($p eq 'nginx workers' || !$fd_only);
}
my $steady = $warm + 1 <= $n ? $warm + 1 : $n;
my ($p99_0, $p99_1) = ($lat[$steady][4], $lat[$n][4]);
printf "p99: first steady interval (sample %d) %.2f ms, last %.2f ms (bound %.2f ms)\n",
    $steady, $p99_0, $p99_1, 2 * $p99_0;
push @fail, sprintf('p99 of the last interval %.2f ms > 2x the first steady %.2f ms', $p99_1, $p99_0)
    if $p99_1 > 2 * $p99_0;
my ($bad, $errs) = (0, 0);
for my $i (1 .. $n) { $bad += $lat[$i][6]; $errs += $lat[$i][7]; }
push @fail, "$bad non-2xx responses" if $bad;
push @fail, "$errs socket errors" if $errs;
printf "queue depth (send + events lag and pending): %d at the end of warm-up, %d at the end\n",
    $lat[$warm][8] + $lat[$warm][9], $lat[$n][8] + $lat[$n][9];
print "\nverdict: ", (@fail ? "FAIL\n" . join('', map { "  - $_\n" } @fail) : "PASS\n");
exit(@fail ? 1 : 0);
PERL
rc=$?
set -e
{   echo
    echo "open fds by kind, at the end of warm-up and at the end:"
    awk -F'\t' -v w="$WARMUP" -v n="$SAMPLES" '$1 == w || $1 == n { printf "  sample %3d  %-14s %s\n", $1, $2, $3 }' \
        "$DIR/fd-kinds.tsv"
} >> "$REPORT"
cat "$REPORT"
echo "soak: report in $REPORT"
exit $rc
