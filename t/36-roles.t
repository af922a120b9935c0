#!/usr/bin/perl
# Users and roles: every /api/ route (BC::Routes, read from the C table)
# called by an admin, operator and viewer session (cookie + CSRF token) and
# by read, send and manage keys, each answer checked against the route's
# need level; the users API and its last-admin rules; CSRF on cookie
# writes; keys capped by their owner's role; disable, demotion and a
# password change taking effect at once; account lockout per address.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use BC::Test qw(:all);
use BC::Routes qw(api_routes);

my $t = BC::Test->new;
my $admin = $t->token;
my $PW = 'correct-horse-battery';

sub create_user {
    my ($name, $role) = @_;
    my $r = $t->post('/api/admin/users', token => $admin,
        json => { username => $name, password => $PW, role => $role });
    is($r->{status}, 201, "create $role $name: 201") or diag $r->{content};
    return $r->{json};
}

# a signed-in user: its token, CSRF token, and headers for cookie requests
sub sign_in {
    my ($name, $pass, %o) = @_;
    my $r = $t->post('/api/login', ua => $o{ua},
        json => { username => $name, password => $pass // $PW });
    is($r->{status}, 200, "$name signs in") or diag $r->{content};
    my $s = { name => $name, token => $r->{json}{token}, csrf => $r->{json}{csrf_token} };
    $s->{cookie} = { Cookie => "bc_session=$s->{token}", 'X-CSRF-Token' => $s->{csrf} };
    return $s;
}

sub with_cookie {
    my ($s, $method, $path, %o) = @_;
    return $t->http($method => $path, headers => $s->{cookie}, %o);
}

# ------------------------------------------------------------ users API
my $r = $t->get('/api/admin/users', token => $admin);
is($r->{status}, 200, 'GET /api/admin/users') or diag $r->{content};
my ($boot) = grep { $_->{username} eq 'admin' } @{ $r->{json}{users} || [] };
is($boot->{role}, 'admin', 'the bootstrap user is an admin');
ok(JSON::PP::is_bool($boot->{disabled}) && !$boot->{disabled}, 'disabled is a boolean false');
like($boot->{last_login_at} // '', qr/^\d{4}-\d\d-\d\dT.*Z$/, 'last_login_at set by the login');
ok(exists $boot->{created_at} && exists $boot->{locked_until}, 'created_at and locked_until present');

my $op_user = create_user('oscar.op', 'operator');
my $vw_user = create_user('vera-view', 'viewer');
is_deeply([@{$op_user}{qw(username role last_login_at)}, 0 + $op_user->{disabled}],
          ['oscar.op', 'operator', undef, 0], 'the created user item');
unlike($r->{content} . to_json_text($op_user), qr/password|argon2/, 'no password or hash in user items');

is_error($t->post('/api/admin/users', token => $admin,
    json => { username => 'oscar.op', password => $PW, role => 'viewer' }), 409, 'username_taken', 'a taken username');
is_error($t->post('/api/admin/users', token => $admin,
    json => { username => 'bad name', password => $PW, role => 'viewer' }), 400, 'invalid_request', 'a username with a space');
is_error($t->post('/api/admin/users', token => $admin,
    json => { username => 'shorty', password => 'short', role => 'viewer' }), 400, 'invalid_request', 'a password under 12 bytes');
is_error($t->post('/api/admin/users', token => $admin,
    json => { username => 'roleless', password => $PW, role => 'root' }), 400, 'invalid_request', 'an unknown role');

# ------------------------------------------------------------ sessions, CSRF
my %session = (admin => sign_in('admin', ($t->admin_credentials)[1]),
               operator => sign_in('oscar.op'), viewer => sign_in('vera-view'));
like($session{viewer}{csrf} // '', qr/^[0-9a-f]{64}$/, 'the login answers a csrf_token');

$r = with_cookie($session{viewer}, GET => '/api/me');
is($r->{status}, 200, 'GET /api/me with the cookie') or diag $r->{content};
is_deeply($r->{json}{user}, { id => $vw_user->{id}, username => 'vera-view', role => 'viewer' }, '/api/me: the user');
is($r->{json}{csrf_token}, $session{viewer}{csrf}, '/api/me: the same csrf_token as the login');
is($t->get('/api/me', token => $session{operator}{token})->{json}{csrf_token}, $session{operator}{csrf},
   '/api/me by Bearer: the session\'s csrf_token too');

my $op = $session{operator};
my $group = { name => 'csrf-' . hex32() };
is_error($t->post('/api/groups', headers => { Cookie => "bc_session=$op->{token}" }, json => $group),
    403, 'csrf_failed', 'a cookie write without X-CSRF-Token');
is_error($t->post('/api/groups', headers => { Cookie => "bc_session=$op->{token}", 'X-CSRF-Token' => 'f' x 64 },
    json => $group), 403, 'csrf_failed', 'a cookie write with a wrong token');
is_error($t->post('/api/groups', headers => { Cookie => "bc_session=$op->{token}", 'X-CSRF-Token' => $session{viewer}{csrf} },
    json => $group), 403, 'csrf_failed', "a cookie write with another session's token");
is($t->mysql_value('SELECT COUNT(*) FROM contact_groups WHERE name = ?', $group->{name}), 0,
   'nothing was written by the refused requests');
$r = with_cookie($op, POST => '/api/groups', json => $group);
is($r->{status}, 201, 'the same write with the token: 201') or diag $r->{content};
$r = $t->post('/api/groups', token => $op->{token}, json => { name => 'bearer-' . hex32() });
is($r->{status}, 201, 'a Bearer session needs no CSRF token') or diag $r->{content};
is($t->get('/api/groups', headers => { Cookie => "bc_session=$op->{token}" })->{status}, 200,
   'a cookie GET needs no CSRF token');

# ------------------------------------------------------------ keys and owners
sub mint {
    my ($s, $scope) = @_;
    return $t->post('/api/keys', token => $s->{token}, json => { name => "$s->{name}-$scope", scope => $scope });
}
is_error(mint($session{viewer}, 'send'), 403, 'forbidden', 'a viewer cannot mint a send key');
like(mint($session{viewer}, 'manage')->{json}{error}{message} // '', qr/viewer.*"read"/,
     'the message names the role and the most it may mint');
$r = $t->post('/api/keys', token => $session{viewer}{token}, json => { name => 'viewer-default' });
is($r->{json}{scope}, 'read', "a viewer's key without a scope is a read key");
my $viewer_key = mint($session{viewer}, 'read')->{json};
ok($viewer_key->{api_key}, 'a viewer mints a read key');
my %key = map { ($_ => scalar $t->create_key($_)) } qw(read send manage);
my $op_manage = mint($op, 'manage')->{json};
ok($op_manage->{api_key}, 'an operator mints a manage key');
my $op_send = mint($op, 'send')->{json}{api_key};

$r = $t->get('/api/keys', token => $session{viewer}{token});
my @owners = map { $_->{admin_user_id} } @{ $r->{json}{keys} || [] };
ok(@owners && !grep({ $_ != $vw_user->{id} } @owners), "a viewer lists only its own keys (@{[scalar @owners]})");
$r = $t->get('/api/keys', token => $admin);
my ($seen) = grep { $_->{id} == $op_manage->{id} } @{ $r->{json}{keys} || [] };
is($seen->{owner}, 'oscar.op', "an admin lists every key with its owner");
is_error($t->post("/api/keys/$viewer_key->{id}/revoke", token => $op->{token}),
    403, 'forbidden', "an operator cannot revoke a viewer's key");
is($t->get('/api/contacts', key => $viewer_key->{api_key})->{status}, 200, 'so the key still works');
my $spare = mint($session{viewer}, 'read')->{json};
$r = $t->post("/api/keys/$spare->{id}/revoke", token => $admin);
ok($r->{status} == 200 && $r->{json}{revoked_at}, "an admin revokes a viewer's key") or diag $r->{content};
is_error($t->get('/api/contacts', key => $spare->{api_key}), 401, 'unauthorized', 'which stops at once');

# ------------------------------------------------------------ the route table
my @routes = api_routes();
cmp_ok(scalar @routes, '>', 150, scalar(@routes) . ' route-methods in the table');
my %need_of = map { ("$_->{method} $_->{path}" => $_->{need}) } @routes;
is($need_of{'POST /api/email/senders'}, 'ADMIN', 'a sender whitelist is a setting: admin only');
is($need_of{'GET /api/audit'}, 'ADMIN', 'the audit log: admin only');
is($need_of{'GET /api/me'}, 'SESSION', '/api/me: any signed-in user');

my %LEVEL = (READ => 1, SEND => 2, MANAGE => 3);
my %ROLE_SCOPE = (viewer => 1, operator => 3, admin => 3);
my %SCOPE = (read => 1, send => 2, manage => 3);

# undef: allowed; else the pattern the 403 message must match
sub expected {
    my ($kind, $who, $need) = @_;
    if ($kind eq 'session') {
        return undef if $need eq 'SESSION';
        return $who eq 'admin' ? undef : qr/admin role/ if $need eq 'ADMIN';
        return $ROLE_SCOPE{$who} >= $LEVEL{$need} ? undef : qr/operator role.*"$who"/;
    }
    return qr/session/ if $need eq 'SESSION' || $need eq 'ADMIN';
    return $SCOPE{$who} >= $LEVEL{$need} ? undef : qr/"$who".*"\L$need\E"/;
}

sub fill { my $p = shift; $p =~ s/\{[a-z_]+\}/999999/g; $p }

my @walk = grep { $_->{need} ne 'NONE' && $_->{path} ne '/api/logout' } @routes;
for my $who (qw(admin operator viewer)) {
    my @wrong;
    for my $rt (@walk) {
        my $res = with_cookie($session{$who}, $rt->{method} => fill($rt->{path}),
            $rt->{method} =~ /^(POST|PATCH|PUT|DELETE)$/ ? (json => {}) : ());
        push @wrong, check($res, expected('session', $who, $rt->{need}), "$rt->{method} $rt->{path}");
    }
    is_deeply(\@wrong, [], "$who session: all " . scalar(@walk) . ' routes answer as their need says');
}
for my $scope (qw(read send manage)) {
    my @wrong;
    for my $rt (@walk) {
        my $res = $t->http($rt->{method} => fill($rt->{path}), key => $key{$scope},
            $rt->{method} =~ /^(POST|PATCH|PUT|DELETE)$/ ? (json => {}) : ());
        push @wrong, check($res, expected('key', $scope, $rt->{need}), "$rt->{method} $rt->{path}");
    }
    is_deeply(\@wrong, [], "$scope key: all " . scalar(@walk) . ' routes answer as their need says');
}

# the mismatches of one answer, as text (none: empty list)
sub check {
    my ($res, $forbidden, $what) = @_;
    if (!defined $forbidden) {
        return $res->{status} == 401 || $res->{status} == 403
             ? ("$what: allowed, answered $res->{status} $res->{content}") : ();
    }
    my $e = ref $res->{json} eq 'HASH' ? $res->{json}{error} || {} : {};
    return $res->{status} == 403 && ($e->{code} // '') eq 'forbidden' && ($e->{message} // '') =~ $forbidden
         ? () : ("$what: forbidden, answered $res->{status} $res->{content}");
}

# ------------------------------------------------------------ demotion, disable
# a key never does more than its owner's role: demote the operator
is($t->http(PATCH => "/api/admin/users/$op_user->{id}", token => $admin, json => { role => 'viewer' })->{json}{role},
   'viewer', 'the operator is demoted to viewer');
$r = $t->post('/api/groups', key => $op_manage->{api_key}, json => { name => 'after-demotion' });
is_error($r, 403, 'forbidden', 'the manage key of a demoted user writes no more, at once');
is($t->get('/api/groups', key => $op_manage->{api_key})->{status}, 200, 'but it reads');
is_error($t->post('/api/groups', token => $op->{token}, json => { name => 'after-demotion' }),
    403, 'forbidden', 'nor does the session');
$t->http(PATCH => "/api/admin/users/$op_user->{id}", token => $admin, json => { role => 'operator' });

# a disabled user's sessions and keys stop at once (the cache is dropped,
# and the send fast path re-checks it)
is($t->send_sms(key => $op_send, to => '+14155550101')->{status}, 202, "the operator's send key sends");
is($t->send_sms(key => $op_send, to => '+14155550102')->{status}, 202, 'twice (the fast path)');
is($t->get('/api/me', token => $op->{token})->{status}, 200, 'the session works');
$r = $t->post("/api/admin/users/$op_user->{id}/disable", token => $admin);
is($r->{status}, 200, 'disable: 200') or diag $r->{content};
ok($r->{json}{disabled}, 'the user item says disabled');
is_error($t->send_sms(key => $op_send, to => '+14155550103'), 401, 'unauthorized', 'a disabled user\'s key cannot send');
is_error($t->get('/api/contacts', key => $op_manage->{api_key}), 401, 'unauthorized', 'nor read');
is_error($t->get('/api/me', token => $op->{token}), 401, 'unauthorized', 'the session is over');
is_error($t->post('/api/login', json => { username => 'oscar.op', password => $PW }), 401, 'unauthorized',
    'a disabled user cannot sign in');
$r = $t->post("/api/admin/users/$op_user->{id}/enable", token => $admin);
ok(!$r->{json}{disabled}, 'enable: the user item says enabled');
is($t->get('/api/contacts', key => $op_manage->{api_key})->{status}, 200, 'its keys work again');
is_error($t->get('/api/me', token => $op->{token}), 401, 'unauthorized', 'the old session does not come back');

# ------------------------------------------------------------ last admin
is_error($t->http(DELETE => "/api/admin/users/$boot->{id}", token => $admin), 409, 'cannot_delete_self', 'an admin cannot delete itself');
is_error($t->http(PATCH => "/api/admin/users/$boot->{id}", token => $admin, json => { role => 'operator' }),
    409, 'last_admin', 'the last admin cannot be demoted');
is_error($t->post("/api/admin/users/$boot->{id}/disable", token => $admin), 409, 'last_admin', 'nor disabled');
my $second = create_user('second-admin', 'admin');
my $s2 = sign_in('second-admin');
is($t->post("/api/admin/users/$second->{id}/disable", token => $admin)->{status}, 200,
   'with two admins one may be disabled');
is_error($t->post("/api/admin/users/$boot->{id}/disable", token => $s2->{token}), 401, 'unauthorized',
    'a disabled admin can do nothing');
$t->post("/api/admin/users/$second->{id}/enable", token => $admin);
$s2 = sign_in('second-admin');
is($t->http(PATCH => "/api/admin/users/$boot->{id}", token => $s2->{token}, json => { role => 'operator' })->{status},
   200, 'with two admins one may be demoted');
is_error($t->http(DELETE => "/api/admin/users/$second->{id}", token => $s2->{token}), 409, 'cannot_delete_self',
    'the other cannot delete itself');
is_error($t->post("/api/admin/users/$second->{id}/disable", token => $s2->{token}), 409, 'last_admin',
    'nor disable itself as the last admin');
is($t->http(PATCH => "/api/admin/users/$boot->{id}", token => $s2->{token}, json => { role => 'admin' })->{status},
   200, 'the bootstrap user is admin again');
$admin = $t->login;
$r = $t->http(DELETE => "/api/admin/users/$second->{id}", token => $admin);
ok($r->{json}{deleted} && $r->{json}{id} == $second->{id}, 'DELETE: deleted') or diag $r->{content};
is_error($t->get('/api/me', token => $s2->{token}), 401, 'unauthorized', "the deleted user's session is over");
is_error($t->http(DELETE => "/api/admin/users/$second->{id}", token => $admin), 404, 'not_found', 'a deleted user is gone');

# ------------------------------------------------------------ own password
my $other = sign_in('oscar.op');
$op = sign_in('oscar.op');
is_error(with_cookie($op, POST => '/api/me/password', json => { current_password => 'not-it-at-all', new_password => 'a-new-password-1' }),
    403, 'wrong_password', 'a wrong current password');
is_error(with_cookie($op, POST => '/api/me/password', json => { current_password => $PW, new_password => 'short' }),
    400, 'invalid_request', 'a new password under 12 bytes');
$r = with_cookie($op, POST => '/api/me/password', json => { current_password => $PW, new_password => 'a-new-password-1' });
is($r->{status}, 204, 'password changed: 204') or diag $r->{content};
is($r->{content} // '', '', 'no body');
is($t->get('/api/me', token => $op->{token})->{status}, 200, 'this session goes on');
is_error($t->get('/api/me', token => $other->{token}), 401, 'unauthorized', 'the other session is over');
is_error($t->post('/api/login', json => { username => 'oscar.op', password => $PW }), 401, 'unauthorized', 'the old password fails');
is($t->post('/api/login', json => { username => 'oscar.op', password => 'a-new-password-1' })->{status}, 200,
   'the new one signs in');

# ------------------------------------------------------------ lockout
# ten wrong passwords lock the username at that address only; an admin's
# enable lifts it; the 429 says when to retry
my $locky = create_user('locky', 'viewer');
my $ua_a = HTTP::Tiny->new(local_address => '127.0.0.6', timeout => 30);
my $ua_b = HTTP::Tiny->new(local_address => '127.0.0.7', timeout => 30);
sub login_from {
    my ($ua, $p) = @_;
    return $t->post('/api/login', ua => $ua, json => { username => 'locky', password => $p });
}
my @codes = map { login_from($ua_a, "wrong-guess-$_")->{status} } 1 .. 10;
is(join(',', @codes), join(',', (401) x 10), 'ten wrong passwords: 401 each');
$r = login_from($ua_a, $PW);
is_error($r, 429, 'too_many_attempts', 'the right password from that address: locked');
my $retry = $r->{headers}{'retry-after'} // '';
ok($retry =~ /^\d+$/ && $retry > 0 && $retry <= 900, "Retry-After: $retry seconds");
is(login_from($ua_b, $PW)->{status}, 200, 'the right password from another address works');
($r) = grep { $_->{id} == $locky->{id} } @{ $t->get('/api/admin/users', token => $admin)->{json}{users} };
like($r->{locked_until} // '', qr/^\d{4}-\d\d-\d\dT/, 'admins see locked_until');
$t->post("/api/admin/users/$locky->{id}/enable", token => $admin);
($r) = grep { $_->{id} == $locky->{id} } @{ $t->get('/api/admin/users', token => $admin)->{json}{users} };
is($r->{locked_until}, undef, 'enable clears locked_until');
is(login_from($ua_a, $PW)->{status}, 200, 'and unlocks the address');

$t->check_logs_for_secrets;
$t->done;

sub to_json_text { BC::Test::json_encode($_[0]) }
