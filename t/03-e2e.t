#!/usr/bin/perl
# End to end: API -> Redis -> sender -> simulator -> signed callbacks ->
# recorded "delivered".
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my $key = $t->create_key('send');
ok($key && $key =~ /^bck_[A-Za-z0-9_-]{43}$/, 'send key has the documented shape');

# 20 distinct recipients, 2 requests of 10
my @to = map { sprintf '+1415555%04d', 2600 + $_ } 1 .. 20;
my %want;    # id -> to
for my $chunk ([@to[0 .. 9]], [@to[10 .. 19]]) {
    my $r = $t->send_sms(key => $key, to => $chunk, message => "e2e hello");
    is($r->{status}, 202, 'send accepted') or diag $r->{content};
    my $msgs = $r->{json}{messages} || [];
    is(scalar @$msgs, 10, '10 messages in the 202');
    like($r->{json}{batch_id} // '', qr/^[0-9A-HJKMNP-TV-Z]{26}$/, 'batch_id is a ULID');
    for my $m (@$msgs) {
        like($m->{id}, qr/^[0-9A-HJKMNP-TV-Z]{26}$/, "message id $m->{id} is a ULID");
        is($m->{status}, 'queued', 'status queued in the 202');
        $want{$m->{id}} = $m->{to};
    }
}
is(scalar keys %want, 20, '20 distinct message ids');

my %final;
my $all = wait_until(sub {
    for my $id (keys %want) {
        next if $final{$id};
        my $s = $t->status_of($id, $key) or next;
        $final{$id} = $s if $s->{status} eq 'delivered';
    }
    return keys %final == 20;
}, 60, 0.2);
ok($all, 'all 20 messages reached "delivered" via signed callbacks')
    or diag explain [map { $t->status_of($_, $key) } grep { !$final{$_} } keys %want];

for my $id (sort keys %final) {
    my $m = $final{$id};
    is($m->{to}, $want{$id}, "$id: to");
    like($m->{provider_message_id} // '', qr/^SM[0-9a-f]{32}$/, "$id: provider_message_id SM…");
    ok(defined $m->{num_segments} && $m->{num_segments} >= 1, "$id: num_segments");
    ok(defined $m->{price}, "$id: price set");
    ok(defined $m->{price_unit} && length $m->{price_unit}, "$id: price_unit");
    is($m->{from}, $t->sms_from, "$id: from is the default sender");
    is($m->{body}, 'e2e hello', "$id: body");
    like($m->{delivered_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, "$id: delivered_at ISO-8601");
    is($m->{channel}, 'sms', "$id: channel");
    is($m->{direction}, 'outbound', "$id: direction");
}

# the simulator got each exactly once
my $sim = $t->sim_messages;
my %count;
$count{$_->{to}}++ for @$sim;
is(scalar @$sim, 20, 'simulator received 20 messages');
is(scalar(grep { ($count{$_} // 0) == 1 } @to), 20, 'each recipient exactly once');

# lookup by provider sid
my ($one) = values %final;
my $r = $t->get("/api/status/twilio/$one->{provider_message_id}", key => $key);
is($r->{status}, 200, 'GET /api/status/twilio/{sid}');
is($r->{json}{id}, $one->{id}, 'same message by sid');
$r = $t->get('/api/status/twilio/SM00000000000000000000000000000000', key => $key);
is($r->{status}, 404, 'unknown sid 404');
is($r->{json}{error}{code}, 'not_found', 'not_found code');

# metrics
my $m;
ok(wait_until(sub {
    $m = $t->metrics;
    ($t->metric('twilio_message_callback_total', qr/status="delivered"/, $m) // 0) >= 20;
}, 20), 'twilio_message_callback_total{status="delivered"} >= 20') or diag $m;
ok(($t->metric('broadcast_sends_accepted_total', undef, $m) // 0) >= 20,
   'broadcast_sends_accepted_total >= 20');
ok(defined $t->metric('broadcast_queue_depth', undef, $m), 'broadcast_queue_depth present');
like($m, qr/^# TYPE broadcast_sends_accepted_total counter/m, 'TYPE line for the counter');

# health
$r = $t->get('/health');
is($r->{status}, 200, '/health 200');
ok(ref $r->{json} eq 'HASH', '/health is JSON');
like($r->{headers}{'content-type'} // '', qr{application/json}, '/health content type');

# MySQL holds them as delivered / done
is($t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE status='delivered' AND send_state='done'}),
   20, 'MySQL: 20 delivered, done');

# The sender hands a plain accepted Twilio result to its recorder thread,
# which writes it in the same row write as the callbacks that follow
# (docs/DESIGN.md "Handoff"). Without any callback the result is still
# recorded (status accepted, the sid) and its job acknowledged.
$t->sim_config(callback_delay_ms => 3600000);
my @quiet = map { sprintf '+1415555%04d', 7000 + $_ } 1 .. 30;
$r = $t->send_sms(key => $key, to => \@quiet, message => 'no callbacks');
is($r->{status}, 202, '30 SMS accepted, callbacks held back an hour');
# bodies are sealed at rest (README "Privacy"): the rows are found by
# their recipients' number range
my $accepted_sql = q{SELECT COUNT(*) FROM messages WHERE to_address BETWEEN ? AND ?
    AND status='accepted' AND send_state='done' AND provider_message_id LIKE 'SM%'};
ok(wait_until(sub { $t->mysql_value($accepted_sql, '+14155557001', '+14155557030') == 30 }, 20, 0.1),
   'all 30 recorded accepted with their sid, with no callback')
    or diag $t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE to_address BETWEEN '+14155557001' AND '+14155557030' AND status='accepted'});
my $no_pending = sub { ($t->redis_raw('XPENDING', 'bc:{q}:stream:send', 'senders') // '') =~ /^0\b/ };
ok(wait_until($no_pending, 20, 0.1), 'and their jobs acknowledged');

# SIGTERM right after a burst has reached the provider: what the send loop
# handed over is written before the sender exits, and acknowledged
$r = $t->send_sms(key => $key, to => [ map { sprintf '+1415555%04d', 7100 + $_ } 1 .. 40 ],
                  message => 'stop burst');
is($r->{status}, 202, '40 more SMS accepted');
ok(wait_until(sub { (grep { $_->{body} eq 'stop burst' } @{ $t->sim_messages }) == 40 }, 20, 0.02),
   'the provider has all 40');
my $sender_pid = $t->signal(TERM => 'sender');
ok(wait_until(sub { !BC::Test::pid_alive($sender_pid) }, 30, 0.05), 'sender exited on SIGTERM');
is($t->mysql_value($accepted_sql, '+14155557101', '+14155557140'), 40, 'all 40 recorded accepted with their sid');
ok($no_pending->(), 'no job left unacknowledged');
is(scalar(grep { $_->{body} eq 'stop burst' } @{ $t->sim_messages }), 40, 'none sent twice');
is($t->start('sender'), 0, 'sender started again');
$t->sim_config(callback_delay_ms => 20);

# acknowledged entries do not pile up: the sender trims both streams down to
# what some group has not been given or has not acknowledged yet
for my $stream (qw(bc:{q}:stream:send bc:{ev}:stream:events)) {
    my $len = sub { my $n = $t->redis_raw('XLEN', $stream) // ''; $n =~ /^(\d+)$/ ? $1 : -1 };
    ok(wait_until(sub { $len->() == 0 }, 10, 0.1),
       "$stream trimmed to nothing once all is acknowledged")
        or diag $len->();
    like($t->redis_raw('XINFO', 'GROUPS', $stream) // '', qr/\blag\s+0\b/,
         "$stream: the group's lag is still known (0)");
}
$m = $t->metrics;
is($t->metric('broadcast_queue_depth', qr/queue="send"/, $m), 0, 'send queue depth 0 after trimming');

$t->done;
