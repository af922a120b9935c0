#!/usr/bin/perl
# Lanes (common/bc_lane.h): with lanes=3 the send queue and the events
# stream are three hash-tagged streams each. Ids name their lane, sends
# spread over all three and are each delivered exactly once, a batch and
# its Idempotency-Key record share one lane, a revoked key loses its cached
# copy in every lane, an inbound STOP then START from one number keep their
# order, a WhatsApp window opens in its conversation's lane, /metrics adds
# the lanes up, a sender SIGKILLed with entries in every lane leaves
# nothing lost or doubled, and deleted streams get their groups back.
# (On a Redis Cluster the lanes are on different masters: t/45.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use BC::Test qw(:all);

my $LANES = 3;
my $t = BC::Test->new(env => { BC_REDIS_LANES => $LANES, BC_RECLAIM_IDLE_MS => 1000,
                               BC_MAX_INFLIGHT => 8 });
my ($key, $kr) = $t->create_key('send');
my $key_id = $kr->{json}{id};

my $CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
sub lane_of_id { index($CROCKFORD, uc substr($_[0], -1)) % $LANES }
sub fnv1a {
    my $h = 2166136261;
    for my $c (unpack 'C*', $_[0]) {
        use integer;
        $h = (($h ^ $c) * 16777619) & 0xffffffff;
    }
    return $h;
}
sub lane_of_str { fnv1a($_[0]) % $LANES }
sub lane_key { my ($fam, $lane, $sfx) = @_; ($lane ? "bc:{$fam:$lane}" : "bc:{$fam}") . ":$sfx" }
sub send_stream { lane_key('q', $_[0], 'stream:send') }
sub events_stream { lane_key('ev', $_[0], 'stream:events') }
sub received { my %n; $n{ $_->{to} // '' }++ for @{ $t->sim_messages }; \%n }

# ------------------------------------------------------------ the streams
for my $l (0 .. $LANES - 1) {
    like($t->redis_raw('XINFO', 'GROUPS', send_stream($l)) // '', qr/^senders$/m,
         "lane $l: the senders group on " . send_stream($l));
    like($t->redis_raw('XINFO', 'GROUPS', events_stream($l)) // '', qr/^recorders$/m,
         "lane $l: the recorders group on " . events_stream($l));
}

# ------------------------------------------------------------ sends spread
my $N = 90;
my (%lane_n, @ids, %to_of);
for my $i (1 .. $N) {
    my $to = sprintf '+1415557%04d', $i;
    my $r = $t->send_sms(key => $key, to => [$to], message => "lane test $i");
    $r->{status} == 202 or do { fail("send $i: $r->{status} $r->{content}"); next };
    my $id = $r->{json}{messages}[0]{id};
    push @ids, $id;
    $to_of{$id} = $to;
    $lane_n{ lane_of_id($id) }++;
}
is(scalar @ids, $N, "$N single sends accepted");
is(scalar(grep { ($lane_n{$_} // 0) >= 10 } 0 .. $LANES - 1), $LANES,
   'their ids name all three lanes, each at least 10 times')
    or diag explain \%lane_n;
is_deeply({ map { $_ => $t->stream_added(send_stream($_)) } 0 .. $LANES - 1 },
          { map { $_ => $lane_n{$_} // 0 } 0 .. $LANES - 1 },
          'each lane\'s stream got exactly the messages whose ids name it');
my $st = $t->wait_status(\@ids, qr/^(delivered|failed|undelivered)$/, 90, $key);
is(scalar(grep { ($st->{$_}{status} // '') eq 'delivered' } @ids), $N, "all $N delivered");
my $got = received();
is(scalar(grep { ($got->{ $to_of{$_} } // 0) == 1 } @ids), $N, 'each reached the provider exactly once');

# ------------------------------------------------------------ a batch, idempotent
my @batch_to = map { sprintf '+1415558%04d', $_ } 1 .. 5;
my %idem = (key => $key, to => \@batch_to, message => 'one lane batch',
            headers => { 'Idempotency-Key' => 'lanes-batch-1' });
my $b1 = $t->send_sms(%idem);
is($b1->{status}, 202, 'a batch of 5 with an Idempotency-Key') or diag $b1->{content};
my $bid = $b1->{json}{batch_id} // '';
my @bids = map { $_->{id} } @{ $b1->{json}{messages} || [] };
my $blane = lane_of_id($bid);
is(scalar(grep { lane_of_id($_) == $blane } @bids), 5, "the batch id and its 5 message ids name one lane ($blane)");
is($blane, lane_of_str(sha256_hex('lanes-batch-1')), 'the lane of the Idempotency-Key');
ok(defined $t->redis('GET', lane_key('q', $blane, "idem:$key_id:" . sha256_hex('lanes-batch-1'))),
   'the idempotency record is in that lane');
my $b2 = $t->send_sms(%idem);
is($b2->{status}, 202, 'the same request again');
is_deeply($b2->{json}, $b1->{json}, '... answers as the first time');
$st = $t->wait_status(\@bids, qr/^(delivered|failed|undelivered)$/, 60, $key);
is(scalar(grep { ($st->{$_}{status} // '') eq 'delivered' } @bids), 5, 'the batch delivered');
my $r = $t->get("/api/batch/$bid", key => $key);
is($r->{status}, 200, 'GET /api/batch finds it');
is(scalar @{ $r->{json}{messages} || [] }, 5, '... with its 5 messages');
$got = received();
is(scalar(grep { ($got->{$_} // 0) == 1 } @batch_to), 5, 'each batch recipient got one message');

# ------------------------------------------------------------ revocation
my $hash = sha256_hex($key);
my @copies = grep { ($t->redis('EXISTS', lane_key('q', $_, "cred:$hash")) // 0) == 1 } 0 .. $LANES - 1;
ok(@copies >= 2, 'the key\'s cached credential has copies in several lanes (' . scalar(@copies) . ')');
$r = $t->post("/api/keys/$key_id/revoke", token => $t->token);
is($r->{status}, 200, 'the key revoked') or diag $r->{content};
is(scalar(grep { ($t->redis('EXISTS', lane_key('q', $_, "cred:$hash")) // 0) == 1 } 0 .. $LANES - 1), 0,
   'no lane keeps a copy');
my $refused = grep { $t->send_sms(key => $key, to => ['+14155579999'], message => 'x')->{status} == 401 } 1 .. 12;
is($refused, 12, 'twelve sends after the revocation: all 401');
my $key2 = $t->create_key('send', 'second');

# ------------------------------------------------------------ events in order
# an inbound STOP and then START from one number must be applied in that
# order: both are in the lane of the conversation
my @peers = map { sprintf '+1415559%04d', $_ } 1 .. 12;
my @sids;
my %ev0 = map { $_ => $t->stream_added(events_stream($_)) } 0 .. $LANES - 1;
for my $p (@peers) {
    for my $word ('STOP', 'START') {
        my $sid = 'SM' . hex32();
        push @sids, $sid;
        my $r = $t->twilio_post('/webhooks/twilio/sms/inbound', $t->inbound_sms_params($p, $word, $sid));
        $r->{status} == 200 or fail("inbound $word from $p: $r->{status}");
    }
}
ok(wait_until(sub { !grep { !$t->inbound_count($_) } @sids }, 60, 0.1), 'all 24 inbound messages recorded');
my @used = grep { $t->stream_added(events_stream($_)) > $ev0{$_} } 0 .. $LANES - 1;
ok(@used >= 2, 'the events went to several lanes (' . join(',', @used) . ')');
is($t->mysql_value('SELECT COUNT(*) FROM opt_outs WHERE address IN (' . join(',', ('?') x @peers) . ')', @peers), 0,
   'every number that sent STOP then START is opted in');

# a duplicate webhook is still recorded once
my $dup = 'SM' . hex32();
for (1 .. 2) {
    is($t->twilio_post('/webhooks/twilio/sms/inbound', $t->inbound_sms_params($peers[0], 'again', $dup))->{status},
       200, "the same inbound webhook, time $_");
}
ok(wait_until(sub { $t->inbound_count($dup) == 1 }, 30, 0.1), '... recorded once');

# ------------------------------------------------------------ the WhatsApp window
my $wa_from = $t->whatsapp_from;
my $U = '+14155560101';
my $in = $t->sim_inbound(channel => 'whatsapp', from => $U, body => 'hi');
my $wkey = lane_key('ev', lane_of_str("$wa_from:$U"), "wawin:$wa_from:$U");
ok(wait_until(sub { defined $t->redis('GET', $wkey) }, 30, 0.1), "the window key in its conversation's lane: $wkey");
$r = $t->send_whatsapp(key => $key2, to => [$U], body => 'inside the window');
is($r->{status}, 202, 'free text inside the window accepted') or diag $r->{content};
my $closed = $t->send_whatsapp(key => $key2, to => ['+14155560102'], body => 'closed');
like(rejection($closed, '+14155560102') // '', qr/^outside_24h_window\b/, 'a closed window is still refused');

# ------------------------------------------------------------ metrics and a crash
is($t->stop('sender'), 0, 'sender stopped');
my (%want, %lanes_q);
for my $i (1 .. 60) {
    my $to = sprintf '+1415561%04d', $i;
    my $r = $t->send_sms(key => $key2, to => [$to], message => "crash $i");
    $r->{status} == 202 or next;
    $want{ $r->{json}{messages}[0]{id} } = $to;
    $lanes_q{ lane_of_id($r->{json}{messages}[0]{id}) }++;
}
is(scalar keys %want, 60, '60 sends queued with no sender');
is(scalar keys %lanes_q, $LANES, 'in every lane');
ok(wait_until(sub { ($t->metric('broadcast_queue_depth', qr/queue="send"/) // -1) == 60 }, 10, 0.1),
   '/metrics: the send queue depth adds the lanes up (60)')
    or diag $t->metric('broadcast_queue_depth', qr/queue="send"/);
$t->sim_config(latency_ms => 300);
my $before = @{ $t->sim_messages };
is($t->start('sender'), 0, 'sender started');
ok(wait_until(sub { @{ $t->sim_messages } >= $before + 5 }, 60, 0.02), 'some of them reach the provider');
ok($t->kill9('sender'), 'sender SIGKILLed mid-run');
ok(@{ $t->sim_messages } < $before + 60, '... but not all of them');
$t->sim_config(latency_ms => 0);
is($t->start('sender'), 0, 'sender restarted');
$st = $t->wait_status([keys %want], qr/^(delivered|failed|undelivered)$/, 120, $key2);
is(scalar(grep { ($st->{$_}{status} // '') eq 'delivered' } keys %want), 60, 'all 60 delivered after the restart');
$got = received();
is(scalar(grep { ($got->{$_} // 0) == 1 } values %want), 60, 'each exactly once');
ok(wait_until(sub {
    !grep { ($t->redis_raw('XPENDING', send_stream($_), 'senders') // '') !~ /^0\b/ } 0 .. $LANES - 1
}, 30, 0.2), 'no lane has pending entries left');

# every lane's streams gone with their groups (a flushed Redis): the
# sender's pipelined read meets NOGROUP, makes the groups again once the
# pipeline is read, and what was queued since is delivered
$t->redis('DEL', map { (send_stream($_), events_stream($_)) } 0 .. $LANES - 1);
my %again;
for my $i (1 .. 9) {
    my $r = $t->send_sms(key => $key2, to => [sprintf('+1415562%04d', $i)], message => "again $i");
    $again{ $r->{json}{messages}[0]{id} } = 1 if $r->{status} == 202;
}
is(scalar keys %again, 9, 'nine sends after the streams were deleted');
$st = $t->wait_status([keys %again], qr/^(delivered|failed|undelivered)$/, 60, $key2);
is(scalar(grep { ($st->{$_}{status} // '') eq 'delivered' } keys %again), 9,
   'all nine delivered: the groups were made again');
like($t->redis_raw('XINFO', 'GROUPS', send_stream($_)) // '', qr/^senders$/m, "lane $_: the senders group is back")
    for 0 .. $LANES - 1;

$t->done;
