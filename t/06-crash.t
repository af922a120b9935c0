#!/usr/bin/perl
# SIGKILL the sender while provider calls are in flight: after a restart
# every message is delivered, none is lost, none is sent twice.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $N = 200;
my $t = BC::Test->new(env => { BC_RECLAIM_IDLE_MS => 1000, BC_MAX_INFLIGHT => 32 });
my $key = $t->create_key('send');
$t->sim_config(latency_ms => 200);

# queue everything first, then let a sender loose on it
is($t->stop('sender'), 0, 'sender stopped while queueing');
my %want;    # id -> "to|body"
for my $chunk (0 .. 1) {
    # one request per message: a unique body for each
    for my $i (0 .. 99) {
        my $n = $chunk * 100 + $i;
        my $to = sprintf '+1415555%04d', 4000 + $n;
        my $r = $t->send_sms(key => $key, to => [$to], message => "crash test $n");
        $r->{status} == 202 or do { fail("send $n: $r->{status} $r->{content}"); next };
        $want{ $r->{json}{messages}[0]{id} } = "$to|crash test $n";
    }
}
is(scalar keys %want, $N, "$N messages accepted");
is($t->start('sender'), 0, 'sender started');

my $seen = 0;
ok(wait_until(sub { $seen = @{ $t->sim_messages }; $seen >= 5 }, 60, 0.02),
   'the simulator has received some messages');
ok($seen < $N, "... but not all ($seen < $N) when the sender is killed");
ok($t->kill9('sender'), 'sender SIGKILLed');
my $at_kill = @{ $t->sim_messages };
my $calling = $t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE send_state IN ('calling','unknown')});
ok($calling > 0, "$calling provider calls were in flight at the kill");
ok(!$t->alive('sender'), 'sender is dead');

is($t->start('sender'), 0, 'sender restarted (stack.sh start sender)');
ok($t->alive('sender'), 'new sender alive');

my %final;
ok(wait_until(sub {
    my $rows = $t->mysql(q{SELECT id, status FROM messages WHERE status = 'delivered'});
    $final{$_->{id}} = 1 for @$rows;
    (grep { $final{$_} } keys %want) == $N;
}, 180, 0.5), "all $N delivered after the restart")
    or diag scalar(grep { $final{$_} } keys %want) . " delivered";

my $sim = $t->sim_messages;
is(scalar @$sim, $N, "the simulator received exactly $N messages (had $at_kill at kill)");
my %pairs;
$pairs{"$_->{to}|$_->{body}"}++ for @$sim;
is(scalar keys %pairs, $N, "$N distinct To/body pairs");
is(scalar(grep { $pairs{$_} && $pairs{$_} == 1 } values %want), $N, 'every message sent exactly once');
my @dups = grep { $pairs{$_} > 1 } keys %pairs;
ok(!@dups, 'no duplicates') or diag explain \@dups;
is($t->mysql_value(q{SELECT COUNT(*) FROM messages}), $N, "$N rows in MySQL");
is($t->mysql_value(q{SELECT COUNT(DISTINCT provider_message_id) FROM messages}), $N, 'each with its own sid');
ok(wait_until(sub { ($t->redis_raw('XPENDING', 'bc:{q}:stream:send', 'senders') // '') =~ /^0\b/ }, 30, 0.2),
   'no pending stream entries left');

$t->done;
