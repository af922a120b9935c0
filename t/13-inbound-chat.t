#!/usr/bin/perl
# Inbound messages on every channel (SMS, WhatsApp via Twilio, Meta, email
# Inbound Parse), stored once each; the chat API (users, history,
# mark-read) and GET /api/messages filters and pagination.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my $key = $t->create_key('send');
my $rkey = $t->create_key('read');
my $wa_from = $t->whatsapp_from;

sub n_in { $t->inbound_count($_[0]) }
sub stored { my ($id, $what) = @_; ok(wait_until(sub { n_in($id) >= 1 }, 30, 0.1), "$what stored") or diag $t->error_log; }
sub wa_params {
    my ($from, $body, $sid) = @_;
    (my $waid = $from) =~ s/\D//g;
    return { AccountSid => $t->account_sid, ApiVersion => '2010-04-01', Body => $body,
             From => "whatsapp:$from", To => $wa_from, MessageSid => $sid, SmsMessageSid => $sid,
             SmsSid => $sid, SmsStatus => 'received', NumMedia => '0', NumSegments => '1',
             MessageType => 'text', ProfileName => 'Wanda', WaId => $waid };
}

# ------------------------------------------------- SMS
my $S = '+14155550401';
my $in = $t->sim_inbound(channel => 'sms', from => $S, body => 'sms from the simulator');
stored($in->{sid}, 'simulator SMS inbound');
my $sid = 'SM' . hex32();
my $p = $t->inbound_sms_params($S, 'second sms', $sid);
is($t->twilio_post('/webhooks/twilio/sms/inbound', $p)->{status}, 200, 'signed inbound SMS 200');
is($t->twilio_post('/webhooks/twilio/sms/inbound', $p)->{status}, 200, 'same request again 200');
is($t->twilio_post('/webhooks/twilio/sms/inbound', { %$p, Body => 'second sms (resent)' })->{status}, 200,
   'same MessageSid, other body 200');
is($t->twilio_post('/webhooks/twilio/sms/inbound', $p, no_signature => 1)->{status}, 403, 'unsigned inbound SMS 403');
$t->barrier;
is(n_in($sid), 1, 'inbound SMS stored once');
my $row = $t->mysql('SELECT * FROM messages WHERE provider_message_id=?', $sid)->[0] || {};
is($row->{channel}, 'sms', 'channel sms');
is($row->{status}, 'received', 'status received');
is($row->{peer}, $S, 'peer +E164');
is($row->{from_address}, $S, 'from_address');
is($row->{batch_id}, $row->{id}, 'batch_id is its own id');

# ------------------------------------------------- WhatsApp via Twilio
my $W = '+14155550402';
$in = $t->sim_inbound(channel => 'whatsapp', from => $W, body => 'wa from the simulator');
stored($in->{sid}, 'simulator WhatsApp inbound');
$sid = 'SM' . hex32();
$p = wa_params($W, 'second wa', $sid);
is($t->twilio_post('/webhooks/twilio/whatsapp/inbound', $p)->{status}, 200, 'signed WhatsApp inbound 200');
is($t->twilio_post('/webhooks/twilio/whatsapp/inbound', $p)->{status}, 200, 'same request again 200');
is($t->twilio_post('/webhooks/twilio/whatsapp/inbound', { %$p, Body => 'resent' })->{status}, 200, 'same MessageSid, other body');
$t->barrier;
is(n_in($sid), 1, 'WhatsApp inbound stored once');
$row = $t->mysql('SELECT * FROM messages WHERE provider_message_id=?', $sid)->[0] || {};
is($row->{channel}, 'whatsapp', 'channel whatsapp');
is($row->{provider}, 'twilio', 'provider twilio');
is($row->{peer}, $W, 'peer +E164 for whatsapp:+E164');

# ------------------------------------------------- Meta: every message type
my $M = '+14155550403';
(my $waid = $M) =~ s/\D//g;
for my $type (qw(text image location button)) {
    $in = $t->sim_inbound(channel => 'meta', from => $M, type => $type, body => "meta $type");
    stored($in->{id}, "simulator Meta $type inbound");
}
$in = $t->sim_inbound(channel => 'meta', from => $W, body => 'meta text from the whatsapp user');
stored($in->{id}, 'Meta inbound from the Twilio WhatsApp user (same peer)');

