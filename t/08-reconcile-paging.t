#!/usr/bin/perl
# Reconciling after a crash reads Twilio's message list page by page: many
# identical messages to one recipient, the sender SIGKILLed with calls in
# flight, a list page of 5 messages, and more of the same queued meanwhile.
# Every message is accepted by the provider exactly once; no two rows take
# the same sid.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $N  = 100;
my $TO = '+14155557000';
my $t = BC::Test->new(env => { BC_RECLAIM_IDLE_MS => 1000, BC_MAX_INFLIGHT => 20,
                               BC_TWILIO_LIST_PAGE_SIZE => 5 });
my $key = $t->create_key('send');
# no status callback arrives meanwhile (they would answer the question by
# the message id): only the list can tell what the dead sender had sent
$t->sim_config(latency_ms => 200, callback_delay_ms => 3600000);

is($t->stop('sender'), 0, 'sender stopped while queueing');
my @ids;
for my $n (1 .. $N) {
    # one request each: the same text to the same recipient every time
    my $r = $t->send_sms(key => $key, to => [$TO], message => 'your order has shipped');
    $r->{status} == 202 or do { fail("send $n: $r->{status} $r->{content}"); next };
    push @ids, $r->{json}{messages}[0]{id};
}
is(scalar @ids, $N, "$N identical messages accepted");
is($t->start('sender'), 0, 'sender started');

my $seen = 0;
ok(wait_until(sub { $seen = @{ $t->sim_messages }; $seen >= 12 }, 60, 0.02),
   'the simulator has received more than two list pages of them');
ok($t->kill9('sender'), 'sender SIGKILLed');
my $calling = $t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE send_state IN ('calling','unknown')});
ok($calling > 5, "$calling calls in flight at the kill: more than one list page");
my $at_kill = @{ $t->sim_messages };
ok($at_kill < $N, "not all sent at the kill ($at_kill < $N)");

# more of the same, queued while the sender is down: after the restart they
# are sent while the dead sender's calls are being looked up in the list
my $M = 20;
for my $n (1 .. $M) {
    my $r = $t->send_sms(key => $key, to => [$TO], message => 'your order has shipped');
    $r->{status} == 202 or fail("late send $n: $r->{status}");
}
$N += $M;

is($t->start('sender'), 0, 'sender restarted');
my $DONE = q{SELECT COUNT(*) FROM messages WHERE send_state = 'done' AND status = 'accepted' AND provider_message_id IS NOT NULL};
ok(wait_until(sub { $t->mysql_value($DONE) == $N }, 120, 0.2),
   "all $N accepted by the provider after the restart")
    or diag $t->mysql_value($DONE) . ' accepted';

is(scalar @{ $t->sim_messages }, $N, "the simulator received exactly $N messages (had $at_kill at the kill)");
is($t->mysql_value(q{SELECT COUNT(DISTINCT provider_message_id) FROM messages WHERE provider_message_id IS NOT NULL}),
   $N, 'each row has its own sid');
# the sender flushes its counters to Redis on its own schedule
my $found = 0;
ok(wait_until(sub {
    $found = 0 + ($t->redis_raw('HGET', 'bc:metrics:sender', 'reconciled:found') || 0);
    $found > 5
}, 30, 0.2), "$found rows reconciled from the list: matches past its first page were found");
is($t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE error_code = 'unknown_after_crash'}), 0,
   'none given up');

$t->done;
