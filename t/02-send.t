#!/usr/bin/perl
# POST /api/send/sms validation, normalisation, status, batch, idempotency.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

# no broadcast_sms_from: requests must name a sender
my $t = BC::Test->new(env => { BC_NGINX_NO_SMS_FROM => 1 });
my $key = $t->create_key('send');
my $from = $t->sms_from;
ok($from, "simulator from number $from");

my $r;
$r = $t->post('/api/send/sms', key => $key, body => '{"recipients":["+14155552671"],"message":');
is_error($r, 400, 'invalid_json', 'truncated JSON');
$r = $t->post('/api/send/sms', key => $key, body => 'not json at all');
is_error($r, 400, 'invalid_json', 'garbage body');
$r = $t->post('/api/send/sms', key => $key, json => { recipients => 5, message => 'x', from_number => $from });
is_error($r, 400, 'invalid_request', 'recipients not an array');
$r = $t->post('/api/send/sms', key => $key, json => { recipients => ['+14155552671'], message => ['x'], from_number => $from });
is_error($r, 400, 'invalid_request', 'message not a string');
$r = $t->post('/api/send/sms', key => $key, json => { recipients => ['+14155552671'], from_number => $from });
is_error($r, 400, 'invalid_request', 'message missing');
$r = $t->post('/api/send/sms', key => $key, json => [1, 2]);
is_error($r, 400, 'invalid_request', 'top level array');

# oversize body (broadcast_max_body 1m < client_max_body_size 2m)
my $big = '{"recipients":["+14155552671"],"from_number":"' . $from . '","message":"' . ('x' x (1536 * 1024)) . '"}';
$r = $t->post('/api/send/sms', key => $key, body => $big);
is_error($r, 413, 'body_too_large', 'oversize body');

# too many recipients (broadcast_max_recipients 1000)
my @many = map { sprintf '+1415555%04d', 3000 + $_ } 1 .. 1001;
$r = $t->send_sms(key => $key, to => \@many, from_number => $from);
is_error($r, 413, 'too_many_recipients', '1001 recipients');

# no sender configured and none in the request
$r = $t->send_sms(key => $key, to => ['+14155552671'], message => 'x');
is($r->{status}, 422, 'no from_number and no broadcast_sms_from: 422') or diag $r->{content};
ok($r->{json}{error}{code} && $r->{json}{error}{message}, 'no sender: error code and message');

# no valid recipient at all
$r = $t->send_sms(key => $key, to => ['bogus', '+1 555-0100'], from_number => $from);
is_error($r, 422, 'no_valid_recipients', 'only invalid recipients');

# wrong method
$r = $t->get('/api/send/sms', key => $key);
is_error($r, 405, 'method_not_allowed', 'GET /api/send/sms');

# Stop the sender: what follows must be answered from Redis alone.
is($t->stop('sender'), 0, 'sender stopped');

# per-recipient validation, normalisation, dedupe
$r = $t->send_sms(key => $key, from_number => $from, message => 'norm',
    to => ['+1 415-555-2671', '(415) 555-2671', 'bogus', '+1 555-0100', '+14155552672']);
is($r->{status}, 202, 'mixed recipients: 202') or diag $r->{content};
my @msgs = @{ $r->{json}{messages} || [] };
is_deeply([sort map { $_->{to} } @msgs], ['+14155552671', '+14155552672'],
    'normalised to E.164 and deduplicated');
my @rej = @{ $r->{json}{rejected} || [] };
is_deeply([sort map { $_->{to} } @rej], ['+1 555-0100', 'bogus'], 'invalid ones rejected one by one');
ok(!grep({ !defined $_->{error} || !length $_->{error} } @rej), 'each rejection has a reason');
my $batch = $r->{json}{batch_id};

# status is queryable at once (the sender is not running)
for my $m (@msgs) {
    my $s = $t->get("/api/status/$m->{id}", key => $key);
    is($s->{status}, 200, "status of $m->{id} right after the 202") or diag $s->{content};
    is($s->{json}{status}, 'queued', 'status queued');
    is($s->{json}{to}, $m->{to}, 'to');
    is($s->{json}{from}, $from, 'from');
    is($s->{json}{batch_id}, $batch, 'batch_id');
    is($s->{json}{body}, 'norm', 'body');
}
my $b = $t->get("/api/batch/$batch", key => $key);
is($b->{status}, 200, 'batch lookup') or diag $b->{content};
is($b->{json}{batch_id}, $batch, 'batch id echoed');
is_deeply([sort map { $_->{id} } @{ $b->{json}{messages} || [] }],
          [sort map { $_->{id} } @msgs], 'batch lists its messages');