my %objs = (
    text        => { text => { body => 'plain text' } },
    image       => { image => { id => '1479537139650973', mime_type => 'image/jpeg',
                                sha256 => 'a' x 64, caption => 'a picture' } },
    location    => { location => { latitude => 52.52, longitude => 13.405, name => 'Berlin', address => 'Mitte' } },
    button      => { button => { payload => 'YES', text => 'Yes' } },
    interactive => { interactive => { type => 'button_reply', button_reply => { id => 'opt-1', title => 'Option 1' } } },
    reaction    => { reaction => { message_id => 'wamid.HBgLMTQxNTU1NTA0MDMVAgASGBQzQTdBMDA=', emoji => "\x{1F44D}" } },
);
my %wamid;
for my $type (sort keys %objs) {
    my $w = 'wamid.HBgL' . $waid . 'FQIAEhgU' . uc(substr(hex32(), 0, 20)) . 'AA==';
    $wamid{$type} = $w;
    my %msg = (from => $waid, id => $w, timestamp => '' . int(time), type => $type, %{ $objs{$type} });
    my $env = $t->meta_envelope(contacts => [{ profile => { name => 'Mia' }, wa_id => $waid }], messages => [\%msg]);
    my $body = json_encode($env);
    is($t->meta_post($body)->{status}, 200, "Meta $type notification 200");
    is($t->meta_post($body)->{status}, 200, "Meta $type replayed 200");
    $msg{timestamp} = '' . (int(time) + 1);
    is($t->meta_post($t->meta_envelope(contacts => [{ profile => { name => 'Mia' }, wa_id => $waid }], messages => [\%msg]))->{status},
       200, "Meta $type same wamid, other bytes 200");
}
$t->barrier;
for my $type (sort keys %objs) {
    is(n_in($wamid{$type}), 1, "Meta $type stored once");
}
$row = $t->mysql('SELECT * FROM messages WHERE provider_message_id=?', $wamid{location})->[0] || {};
is($row->{peer}, $M, 'Meta peer +E164 from the digits-only wa_id');
is($row->{provider}, 'meta', 'provider meta');
like($t->unseal($row->{payload}) // '', qr/52\.52/, 'location kept in payload');
$row = $t->mysql('SELECT * FROM messages WHERE provider_message_id=?', $wamid{image})->[0] || {};
like($t->unseal($row->{payload}) // '', qr/1479537139650973/, 'image media id kept in payload');
$row = $t->mysql('SELECT * FROM messages WHERE provider_message_id=?', $wamid{text})->[0] || {};
is($t->unseal($row->{body}), 'plain text', 'text body');
is($t->meta_post($t->meta_envelope(messages => [{ from => $waid, id => 'wamid.forged', timestamp => '1', type => 'text', text => { body => 'x' } }]),
    secret => 'wrong')->{status}, 403, 'forged Meta inbound 403');

# ------------------------------------------------- email (Inbound Parse)
my $E = 'Alice@Example.org';
$in = $t->sim_inbound(channel => 'email', from => $E, subject => 'Question', body => 'Hello from email');
ok($in->{id}, 'simulator posted an Inbound Parse request');
ok(wait_until(sub {
    $t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE direction='inbound' AND channel='email' AND peer='alice@example.org'})
}, 30, 0.1), 'inbound email stored with a lower-cased peer');
{
    my $mid = 'dup-' . hex32();
    my $boundary = 'xYzZY';
    my @parts = (headers => "From: Eve <eve\@example.org>\nTo: $t->{creds}{SENDGRID_FROM_EMAIL}\nSubject: Dup\nMessage-ID: <$mid\@mail.example.net>\n",
                 to => $t->{creds}{SENDGRID_FROM_EMAIL}, from => 'Eve <eve@example.org>', subject => 'Dup',
                 text => 'twice', envelope => json_encode({ to => [$t->{creds}{SENDGRID_FROM_EMAIL}], from => 'eve@example.org' }),
                 charsets => '{"to":"UTF-8","subject":"UTF-8","from":"UTF-8","text":"UTF-8"}', SPF => 'pass');
    my $mp = '';
    while (my ($k, $v) = splice @parts, 0, 2) {
        $mp .= "--$boundary\r\nContent-Disposition: form-data; name=\"$k\"\r\n\r\n$v\r\n";
    }
    $mp .= "--$boundary--\r\n";
    require MIME::Base64;
    my $basic = 'Basic ' . MIME::Base64::encode_base64($t->cred('SENDGRID_INBOUND_AUTH'), '');
    my %h = ('Content-Type' => "multipart/form-data; boundary=$boundary", Authorization => $basic);
    my $inbound0 = $t->stream_added;

    # Inbound Parse's credentials (the Parse URL's user:password)
    my $r = $t->post('/webhooks/sendgrid/inbound', body => $mp,
                     headers => { 'Content-Type' => $h{'Content-Type'} });
    is_error($r, 401, 'unauthorized', 'Inbound Parse without credentials');
    like($r->{headers}{'www-authenticate'} // '', qr/^Basic realm=/, 'with a Basic challenge');
    $r = $t->post('/webhooks/sendgrid/inbound', body => $mp,
                  headers => { %h, Authorization => 'Basic ' . MIME::Base64::encode_base64('parse:wrong', '') });
    is_error($r, 401, 'unauthorized', 'wrong credentials');
    # malformed bodies: a truncated upload, no boundary, a from that is no address
    $r = $t->post('/webhooks/sendgrid/inbound', body => substr($mp, 0, length($mp) - 20), headers => \%h);
    is_error($r, 400, 'malformed_multipart', 'a truncated multipart body');
    $r = $t->post('/webhooks/sendgrid/inbound', body => $mp,
                  headers => { %h, 'Content-Type' => 'multipart/form-data' });
    is_error($r, 400, 'malformed_multipart', 'no boundary');
    (my $bad = $mp) =~ s/Eve <eve\@example\.org>\r\n--/Eve (no address)\r\n--/;
    $r = $t->post('/webhooks/sendgrid/inbound', body => $bad, headers => \%h);
    is_error($r, 400, 'invalid_from', 'a from that holds no address');
    is($t->stream_added, $inbound0, 'nothing refused was queued');

    is($t->post('/webhooks/sendgrid/inbound', body => $mp, headers => \%h)->{status}, 200, 'Inbound Parse 200');
    is($t->post('/webhooks/sendgrid/inbound', body => $mp, headers => \%h)->{status}, 200, 'same Inbound Parse again 200');
    $t->barrier;
    is($t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE direction='inbound' AND channel='email' AND peer='eve@example.org'}),
       1, 'replayed Inbound Parse stored once');
}

