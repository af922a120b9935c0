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

$t->done;
