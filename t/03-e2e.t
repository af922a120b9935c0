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

$t->done;
