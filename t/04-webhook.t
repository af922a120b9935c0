#!/usr/bin/perl
# Twilio status callbacks: signatures, no side effects when forged, replay,
# out-of-order, terminal statuses, port variants of the signed URL.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

# public URL without a port, so that Twilio's ":80" variant applies; the
# simulator's own callbacks are delayed out of the way: we send our own.
my $t = BC::Test->new(env => {
    BC_PUBLIC_URL => 'http://127.0.0.1',
    BC_SIM_ARGS   => '--callback-delay-ms 3600000',
});
my $key = $t->create_key('send');

# one message per scenario, each accepted by the provider (has a sid)
my @to = map { "+1415555" . (2700 + $_) } 1 .. 7;
my $r = $t->send_sms(key => $key, to => \@to, message => 'webhook test');
is($r->{status}, 202, 'sent 7') or diag $r->{content};
my %id = map { $_->{to} => $_->{id} } @{ $r->{json}{messages} || [] };
my %sid;
ok(wait_until(sub {
    for my $to (@to) {
        next if $sid{$to};
        my $s = $t->status_of($id{$to}, $key) or next;
        $sid{$to} = $s->{provider_message_id}
            if $s->{status} eq 'accepted' && $s->{provider_message_id};
    }
    keys %sid == @to;
}, 60, 0.2), 'all 7 accepted by the provider with a sid');

my ($A, $B, $C, $D, $E, $F, $G) = @to;
sub status { $t->message_status($id{$_[0]}, $key) }
sub events { $t->event_count($id{$_[0]}) }
sub cb { my ($to, $st, %x) = @_; $t->callback(mid => $id{$to}, sid => $sid{$to}, To => $to, status => $st, %x) }

# --- forged / missing signatures: 403, nothing queued, nothing recorded
my $fail0 = $t->metric('broadcast_signature_failures_total') // 0;
my $queued0 = $t->stream_added;
$r = cb($A, 'delivered', no_signature => 1);
is($r->{status}, 403, 'missing signature 403');
is($r->{json}{error}{code}, 'invalid_signature', 'invalid_signature code');
$r = cb($A, 'delivered', signature => 'bm90IGEgc2lnbmF0dXJlIGF0IGFsbA==');
is($r->{status}, 403, 'forged signature 403');
$r = cb($A, 'delivered', sig_url => 'http://evil.example.com/webhooks/twilio/sms/status?mid=' . $id{$A});
is($r->{status}, 403, 'signature over another URL 403');
# signed with the right token but a tampered parameter
{
    my %p = (AccountSid => $t->account_sid, MessageSid => $sid{$A}, MessageStatus => 'sent');
    my $url = $t->public_url . "/webhooks/twilio/sms/status?mid=$id{$A}";
    my $sig = BC::Test::twilio_sign($t->auth_token, $url, \%p);
    $r = $t->post("/webhooks/twilio/sms/status?mid=$id{$A}",
        form => { %p, MessageStatus => 'delivered' }, headers => { 'X-Twilio-Signature' => $sig });
    is($r->{status}, 403, 'tampered parameter 403');
}
$r = cb($A, 'delivered', AccountSid => 'AC' . ('0' x 32));
is($r->{status}, 403, 'validly signed callback from another AccountSid 403');
is($t->stream_added, $queued0, 'nothing queued for rejected callbacks');
my $fail1 = $t->metric('broadcast_signature_failures_total') // 0;
ok($fail1 - $fail0 >= 4, "broadcast_signature_failures_total increased ($fail0 -> $fail1)");
$t->barrier;
is(status($A), 'accepted', 'A unchanged by forged callbacks');
is(events($A), 0, 'no message_events for A');

