#!/usr/bin/perl
# Reporting: GET /api/stats (computed in SQL from the outbound message rows,
# a time range as an id range), GET /api/webhook-events (the audit rows of
# message_events, keyset-paged), and "broadcast_webhook twilio <kind>": the
# predecessor seeds' callback URLs (conf.example) answer one kind each.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Encode ();
use POSIX qw(strftime);
use Time::Local qw(timegm);
use BC::Test qw(:all);

my $t = BC::Test->new;
my $read = $t->create_key('read');
my $send = $t->create_key('send');
my $manage = $t->create_key('manage');

# ------------------------------------------------- fixtures
# Rows written as the sender would, at fixed times in 2020: the ids are
# ULIDs of their creation millisecond, as bc_ulid() makes them.
my @B32 = split //, '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
sub ulid_at {
    my ($ms) = @_;
    my $s = '';
    for (1 .. 10) { $s = $B32[$ms % 32] . $s; $ms = int($ms / 32) }
    $s .= $B32[int rand 32] for 1 .. 16;
    return $s;
}
sub ms_of { my ($y, $mo, $d, $h, $mi, $s) = @_; timegm($s, $mi, $h, $d, $mo - 1, $y) * 1000 }

my $B1 = ulid_at(ms_of(2020, 3, 1, 9, 0, 0));
my $B2 = ulid_at(ms_of(2020, 3, 2, 9, 0, 0));
my $B3 = ulid_at(ms_of(2020, 3, 3, 9, 0, 0));

