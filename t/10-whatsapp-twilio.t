#!/usr/bin/perl
# WhatsApp through Twilio (docs/DESIGN.md "Channels and webhooks"):
# free text inside the 24 h window (opened by a verified inbound message),
# media, Content API templates, the closed window, the sender whitelist and
# the /webhooks/twilio/whatsapp status callbacks.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my $key = $t->create_key('send');
my $wa_from = $t->whatsapp_from;
like($wa_from // '', qr/^whatsapp:\+\d{8,15}$/, "providers.env TWILIO_WHATSAPP_FROM ($wa_from)");
my $HX = 'HXcb6b0828c05d7af4d37391699c9c2ea3';    # the simulator's order_update


sub sim_for { my ($to) = @_; [grep { ($_->{to} // '') eq $to } @{ $t->sim_messages }] }

# ------------------------------------------------- window opened by inbound
my $U = '+14155550101';
my $in = $t->sim_inbound(channel => 'whatsapp', from => $U, body => 'hello there');
ok($in->{sid}, 'simulator posted an inbound WhatsApp message');
ok(wait_until(sub {
    $t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE direction='inbound' AND provider_message_id=?}, $in->{sid});
}, 30, 0.1), 'inbound WhatsApp stored') or diag $t->error_log;
ok(wait_until(sub { defined $t->redis('GET', "bc:{ev}:wawin:$wa_from:$U") }, 10, 0.1),
   "window key bc:{ev}:wawin:$wa_from:$U set by the verified inbound message");
my ($ttl) = (($t->redis('TTL', "bc:{ev}:wawin:$wa_from:$U") // '-2') =~ /(-?\d+)/);
ok($ttl > 86000 && $ttl <= 86400, "window TTL about 24 h ($ttl)");

my $r = $t->send_whatsapp(key => $key, to => [$U], body => 'free text inside the window');
is($r->{status}, 202, 'free text inside the window accepted') or diag $r->{content};
my ($m) = @{ $r->{json}{messages} || [] };
ok($m && $m->{id}, 'one message id');
is($m->{to}, "whatsapp:$U", 'to is whatsapp:+E164') if $m;
my $id = $m ? $m->{id} : 'none';
my $d = $t->wait_status([$id], qr/^(delivered|read)$/, 60, $key);
ok($d->{$id}, 'free text delivered');
$d = $t->wait_status([$id], qr/^read$/, 60, $key);
ok($d->{$id}, 'then read (Twilio "read" callback)') or diag explain $t->status_of($id, $key);
if (my $s = $d->{$id} || $t->status_of($id, $key)) {
    is($s->{channel}, 'whatsapp', 'channel whatsapp');
    is($s->{provider}, 'twilio', 'provider twilio');
    is($s->{from}, $wa_from, 'from is the default broadcast_whatsapp_from');
    like($s->{provider_message_id} // '', qr/^SM[0-9a-f]{32}$/, 'provider_message_id SM…');
    like($s->{read_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'read_at set');
    like($s->{delivered_at} // '', qr/Z$/, 'delivered_at set');
}
my $sm = sim_for("whatsapp:$U");
is(scalar @$sm, 1, 'the simulator got the free text once');
is($sm->[0]{channel}, 'whatsapp', 'simulator: channel whatsapp') if @$sm;
is($sm->[0]{from}, $wa_from, 'simulator: From whatsapp:+…') if @$sm;

# ------------------------------------------------- media
my @media = map { "https://example.com/img$_.jpg" } 1 .. 10;
$r = $t->send_whatsapp(key => $key, to => [$U], body => 'ten pictures', media_urls => \@media);
is($r->{status}, 202, '10 media_urls accepted') or diag $r->{content};
my ($mm) = @{ $r->{json}{messages} || [] };
if ($mm) {
    ok($t->wait_status([$mm->{id}], qr/^(delivered|read)$/, 60, $key)->{$mm->{id}}, 'media message delivered');
    my $p = $t->mysql_open('SELECT payload FROM messages WHERE id=?', $mm->{id});
    my $pj = json_decode($p // '') || {};
    is(scalar @{ $pj->{media_urls} || [] }, 10, 'payload keeps the 10 media_urls');
}
$r = $t->send_whatsapp(key => $key, to => [$U], body => 'eleven', media_urls => [@media, 'https://example.com/img11.jpg']);
ok($r->{status} >= 400 && $r->{status} < 500, "11 media_urls rejected with a 4xx ($r->{status})") or diag $r->{content};
ok(error_code($r) || rejection($r, $U), '11 media_urls: JSON error with a code') or diag $r->{content};

# ------------------------------------------------- Content API template (no window needed)
my $V = '+14155550102';
my $vars = { 1 => 'Ann', 2 => '12345' };
my $cv = $vars;
$r = $t->send_whatsapp(key => $key, to => [$V], content_sid => $HX, content_variables => $cv);
if ($r->{status} != 202) {
    diag "content_variables as an object: $r->{status} $r->{content}; trying the JSON string form";
    $cv = json_encode($vars);
    $r = $t->send_whatsapp(key => $key, to => [$V], content_sid => $HX, content_variables => $cv);
}
is($r->{status}, 202, 'content_sid + content_variables accepted') or diag $r->{content};
my ($cm) = @{ $r->{json}{messages} || [] };
my $cid = $cm ? $cm->{id} : 'none';
ok($t->wait_status([$cid], qr/^(delivered|read)$/, 60, $key)->{$cid},
   'template delivered although the window is closed (ContentVariables was a valid JSON string)')
    or diag explain $t->status_of($cid, $key);
$sm = sim_for("whatsapp:$V");
is(scalar @$sm, 1, 'simulator got the template once');
is($sm->[0]{content_sid}, $HX, 'simulator: ContentSid') if @$sm;
{
    my $pj = json_decode($t->mysql_open('SELECT payload FROM messages WHERE id=?', $cid) // '') || {};
    is($pj->{content_sid}, $HX, 'payload content_sid');
    ok(defined $pj->{content_variables} && !ref $pj->{content_variables},
       'payload content_variables is a JSON string (as Twilio expects)');
    is_deeply(json_decode($pj->{content_variables} // 'null'), $vars, 'content_variables decodes to the variables');
}

# ------------------------------------------------- closed window: free text rejected per recipient
my $W = '+14155550103';
$r = $t->send_whatsapp(key => $key, to => [$W, $U], body => 'free text, mixed windows');
is($r->{status}, 202, 'mixed request: 202 for the recipient with an open window') or diag $r->{content};
like(rejection($r, $W) // '', qr/^outside_24h_window\b/, 'closed window: rejected per recipient with outside_24h_window')
    or diag $r->{content};
is(scalar(grep { ($_->{to} // '') =~ /\Q$W\E$/ } @{ $r->{json}{messages} || [] }), 0, 'no message id for the rejected recipient');
$r = $t->send_whatsapp(key => $key, to => [$W], body => 'free text, window closed');
ok($r->{status} == 422 || $r->{status} == 202, "only a closed-window recipient: $r->{status}") or diag $r->{content};
like(rejection($r, $W) // '', qr/^outside_24h_window\b/, 'single closed-window recipient: outside_24h_window') or diag $r->{content};

# ------------------------------------------------- sender whitelist
my $other = 'whatsapp:+14155238899';
$r = $t->send_whatsapp(key => $key, to => [$V], from_address => $other, content_sid => $HX);
ok($r->{status} >= 400 && $r->{status} < 500, "unknown from_address rejected ($r->{status})") or diag $r->{content};
ok(error_code($r), 'unknown from_address: error code ' . (error_code($r) // 'none'));
$r = $t->get('/api/whatsapp/senders', key => $key);
is($r->{status}, 200, 'GET /api/whatsapp/senders') or diag $r->{content};
ok(ref $r->{json}{senders} eq 'ARRAY', 'senders list');
$r = $t->post('/api/whatsapp/senders', key => $key, json => { from_address => $other });
ok($r->{status} == 401 || $r->{status} == 403, 'send-scope key cannot add a sender') or diag $r->{content};
$r = $t->post('/api/whatsapp/senders', token => $t->token, json => { from_address => $other });
ok($r->{status} == 200 || $r->{status} == 201, 'session adds a sender') or diag $r->{content};
is($r->{json}{status}, 'added', 'status added');
$r = $t->post('/api/whatsapp/senders', token => $t->token, json => { from_address => $other });
is($r->{json}{status}, 'exists', 'adding again: exists');
$r = $t->send_whatsapp(key => $key, to => [$V], from_address => $other, content_sid => $HX);
is($r->{status}, 202, 'whitelisted from_address accepted') or diag $r->{content};
$r = $t->http(DELETE => '/api/whatsapp/senders', token => $t->token, json => { from_address => $wa_from });
is($r->{json}{status}, 'protected', 'the configured default cannot be deleted') or diag $r->{content};
$r = $t->http(DELETE => '/api/whatsapp/senders', token => $t->token, json => { from_address => $other });
is($r->{json}{status}, 'deleted', 'delete the added sender') or diag $r->{content};
$r = $t->send_whatsapp(key => $key, to => [$V], from_address => $other, content_sid => $HX);
ok($r->{status} >= 400 && $r->{status} < 500, 'deleted sender rejected again') or diag $r->{content};

# ------------------------------------------------- status callbacks on /webhooks/twilio/whatsapp
# from here on the simulator's own callbacks stay out of the way
$t->sim_config(callback_delay_ms => 3600000);
my @to = map { "+1415555020$_" } 1 .. 3;
$r = $t->send_whatsapp(key => $key, to => \@to, content_sid => $HX, content_variables => $cv);
is($r->{status}, 202, 'three templates for the callback tests') or diag $r->{content};
my %cid = map { ($_->{to} =~ s/^whatsapp://r) => $_->{id} } @{ $r->{json}{messages} || [] };
my %sid;
ok(wait_until(sub {
    for my $x (@to) {
        next if $sid{$x};
        my $s = $t->status_of($cid{$x} // next, $key) or next;
        $sid{$x} = $s->{provider_message_id} if $s->{provider_message_id};
    }
    keys %sid == @to;
}, 60, 0.1), 'all three accepted by the provider with a sid');

sub wa_cb {
    my ($x, $st, %o) = @_;
    my %p = (AccountSid => $t->account_sid, ApiVersion => '2010-04-01',
             ChannelPrefix => 'whatsapp', From => $wa_from, To => "whatsapp:$x",
             MessageSid => $sid{$x} // 'SMnone', SmsSid => $sid{$x} // 'SMnone',
             MessageStatus => $st, SmsStatus => $st, StructuredMessage => 'false');
    my $path = "/webhooks/twilio/whatsapp?mid=" . ($cid{$x} // '');
    return $t->twilio_post($path, \%p, %o);
}
sub st { $t->message_status($cid{$_[0]} // 'none', $key) }
sub nevents { $t->event_count($cid{$_[0]} // 'none') }

my ($A, $B, $C) = @to;
my $queued0 = $t->stream_added;
$r = wa_cb($A, 'delivered', no_signature => 1);
is($r->{status}, 403, 'unsigned WhatsApp status callback 403');
is(error_code($r), 'invalid_signature', 'invalid_signature');
$r = wa_cb($A, 'delivered', signature => 'bm90IGEgc2lnbmF0dXJl');
is($r->{status}, 403, 'forged WhatsApp status callback 403');
$r = wa_cb($A, 'delivered', token => 'f' x 32);
is($r->{status}, 403, 'signed with another auth token 403');
is($t->stream_added, $queued0, 'nothing queued for forged callbacks');

$r = wa_cb($A, 'delivered');
is($r->{status}, 200, 'valid WhatsApp status callback 200') or diag $r->{content};
ok(wait_until(sub { st($A) eq 'delivered' }, 30, 0.1), 'A delivered');
my $queued1 = $t->stream_added;
$r = wa_cb($A, 'delivered');
is($r->{status}, 200, 'duplicate callback 200');
is($t->stream_added, $queued1, 'duplicate not queued again');
# barrier: a later event for C is applied after the duplicate
is(wa_cb($C, 'sent')->{status}, 200, 'barrier callback');
ok(wait_until(sub { st($C) eq 'sent' }, 30, 0.1), 'barrier applied');
is(nevents($A), 0, 'a plain status callback leaves no audit row');

is(wa_cb($B, 'read')->{status}, 200, 'B read first');
ok(wait_until(sub { st($B) eq 'read' }, 30, 0.1), 'B read');
is(wa_cb($B, 'delivered')->{status}, 200, 'late delivered for B 200');
is(wa_cb($C, 'delivered')->{status}, 200, 'barrier 2');
ok(wait_until(sub { st($C) eq 'delivered' }, 30, 0.1), 'barrier 2 applied');
is(st($B), 'read', 'out of order: B stays read');
ok(($t->status_of($cid{$B}, $key) || {})->{read_at}, 'B read_at set');

$t->done;