# a batch of one message bears its message's id and is found before the
# sender has recorded it (no batch list is kept for it)
my $one = $t->send_sms(key => $key, from_number => $from, message => 'single', to => ['+14155552674']);
is($one->{status}, 202, 'single-recipient send: 202') or diag $one->{content};
my $one_id = $one->{json}{messages}[0]{id};
is($one->{json}{batch_id}, $one_id, 'a batch of one is named after its message');
is($t->redis_raw('EXISTS', "bc:{q}:batch:$one_id") + 0, 0, 'no batch list in Redis for it');
$b = $t->get("/api/batch/$one_id", key => $key);
is($b->{status}, 200, 'single-message batch lookup from Redis') or diag $b->{content};
is_deeply([map { $_->{id} } @{ $b->{json}{messages} || [] }], [$one_id], 'it lists its one message');
is_error($t->get("/api/batch/$msgs[0]{id}", key => $key), 404, 'not_found',
         'a message of a larger batch is not a batch');
is_error($t->get('/api/status/01ARZ3NDEKTSV4RRFFQ69G5FAV', key => $key), 404, 'not_found', 'unknown id');
is_error($t->get('/api/batch/01ARZ3NDEKTSV4RRFFQ69G5FAV', key => $key), 404, 'not_found', 'unknown batch');

# Idempotency-Key
my %idem = (key => $key, from_number => $from, message => 'idem once',
            to => ['+14155552673'], headers => { 'Idempotency-Key' => 'order-42' });
my $r1 = $t->send_sms(%idem);
is($r1->{status}, 202, 'first idempotent send 202') or diag $r1->{content};
ok(!$r1->{headers}{'idempotent-replayed'}, 'first answer is not a replay');
my $r2 = $t->send_sms(%idem);
is($r2->{status}, 202, 'replay 202');
is_deeply($r2->{json}, $r1->{json}, 'replay returns the same response');
is($r2->{headers}{'idempotent-replayed'}, 'true', 'Idempotent-Replayed: true');
my $r3 = $t->send_sms(%idem, message => 'different body');
is_error($r3, 422, 'idempotency_key_reused', 'same key, different body');
# another key id has its own idempotency namespace
my $key2 = $t->create_key('send', 'second');
my $r4 = $t->send_sms(%idem, key => $key2);
is($r4->{status}, 202, 'same Idempotency-Key with another API key is a new request');
isnt($r4->{json}{batch_id}, $r1->{json}{batch_id}, 'new batch for the other key');

# start the sender: everything queued above goes out, the idempotent one once
is($t->start('sender'), 0, 'sender started');
my @ids = (map({ $_->{id} } @msgs), $r1->{json}{messages}[0]{id}, $r4->{json}{messages}[0]{id});
ok(wait_until(sub {
    !grep { $t->message_status($_, $key) ne 'delivered' } @ids
}, 60, 0.2), 'queued messages delivered once the sender runs');
my $sim = $t->sim_messages;
is(scalar(grep { $_->{to} eq '+14155552673' && $_->{body} eq 'idem once' } @$sim), 2,
   'idempotent replay sent once (plus once for the second key)');
is(scalar(grep { $_->{to} eq '+14155552671' } @$sim), 1, 'deduplicated recipient sent once');
ok(!grep({ $_->{body} eq 'different body' } @$sim), 'rejected reuse never sent');
ok(wait_until(sub { $t->message_status($one_id, $key) eq 'delivered' }, 60, 0.2),
   'the single message delivered');
$b = $t->get("/api/batch/$one_id", key => $key);
is_deeply([map { "$_->{id} $_->{status}" } @{ $b->{json}{messages} || [] }], ["$one_id delivered"],
          'its batch is found in MySQL once recorded');

# The send script is loaded into Redis's script cache by the first send
# that finds it missing, so later sends run it (EVALSHA) instead of failing
# with NOSCRIPT and taking the slower full path every time.
my $noscript = sub {
    my $s = $t->redis_raw('INFO', 'errorstats') // '';
    return $s =~ /errorstat_NOSCRIPT:count=(\d+)/ ? $1 : 0;
};
$t->redis('SCRIPT', 'FLUSH');
my @warm;
for my $round (1 .. 2) {
    my $r = $t->send_sms(key => $key, from_number => $from, message => "warm $round",
                         to => ['+14155552681', '+14155552682']);
    is($r->{status}, 202, "send after SCRIPT FLUSH ($round)");
    push @warm, map { $_->{id} } @{ $r->{json}{messages} || [] };
}
# the flush dropped the webhook script too: the warm sends' callbacks load
# it again, so count only once they are recorded
ok(wait_until(sub { !grep { $t->message_status($_, $key) ne 'delivered' } @warm }, 60, 0.2),
   'the warm sends delivered (their callbacks reloaded the webhook script)');
my $before = $noscript->();
for my $round (1 .. 5) {
    is($t->send_sms(key => $key, from_number => $from, message => "loaded $round",
                    to => ['+14155552681', '+14155552682'])->{status}, 202, "send $round with the script cached");
}
is($noscript->(), $before, 'no NOSCRIPT once the script is loaded');

$t->done;