# --- valid callback, then a replay: 200 both, queued once
my $queued1 = $t->stream_added;
$r = cb($A, 'sent');
is($r->{status}, 200, 'valid callback 200');
like($r->{content} // '', qr/<Response\s*\/>/, 'answered <Response/>');
ok(wait_until(sub { status($A) eq 'sent' }, 30, 0.1), 'A is sent');
is($t->stream_added, $queued1 + 1, 'valid callback queued');
$r = cb($A, 'sent');
is($r->{status}, 200, 'replayed callback 200');
is($t->stream_added, $queued1 + 1, 'replay not queued again');
$t->barrier;
# a plain status callback is kept in the message row, not as an audit row
is(events($A), 0, 'no audit row for a plain status callback');
ok($t->mysql_value('SELECT sent_at IS NOT NULL FROM messages WHERE id = ?', $id{$A}),
   'sent_at recorded from the callback');

# --- out of order: delivered, then sent -> stays delivered
is(cb($B, 'delivered', Price => '-0.00750', PriceUnit => 'USD', NumSegments => 1)->{status}, 200, 'B delivered 200');
ok(wait_until(sub { status($B) eq 'delivered' }, 30, 0.1), 'B delivered');
is(cb($B, 'sent')->{status}, 200, 'late "sent" for B 200');
$t->barrier;
is(status($B), 'delivered', 'B stays delivered after a late "sent"');
my $bj = $t->status_of($id{$B}, $key);
is($bj->{price_unit}, 'USD', 'price unit from the callback');
ok(defined $bj->{price} && abs($bj->{price} + 0.0075) < 1e-9, 'price from the callback') or diag explain $bj->{price};
ok($t->mysql_value('SELECT sent_at IS NOT NULL AND delivered_at IS NOT NULL FROM messages WHERE id = ?', $id{$B}),
   'both B timestamps kept although "sent" came last');
is(($t->status_of($id{$B}, $key) || {})->{num_segments}, 1, 'segments from the callback');

# --- failed is terminal
is(cb($C, 'failed', ErrorCode => '30003')->{status}, 200, 'C failed 200');
ok(wait_until(sub { status($C) eq 'failed' }, 30, 0.1), 'C failed');
is(cb($C, 'delivered')->{status}, 200, 'later "delivered" for C 200');
$t->barrier;
is(status($C), 'failed', 'failed is terminal');
is(($t->status_of($id{$C}, $key) || {})->{error_code}, '30003', 'error code stored');
is(scalar(grep { ($t->unseal($_->[0]) // '') =~ /ErrorCode=30003/ }
       @{ $t->dbh->selectall_arrayref(q{SELECT payload FROM message_events WHERE message_id = ? AND error_code = '30003'}, undef, $id{$C}) }),
   1, 'the failure is kept as an audit row with its raw body (sealed)');
# times follow the status: a failed message shows no delivery or read time
is(cb($C, 'read')->{status}, 200, 'later "read" for C 200');
$t->barrier;
is($t->mysql_value('SELECT CONCAT(status, ":", delivered_at IS NULL, read_at IS NULL) FROM messages WHERE id = ?', $id{$C}),
   'failed:11', 'failed C has neither delivered_at nor read_at after late "delivered" and "read"');

# --- a failure after a confirmed delivery does not undo it: the message
# stays delivered, the late report is kept as an audit row with its error
is(cb($B, 'undelivered', ErrorCode => '30005')->{status}, 200, 'late "undelivered" for delivered B 200');
$t->barrier;
is(status($B), 'delivered', 'B stays delivered after a late failure report');
is($t->mysql_value(q{SELECT COUNT(*) FROM message_events WHERE message_id = ? AND error_code = '30005'}, $id{$B}),
   1, 'the late failure is kept as an audit row with its code');
ok($t->mysql_value('SELECT delivered_at IS NOT NULL FROM messages WHERE id = ?', $id{$B}), 'B keeps its delivered_at');

# --- a signed callback with a price and a segment count the columns cannot
# hold (DECIMAL(12,5), INT): recorded without them, with its audit row, and
# the callbacks behind it are recorded too (the batch's statement must not fail)
my $f_segs = ($t->status_of($id{$F}, $key) || {})->{num_segments};
is(cb($F, 'delivered', Price => '-1.2.3', NumSegments => '99999999999')->{status}, 200,
   'F delivered with a malformed price 200');
$t->barrier;
is(status($F), 'delivered', 'F delivered despite its malformed price');
my $fj = $t->status_of($id{$F}, $key) || {};
ok(!defined $fj->{price}, 'malformed price stored as NULL') or diag explain $fj->{price};
is($fj->{num_segments}, $f_segs, 'out-of-range segment count ignored (the one from the send stays)');
is(events($F), 1, 'the malformed callback kept as an audit row');

# --- an error message that is not UTF-8 (the column is utf8mb4): recorded
# with the status and code, the broken bytes dropped, nothing held up
is(cb($G, 'undelivered', ErrorCode => '30005', ErrorMessage => "bad \xff\xfe bytes")->{status}, 200,
   'G undelivered with a non-UTF-8 error message 200');
$t->barrier;
is(status($G), 'undelivered', 'G undelivered despite its broken error message');
my $gj = $t->status_of($id{$G}, $key) || {};
is($gj->{error_code}, '30005', 'G error code stored');
is($gj->{error_message}, 'bad ?? bytes', 'the broken bytes stored as "?"');
is(events($G), 1, 'G kept as an audit row');

# --- signature variants of the URL: explicit :80 accepted
my $url80 = "http://127.0.0.1:80/webhooks/twilio/sms/status?mid=$id{$D}";
is(cb($D, 'delivered', sig_url => $url80)->{status}, 200, 'signature over the URL with :80 accepted');
ok(wait_until(sub { status($D) eq 'delivered' }, 30, 0.1), 'D delivered via the :80 signature');

# --- by sid only (no mid in the URL)
$r = $t->callback(sid => $sid{$E}, To => $E, status => 'delivered');
is($r->{status}, 200, 'callback without mid 200');
ok(wait_until(sub { status($E) eq 'delivered' }, 30, 0.1), 'E found by provider_message_id');

# JSON-body variant: the URL carries bodySHA256 = hex SHA-256 of the raw body,
# and only the URL is signed; a body that does not match the hash is forged
{
    require Digest::SHA;
    my $json = '{"AccountSid":"' . $t->account_sid . '","MessageSid":"SM'
        . ('b' x 32) . '","MessageStatus":"sent"}';
    my $path = '/webhooks/twilio/sms/status?bodySHA256=' . Digest::SHA::sha256_hex($json);
    my $sig = BC::Test::twilio_sign($t->auth_token, $t->public_url . $path, {});
    my %h = ('X-Twilio-Signature' => $sig, 'Content-Type' => 'application/json');
    my $queued = sub { $t->stream_added };
    my $x0 = $queued->();
    my $r = $t->post($path, body => $json, headers => \%h);
    is($r->{status}, 200, 'JSON body matching its signed bodySHA256: 200');
    is($queued->(), $x0 + 1, '... and queued once');
    (my $tampered = $json) =~ s/"sent"/"delivered"/;
    $r = $t->post($path, body => $tampered, headers => \%h);
    is($r->{status}, 403, 'JSON body not matching bodySHA256: 403');
    is($r->{json}{error}{code}, 'invalid_signature', '... invalid_signature');
    is($queued->(), $x0 + 1, '... and nothing queued');
}

# a path under a webhook location that names no endpoint: JSON 404, nothing queued
{
    my $x0 = $t->stream_added;
    for my $path ('/webhooks/twilio/sms/nope', '/webhooks/sendgrid/nope') {
        my $r = $t->post($path, form => { MessageSid => 'SMx', MessageStatus => 'sent' });
        is($r->{status}, 404, "$path: 404");
        is($r->{json}{error}{code}, 'not_found', "$path: not_found");
    }
    is($t->stream_added, $x0, 'nothing queued for unknown endpoints');
}

$t->done;
