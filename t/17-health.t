#!/usr/bin/perl
# GET /health answers within a probe's 1 s budget (Kubernetes' default
# timeoutSeconds) whatever the backends do: a stalled MySQL or Redis reads
# "timeout" with 503, the other backend still reads "ok", and /health is 200
# again once the stalled backend is continued.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use Time::HiRes qw(time);
use BC::Test qw(:all);

my $t = BC::Test->new;
my $ua = HTTP::Tiny->new(timeout => 10);

# one /health request: (status, seconds, JSON)
sub health {
    my $t0 = time;
    my $res = $ua->get($t->base_url . '/health');
    return ($res->{status}, time - $t0, json_decode($res->{content} // ''));
}

ok(wait_until(sub { $t->get('/health')->{status} == 200 }, 30), 'healthy at start');
my ($st, $dur, $j) = health();
is($st, 200, 'healthy: 200');
is_deeply($j, { status => 'ok', redis => 'ok', mysql => 'ok' }, 'healthy: both backends ok');

for my $stalled (qw(mysql redis)) {
    my $other = $stalled eq 'mysql' ? 'redis' : 'mysql';
    my $pid = $t->signal(STOP => $stalled);
    # the first request starts the probe, the later ones wait for the same one
    for my $n (1 .. 3) {
        ($st, $dur, $j) = health();
        is($st, 503, "$stalled stalled, request $n: 503");
        ok($dur < 1, sprintf('... answered in %.3f s < 1 s', $dur));
        is_deeply($j, { status => 'degraded', $stalled => 'timeout', $other => 'ok' },
            "... $stalled timeout, $other ok") or diag explain $j;
    }
    kill 'CONT', $pid;
    ok(wait_until(sub { (health())[0] == 200 }, 30), "healthy again once $stalled is continued");
    ($st, $dur, $j) = health();
    is_deeply($j, { status => 'ok', redis => 'ok', mysql => 'ok' }, '... both backends ok');
}

like($t->error_log, qr/health: MySQL did not answer within \d+ ms/, 'the stalled MySQL is logged');
like($t->error_log, qr/health: Redis did not answer within \d+ ms/, 'the stalled Redis is logged');

$t->done;
