#!/usr/bin/perl
# Privacy (README "Privacy"): bodies, subjects and webhook payloads are
# sealed with AES-256-GCM in MySQL yet every API shows them; a plaintext row
# still reads; keys rotate (k1 -> k2 with broadcastctl rotate-key, then k1
# removed); a damaged value is reported for that message only; DELETE
# /api/privacy/subjects/{address} erases every trace of a person (mysqldump)
# but keeps their opt-out effective, is audited and is refused to API keys;
# the sender's retention purges old rows in batches and never a pending one.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MIME::Base64;
use BC::Test qw(:all);

my $t = BC::Test->new(env => {
    BC_RETENTION_MESSAGES_DAYS    => 30,
    BC_RETENTION_EVENTS_DAYS      => 30,
    BC_RETENTION_WEBHOOK_LOG_DAYS => 7,
    BC_RETENTION_INTERVAL_S       => 1,
    BC_RETENTION_BATCH            => 2,
});
my $read   = $t->create_key('read');
my $send   = $t->send_key;
my $manage = $t->create_key('manage');
my $keys   = $t->dir . '/secrets/encryption.keys';
my $ctl    = ($ENV{BC_BUILD} // "$BC::Test::REPO/build") . '/bin/broadcastctl';
my $tag    = hex32();

sub raw { $t->mysql_value("SELECT $_[0] FROM messages WHERE id = ?", $_[1]) }

# the message as GET /api/messages lists it (with subject and payload)
sub listed {
    my ($id) = @_;
    my $r = $t->get('/api/messages?limit=100', key => $read);
    my ($m) = grep { $_->{id} eq $id } @{ $r->{json}{messages} || [] };
    return $m || {};
}

sub sms {
    my ($to, $text) = @_;
    my $r = $t->send_sms(to => $to, message => $text, key => $send);
    is($r->{status}, 202, "send to $to") or diag $r->{content};
    return $r->{json}{messages}[0]{id} // $r->{json}{message_id};
}

sub inbound {
    my ($from, $text) = @_;
    my $sid = 'SM' . hex32();
    my $r = $t->twilio_post('/webhooks/twilio/sms/inbound',
        $t->inbound_sms_params($from, $text, $sid));
    is($r->{status}, 200, "inbound from $from");
    ok(wait_until(sub { $t->inbound_count($sid) }, 30, 0.1), 'inbound stored');
    return $t->mysql_value('SELECT id FROM messages WHERE provider_message_id = ?', $sid);
}

sub restart_readers {
    is($t->stop('sender', 'nginx'), 0, 'sender and nginx stopped');
    is($t->start('sender', 'nginx'), 0, 'sender and nginx started');
}

sub rotate {
    my $out = `'$ctl' rotate-key --config '${\ $t->dir}/sender.conf' --batch 3 2>&1`;
    is($? >> 8, 0, 'broadcastctl rotate-key exits 0') or diag $out;
    return $out;
}

# ------------------------------------------------- sealed at rest, shown
my $A = '+14155550141';
my $body = "secret body $tag";
my $m1 = sms($A, $body);
my $st = $t->wait_status([$m1], qr/^(sent|delivered)$/, 30, $send);
is($st->{$m1}{body}, $body, 'GET /api/status shows the body');
like(raw('body', $m1), qr/^\$bce1\$k1\$[A-Za-z0-9+\/=]+$/, 'stored body is sealed under k1');
unlike(raw('body', $m1), qr/secret/, 'no plaintext body in MySQL');

my $r = $t->send_email(to => 'ann@example.com', subject => "subject $tag", text => "mail $tag",
                       key => $send);
is($r->{status}, 202, 'email accepted') or diag $r->{content};
my $e1 = $r->{json}{messages}[0]{id} // $r->{json}{message_id};
$t->wait_status([$e1], qr/./, 30, $send);
ok(wait_until(sub { defined raw('subject', $e1) }, 30, 0.1), 'email row written');
like(raw('subject', $e1), qr/^\$bce1\$k1\$/, 'stored subject is sealed');
unlike(raw('payload', $e1) // '', qr/\Q$tag\E/, 'stored payload (extra) is sealed');
is(listed($e1)->{subject}, "subject $tag", 'GET /api/messages shows the subject');
like(listed($e1)->{payload}{text} // '', qr/mail \Q$tag\E/, 'and the payload opened');

my $in = inbound($A, "inbound words $tag");
like(raw('body', $in), qr/^\$bce1\$k1\$/, 'inbound body is sealed');
my $ev = $t->mysql_value('SELECT payload FROM message_events WHERE message_id = ?', $in);
ok(defined $ev && $ev =~ /^\$bce1\$/ && $ev !~ /inbound/, 'the inbound webhook payload is sealed');
$r = $t->get('/api/chat/history?address=' . uri_escape($A), key => $read);
my %hist = map { $_->{id} => $_ } @{ $r->{json}{messages} || [] };
is($hist{$in}{body}, "inbound words $tag", 'chat history shows the inbound body');
is($hist{$m1}{body}, $body, 'chat history shows the outbound body');
$r = $t->get('/api/messages?limit=50', key => $read);
ok((grep { ($_->{body} // '') eq $body } @{ $r->{json}{messages} || [] }), 'GET /api/messages shows the body');
$r = $t->get('/api/webhook-events', key => $read);
ok((grep { ($_->{payload} // '') =~ /inbound\+words|inbound%20words|inbound words/ }
    @{ $r->{json}{events} || $r->{json}{items} || [] }), 'GET /api/webhook-events shows the payload opened')
    or diag substr($r->{content}, 0, 400);

# an inbound media URL is sealed (in the payload) and shown
{
    my $sid = 'MM' . hex32();
    my $p = $t->inbound_sms_params($A, '', $sid);
    $p->{NumMedia} = '1';
    $p->{MediaUrl0} = "https://media.example.com/$tag.jpg";
    $p->{MediaContentType0} = 'image/jpeg';
    is($t->twilio_post('/webhooks/twilio/sms/inbound', $p)->{status}, 200, 'inbound MMS 200');
    ok(wait_until(sub { $t->inbound_count($sid) }, 30, 0.1), 'inbound MMS stored');
    my $mid = $t->mysql_value('SELECT id FROM messages WHERE provider_message_id = ?', $sid);
    unlike(raw('payload', $mid) // '', qr/media\.example/, 'the media URL is not in plaintext');
    my ($m) = grep { $_->{id} eq $mid } @{ $t->get('/api/chat/history?address=' . uri_escape($A),
                                                   key => $read)->{json}{messages} || [] };
    is((($m || {})->{payload}{media} || [])->[0]{url}, "https://media.example.com/$tag.jpg",
       'chat history shows the media URL');
}

# a row from before the key file (plaintext) still reads
my $m2 = sms('+14155550142', "second $tag");
$t->wait_status([$m2], qr/^(sent|delivered)$/, 30, $send);
$t->dbh->do('UPDATE messages SET body = ? WHERE id = ?', undef, "legacy plain $tag", $m2);
is($t->status_of($m2, $send)->{body}, "legacy plain $tag", 'a plaintext row reads as it is');

# ------------------------------------------------- rotation k1 -> k2
open my $fh, '>>', $keys or die "$keys: $!";
print $fh 'k2 ', encode_base64(join('', map { chr int rand 256 } 1 .. 32), ''), "\n";
close $fh;
restart_readers();
my $m3 = sms('+14155550143', "third $tag");
$t->wait_status([$m3], qr/^(sent|delivered)$/, 30, $send);
like(raw('body', $m3), qr/^\$bce1\$k2\$/, 'after adding k2, new rows are sealed under k2');
is($t->status_of($m1, $send)->{body}, $body, 'a k1 row still reads');

my $out = rotate();
like($out, qr/messages\.body: \d+ values, [1-9]\d* re-encrypted, 0 unreadable/, 'rotate-key counts');
is($t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE body IS NOT NULL AND body NOT LIKE '$bce1$k2$%'}),
   0, 'every body is under k2 (the plaintext one too)');
is($t->mysql_value(q{SELECT COUNT(*) FROM message_events WHERE payload IS NOT NULL AND payload NOT LIKE '$bce1$k2$%'}),
   0, 'every event payload is under k2');
like(rotate(), qr/messages\.body: \d+ values, 0 re-encrypted/, 'a second run changes nothing');

open $fh, '<', $keys or die; my @lines = grep { !/^k1 / } <$fh>; close $fh;
open $fh, '>', $keys or die; print $fh @lines; close $fh;
restart_readers();
is($t->status_of($m1, $send)->{body}, $body, 'k1 removed: the rotated k1 row reads');
is($t->status_of($m2, $send)->{body}, "legacy plain $tag", 'the once-plaintext row reads');
is(listed($e1)->{subject}, "subject $tag", 'the subject reads');

# ------------------------------------------------- tampering
my $sealed = raw('body', $m3);
my $i = length($sealed) - 10;
my $c = substr($sealed, $i, 1);
substr($sealed, $i, 1) = $c eq 'A' ? 'B' : 'A';
$t->dbh->do('UPDATE messages SET body = ? WHERE id = ?', undef, $sealed, $m3);
$r = $t->get("/api/status/$m3", key => $send);
is($r->{status}, 200, 'a damaged message still answers 200');
is($r->{json}{body}, undef, 'its body is null');
is($r->{json}{body_error}, 'integrity_check_failed', 'body_error says why');
$r = $t->get('/api/messages?limit=50', key => $read);
is($r->{status}, 200, 'the listing with a damaged row answers');
ok((grep { ($_->{body} // '') eq $body } @{ $r->{json}{messages} || [] }), 'the other rows still read');

# ------------------------------------------------- erasure
my $P = '+14155550177';
$r = $t->post('/api/contacts', key => $manage,
    json => { name => "Erin $tag", phone => $P, tags => ['vip'] });
is($r->{status}, 201, 'contact created') or diag $r->{content};
my $cid = $r->{json}{id};
$r = $t->post('/api/groups', key => $manage, json => { name => "g-$tag" });
my $gid = $r->{json}{id};
$r = $t->post("/api/groups/$gid/members", key => $manage, json => { contact_ids => [$cid] });
ok($r->{status} == 200 || $r->{status} == 201, 'member added') or diag $r->{content};
my @pm = (sms($P, "to erin one $tag"), sms($P, "to erin two $tag"));
$t->wait_status(\@pm, qr/^(sent|delivered)$/, 30, $send);
inbound($P, "from erin $tag");
$r = $t->post('/api/opt-outs', key => $manage, json => { address => $P });
ok($r->{status} == 200 || $r->{status} == 201, 'opt-out recorded') or diag $r->{content};

my $path = '/api/privacy/subjects/' . uri_escape($P);
for my $k ([read => $read], [send => $send], [manage => $manage]) {
    is_error($t->http(DELETE => $path, key => $k->[1]), 403, 'forbidden', "erase with a $k->[0] key");
}
is_error($t->http(DELETE => '/api/privacy/subjects/not-an-address', token => $t->token), 422,
    'invalid_address', 'erase of something that is no address');
$r = $t->http(DELETE => $path, token => $t->token);
is($r->{status}, 200, 'erase as an administrator') or diag $r->{content};
my $n = $r->{json}{counts} || {};
is($n->{messages}, 3, 'three messages erased');
ok($n->{message_events} >= 1, 'their events erased');
is($n->{contacts}, 1, 'the contact erased');
is($n->{contact_tags}, 1, 'its tag');
is($n->{group_memberships}, 1, 'its membership');
is($n->{opt_outs_kept_hashed}, 1, 'the opt-out kept, hashed');
my $hash = $r->{json}{address_hash} // '';
like($hash, qr/^[0-9a-f]{64}$/, 'the answer names the address by hash');

my $audit = $t->mysql('SELECT * FROM privacy_erasures WHERE id = ?', $r->{json}{audit_id})->[0] || {};
is($audit->{address_hash}, $hash, 'audit row: the hash');
ok($audit->{admin_user_id}, 'audit row: who');
like($audit->{counts} // '', qr/"messages":3/, 'audit row: the counts');

my $user = getpwuid($>) // 'root';
my $dump = `mysqldump --skip-comments --socket='${\ $t->dir}/mysql/mysql.sock' -u '$user' broadcast 2>&1`;
ok(length $dump > 1000 && $? == 0, 'mysqldump of the test database');
unlike($dump, qr/4155550177/, 'no trace of the number in the database');
unlike($dump, qr/Erin \Q$tag\E|erin (one|two) \Q$tag\E|from erin/, 'no trace of their name or texts');
like($dump, qr/sha256:[0-9a-f]{64}/, 'the hashed opt-out is there');

$r = $t->get('/api/chat/history?address=' . uri_escape($P), key => $read);
is(scalar @{ $r->{json}{messages} || [] }, 0, 'chat history: nothing');
$r = $t->get('/api/chat/users?limit=100', key => $read);
ok(!(grep { ($_->{user_address} // '') =~ /4155550177/ } @{ $r->{json}{users} || [] }), 'chat users: absent');
$r = $t->get('/api/messages?limit=100', key => $read);
ok(!(grep { ($_->{to} // '') =~ /4155550177/ || ($_->{from} // '') =~ /4155550177/ } @{ $r->{json}{messages} || [] }),
   'message listing: absent');
$r = $t->get('/api/contacts?search=4155550177', key => $read);
is(scalar @{ $r->{json}{contacts} || $r->{json}{items} || [] }, 0, 'contact search: nothing');
$r = $t->get('/api/opt-outs?limit=100', key => $read);
ok(!(grep { ($_->{address} // '') =~ /4155550177/ } @{ $r->{json}{opt_outs} || $r->{json}{items} || [] }),
   'opt-out listing: the number is absent');

my $again = sms($P, "after erasure $tag");
$st = $t->wait_status([$again], qr/^(blocked|sent|delivered|failed)$/, 30, $send);
is($st->{$again}{status}, 'blocked', 'a send after erasure is blocked');
is($st->{$again}{error_code}, 'opted_out', 'by the hashed opt-out');
inbound($P, 'START');
ok(wait_until(sub { !$t->mysql_value(q{SELECT COUNT(*) FROM opt_outs WHERE address LIKE 'sha256:%'}) }, 30, 0.1),
   'START from the erased person lifts the hashed opt-out');

# an e-mail address, in any case, is the lower-cased one the send stored
$r = $t->http(DELETE => '/api/privacy/subjects/Ann@Example.COM', token => $t->token);
is($r->{status}, 200, 'erase an e-mail address') or diag $r->{content};
is(($r->{json}{counts} || {})->{messages}, 1, 'its one message');
is($t->get("/api/status/$e1", key => $send)->{status}, 404, 'the e-mail message is gone');

# ------------------------------------------------- retention
my @old = map { sms(sprintf('+1415555016%d', $_), "old $_ $tag") } 1 .. 5;
$t->wait_status(\@old, qr/^(sent|delivered)$/, 30, $send);
my $in_list = join ',', map { "'$_'" } @old;
# the last one is still pending: aged, it must stay
$t->dbh->do(qq{UPDATE messages SET send_state = 'pending', status = 'queued' WHERE id = '$old[4]'});
$t->dbh->do(qq{UPDATE messages SET created_at = UTC_TIMESTAMP(3) - INTERVAL 40 DAY WHERE id IN ($in_list)});
for my $age (40, 40, 40, 10) {
    $t->dbh->do(q{INSERT INTO message_events (dedup_key, provider, kind, payload, received_at)
                  VALUES (SHA2(RAND(), 256), 'twilio', 'privacy_test', 'raw', UTC_TIMESTAMP(3) - INTERVAL ? DAY)},
                undef, $age);
}
ok(wait_until(sub { $t->mysql_value(qq{SELECT COUNT(*) FROM messages WHERE id IN ($in_list)}) == 1 }, 30, 0.2),
   'four old messages purged (batches of 2)');
is($t->mysql_value('SELECT COUNT(*) FROM messages WHERE id = ?', $old[4]), 1, 'the pending one is kept');
ok(wait_until(sub { $t->mysql_value(q{SELECT COUNT(*) FROM message_events WHERE kind = 'privacy_test'}) == 1 }, 30, 0.2),
   'old events purged');
ok(wait_until(sub { !defined $t->mysql_value(q{SELECT payload FROM message_events WHERE kind = 'privacy_test'}) }, 30, 0.2),
   'a 10-day-old event keeps its row, its raw payload cleared');
is($t->status_of($m1, $send)->{body}, $body, 'recent messages stay');
ok(wait_until(sub { ($t->metric('broadcast_retention_purged_total', qr/kind="messages"/) // 0) >= 4 }, 10, 0.2),
   'purged messages counted in /metrics');
ok(($t->metric('broadcast_retention_purged_total', qr/kind="events"/) // 0) >= 3, 'purged events counted');

$t->done;