# ------------------------------------------------- chat users
my $r = $t->get('/api/chat/users', key => $rkey);
is($r->{status}, 200, 'GET /api/chat/users') or diag $r->{content};
my %u = map { $_->{user_address} => $_ } @{ $r->{json}{users} || [] };
ok(defined $r->{json}{total} && $r->{json}{total} >= 5, 'total users') or diag explain $r->{json};
for my $a ($S, $W, $M, 'alice@example.org', 'eve@example.org') {
    ok($u{$a}, "user $a listed") or next;
    ok(($u{$a}{unread_count} // 0) >= 1, "$a has unread messages ($u{$a}{unread_count})");
    ok(($u{$a}{total_messages} // 0) >= $u{$a}{unread_count}, "$a total_messages");
    ok($u{$a}{last_message_at}, "$a last_message_at");
}
is($u{$M}{unread_count}, 10, 'Meta user: 4 simulator + 6 own messages unread') if $u{$M};
is($u{$W}{unread_count}, 3, 'WhatsApp user: Twilio x2 + Meta x1 unread') if $u{$W};
$r = $t->get('/api/chat/users?channel=email', key => $rkey);
ok(!grep({ $_->{user_address} !~ /@/ } @{ $r->{json}{users} || [] }), 'channel=email lists email users only');
$r = $t->get('/api/chat/users?limit=2&offset=0', key => $rkey);
is(scalar @{ $r->{json}{users} || [] }, 2, 'users limit 2');

# ------------------------------------------------- history, three address forms
my %hist;
for my $form ("whatsapp:$W", $W, substr($W, 1)) {
    $r = $t->get('/api/chat/history?address=' . uri_escape($form), key => $rkey);
    is($r->{status}, 200, "history for $form") or diag $r->{content};
    $hist{$form} = $r->{json};
}
my @totals = map { $_->{total} // -1 } values %hist;
is($totals[0], 3, 'history total 3 for the WhatsApp user');
ok(!grep({ $_ != $totals[0] } @totals), 'whatsapp:+E164, +E164 and digits-only give the same history');
my @hm = @{ $hist{$W}{messages} || [] };
my @sorted = sort { $a->{id} cmp $b->{id} } @hm;
is_deeply([map { $_->{id} } @hm], [map { $_->{id} } @sorted], 'history oldest first');
is($hist{$W}{unread_count}, 3, 'history unread_count');
$r = $t->get('/api/chat/history?address=' . uri_escape($W) . '&channel=whatsapp&limit=1&offset=1', key => $rkey);
is(scalar @{ $r->{json}{messages} || [] }, 1, 'history limit/offset');
is($r->{json}{messages}[0]{id}, $hm[1]{id}, 'offset 1 is the second message') if @hm > 1;

# ------------------------------------------------- mark-read
$r = $t->post('/api/chat/mark-read', key => $rkey, json => { message_ids => [map { $_->{id} } @hm] });
ok($r->{status} == 401 || $r->{status} == 403, 'mark-read needs scope send');
$r = $t->post('/api/chat/mark-read', key => $key, json => { message_ids => [map { $_->{id} } @hm] });
is($r->{status}, 200, 'POST /api/chat/mark-read') or diag $r->{content};
is($r->{json}{updated}, 3, 'updated 3');
$r = $t->post('/api/chat/mark-read', key => $key, json => { message_ids => [map { $_->{id} } @hm] });
is($r->{json}{updated}, 0, 'again: updated 0');
$r = $t->get('/api/chat/users', key => $rkey);
%u = map { $_->{user_address} => $_ } @{ $r->{json}{users} || [] };
is($u{$W}{unread_count}, 0, 'unread 0 after mark-read') if $u{$W};
ok(($u{$S}{unread_count} // 0) >= 1, 'other users still unread');
$r = $t->get('/api/chat/history?address=' . uri_escape($W), key => $rkey);
is($r->{json}{unread_count}, 0, 'history unread_count 0');

# ------------------------------------------------- /api/messages
$r = $t->send_sms(key => $key, to => ['+14155550481', '+14155550482', '+14155550483'], message => 'listing');
is($r->{status}, 202, 'an outbound batch of 3') or diag $r->{content};
my $batch = $r->{json}{batch_id} // 'none';
my %sent = map { $_->{id} => 1 } @{ $r->{json}{messages} || [] };
ok(wait_until(sub {
    $t->mysql_value('SELECT COUNT(*) FROM messages WHERE batch_id=?', $batch) == 3
}, 30, 0.1), 'batch recorded');

$r = $t->get("/api/messages?batch_id=$batch", key => $rkey);
is($r->{status}, 200, 'GET /api/messages?batch_id') or diag $r->{content};
is($r->{json}{total}, 3, 'batch_id filter: total 3');
is_deeply([sort map { $_->{id} } @{ $r->{json}{messages} || [] }], [sort keys %sent], 'the batch messages');
my (@p1, @p2);
$r = $t->get("/api/messages?batch_id=$batch&limit=2&offset=0", key => $rkey);
@p1 = map { $_->{id} } @{ $r->{json}{messages} || [] };
is(scalar @p1, 2, 'limit 2: two');
is($r->{json}{total}, 3, 'total with limit still 3');
$r = $t->get("/api/messages?batch_id=$batch&limit=2&offset=2", key => $rkey);
@p2 = map { $_->{id} } @{ $r->{json}{messages} || [] };
is(scalar @p2, 1, 'offset 2: one');
my %all = map { $_ => 1 } @p1, @p2;
is(scalar keys %all, 3, 'pages do not overlap');

$r = $t->get('/api/messages?channel=whatsapp&direction=inbound', key => $rkey);
is($r->{status}, 200, 'channel+direction filter') or diag $r->{content};
my @wm = @{ $r->{json}{messages} || [] };
ok(@wm >= 3, scalar(@wm) . ' inbound whatsapp messages');
ok(!grep({ $_->{channel} ne 'whatsapp' || $_->{direction} ne 'inbound' } @wm), 'all whatsapp inbound');
is($r->{json}{total}, $t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE channel='whatsapp' AND direction='inbound'}),
   'total matches MySQL');
$r = $t->get('/api/messages?status=received&channel=sms', key => $rkey);
ok(!grep({ $_->{status} ne 'received' || $_->{channel} ne 'sms' } @{ $r->{json}{messages} || [] }), 'status filter');
is($r->{json}{total}, $t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE channel='sms' AND status='received'}), 'status filter total');
$r = $t->get('/api/messages?direction=outbound', key => $rkey);
ok(!grep({ $_->{direction} ne 'outbound' } @{ $r->{json}{messages} || [] }), 'direction=outbound');
$r = $t->get('/api/messages?limit=100000', key => $rkey);
ok($r->{status} == 400 || @{ $r->{json}{messages} || [] } <= 1000, 'limit is capped or rejected');
my ($one) = keys %sent;
$r = $t->get("/api/messages/$one", key => $rkey);
is($r->{status}, 200, 'GET /api/messages/{id}') or diag $r->{content};
is($r->{json}{id}, $one, 'same id');
$r = $t->get('/api/messages/01AAAAAAAAAAAAAAAAAAAAAAAA', key => $rkey);
is($r->{status}, 404, 'unknown id 404');

$t->done;
