#!/usr/bin/perl
# Login, sessions, API keys, scopes, bootstrap admin.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my ($user, $pass) = $t->admin_credentials;
is($user, 'admin', 'admin username');
ok(length $pass >= 12, 'generated admin password is long');
my $mode = (stat $t->dir . '/admin.credentials')[2] & 07777;
is(sprintf('%o', $mode), '600', 'admin.credentials mode 600');
is(sprintf('%o', (stat $t->dir . '/providers.env')[2] & 07777), '600', 'providers.env mode 600');

# ---------------------------------------------------------------- login
my $r = $t->post('/api/login', json => { username => $user, password => $pass });
is($r->{status}, 200, 'login 200') or diag $r->{content};
my $token = $r->{json}{token};
like($token // '', qr/^bcs_[A-Za-z0-9_-]{43}$/, 'session token shape');
like($r->{json}{expires_at} // '', qr/^\d{4}-\d\d-\d\dT/, 'expires_at');
is($r->{json}{username}, 'admin', 'username echoed');
my $cookie = $r->{headers}{'set-cookie'} // '';
$cookie = join ';', @$cookie if ref $cookie;
like($cookie, qr/bc_session=\Q$token\E/, 'Set-Cookie bc_session');
like($cookie, qr/HttpOnly/i, 'cookie HttpOnly');
like($cookie, qr/SameSite=Strict/i, 'cookie SameSite=Strict');
unlike($r->{content}, qr/\Q$pass\E/, 'password not echoed');

is_error($t->post('/api/login', json => { username => $user, password => "$pass-wrong" }),
    401, 'unauthorized', 'wrong password');
is_error($t->post('/api/login', json => { username => 'nobody', password => 'x' }),
    401, 'unauthorized', 'unknown user');
is_error($t->post('/api/login', body => '{"username":'), 400, 'invalid_json', 'login bad JSON');

# the cookie works as a session too
$r = $t->get('/api/keys', headers => { Cookie => "bc_session=$token" });
is($r->{status}, 200, 'GET /api/keys with the cookie');

# ---------------------------------------------------------------- keys
$r = $t->post('/api/keys', token => $token, json => { name => 'reader', scope => 'read' });
ok($r->{status} == 200 || $r->{status} == 201, 'create read key') or diag $r->{content};
my $read = $r->{json}{api_key};
my $read_id = $r->{json}{id};
like($read // '', qr/^bck_[A-Za-z0-9_-]{43}$/, 'raw key shown once, right shape');
is($r->{json}{scope}, 'read', 'scope echoed');
is($r->{json}{prefix}, substr($read, 0, 12), 'prefix is the first 12 chars');

$r = $t->post('/api/keys', token => $token, json => { name => 'sender', scope => 'send' });
my $send = $r->{json}{api_key};
my $send_id = $r->{json}{id};
ok($send, 'create send key');
is_error($t->post('/api/keys', token => $token, json => { name => 'x', scope => 'god' }),
    400, 'invalid_request', 'unknown scope');

$r = $t->get('/api/keys', token => $token);
is($r->{status}, 200, 'list keys');
my @keys = @{ $r->{json}{keys} || [] };
ok((grep { $_->{id} == $read_id } @keys) && (grep { $_->{id} == $send_id } @keys), 'both keys listed');
unlike($r->{content}, qr/\Q$read\E|\Q$send\E/, 'list never shows a raw key');
ok(!grep({ exists $_->{api_key} } @keys), 'no api_key field in the list');
is($t->mysql_value('SELECT COUNT(*) FROM api_keys WHERE key_hash = SHA2(?, 256)', $read), 1,
   'only the SHA-256 is stored');

# ---------------------------------------------------------------- scopes
$r = $t->send_sms(key => $read, to => ['+14155552671']);
is_error($r, 403, 'forbidden', 'read key cannot send');
$r = $t->send_sms(key => $send, to => ['+14155552671'], message => 'auth test');
is($r->{status}, 202, 'send key sends') or diag $r->{content};
my $mid = $r->{json}{messages}[0]{id};
$r = $t->get("/api/status/$mid", key => $read);
is($r->{status}, 200, 'read key reads status');
$r = $t->get("/api/status/$mid", headers => { Authorization => "Bearer $read" });
is($r->{status}, 200, 'key as Authorization: Bearer');
$r = $t->get("/api/status/$mid", token => $token);
is($r->{status}, 200, 'a session has every scope');
is_error($t->get('/api/keys', key => $send), 403, 'forbidden', 'API key on /api/keys');
is_error($t->post('/api/keys', key => $send, json => { name => 'x', scope => 'send' }),
    403, 'forbidden', 'API key cannot create keys');

is_error($t->post('/api/send/sms', json => { recipients => ['+14155552671'], message => 'x' }),
    401, 'unauthorized', 'missing key');
is_error($t->post('/api/send/sms', key => 'bck_' . ('A' x 43), json => { recipients => ['+14155552671'], message => 'x' }),
    401, 'unauthorized', 'unknown well-formed key');
is_error($t->post('/api/send/sms', key => "garbage <>!key", json => { recipients => ['+14155552671'], message => 'x' }),
    401, 'unauthorized', 'garbage key');
is_error($t->get('/api/keys'), 401, 'unauthorized', 'keys without session');
is_error($t->get('/api/keys', token => 'bcs_' . ('B' x 43)), 401, 'unauthorized', 'unknown session');

# revoke (also drops the Redis credential cache)
$r = $t->post("/api/keys/$send_id/revoke", token => $token);
is($r->{status}, 200, 'revoke') or diag $r->{content};
ok($r->{json}{revoked_at}, 'revoked_at set');
is_error($t->send_sms(key => $send, to => ['+14155552671']), 401, 'unauthorized', 'revoked key');
is_error($t->get("/api/status/$mid", key => $send), 401, 'unauthorized', 'revoked key cannot read');

# logout
$r = $t->post('/api/logout', token => $token);
ok($r->{status} == 200 || $r->{status} == 204, 'logout');
is_error($t->get('/api/keys', token => $token), 401, 'unauthorized', 'session gone after logout');

# ---------------------------------------------------------------- bootstrap
# a changed credentials file and a re-run of stack start never reset the admin
my $cred = $t->dir . '/admin.credentials';
open my $fh, '>', $cred or die $!;
print $fh "admin:another-password-123\n";
close $fh;
is($t->start, 0, 'stack.sh start again');
is($t->post('/api/login', json => { username => 'admin', password => $pass })->{status}, 200,
   'original admin password still works');
is($t->post('/api/login', json => { username => 'admin', password => 'another-password-123' })->{status}, 401,
   'password not reset by bootstrap-admin');
is($t->mysql_value('SELECT COUNT(*) FROM admin_users'), 1, 'one admin');

$t->done;
