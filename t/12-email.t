#!/usr/bin/perl
# Email through SendGrid: sends, the sender whitelist, 1,000-per-call
# batching, sandbox mode, the signed Event Webhook (ECDSA, timestamp
# tolerance, replays) and bounces -> opt-outs -> blocked.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new(env => { BC_MAX_RECIPIENTS => 2000 });
my $key = $t->create_key('send');
my $from = $t->email_from;
like($from // '', qr/@/, "providers.env SENDGRID_FROM_EMAIL ($from)");

sub ids { [map { $_->{id} } @{ $_[0]{json}{messages} || [] }] }
sub sim_email { [grep { ($_->{provider} // '') eq 'sendgrid' } @{ $t->sim_messages }] }
sub row { $t->mysql('SELECT * FROM messages WHERE id=?', $_[0])->[0] || {} }

# ------------------------------------------------- three recipients
my @to = ('ann@example.org', 'Bob@Example.org', 'carol@example.net');
my $r = $t->send_email(key => $key, to => \@to, subject => 'Hello', text => 'Hello there',
    html => '<p>Hello there</p>');
is($r->{status}, 202, 'email to 3 accepted') or diag $r->{content};
my $ids = ids($r);
is(scalar @$ids, 3, 'three message ids');
my %by_to = map { $_->{to} => $_->{id} } @{ $r->{json}{messages} || [] };
ok($by_to{'bob@example.org'}, 'addresses lower-cased') or diag explain [keys %by_to];
my $done = $t->wait_status($ids, qr/^delivered$/, 60, $key);
is(scalar keys %$done, 3, 'all three delivered via signed SendGrid events')
    or diag explain [map { $t->status_of($_, $key) } @$ids];
for my $id (@$ids) {
    my $row = row($id);
    is($row->{channel}, 'email', "$id channel email");
    is($row->{provider}, 'sendgrid', "$id provider sendgrid");
    is($row->{from_address}, $from, "$id from is the default broadcast_email_from");
    ok(length($row->{provider_request_id} // ''), "$id provider_request_id (X-Message-Id) set");
    like($row->{provider_message_id} // '', qr/\S/, "$id provider_message_id from sg_message_id");
    is($t->unseal($row->{subject}), 'Hello', "$id subject (sealed at rest)") if exists $row->{subject};
}
my %xmid = map { ($_->{x_message_id} // '') => 1 } @{ sim_email() };
is(scalar keys %xmid, 1, 'the three went in one mail/send call');

# ------------------------------------------------- sender whitelist
my $other = 'news@example.org';
$r = $t->send_email(key => $key, to => ['dan@example.org'], from_email => $other);
ok($r->{status} >= 400 && $r->{status} < 500, "from_email not whitelisted rejected ($r->{status})") or diag $r->{content};
ok(error_code($r), 'with an error code: ' . (error_code($r) // 'none'));
$r = $t->get('/api/email/senders', key => $key);
is($r->{status}, 200, 'GET /api/email/senders') or diag $r->{content};
ok(grep({ lc($_->{from_email} // '') eq $from } @{ $r->{json}{senders} || [] }), 'default sender listed');
$r = $t->post('/api/email/senders', token => $t->token, json => { from_email => 'News@Example.org', from_name => 'News' });
ok($r->{status} == 200 || $r->{status} == 201, 'POST /api/email/senders') or diag $r->{content};
is($r->{json}{status}, 'added', 'added');
is($r->{json}{from_email}, $other, 'stored lower-cased');
$r = $t->send_email(key => $key, to => ['dan@example.org'], from_email => $other, subject => 'from news');
is($r->{status}, 202, 'whitelisted sender accepted') or diag $r->{content};
my $dan = ids($r)->[0] // 'none';
ok($t->wait_status([$dan], qr/^delivered$/, 60, $key)->{$dan}, 'delivered from the added sender');
is(row($dan)->{from_address}, $other, 'from_address is the added sender');
$r = $t->http(DELETE => '/api/email/senders', token => $t->token, json => { from_email => $from });
is($r->{json}{status}, 'protected', 'configured default is protected on DELETE') or diag $r->{content};
$r = $t->http(DELETE => '/api/email/senders', token => $t->token, json => { from_email => $other });
is($r->{json}{status}, 'deleted', 'added sender deleted') or diag $r->{content};
$r = $t->http(DELETE => '/api/email/senders', token => $t->token, json => { from_email => $other });
is($r->{json}{status}, 'not_found', 'second delete: not_found') or diag $r->{content};

# ------------------------------------------------- 1,500 recipients, batched <= 1000 per call
$t->sim_reset;
my @many = map { sprintf 'user%04d@bulk.example.org', $_ } 1 .. 1500;
$r = $t->send_email(key => $key, to => \@many, subject => 'bulk', text => 'bulk mail');
is($r->{status}, 202, '1,500 recipients accepted') or diag substr($r->{content} // '', 0, 300);
my $batch = $r->{json}{batch_id} // 'none';
ok(wait_until(sub {
    ($t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE batch_id=? AND status='delivered'}, $batch) // 0) == 1500
}, 180, 0.5), 'all 1,500 delivered')
    or diag $t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE batch_id=? AND status='delivered'}, $batch);
my %calls;
$calls{$_->{x_message_id} // ''}++ for @{ sim_email() };
my $total = 0;
$total += $_ for values %calls;
is($total, 1500, 'the simulator got 1,500 personalizations');
ok(!grep({ $_ > 1000 } values %calls), 'no mail/send call above 1,000 recipients: ' . join(',', sort { $b <=> $a } values %calls));
ok(keys %calls >= 2, scalar(keys %calls) . ' mail/send calls');
is($t->mysql_value(q{SELECT COUNT(DISTINCT provider_request_id) FROM messages WHERE batch_id=?}, $batch),
   scalar keys %calls, 'provider_request_id per call');

# ------------------------------------------------- sandbox
$r = $t->send_email(key => $key, to => ['sandbox@example.org'], subject => 'sandbox', sandbox => JSON::PP::true);
is($r->{status}, 202, 'sandbox send accepted') or diag $r->{content};
my $sb = ids($r)->[0] // 'none';
ok(wait_until(sub { (row($sb)->{send_state} // '') eq 'done' }, 30, 0.1), 'sandbox call made');
$r = $t->send_email(key => $key, to => ['after-sandbox@example.org'], subject => 'barrier');
my $bar = ids($r)->[0] // 'none';
ok($t->wait_status([$bar], qr/^delivered$/, 60, $key)->{$bar}, 'a later email delivered');
isnt(($t->status_of($sb, $key) || {})->{status}, 'delivered', 'sandbox: never delivered');
ok(!grep({ ($_->{to} // '') eq 'sandbox@example.org' } @{ sim_email() }), 'sandbox: nothing stored by the provider');

# ------------------------------------------------- Event Webhook signatures
my $A = $ids->[0];
my $arow = row($A);
my $evid = 'sim-replay-' . int(rand 1e9);
my $events = [{ email => $arow->{to_address}, event => 'open', sg_event_id => $evid,
    sg_message_id => $arow->{provider_message_id}, bc_message_id => $A,
    bc_batch_id => $arow->{batch_id}, timestamp => int time }];
my $queued0 = $t->stream_added;
$r = $t->sendgrid_post($events, signature => 'MEUCIQDforgedforgedforgedforgedforgedforgedforgedforgeAiAforgedforgedforgedforgedforgedforgedforgeQ==');
is($r->{status}, 403, 'forged SendGrid signature 403');
$r = $t->sendgrid_post($events, no_signature => 1);
is($r->{status}, 403, 'missing signature 403');
{
    my $body = json_encode($events) . "\r\n";
    my $ts = int time;
    my $sig = sendgrid_sign($t->sendgrid_private_key, $ts, $body, $t->dir);
    $r = $t->sendgrid_post($body =~ s/open/click/r, ts => $ts, signature => $sig);
    is($r->{status}, 403, 'body changed after signing 403');
}
$r = $t->sendgrid_post($events, ts => int(time) - 3600);
is($r->{status}, 403, 'stale timestamp (1 h, tolerance 300 s) 403');
is($t->stream_added, $queued0, 'nothing queued for rejected batches');

my $body = json_encode($events) . "\r\n";
my $ts = int time;
my $sig = sendgrid_sign($t->sendgrid_private_key, $ts, $body, $t->dir);
$r = $t->sendgrid_post($body, ts => $ts, signature => $sig);
is($r->{status}, 200, 'valid signed batch 200') or diag $r->{content};
ok(wait_until(sub { ($t->status_of($A, $key) || {})->{status} eq 'read' }, 30, 0.1), 'open -> read');
$r = $t->sendgrid_post($body, ts => $ts, signature => $sig);
is($r->{status}, 200, 'replayed batch 200');
# the same event in a new batch (other bytes, same sg_event_id)
$r = $t->sendgrid_post([{ %{ $events->[0] }, timestamp => int(time) + 1 }]);
is($r->{status}, 200, 'same sg_event_id in another batch 200');
$r = $t->send_email(key => $key, to => ['barrier2@example.org'], subject => 'barrier');
$bar = ids($r)->[0] // 'none';
ok($t->wait_status([$bar], qr/^delivered$/, 60, $key)->{$bar}, 'barrier email delivered');
is(scalar(grep { ($t->unseal($_->[0]) // '') =~ /\Q$evid\E/ }
       @{ $t->dbh->selectall_arrayref(q{SELECT payload FROM message_events WHERE provider = 'sendgrid'}) }), 1,
   'event stored once (by sg_event_id)');

# ------------------------------------------------- bounce -> failed + opt-out -> blocked
$t->sim_config(sendgrid_bounce_ratio => 1);
my $bad = 'nobody@bounce.example.org';
$r = $t->send_email(key => $key, to => [$bad], subject => 'will bounce');
is($r->{status}, 202, 'send to a bouncing address') or diag $r->{content};
my $bid = ids($r)->[0] // 'none';
my $bs = $t->wait_status([$bid], qr/^failed$/, 60, $key)->{$bid};
ok($bs, 'bounce -> failed') or diag explain $t->status_of($bid, $key);
like($bs->{error_code} // '', qr/^bounce:/, 'error_code bounce:<type>') if $bs;
ok(length($bs->{error_message} // ''), 'error_message is the reason') if $bs;
ok(wait_until(sub { $t->mysql_value('SELECT COUNT(*) FROM opt_outs WHERE address=?', $bad) }, 30, 0.1),
   'bounced address in opt_outs');
like($t->mysql_value('SELECT source FROM opt_outs WHERE address=?', $bad) // '', qr/^sendgrid_bounce/, 'source sendgrid_bounce');
$t->sim_config(sendgrid_bounce_ratio => 0);
my $n0 = grep { ($_->{to} // '') eq $bad } @{ sim_email() };
$r = $t->send_email(key => $key, to => [$bad], subject => 'again');
is($r->{status}, 202, 'later send to the bounced address accepted') or diag $r->{content};
my $bid2 = ids($r)->[0] // 'none';
$bs = $t->wait_status([$bid2], qr/^blocked$/, 60, $key)->{$bid2};
ok($bs, 'later send ends blocked') or diag explain $t->status_of($bid2, $key);
is($bs->{error_code}, 'opted_out', 'error_code opted_out') if $bs;
is(scalar(grep { ($_->{to} // '') eq $bad } @{ sim_email() }), $n0, 'no provider call for the blocked send');

$t->done;
