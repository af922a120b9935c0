#!/usr/bin/perl
# Backend failures: a stalled MySQL never blocks a worker; MySQL down keeps
# accepting sends and callbacks; Redis down answers 503 JSON.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use Time::HiRes qw(time);
use POSIX qw(_exit);
use BC::Test qw(:all);

my $t = BC::Test->new;
my $key = $t->create_key('send');
my $r;

# ---------------------------------------------------------------- stalled
ok(wait_until(sub { $t->get('/health')->{status} == 200 }, 30), 'healthy at start');
my $pid = $t->signal(STOP => 'mysql');
pipe(my $rd, my $wr) or die "pipe: $!";
my $child = fork // die "fork: $!";
if ($child == 0) {
    close $rd;
    my $ua = HTTP::Tiny->new(timeout => 30);
    my $t0 = time;
    my $res = $ua->get($t->base_url . '/health');
    printf $wr "%d %.3f %s\n", $res->{status}, time - $t0, ($res->{content} // '') =~ s/\s+/ /gr;
    close $wr;
    _exit(0);
}
close $wr;
# while /health is stuck on MySQL, the workers keep serving
my ($max, $n, $done) = (0, 0, 0);
my $ua2 = HTTP::Tiny->new(timeout => 10);
my $t0 = time;
while (!$done && time - $t0 < 15) {
    my $s = time;
    my $res = $ua2->get($t->base_url . '/');
    my $d = time - $s;
    $max = $d if $d > $max;
    $n++;
    is($res->{status}, 200, 'static page served while MySQL is stalled') if $n == 1;
    $done = waitpid($child, POSIX::WNOHANG()) == $child;
}
waitpid($child, 0) unless $done;
my $line = <$rd> // '';
my ($hst, $hdur, $hbody) = split / /, $line, 3;
is($hst, 503, '/health answers 503 with MySQL stalled') or diag $line;
ok(defined $hdur && $hdur < 5, "... within the backend timeout (${\ ($hdur // 'n/a')} s < 5 s)");
ok($n >= 1 && $max < 1, "$n static requests meanwhile, slowest $max s < 1 s");
like($hbody // '', qr/"error"|mysql/i, 'health body explains the failure');
kill 'CONT', $pid;
ok(wait_until(sub { $t->get('/health')->{status} == 200 }, 30), 'healthy again after SIGCONT');

# ---------------------------------------------------------------- MySQL down
$r = $t->send_sms(key => $key, to => ['+14155552681'], message => 'before outage');
is($r->{status}, 202, 'send with the key before the outage') or diag $r->{content};
my $before = $r->{json}{messages}[0]{id};
ok(wait_until(sub { $t->message_status($before, $key) eq 'delivered' }, 60, 0.2),
   'first message delivered');

$t->drop_dbh;
is($t->stop('mysql'), 0, 'MySQL stopped');
ok(!$t->alive('mysql'), 'mariadbd is gone');
$r = $t->send_sms(key => $key, to => ['+14155552682'], message => 'during outage');
is($r->{status}, 202, 'send accepted while MySQL is down (cached key)') or diag $r->{content};
my $during = $r->{json}{messages}[0]{id};
ok($during, 'message id returned');
my $s = $t->get("/api/status/$during", key => $key);
is($s->{status}, 200, 'status answered from Redis while MySQL is down') or diag $s->{content};
$r = $t->callback(status => 'delivered', To => '+14155559999');
is($r->{status}, 200, 'signed webhook accepted while MySQL is down') or diag $r->{content};
$r = $t->get('/health');
is($r->{status}, 503, '/health 503 while MySQL is down');
is($t->start('mysql'), 0, 'MySQL started again');
ok(wait_until(sub { $t->message_status($during, $key) eq 'delivered' }, 90, 0.2),
   'message accepted during the outage recorded and delivered');
is($t->mysql_value('SELECT COUNT(*) FROM messages WHERE id = ?', $during), 1, 'row in MySQL');
ok(wait_until(sub {
    $t->mysql_value(q{SELECT COUNT(*) FROM message_events WHERE message_id IS NULL AND provider_message_id IS NOT NULL}) >= 1
}, 30, 0.2), 'callback received during the outage recorded (unknown message kept)');
ok($t->alive('sender'), 'sender survived the MySQL outage');

# ---------------------------------------------------------------- Redis down
is($t->stop('redis'), 0, 'Redis stopped');
$r = $t->send_sms(key => $key, to => ['+14155552683'], message => 'redis down');
is($r->{status}, 503, 'send with Redis down: 503') or diag $r->{content};
is($r->{json}{error}{code}, 'redis_unavailable', 'redis_unavailable');
ok($r->{json}{error}{message}, 'with a message');
is($t->get('/health')->{status}, 503, '/health 503 with Redis down');
is($t->start('redis'), 0, 'Redis started again');
ok(wait_until(sub {
    $r = $t->send_sms(key => $key, to => ['+14155552684'], message => 'redis back');
    $r->{status} == 202;
}, 30, 0.2), 'sends accepted again after Redis restart') or diag $r->{content};
my $after = $r->{json}{messages}[0]{id};
ok(wait_until(sub { $t->message_status($after, $key) eq 'delivered' }, 60, 0.2),
   'and delivered');
is(scalar(grep { $_->{to} eq '+14155552683' } @{ $t->sim_messages }), 0, 'nothing half-accepted during the Redis outage');
ok($t->alive('sender'), 'sender survived the Redis outage');

# ---------------------------------------------------------------- Redis restart
# Every pool thread keeps its own Redis connection; after a restart each of
# them is stale. Warm many of them with concurrent thread-path requests
# (an Idempotency-Key sends through the pool), restart Redis, then count
# the failures of the requests that follow: at most one may fail.
sub burst {
    my ($tag, $children, $each) = @_;
    pipe(my $rd2, my $wr2) or die "pipe: $!";
    my @kids;
    for my $c (1 .. $children) {
        my $k = fork // die "fork: $!";
        if ($k == 0) {
            close $rd2;
            my $ua = HTTP::Tiny->new(timeout => 30);
            for my $i (1 .. $each) {
                my $path = $i % 3 == 0 ? '/api/stats' : '/api/send/sms';
                my %h = ('X-API-Key' => $key, 'Content-Type' => 'application/json');
                $h{'Idempotency-Key'} = "$tag-$c-$i" if $i % 3 == 1;
                my $res = $i % 3 == 0
                    ? $ua->get($t->base_url . $path, { headers => \%h })
                    : $ua->post($t->base_url . $path, { headers => \%h,
                        content => '{"recipients":["+1415555' . (2700 + $c) . '"],"message":"' . "$tag $c $i" . '"}' });
                print $wr2 "$res->{status}\n";
            }
            close $wr2;
            _exit(0);
        }
        push @kids, $k;
    }
    close $wr2;
    my %st;
    while (my $l = <$rd2>) { chomp $l; $st{$l}++ }
    waitpid($_, 0) for @kids;
    return \%st;
}
my $warm = burst('warm', 32, 6);
is(join(',', sort keys %$warm), '200,202', 'warm-up: every request answered') or diag explain $warm;
is($t->stop('redis'), 0, 'Redis stopped for a restart');
is($t->start('redis'), 0, 'and started again');
my $after_restart = burst('after', 32, 6);
my $failed = 0;
$failed += $after_restart->{$_} for grep { $_ >= 500 } keys %$after_restart;
cmp_ok($failed, '<=', 1, "after a Redis restart at most one request fails ($failed of 192)")
    or diag explain $after_restart;

# ---------------------------------------------------------------- AOF replay
# what was accepted survives a Redis restart: the MULTI/EXEC of each send
# is replayed from the append-only file (not refused by the ACL on replay)
is($t->stop('sender'), 0, 'sender stopped: the jobs stay queued');
my @kept = map { '+14155552' . (800 + $_) } 1 .. 5;
$r = $t->send_sms(key => $key, to => \@kept, message => 'survives a restart');
is($r->{status}, 202, 'five accepted') or diag $r->{content};
my @kept_ids = map { $_->{id} } @{ $r->{json}{messages} || [] };
my $xlen = $t->redis('XLEN', 'bc:{q}:stream:send');
ok($xlen >= 5, "queued ($xlen entries)");
is($t->redis('EXISTS', "bc:{q}:msg:$kept_ids[0]"), 1, 'and their bc:msg keys');
# a SHUTDOWN (stack.sh's stop) writes and fsyncs the AOF before exiting
is($t->stop('redis'), 0, 'Redis stopped');
is($t->start('redis'), 0, 'and started again: the AOF is replayed');
is($t->redis('XLEN', 'bc:{q}:stream:send'), $xlen, 'every queued entry is back');
is($t->redis('EXISTS', "bc:{q}:msg:$kept_ids[4]"), 1, 'with the bc:msg keys');
my $rlog = do { local $/; open my $fh, '<', $t->dir . '/log/redis.log' or die; <$fh> };
unlike($rlog, qr/NOPERM|CRITICAL/, "the replay refused nothing (redis.log)");
is($t->start('sender'), 0, 'sender started');
ok(wait_until(sub { !grep { $t->message_status($_, $key) ne 'delivered' } @kept_ids }, 60, 0.2),
   'the five are delivered after the restart');

# ---------------------------------------------------------------- key retag
# an earlier version's untagged names (bc:stream:send, bc:msg:<id>, ...) are
# renamed by broadcastctl redis-retag, with the stream's group and entries
is($t->stop('sender'), 0, 'sender stopped again');
my @old = map { '+14155552' . (900 + $_) } 1 .. 3;
$r = $t->send_sms(key => $key, to => \@old, message => 'queued by an earlier version');
is($r->{status}, 202, 'three accepted') or diag $r->{content};
my @old_ids = map { $_->{id} } @{ $r->{json}{messages} || [] };
$t->redis('RENAME', 'bc:{q}:stream:send', 'bc:stream:send');
$t->redis('RENAME', "bc:{q}:msg:$_", "bc:msg:$_") for @old_ids;
$t->redis('SET', 'bc:wawin:whatsapp:+15005550006:+14155552901', '1', 'EX', '600');
my $old_len = $t->redis('XLEN', 'bc:stream:send');
# a new sender started before the retag made an empty stream of the new name
$t->redis('XGROUP', 'CREATE', 'bc:{q}:stream:send', 'senders', '$', 'MKSTREAM');
my $ctl = ($ENV{BC_BUILD} // "$BC::Test::REPO/build") . '/bin/broadcastctl';
my $out = `'$ctl' redis-retag --config '${\ $t->dir}/sender.conf' 2>&1`;
is($? >> 8, 0, 'broadcastctl redis-retag exits 0') or diag $out;
like($out, qr/^bc:msg:\* -> bc:\{q\}:msg:\*: 3$/m, 'it renamed the three job keys') or diag $out;
is($t->redis('EXISTS', 'bc:stream:send'), 0, 'no old stream name left');
is($t->redis('XLEN', 'bc:{q}:stream:send'), $old_len, 'the stream has its new name, every entry kept');
like($t->redis_raw('XINFO', 'GROUPS', 'bc:{q}:stream:send') // '', qr/\bsenders\b/, 'with its consumer group');
ok($t->redis('EXISTS', 'bc:{ev}:wawin:whatsapp:+15005550006:+14155552901') == 1, 'a window key too');
$out = `'$ctl' redis-retag --config '${\ $t->dir}/sender.conf' 2>&1`;
unlike($out, qr/: [1-9]\d*$/m, 'a second run finds nothing to rename') or diag $out;
is($t->start('sender'), 0, 'sender started');
ok(wait_until(sub { !grep { $t->message_status($_, $key) ne 'delivered' } @old_ids }, 60, 0.2),
   'the three queued under the old names are delivered');

$t->done;
