#!/usr/bin/perl
# WhatsApp through Meta's Cloud API (from_address meta:<phone-number-id>):
# templates, free text and the 24 h window, the GET hub.challenge handshake,
# X-Hub-Signature-256, replays and out-of-order statuses on /webhooks/meta.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my $key = $t->create_key('send');
my $pid = $t->cred('META_PHONE_NUMBER_ID');
like($pid // '', qr/^\d+$/, "providers.env META_PHONE_NUMBER_ID ($pid)");
my $from = $t->meta_from;

sub one_id { my ($r) = @_; my ($m) = @{ $r->{json}{messages} || [] }; $m ? $m->{id} : 'none' }
my $tpl = { name => 'hello_world', language => { code => 'en_US' } };

# the configured Meta number (broadcast_meta_phone_number_id) is allowed out
# of the box, like broadcast_whatsapp_from: no whitelist call before this
my $r = $t->send_whatsapp(key => $key, to => ['+14155550300'], from_address => $from, template => $tpl);
is($r->{status}, 202, "configured meta sender accepted without a whitelist call") or diag $r->{content};
my $first = one_id($r);
ok($t->wait_status([$first], qr/^(delivered|read)$/, 60, $key)->{$first}, 'and delivered')
    or diag explain $t->status_of($first, $key);

# and it is listed among the senders, can be neither added nor deleted
$r = $t->get('/api/whatsapp/senders', token => $t->token);
is($r->{status}, 200, 'GET /api/whatsapp/senders') or diag $r->{content};
ok(grep({ !ref $_ && $_ eq $from } @{ $r->{json}{senders} || [] }), "configured $from listed")
    or diag $r->{content};
$r = $t->post('/api/whatsapp/senders', token => $t->token, json => { from_address => $from });
is($r->{json}{status}, 'exists', 'configured meta sender: POST answers exists') or diag $r->{content};
$r = $t->http(DELETE => '/api/whatsapp/senders', token => $t->token, json => { from_address => $from });
is($r->{json}{status}, 'protected', 'configured meta sender: DELETE answers protected') or diag $r->{content};

# any other phone-number id is not: the operator adds it
my $other = 'meta:100000000000001';
$r = $t->send_whatsapp(key => $key, to => ['+14155550300'], from_address => $other, template => $tpl);
is($r->{status}, 422, "unlisted meta sender refused") or diag $r->{content};
is(eval { $r->{json}{error}{code} }, 'sender_not_allowed', 'sender_not_allowed') or diag $r->{content};
$r = $t->post('/api/whatsapp/senders', token => $t->token, json => { from_address => $other });
ok($r->{status} == 200 || $r->{status} == 201, "POST /api/whatsapp/senders $other") or diag $r->{content};
is($r->{json}{status}, 'added', 'meta sender added');
ok(grep({ (ref $_ ? $_->{from_address} // "" : $_) eq $other } @{ $r->{json}{senders} || [] }), 'listed in senders');

# ------------------------------------------------- template -> delivered -> read
my $A = '+14155550301';
$r = $t->send_whatsapp(key => $key, to => [$A], from_address => $from, template => $tpl);
is($r->{status}, 202, 'Meta template accepted') or diag $r->{content};
my $id = one_id($r);
ok($t->wait_status([$id], qr/^(delivered|read)$/, 60, $key)->{$id}, 'template delivered')
    or diag explain $t->status_of($id, $key);
my $s = $t->wait_status([$id], qr/^read$/, 60, $key)->{$id};
ok($s, 'template read') or diag explain $t->status_of($id, $key);
$s ||= $t->status_of($id, $key) || {};
is($s->{provider}, 'meta', 'provider meta');
is($s->{channel}, 'whatsapp', 'channel whatsapp');
is($s->{to}, $A, 'to is +E164');
is($s->{from}, $from, 'from is meta:<phone-number-id>');
like($s->{provider_message_id} // '', qr/^wamid\./, 'provider_message_id is a wamid');
ok($s->{read_at}, 'read_at set');
is($t->mysql_value('SELECT pricing_category FROM messages WHERE id=?', $id), 'utility', 'pricing_category from the status webhook');
my ($sm) = grep { ($_->{provider} // '') eq 'meta' && ($_->{template} // '') eq 'hello_world'
                  && ($_->{to} // '') =~ /14155550301$/ } @{ $t->sim_messages };
ok($sm, 'the simulator got a Meta template message');
is($sm->{to}, '14155550301', 'Graph API call used the digits only') if $sm;

# ------------------------------------------------- unknown template -> failed 132001
$r = $t->send_whatsapp(key => $key, to => ['+14155550302'], from_address => $from,
    template => { name => 'no_such_template', language => { code => 'en_US' } });
is($r->{status}, 202, 'unknown template accepted by our API (the provider decides)') or diag $r->{content};
$id = one_id($r);
$s = $t->wait_status([$id], qr/^failed$/, 60, $key)->{$id};
ok($s, 'unknown template failed') or diag explain $t->status_of($id, $key);
is($s->{error_code}, '132001', 'error_code 132001') if $s;
is($t->mysql_value('SELECT attempts FROM messages WHERE id=?', $id), 1, '132001 is not retried');

# ------------------------------------------------- free text and the window
my $B = '+14155550303';
my $in = $t->sim_inbound(channel => 'meta', from => $B, body => 'hi from meta');
ok($in->{id}, 'simulator posted a Meta inbound message');
ok(wait_until(sub {
    $t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE direction='inbound' AND provider_message_id=?}, $in->{id});
}, 30, 0.1), 'Meta inbound stored');
ok(defined $t->redis('GET', "bc:{ev}:wawin:$from:$B"), "window key bc:{ev}:wawin:$from:$B");
$r = $t->send_whatsapp(key => $key, to => [$B], from_address => $from, body => 'free text in the window');
is($r->{status}, 202, 'free text inside the window accepted') or diag $r->{content};
$id = one_id($r);
ok($t->wait_status([$id], qr/^(delivered|read)$/, 60, $key)->{$id}, 'free text delivered')
    or diag explain $t->status_of($id, $key);
my $C = '+14155550304';
$r = $t->send_whatsapp(key => $key, to => [$C], from_address => $from, body => 'free text, window closed');
like(rejection($r, $C) // '', qr/^outside_24h_window\b/, 'closed window: outside_24h_window') or diag $r->{content};
ok(!grep({ ($_->{to} // '') eq '14155550304' } @{ $t->sim_messages }), 'no provider call for it');

# unknown phone-number-id sender
$r = $t->send_whatsapp(key => $key, to => [$A], from_address => 'meta:999999999999999', template => $tpl);
ok($r->{status} >= 400 && $r->{status} < 500, "unknown meta sender rejected ($r->{status})") or diag $r->{content};

# ------------------------------------------------- GET handshake
my $vt = $t->meta_verify_token;
my $q = sub { my %p = @_; '/webhooks/meta?' . form_encode([map { ($_, $p{$_}) } sort keys %p]) };
$r = $t->get($q->('hub.mode' => 'subscribe', 'hub.verify_token' => $vt, 'hub.challenge' => '1158201444'));
is($r->{status}, 200, 'handshake with the right token 200') or diag $r->{content};
is($r->{content}, '1158201444', 'body is exactly the challenge');
$r = $t->get($q->('hub.mode' => 'subscribe', 'hub.verify_token' => "x$vt", 'hub.challenge' => '1158201444'));
is($r->{status}, 403, 'wrong verify token 403');
unlike($r->{content} // '', qr/1158201444/, 'challenge not echoed on 403');

# ------------------------------------------------- POST signatures, replay, order
$t->sim_config(callback_delay_ms => 3600000);   # our own statuses from here
my @to = ('+14155550311', '+14155550312', '+14155550313', '+14155550314');
my (%mid, %wamid);
for my $x (@to) {
    $r = $t->send_whatsapp(key => $key, to => [$x], from_address => $from, template => $tpl);
    is($r->{status}, 202, "template to $x") or diag $r->{content};
    $mid{$x} = one_id($r);
}
ok(wait_until(sub {
    for my $x (@to) {
        next if $wamid{$x};
        my $st = $t->status_of($mid{$x}, $key) or next;
        $wamid{$x} = $st->{provider_message_id} if ($st->{provider_message_id} // '') =~ /^wamid\./;
    }
    keys %wamid == @to;
}, 60, 0.1), 'four wamids');
sub st { $t->message_status($mid{$_[0]}, $key) }
sub nev { $t->event_count($mid{$_[0]}) }
sub body_for { my ($x, $st, $ts) = @_; (my $w = $x) =~ s/\D//g;
    json_encode($t->meta_status_body($wamid{$x}, $st, $w, timestamp => '' . ($ts // int time))) }
my ($X, $Y, $Z, $W) = @to;

my $queued0 = $t->stream_added;
my $body = body_for($X, 'delivered');
$r = $t->meta_post($body, signature => 'sha256=' . ('0' x 64));
is($r->{status}, 403, 'bad X-Hub-Signature-256 403');
$r = $t->meta_post($body, no_signature => 1);
is($r->{status}, 403, 'missing X-Hub-Signature-256 403');
$r = $t->meta_post($body, secret => 'not-the-app-secret');
is($r->{status}, 403, 'signed with another secret 403');
$r = $t->meta_post($body . ' ', signature => meta_sign($t->meta_app_secret, $body));
is($r->{status}, 403, 'body changed after signing 403');
is($t->stream_added, $queued0, 'nothing queued for rejected notifications');
is(st($X), 'accepted', 'no side effect');

$r = $t->meta_post($body);
is($r->{status}, 200, 'signed notification 200') or diag $r->{content};
ok(wait_until(sub { st($X) eq 'delivered' }, 30, 0.1), 'X delivered');
$r = $t->meta_post($body);
is($r->{status}, 200, 'replayed signed body 200');
is($t->meta_post(body_for($Z, 'sent'))->{status}, 200, 'barrier');
ok(wait_until(sub { st($Z) eq 'sent' }, 30, 0.1), 'barrier applied');
is(nev($X), 1, 'replayed notification stored once');
# same status again in a different body (other timestamp): the recorder dedupes on wamid|status
is($t->meta_post(body_for($X, 'delivered', time - 5))->{status}, 200, 'same status, other bytes 200');
is($t->meta_post(body_for($Z, 'delivered'))->{status}, 200, 'barrier 2');
ok(wait_until(sub { st($Z) eq 'delivered' }, 30, 0.1), 'barrier 2 applied');
is(nev($X), 1, 'wamid|status stored once');

is($t->meta_post(body_for($Y, 'read'))->{status}, 200, 'Y read');
ok(wait_until(sub { st($Y) eq 'read' }, 30, 0.1), 'Y is read');
is($t->meta_post(body_for($Y, 'delivered'))->{status}, 200, 'late delivered for Y');
is($t->meta_post(body_for($Z, 'read'))->{status}, 200, 'barrier 3');
ok(wait_until(sub { st($Z) eq 'read' }, 30, 0.1), 'barrier 3 applied');
is(st($Y), 'read', 'out of order: Y stays read');

# a failed status with errors[0]
{
    (my $w = $X) =~ s/\D//g;
    my $b = json_encode($t->meta_status_body($wamid{$X}, 'failed', $w,
        errors => [{ code => 131026, title => 'Message undeliverable' }]));
    is($t->meta_post($b)->{status}, 200, 'failed status 200');
    # X was delivered: a late failure does not undo a confirmed delivery;
    # it is kept as an audit event with Meta's error
    ok(wait_until(sub { $t->mysql_value(q{SELECT COUNT(*) FROM message_events WHERE message_id = ? AND error_code = '131026'}, $mid{$X}) },
                  30, 0.1), 'the late failure is recorded as an event with errors[0].code');
    is($t->mysql_value(q{SELECT error_message FROM message_events WHERE message_id = ? AND error_code = '131026'}, $mid{$X}),
       'Message undeliverable', 'and errors[0].title');
    is(st($X), 'delivered', 'X stays delivered');
    # a message that was only sent does fail
    (my $ww = $W) =~ s/\D//g;
    my $b2 = json_encode($t->meta_status_body($wamid{$W}, 'failed', $ww,
        errors => [{ code => 131026, title => 'Message undeliverable' }]));
    is($t->meta_post($b2)->{status}, 200, 'failed status for a sent message 200');
    ok(wait_until(sub { st($W) eq 'failed' }, 30, 0.1), 'W failed (failed outranks sent)');
    my $j = $t->status_of($mid{$W}, $key) || {};
    is($j->{error_code}, '131026', 'error_code from errors[0].code');
    like($j->{error_message} // '', qr/undeliverable/i, 'error_message from errors[0].title');
}

$t->done;
