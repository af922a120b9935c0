#!/usr/bin/perl
# The audit log: every successful write through /api/ but the sends (each
# message is a ledger row with its key), by a session or a key, logins, failed logins
# and logouts become rows naming who, the route's pattern, the {id}, the
# status and the address, never a body, password or token; reads, reads by
# POST (a preview) and refused writes are not recorded. GET /api/audit
# pages them newest first with filters, for admins only.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my ($user, $pass) = $t->admin_credentials;
my $admin = $t->login;
my $admin_id = $t->mysql_value('SELECT id FROM admin_users WHERE username = ?', $user);
my $OP_PW = 'operator-password-1';

my $r = $t->post('/api/admin/users', token => $admin,
    json => { username => 'audit-op', password => $OP_PW, role => 'operator' });
is($r->{status}, 201, 'an operator') or diag $r->{content};
my $op_id = $r->{json}{id};
$r = $t->post('/api/login', json => { username => 'audit-op', password => $OP_PW });
my $op = $r->{json}{token};
my ($key, $kr) = $t->create_key('manage', 'audit-key');
my $key_id = $kr->{json}{id};

# every entry, newest first, through the API itself
sub entries {
    my (%q) = @_;
    my $qs = join '&', map { "$_=" . BC::Test::uri_escape($q{$_}) } sort keys %q;
    my $res = $t->get('/api/audit' . ($qs ? "?$qs" : ''), token => $admin);
    return $res->{status} == 200 ? $res->{json} : undef;
}
sub find_entry {
    my ($action, %want) = @_;
    my $page = entries(action => $action, limit => 500) or return undef;
    for my $e (@{ $page->{entries} }) {
        return $e unless grep { ($e->{$_} // '') ne $want{$_} } keys %want;
    }
    return undef;
}
sub wait_entry {
    my @a = @_;
    my $e;
    wait_until(sub { $e = find_entry(@a) }, 10);
    return $e;
}

# ------------------------------------------------------------ writes
my $before = $t->mysql_value('SELECT COUNT(*) FROM audit_log');
$r = $t->post('/api/groups', token => $op, json => { name => 'audited' });
is($r->{status}, 201, 'an operator creates a group');
my $gid = $r->{json}{id};
my $e = wait_entry('POST /api/groups');
ok($e, 'POST /api/groups is recorded') or diag explain entries();
is_deeply($e->{actor}, { kind => 'user', id => $op_id, name => 'audit-op' }, 'by the operator (a session)');
is($e->{status}, 201, 'with the status');
is($e->{target}, undef, 'no {id}: no target');
is($e->{ip}, '127.0.0.1', 'and the client address');
like($e->{at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'at: ISO-8601 with ms');

$r = $t->http(PATCH => "/api/groups/$gid", key => $key, json => { name => 'audited-2' });
is($r->{status}, 200, 'a key renames it') or diag $r->{content};
$e = wait_entry('PATCH /api/groups/{id}', target => $gid);
ok($e, 'PATCH /api/groups/{id} is recorded with the {id} as target');
is_deeply($e->{actor}, { kind => 'key', id => $key_id, name => 'audit-key' }, 'by the key');

# sends are not audit rows: each message is a ledger row with its key
my $send = $t->create_key('send', 'audit-send');
my $s1 = $t->send_sms(key => $send, to => '+14155550111');
is($s1->{status}, 202, 'a send');
is($t->send_sms(key => $send, to => '+14155550112')->{status}, 202, 'another (the fast path)');
my $send_id = $t->mysql_value('SELECT id FROM api_keys WHERE name = ?', 'audit-send');
ok(wait_until(sub { $t->mysql_value('SELECT COUNT(*) FROM messages WHERE api_key_id = ?', $send_id) == 2 }, 20, 0.1),
   'both sends are ledger rows with their key');
is(scalar @{ entries(action => 'POST /api/send/sms')->{entries} || [] }, 0, 'and no audit rows');

# not recorded: reads, a preview (a read by POST), refused and failed writes
my $tpl = $t->post('/api/templates', token => $op,
    json => { name => 'audit-tpl', channel => 'sms', body => 'Hi {{name}}' });
$t->post("/api/templates/$tpl->{json}{id}/preview", key => $key, json => { variables => { name => 'x' } });
$t->get('/api/groups', token => $op);
$t->post('/api/groups', token => $op, json => {});                 # 400
$t->post('/api/groups', key => $send, json => { name => 'nope' }); # 403
$t->post('/api/groups', headers => { Cookie => "bc_session=$op" }, json => { name => 'nope' }); # csrf
# a write after them all: once it is recorded, so would they be (the rows
# are queued in order)
is($t->post('/api/groups', token => $op, json => { name => 'marker' })->{status}, 201, 'a marker write');
ok(wait_until(sub { @{ entries(action => 'POST /api/groups')->{entries} } >= 2
                    && find_entry('POST /api/templates') }, 10),
   'the marker and the template writes are recorded');
my @after = @{ entries(limit => 500)->{entries} };
my @actions = map { $_->{action} } @after;
ok(!grep({ m{^(GET|HEAD) } || m{/preview$} } @actions), 'no read and no preview is recorded');
is(scalar(grep { $_ eq 'POST /api/groups' } @actions), 2, 'refused and failed writes are not recorded');
ok(grep({ $_ eq 'POST /api/templates' } @actions), 'the template write is');

# ------------------------------------------------------------ logins
$t->post('/api/login', json => { username => 'audit-op', password => 'not-the-password' });
$e = wait_entry('login_failed');
ok($e, 'a failed login is recorded');
is_deeply([$e->{actor}{kind}, $e->{actor}{name}, $e->{status}], ['anonymous', 'audit-op', 401],
          'anonymous, naming the username tried, 401');
$r = $t->post('/api/login', json => { username => 'audit-op', password => $OP_PW });
my $tok = $r->{json}{token};
$e = wait_entry('login', status => 200);
is_deeply($e->{actor}, { kind => 'user', id => $op_id, name => 'audit-op' }, 'a login, by the user');
is($t->post('/api/logout', token => $tok)->{status}, 200, 'logout');
ok(wait_entry('logout'), 'a logout is recorded');
ok(!find_entry('POST /api/logout'), 'once, as logout');

my $leak = $t->mysql_value(q{SELECT COUNT(*) FROM audit_log WHERE CONCAT_WS('|', actor_name, action, target, ip)
    REGEXP ?}, join '|', map { quotemeta } $OP_PW, 'not-the-password', $pass, $op, $key, $send);
is($leak, 0, 'no password, token or key in any audit row');

# ------------------------------------------------------------ listing
my $all = entries(limit => 500)->{entries};
my @ids = map { $_->{id} } @$all;
is_deeply(\@ids, [sort { $b <=> $a } @ids], 'newest first');
my (@paged, $cursor, $pages);
do {
    my $p = entries(limit => 3, defined $cursor ? (cursor => $cursor) : ());
    push @paged, map { $_->{id} } @{ $p->{entries} };
    $cursor = $p->{next_cursor};
    $pages++;
} while (defined $cursor && $pages < 100);
is_deeply(\@paged, \@ids, "keyset pages of 3 ($pages pages) walk every entry once");

my $mine = entries(actor => "user:$op_id", limit => 500)->{entries};
ok(@$mine && !grep({ $_->{actor}{kind} ne 'user' || $_->{actor}{id} != $op_id } @$mine), 'actor=user:<id> filters');
my $by_name = entries(actor => 'audit-key', limit => 500)->{entries};
ok(@$by_name && !grep({ $_->{actor}{name} ne 'audit-key' } @$by_name), 'actor=<name> filters');
my $logins = entries(action => 'login')->{entries};
ok(@$logins && !grep({ $_->{action} ne 'login' } @$logins), 'action= filters');
is_deeply(entries(action => 'no such action')->{entries}, [], 'an action never seen: no entries');
ok(find_entry('POST /api/admin/users', target => ''), "the admin's user creation is recorded too");
is(find_entry('POST /api/admin/users')->{actor}{id}, $admin_id, 'by the admin');

is_error($t->get('/api/audit', token => $op), 403, 'forbidden', 'an operator cannot read the audit log');
is_error($t->get('/api/audit', key => $key), 403, 'forbidden', 'nor can a key');
is_error($t->get('/api/audit?limit=0', token => $admin), 400, 'invalid_request', 'limit 0');
is_error($t->get('/api/audit?actor=user:x', token => $admin), 400, 'invalid_request', 'actor user:x');

$t->check_logs_for_secrets;
$t->done;