my $seq = 0;
sub row {
    my (%a) = @_;
    my $ms = $a{ms};
    my $id = ulid_at($ms);
    my $at = strftime('%Y-%m-%d %H:%M:%S', gmtime(int($ms / 1000)))
           . sprintf('.%03d', $ms % 1000);
    my $to = $a{to} // sprintf('+1415555%04d', ++$seq);
    $t->dbh->do(q{INSERT INTO messages (id, batch_id, channel, direction, provider,
        to_address, from_address, peer, body, status, status_rank, send_state,
        price, price_unit, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'x', ?, ?, 'done', ?, ?, ?, ?)}, undef,
        $id, $a{batch} // $id, $a{channel} // 'sms', $a{direction} // 'outbound',
        $a{provider} // 'twilio', $to, $t->sms_from, $to, $a{status},
        $a{rank} // 50, $a{price}, $a{unit}, $at, $at);
    return $id;
}

# 2020-03-01: batch 1, seven SMS at 10:00:00, :01, ... (one second apart)
my @day1 = (['delivered', '-0.00750', 'USD'], ['delivered', '-0.00750', 'USD'],
            ['delivered', '-0.00750', 'USD'], ['failed'], ['undelivered'],
            ['queued'], ['blocked']);
my @day1_ids;
for my $i (0 .. $#day1) {
    my ($st, $price, $unit) = @{ $day1[$i] };
    push @day1_ids, row(ms => ms_of(2020, 3, 1, 10, 0, $i), batch => $B1, status => $st,
                        price => $price, unit => $unit);
}
# an inbound text that day: not ours to count
row(ms => ms_of(2020, 3, 1, 12, 0, 0), direction => 'inbound', status => 'received', rank => 0);
# 2020-03-02: a WhatsApp read (priced in EUR) and an SMS delivered
row(ms => ms_of(2020, 3, 2, 10, 0, 0), batch => $B2, channel => 'whatsapp', status => 'read',
    rank => 60, price => '-0.00500', unit => 'EUR', to => 'whatsapp:+14155550001');
row(ms => ms_of(2020, 3, 2, 23, 59, 59) + 999, batch => $B2, status => 'delivered',
    price => '-0.00750', unit => 'USD');
# 2020-03-03: an e-mail delivered
row(ms => ms_of(2020, 3, 3, 0, 0, 0), batch => $B3, channel => 'email', provider => 'sendgrid',
    status => 'delivered', to => 'ann@example.com');

sub stats {
    my ($q, $key) = @_;
    return $t->get('/api/stats' . (defined $q ? "?$q" : ''), key => $key // $read);
}
sub close_to { my ($a, $b) = @_; defined $a && abs($a - $b) < 1e-9 }
sub cost_of {
    my ($j, $unit) = @_;
    my ($c) = grep { ($_->{unit} // '') eq $unit } @{ $j->{cost} || [] };
    return $c ? $c->{amount} : undef;
}

# ------------------------------------------------- GET /api/stats
{
    my $r = stats('from=2020-03-01&to=2020-03-03');
    is($r->{status}, 200, 'stats: 200') or diag $r->{content};
    my $j = $r->{json} // {};
    is($j->{total}, 10, 'stats: the ten outbound rows, the inbound one left out');
    is_deeply($j->{by_status}, { delivered => 5, read => 1, failed => 1, undelivered => 1,
        queued => 1, blocked => 1 }, 'stats: by_status');
    ok(close_to($j->{delivery_rate}, 0.75),
       'stats: delivery_rate = (delivered + read) / (those + failed + undelivered) = 6/8')
        or diag explain $j->{delivery_rate};
    my $usd = cost_of($j, 'USD');
    like($usd // '', qr/^-?\d+\.\d+$/, 'stats: cost amount is an exact decimal string');
    ok(close_to($usd, -0.03), 'stats: USD cost is the sum of four prices') or diag $usd;
    ok(close_to(cost_of($j, 'EUR'), -0.005), 'stats: EUR apart');
    is(scalar @{ $j->{cost} || [] }, 2, 'stats: one cost entry per unit');
    is_deeply($j->{by_day}, [
        { day => '2020-03-01', total => 7, delivered => 3, failed => 2 },
        { day => '2020-03-02', total => 2, delivered => 2, failed => 0 },
        { day => '2020-03-03', total => 1, delivered => 1, failed => 0 },
    ], 'stats: by_day in day order') or diag explain $j->{by_day};

    $j = stats('channel=sms&from=2020-03-01&to=2020-03-03')->{json} // {};
    is($j->{total}, 8, 'stats channel=sms: 8');
    ok(!exists $j->{by_status}{read}, 'stats channel=sms: no WhatsApp read');

    $j = stats("batch_id=$B1")->{json} // {};
    is($j->{total}, 7, 'stats batch_id: only that batch');
    ok(close_to($j->{delivery_rate}, 0.6), 'stats batch_id: rate 3/5');

    # a bare date as "to" is that whole day, up to its last millisecond
    is(stats('from=2020-03-01&to=2020-03-01')->{json}{total}, 7, 'stats to=<date>: that whole day');
    is(stats('from=2020-03-02&to=2020-03-02')->{json}{total}, 2,
       'stats to=<date>: includes 23:59:59.999');
    is(stats('from=2020-03-02')->{json}{total}, 3, 'stats from only');
    is(stats('to=2020-03-01T10:00:02Z')->{json}{total}, 3, 'stats to=<time>: up to that millisecond');
    is(stats('from=2020-03-01T10:00:01Z&to=2020-03-01')->{json}{total}, 6,
       'stats from=<time>: from that millisecond');
    is(stats('from=2020-03-01T11:00:01%2B01:00&to=2020-03-01')->{json}{total}, 6,
       'stats: an offset is honoured');
    is(stats('from=2020-03-01T10:00:00.001Z&to=2020-03-01')->{json}{total}, 6,
       'stats: milliseconds are honoured');

    $j = stats('from=2019-01-01&to=2019-12-31')->{json} // {};
    is_deeply($j, { total => 0, by_status => {}, delivery_rate => undef, cost => [], by_day => [] },
              'stats: an empty range: zeros and a null rate') or diag explain $j;

    # every scope reads; a read route has no lower scope to refuse
    is(stats('batch_id=' . $B1, $send)->{status}, 200, 'stats: a send key reads');
    is(stats('batch_id=' . $B1, $manage)->{status}, 200, 'stats: a manage key reads');
    is($t->get('/api/stats?batch_id=' . $B1, token => $t->token)->{status}, 200,
       'stats: an admin session reads');
    is_error($t->get('/api/stats'), 401, 'unauthorized', 'stats without a credential');
    is_error($t->get('/api/stats', key => 'bc_' . hex32()), 401, 'unauthorized',
             'stats with an unknown key');
    is_error($t->get('/api/stats/today', key => $read), 404, 'not_found', 'stats/today');
    is($t->post('/api/stats', key => $manage, json => {})->{status}, 405, 'POST /api/stats: 405');
}

# hostile and wrong values: refused before any SQL, with a message
{
    my %bad = (
        "channel=sms'%20OR%20'1'='1" => 'channel with SQL',
        'channel=fax'                 => 'unknown channel',
        'batch_id=%3Cscript%3Ealert(1)%3C%2Fscript%3E' => 'batch_id <script>',
        "batch_id=01ARZ3NDEKTSV4RRFFQ69G5FA'" => 'batch_id with a quote',
        'batch_id=' . ('A' x 27)      => 'batch_id too long',
        'from=yesterday'              => 'from not a time',
        'from=2020-13-01'             => 'month 13',
        'to=2020-03-01T25:00:00Z'     => 'hour 25',
        'from=%FF%FE'                 => 'invalid UTF-8 in from',
        'from=' . ('2' x 5000)        => 'an over-long from',
        'to=10000-01-01'              => 'a year past the ULID range',
    );
    for my $q (sort keys %bad) {
        is_error(stats($q), 400, 'invalid_request', "stats $bad{$q}");
    }
    is_error(stats('from=2020-03-02&to=2020-03-01'), 422, 'invalid_range', 'stats from after to');
    is($t->mysql_value('SELECT COUNT(*) FROM messages'), 11, 'stats: nothing written by the checks');
}

# ------------------------------------------------- GET /api/sms/stats
# the predecessor's shape, on the same rows: SMS both ways ("received"
# counts inbound texts), its created_from/created_to honoured
{
    my $r = $t->get("/api/sms/stats?batch_id=$B1", key => $read);
    is($r->{status}, 200, 'sms/stats: 200') or diag $r->{content};
    my $j = $r->{json} // {};
    is_deeply({ map { $_ => $j->{$_} } grep { $_ ne 'cost' } keys %$j },
              { total => 7, delivered => 3, failed => 1, undelivered => 1, queued => 1, sent => 0,
                received => 0, blocked => 1, price_unit => 'USD' }, 'sms/stats batch_id: its counts')
        or diag explain $j;
    like($r->{content}, qr/"cost":-0\.0225/, 'sms/stats: cost is a JSON number, the exact sum');
    $j = $t->get('/api/sms/stats?created_from=2020-03-01&created_to=2020-03-03', key => $read)->{json} // {};
    is($j->{total}, 9, 'sms/stats range: eight SMS sent and one received');
    is($j->{received}, 1, 'sms/stats range: received counts the inbound text');
    is($j->{delivered}, 4, 'sms/stats range: delivered');
    ok(close_to($j->{cost}, -0.03), 'sms/stats range: cost');
    $j = $t->get('/api/sms/stats?created_from=2019-01-01&created_to=2019-01-02', key => $read)->{json} // {};
    is_deeply($j, { total => 0, delivered => 0, failed => 0, undelivered => 0, queued => 0, sent => 0,
                    received => 0, blocked => 0, cost => 0, price_unit => undef }, 'sms/stats: empty range')
        or diag explain $j;
    is_error($t->get('/api/sms/stats?campaign_id=3', key => $read), 400, 'invalid_request',
             'sms/stats campaign_id (no campaigns yet)');
    is_error($t->get('/api/sms/stats?created_from=soon', key => $read), 400, 'invalid_request',
             'sms/stats created_from not a time');
    is_error($t->get('/api/sms/stats'), 401, 'unauthorized', 'sms/stats without a credential');
}

# ------------------------------------------------- broadcast_webhook twilio <kind>
# seed 002's status URL: a signed callback for one of our messages is
# recorded (its error keeps the raw body in message_events)
my $mid = row(ms => ms_of(2020, 4, 1, 10, 0, 0), status => 'sent', rank => 40);
my $sid = 'SM' . hex32();
my %status = (AccountSid => $t->account_sid, ApiVersion => '2010-04-01', From => $t->sms_from,
              To => '+14155552671', MessageSid => $sid, SmsSid => $sid,
              MessageStatus => 'undelivered', SmsStatus => 'undelivered', ErrorCode => '30003');
{
    my $path = "/api/webhook/twilio/status?mid=$mid";
    my $r = $t->twilio_post($path, \%status, no_signature => 1);
    is($r->{status}, 403, 'seed status URL: unsigned 403');
    $r = $t->twilio_post($path, \%status, sig_url => $t->public_url . "/webhooks/twilio/sms/status?mid=$mid");
    is($r->{status}, 403, 'seed status URL: a signature of another URL is refused (it covers the URL)');
    $r = $t->twilio_post($path, \%status);
    is($r->{status}, 200, 'seed status URL: signed 200') or diag $r->{content};
    ok(wait_until(sub { $t->mysql_value('SELECT status FROM messages WHERE id = ?', $mid) eq 'undelivered' }),
       'seed status URL: the status is recorded on the message');
    is($t->mysql_value('SELECT error_code FROM messages WHERE id = ?', $mid), '30003', '... with its error code');
    ok(wait_until(sub { $t->event_count($mid) }), 'seed status URL: an audit row (kind sms_status)');
    is($t->mysql_value('SELECT kind FROM message_events WHERE message_id = ?', $mid), 'sms_status',
       '... of kind sms_status, whatever the path');
}

# seed 001's inbound URL and the incoming URL of seed 002: sms_inbound
my $evil = q{<script>alert(1)</script> '; DROP TABLE messages; -- ✓};
my $in_sid = 'SM' . hex32();
{
    # Twilio signs and posts UTF-8 bytes
    my $r = $t->twilio_post('/webhooks/message',
        $t->inbound_sms_params('+14155550123', Encode::encode_utf8($evil), $in_sid));
    is($r->{status}, 200, 'seed 001 /webhooks/message: signed inbound 200') or diag $r->{content};
    ok(wait_until(sub { $t->inbound_count($in_sid) }), '... stored as an inbound SMS');
    is($t->mysql_open(q{SELECT body FROM messages WHERE direction = 'inbound' AND provider_message_id = ?}, $in_sid),
       $evil, '... its hostile text stored as sent (sealed at rest)');
    my $sid2 = 'SM' . hex32();
    $r = $t->twilio_post('/api/webhook/twilio/incoming', $t->inbound_sms_params('+14155550124', 'hi', $sid2));
    is($r->{status}, 200, 'seed 002 /api/webhook/twilio/incoming: 200');
    ok(wait_until(sub { $t->inbound_count($sid2) }), '... stored as an inbound SMS');
    $r = $t->twilio_post('/webhooks/call', { AccountSid => $t->account_sid, CallSid => 'CA' . hex32(),
                                              CallStatus => 'completed' });
    is($r->{status}, 200, 'seed 001 /webhooks/call: 200');
    like($r->{content}, qr{<Response/>}, '... answered with TwiML');
    is($t->twilio_post('/webhooks/message', $t->inbound_sms_params('+14155550125', 'x', 'SM' . hex32()),
                       no_signature => 1)->{status}, 403, 'seed 001 /webhooks/message: unsigned 403');
    # without a kind the suffix matching of today stays
    is($t->callback(mid => $mid, status => 'delivered')->{status}, 200,
       '/webhooks/twilio/sms/status (by suffix) still answers');
}

# an unknown kind is a configuration error that names the valid ones
{
    my $dir = $t->dir . '/nginx';
    open my $fh, '<', "$dir/conf/nginx.conf" or die "nginx.conf: $!";
    my $conf = do { local $/; <$fh> };
    close $fh;
    my $nginx = nginx_command();
    for my $case (['broadcast_webhook twilio pigeon;', qr/unknown kind "pigeon".*sms_status, .*call/,
                   'an unknown kind'],
                  ['broadcast_webhook sendgrid sms_status;', qr/broadcast_webhook sendgrid takes no kind/,
                   'a kind for a provider without kinds']) {
        (my $c = $conf) =~ s/broadcast_webhook twilio sms_status;/$case->[0]/ or die 'no kind location';
        open my $out, '>', "$dir/conf/bad-kind.conf" or die $!;
        print $out $c;
        close $out;
        my $o = `$nginx -p $dir/ -c conf/bad-kind.conf -e logs/bad-kind.log -t 2>&1`;
        isnt($? >> 8, 0, "$case->[2]: nginx -t fails");
        like($o, $case->[1], "$case->[2]: the message names it") or diag $o;
    }
}

# ------------------------------------------------- GET /api/webhook-events
{
    # the recorder applies the events stream in order: once a later inbound
    # text is stored, every event above has its audit row
    $t->barrier;
    my $r = $t->get('/api/webhook-events', key => $read);
    is($r->{status}, 200, 'webhook-events: 200') or diag $r->{content};
    my $ev = $r->{json}{events} || [];
    ok(@$ev >= 3, 'webhook-events: the audit rows') or diag explain $r->{json};
    my @ids = map { $_->{id} } @$ev;
    is_deeply(\@ids, [sort { $b <=> $a } @ids], 'webhook-events: newest first');
    my ($st) = grep { ($_->{message_id} // '') eq $mid && ($_->{status} // '') eq 'undelivered' } @$ev;
    ok($st, 'webhook-events: the status callback of the seed URL') or diag explain $ev;
    is($st->{kind}, 'sms_status', '... kind');
    is($st->{provider}, 'twilio', '... provider');
    is($st->{error_code}, '30003', '... error_code');
    is($st->{provider_message_id}, $sid, '... provider_message_id');
    like($st->{dedup_key} // '', qr/^[0-9a-f]{64}$/, '... dedup_key');
    like($st->{payload} // '', qr/ErrorCode=30003/, '... payload as stored (the raw form)');
    like($st->{created_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, '... created_at');
    ok(exists $st->{$_}, "... $_ present") for qw(error_message price price_unit num_segments);
    my ($in) = grep { ($_->{kind} // '') eq 'sms_inbound' && ($_->{payload} // '') =~ /\Q$in_sid\E/ } @$ev;
    ok($in, 'webhook-events: the inbound text of /webhooks/message') or diag explain $ev;
    like($in->{payload} // '', qr/%3Cscript%3E|<script>/, '... hostile text returned as stored, inside JSON');
    is($r->{json}{next_cursor}, undef, 'webhook-events: one page, no next_cursor');

    # keyset paging: every row once, in order
    my (@seen, $cursor, $pages);
    do {
        $r = $t->get('/api/webhook-events?limit=1' . (defined $cursor ? "&cursor=$cursor" : ''), key => $read);
        is($r->{status}, 200, 'webhook-events page') or last;
        push @seen, map { $_->{id} } @{ $r->{json}{events} };
        is(scalar @{ $r->{json}{events} }, 1, 'webhook-events limit=1: one row') if defined $r->{json}{next_cursor};
        $cursor = $r->{json}{next_cursor};
    } while (defined $cursor && ++$pages < 50);
    is_deeply(\@seen, \@ids, 'webhook-events: the pages hold every row once, newest first');

    my $tw = $t->get('/api/webhook-events?provider=twilio', key => $read)->{json}{events} || [];
    is(scalar @$tw, scalar @$ev, 'webhook-events provider=twilio: all of them');
    is_deeply($t->get('/api/webhook-events?provider=meta', key => $read)->{json},
              { events => [], next_cursor => undef }, 'webhook-events provider=meta: none');

    is_error($t->get('/api/webhook-events'), 401, 'unauthorized', 'webhook-events without a credential');
    is($t->get('/api/webhook-events', key => $send)->{status}, 200, 'webhook-events: a send key reads');
    is_error($t->get('/api/webhook-events/1', key => $read), 404, 'not_found', 'webhook-events/1');
    for my $q ('provider=pigeon', "provider=twilio'%20OR%201=1--", 'limit=0', 'limit=201', 'limit=ten',
               'cursor=abc', "cursor=1%20OR%201=1", 'cursor=-5', 'cursor=' . ('9' x 40),
               'provider=%3Cscript%3E') {
        is_error($t->get("/api/webhook-events?$q", key => $read), 400, 'invalid_request', "webhook-events $q");
    }
}

$t->done;
