#!/usr/bin/perl
# Opt-outs (per channel) and the blacklist: the API (GET/POST/DELETE
# /api/opt-outs and /api/blacklist) and their enforcement by the sender's
# claim, end to end through the simulator: a suppressed recipient is
# recorded "blocked" with the reason and never reaches the provider.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my $manage = $t->create_key('manage');
my $read = $t->create_key('read');
my $send = $t->create_key('send');
my $HX = 'HXcb6b0828c05d7af4d37391699c9c2ea3';    # the simulator's order_update

sub del { my ($path, %o) = @_; $t->http(DELETE => $path, %o) }
sub sim_to { my ($to) = @_; scalar grep { ($_->{to} // '') eq $to } @{ $t->sim_messages } }

# ------------------------------------------------- the schema (sql/007)
is($t->mysql_value("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema=DATABASE() "
    . "AND table_name='opt_outs' AND column_name='channel' AND is_nullable='NO' AND column_default=\"''\""), 1,
   "opt_outs.channel NOT NULL DEFAULT ''")
    or diag explain $t->mysql("SELECT column_default, is_nullable FROM information_schema.columns "
        . "WHERE table_schema=DATABASE() AND table_name='opt_outs' AND column_name='channel'");
is($t->mysql_value("SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema=DATABASE() "
    . "AND table_name='opt_outs' AND index_name='uq_opt_outs_address_channel' AND non_unique=0"), 2,
   'UNIQUE(address, channel)');
is($t->mysql_value("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema=DATABASE() "
    . "AND table_name='blacklist'"), 1, 'blacklist table');

# ------------------------------------------------- sql/007 on existing data
# broadcastctl migrates a database that already holds 001-006 and opt-outs
# written by today's writers: they keep meaning "every channel", and the
# writers' INSERT IGNORE (no channel) stays idempotent.
{
    my $dbh = $t->dbh;
    my $db = 'bc_upgrade';
    my $sqldir = $t->dir . '/upgrade-sql';
    mkdir $sqldir;
    my @files = sort glob("$FindBin::Bin/../sql/*.sql");
    my ($m007) = grep { m{/007_compliance\.sql$} } @files;
    for my $f (grep { $_ ne $m007 } @files) {
        (my $base = $f) =~ s{.*/}{};
        system('cp', $f, "$sqldir/$base") == 0 or die "cp $f";
    }
    $dbh->do("DROP DATABASE IF EXISTS $db");
    $dbh->do("CREATE DATABASE $db CHARACTER SET utf8mb4");
    $dbh->do("GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, REFERENCES "
        . "ON $db.* TO 'broadcast_migrate'\@'127.0.0.1'");
    open my $in, '<', $t->dir . '/migrate.conf' or die "migrate.conf: $!";
    my $conf = join '', <$in>;
    close $in;
    $conf =~ s/^mysql_database\s*=.*$/mysql_database = $db/m or die 'no mysql_database';
    open my $out, '>', $t->dir . '/upgrade.conf' or die $!;
    print $out $conf;
    close $out;
    my $ctl = "$FindBin::Bin/../build/bin/broadcastctl migrate --config " . $t->dir
        . "/upgrade.conf --sql-dir $sqldir >>" . $t->dir . '/upgrade.log 2>&1';
    is(system($ctl), 0, 'migrated to 006');
    $dbh->do("INSERT INTO $db.opt_outs (address,reason,source,created_at) VALUES "
        . "('+14155550700','Attempt to send to unsubscribed recipient','twilio_21610',UTC_TIMESTAMP(3)),"
        . "('bounced\@example.com',NULL,'sendgrid_bounce',UTC_TIMESTAMP(3))");
    system('cp', $m007, "$sqldir/") == 0 or die 'cp 007';
    is(system($ctl), 0, 'migrated to 007 with data in opt_outs');
    is($dbh->selectrow_array("SELECT COUNT(*) FROM $db.opt_outs WHERE channel=''"), 2,
       "existing opt-outs kept, channel '' (every channel)");
    is($dbh->do("INSERT IGNORE INTO $db.opt_outs (address,reason,source,created_at) VALUES "
        . "('+14155550700','again','twilio_21610',UTC_TIMESTAMP(3))") + 0, 0,
       "a writer's INSERT IGNORE without channel is still a no-op on a duplicate");
    is($dbh->do("INSERT IGNORE INTO $db.opt_outs (address,channel,source,created_at) VALUES "
        . "('+14155550700','sms','api',UTC_TIMESTAMP(3))") + 0, 1, 'the same address for one channel is a row of its own');
    is($dbh->selectrow_array("SELECT COUNT(*) FROM $db.blacklist"), 0, 'blacklist created, empty');
    is($dbh->selectrow_array("SELECT COUNT(*) FROM $db.schema_migrations WHERE version=7"), 1, '007 recorded');
    is(system($ctl), 0, 'migrate again: nothing to do');
    $dbh->do("DROP DATABASE $db");
}

# ------------------------------------------------- auth and scopes
is_error($t->get('/api/opt-outs'), 401, 'unauthorized', 'GET opt-outs without a credential');
is_error($t->post('/api/blacklist', json => { address => '+14155550600' }), 401, 'unauthorized',
    'POST blacklist without a credential');
is_error($t->post('/api/opt-outs', key => $read, json => { address => '+14155550600' }), 403, 'forbidden',
    'read key cannot add an opt-out');
is_error($t->post('/api/opt-outs', key => $send, json => { address => '+14155550600' }), 403, 'forbidden',
    'send key cannot add an opt-out');
is_error($t->post('/api/blacklist', key => $send, json => { address => '+14155550600' }), 403, 'forbidden',
    'send key cannot blacklist');
is_error(del('/api/blacklist/1', key => $read), 403, 'forbidden', 'read key cannot delete');
is($t->get('/api/opt-outs', key => $read)->{status}, 200, 'read key lists opt-outs');
is($t->get('/api/blacklist', key => $read)->{status}, 200, 'read key lists the blacklist');
is($t->get('/api/opt-outs', token => $t->token)->{status}, 200, 'a session lists opt-outs');
is(($t->http(PUT => '/api/opt-outs', key => $manage, json => {}))->{status}, 405, 'PUT: 405');

# ------------------------------------------------- POST /api/opt-outs
my $r = $t->post('/api/opt-outs', key => $manage,
    json => { address => '+1 (415) 555-0601', channel => 'sms', reason => 'asked by phone' });
is($r->{status}, 201, 'opt-out created: 201') or diag $r->{content};
my $o1 = $r->{json} || {};
like($o1->{id} // '', qr/^\d+$/, 'id is a number');
is($o1->{address}, '+14155550601', 'address normalised to +E164');
is($o1->{channel}, 'sms', 'channel');
is($o1->{reason}, 'asked by phone', 'reason');
is($o1->{source}, 'api', 'source api');
like($o1->{created_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'created_at ISO-8601');

$r = $t->post('/api/opt-outs', key => $manage,
    json => { address => '+14155550601', channel => 'sms', reason => 'another reason' });
is($r->{status}, 200, 'same address and channel again: 200');
is($r->{json}{id}, $o1->{id}, 'the existing row');
is($r->{json}{reason}, 'asked by phone', 'the existing row is not changed');

$r = $t->post('/api/opt-outs', key => $manage, json => { address => '4155550601' });
is($r->{status}, 201, 'same number, every channel: a row of its own') or diag $r->{content};
is($r->{json}{address}, '+14155550601', 'national number in the default country');
ok(exists $r->{json}{channel} && !defined $r->{json}{channel}, 'channel null = every channel');
isnt($r->{json}{id}, $o1->{id}, 'another id');
my $o_all = $r->{json}{id};
is($t->mysql_value('SELECT channel FROM opt_outs WHERE id=?', $o_all), '', "stored as channel ''");

$r = $t->post('/api/opt-outs', key => $manage, json => { address => 'Ann.Smith@Example.COM', channel => 'email' });
is($r->{status}, 201, 'e-mail opt-out') or diag $r->{content};
is($r->{json}{address}, 'ann.smith@example.com', 'e-mail lower-cased');
is($r->{json}{channel}, 'email', 'channel email');
is($t->post('/api/opt-outs', key => $manage, json => { address => 'ann.smith@example.com', channel => 'email' })->{status},
   200, 'the lower-cased form is the same row');

$r = $t->post('/api/opt-outs', key => $manage, json => { address => 'whatsapp:+14155550602', channel => 'whatsapp' });
is($r->{status}, 201, 'whatsapp: prefix accepted') or diag $r->{content};
is($r->{json}{address}, '+14155550602', 'stored without the whatsapp: prefix');

# errors
is_error($t->post('/api/opt-outs', key => $manage, json => { address => '+14155550603', channel => 'fax' }),
    422, 'invalid_channel', 'unknown channel');
is_error($t->post('/api/opt-outs', key => $manage, json => { address => '+14155550603', channel => 7 }),
    422, 'invalid_channel', 'channel not a string');
is_error($t->post('/api/opt-outs', key => $manage, json => { address => 'call me maybe' }),
    422, 'invalid_address', 'not an address');
is_error($t->post('/api/opt-outs', key => $manage, json => { address => 'a@b' }),
    422, 'invalid_address', 'not an e-mail address');
is_error($t->post('/api/opt-outs', key => $manage, json => { channel => 'sms' }),
    400, 'invalid_request', 'no address');
is_error($t->post('/api/opt-outs', key => $manage, json => { address => ['+14155550603'] }),
    400, 'invalid_request', 'address not a string');
is_error($t->post('/api/opt-outs', key => $manage, json => { address => '+14155550603', reason => 5 }),
    400, 'invalid_request', 'reason not a string');
is_error($t->post('/api/opt-outs', key => $manage, json => { address => ('9' x 300) }),
    422, 'field_too_long', 'address of 300 characters');
is_error($t->post('/api/opt-outs', key => $manage, json => { address => '+14155550603', reason => ('x' x 256) }),
    422, 'field_too_long', 'reason of 256 characters');
is_error($t->post('/api/opt-outs', key => $manage, json => { address => '+14155550603', reason => ('x' x 100_000) }),
    422, 'field_too_long', 'reason of 100,000 characters');
is_error($t->post('/api/opt-outs', key => $manage, body => '{"address":'), 400, 'invalid_json', 'truncated JSON');
is_error($t->post('/api/opt-outs', key => $manage, body => qq({"address":"+14155550603","reason":"\xff\xfe"})),
    400, 'invalid_json', 'invalid UTF-8');
is_error($t->post('/api/opt-outs', key => $manage, body => '["+14155550603"]'), 400, 'invalid_request', 'an array body');
is_error($t->post('/api/opt-outs', key => $manage, body => '{}', headers => { 'Content-Type' => 'text/plain' }),
    415, 'unsupported_media_type', 'not JSON');
is($t->mysql_value('SELECT COUNT(*) FROM opt_outs WHERE address=?', '+14155550603'), 0, 'nothing stored by the refusals');

# 255 characters of two bytes each fit (the column counts characters)
$r = $t->post('/api/opt-outs', key => $manage, json => { address => '+14155550604', reason => ('é' x 255) });
is($r->{status}, 201, 'reason of 255 two-byte characters') or diag $r->{content};
is($r->{json}{reason}, 'é' x 255, 'returned intact');

# hostile text is stored and returned as given, never interpreted
my $evil = q{'); DROP TABLE opt_outs; -- <script>alert("x")</script> \\ %_};
$r = $t->post('/api/opt-outs', key => $manage, json => { address => '+14155550605', reason => $evil });
is($r->{status}, 201, 'hostile reason accepted') or diag $r->{content};
is($r->{json}{reason}, $evil, 'hostile reason returned verbatim');
is($t->mysql_value('SELECT reason FROM opt_outs WHERE address=?', '+14155550605'), $evil, 'and stored verbatim');
like($r->{headers}{'content-type'} // '', qr{^application/json}, 'as JSON, not HTML');
is($t->mysql_value('SELECT COUNT(*) FROM opt_outs'), 6, 'opt_outs intact');

# ------------------------------------------------- GET /api/opt-outs
$r = $t->get('/api/opt-outs', key => $read);
is($r->{status}, 200, 'list');
my @all = @{ $r->{json}{opt_outs} || [] };
is(scalar @all, 6, 'every opt-out listed');
is_deeply([map { $_->{id} } @all], [sort { $a <=> $b } map { $_->{id} } @all], 'ordered by id');
ok(exists $r->{json}{next_cursor} && !defined $r->{json}{next_cursor}, 'one page: next_cursor null');
is_deeply([sort keys %{ $all[0] }], [qw(address channel created_at id reason source)], 'item fields');

my (@paged, $cursor, $pages);
do {
    $r = $t->get('/api/opt-outs?limit=2' . (defined $cursor ? "&cursor=$cursor" : ''), key => $read);
    is($r->{status}, 200, 'page ' . ++$pages) or last;
    ok(@{ $r->{json}{opt_outs} } <= 2, 'at most limit rows');
    push @paged, map { $_->{id} } @{ $r->{json}{opt_outs} };
    $cursor = $r->{json}{next_cursor};
} while (defined $cursor && $pages < 10);
is($pages, 3, 'six rows in pages of two: three pages');
is_deeply(\@paged, [map { $_->{id} } @all], 'the pages hold every row once, in order');

$r = $t->get('/api/opt-outs?channel=sms', key => $read);
is_deeply([map { $_->{address} } @{ $r->{json}{opt_outs} || [] }], ['+14155550601'], 'channel=sms');
$r = $t->get('/api/opt-outs?channel=all', key => $read);
is(scalar(grep { defined $_->{channel} } @{ $r->{json}{opt_outs} || [] }), 0, 'channel=all: only every-channel rows');
is(scalar @{ $r->{json}{opt_outs} || [] }, 3, 'three of them');
$r = $t->get('/api/opt-outs?search=%2B1415555060', key => $read);
is(scalar @{ $r->{json}{opt_outs} || [] }, 5, 'search by phone prefix (%2B)');
$r = $t->get('/api/opt-outs?search=+14155550601', key => $read);
is(scalar @{ $r->{json}{opt_outs} || [] }, 2, 'search with an unescaped + (decoded as a space)');
$r = $t->get('/api/opt-outs?search=ANN.', key => $read);
is_deeply([map { $_->{address} } @{ $r->{json}{opt_outs} || [] }], ['ann.smith@example.com'], 'e-mail prefix, any case');
$r = $t->get('/api/opt-outs?search=%25', key => $read);
is($r->{status}, 200, 'search=% answers');
is(scalar @{ $r->{json}{opt_outs} || [] }, 0, '% is a literal, not a wildcard');
$r = $t->get("/api/opt-outs?search=%27%20OR%201%3D1%20--", key => $read);
is(scalar @{ $r->{json}{opt_outs} || [] }, 0, 'SQL in search matches nothing');
is_error($t->get('/api/opt-outs?channel=fax', key => $read), 400, 'invalid_request', 'channel filter unknown');
is_error($t->get('/api/opt-outs?limit=0', key => $read), 400, 'invalid_request', 'limit=0');
is_error($t->get('/api/opt-outs?limit=1001', key => $read), 400, 'invalid_request', 'limit=1001');
is_error($t->get('/api/opt-outs?limit=ten', key => $read), 400, 'invalid_request', 'limit not a number');
is_error($t->get('/api/opt-outs?cursor=abc', key => $read), 400, 'invalid_request', 'cursor not an id');
is_error($t->get('/api/opt-outs?search=' . ('a' x 300), key => $read), 400, 'invalid_request', 'search too long');

# ------------------------------------------------- DELETE /api/opt-outs/{id}
is_error(del('/api/opt-outs/999999999', key => $manage), 404, 'not_found', 'unknown id');
is_error(del('/api/opt-outs/abc', key => $manage), 404, 'not_found', 'not an id');
is_error(del("/api/opt-outs/%27%20OR%201%3D1", key => $manage), 404, 'not_found', 'SQL as an id');
is_error(del("/api/opt-outs/$o1->{id}", key => $send), 403, 'forbidden', 'send key cannot delete');
$r = del("/api/opt-outs/$o_all", key => $manage);
is($r->{status}, 200, 'deleted') or diag $r->{content};
ok($r->{json}{deleted}, 'deleted: true');
is($r->{json}{id}, $o_all, 'the id');
like($r->{content}, qr/"deleted":\s*true/, 'a JSON true');
is_error(del("/api/opt-outs/$o_all", key => $manage), 404, 'not_found', 'deleted twice');
is($t->mysql_value('SELECT COUNT(*) FROM opt_outs WHERE id=?', $o_all), 0, 'row gone');
is($t->mysql_value('SELECT COUNT(*) FROM opt_outs WHERE id=?', $o1->{id}), 1, 'the sms row of that number stays');

# ------------------------------------------------- /api/blacklist
$r = $t->post('/api/blacklist', key => $manage, json => { address => '+1 415 555 0611', reason => 'abuse' });
is($r->{status}, 201, 'blacklisted: 201') or diag $r->{content};
my $b1 = $r->{json} || {};
is_deeply([sort keys %$b1], [qw(address created_at id reason)], 'blacklist item fields');
is($b1->{address}, '+14155550611', 'normalised');
$r = $t->post('/api/blacklist', key => $manage, json => { address => '+14155550611' });
is($r->{status}, 200, 'again: 200');
is($r->{json}{id}, $b1->{id}, 'the existing row');
is_error($t->post('/api/blacklist', key => $manage, json => { address => '+14155550611', channel => 'sms' }),
    422, 'invalid_channel', 'the blacklist takes no channel');
is_error($t->post('/api/blacklist', key => $manage, json => { address => 'nope' }), 422, 'invalid_address', 'bad address');
is_error($t->post('/api/blacklist', key => $manage, json => { address => '+14155550699', reason => 'y' x 256 }),
    422, 'field_too_long', 'long reason');
$r = $t->post('/api/blacklist', key => $manage, json => { address => 'Spam@Example.org', reason => '<script>x</script>' });
is($r->{status}, 201, 'e-mail blacklisted');
is($r->{json}{address}, 'spam@example.org', 'lower-cased');
$r = $t->get('/api/blacklist', key => $read);
is($r->{status}, 200, 'list blacklist');
is_deeply([map { $_->{address} } @{ $r->{json}{blacklist} || [] }], ['+14155550611', 'spam@example.org'],
   '{"blacklist":[...]} in id order');
ok(exists $r->{json}{next_cursor}, 'next_cursor present');
$r = $t->get('/api/blacklist?limit=1', key => $read);
is(scalar @{ $r->{json}{blacklist} || [] }, 1, 'limit=1');
ok(defined $r->{json}{next_cursor}, 'a next page');
$r = $t->get("/api/blacklist?limit=1&cursor=$r->{json}{next_cursor}", key => $read);
is_deeply([map { $_->{address} } @{ $r->{json}{blacklist} || [] }], ['spam@example.org'], 'second page');
ok(!defined $r->{json}{next_cursor}, 'last page');
is_error(del('/api/blacklist/424242', key => $manage), 404, 'not_found', 'unknown blacklist id');

# ------------------------------------------------- the predecessor's routes
# /api/sms/opt-outs and /api/sms/blacklist: its shapes ("phone", SMS only)
# on the same tables
is_error($t->get('/api/sms/opt-outs'), 401, 'unauthorized', 'predecessor opt-outs without a credential');
is_error($t->post('/api/sms/opt-outs', key => $read, json => { phone => '+14155550620' }), 403, 'forbidden',
    'predecessor opt-outs: read key cannot add');
$r = $t->post('/api/sms/opt-outs', key => $manage,
    json => { phone => '(415) 555-0620', reason => 'replied T', source => 'console' });
is($r->{status}, 201, 'predecessor POST: 201') or diag $r->{content};
my $l1 = $r->{json} || {};
is_deeply([sort keys %$l1], [qw(created_at id phone reason source)], 'predecessor item fields');
is($l1->{phone}, '+14155550620', 'phone normalised');
is($l1->{source}, 'console', 'its source kept');
is($t->mysql_value('SELECT channel FROM opt_outs WHERE id=?', $l1->{id}), 'sms', 'stored as an SMS opt-out');
$r = $t->post('/api/sms/opt-outs', key => $manage, json => { phone => '+14155550620' });
is($r->{status}, 200, 'idempotent by phone');
is($r->{json}{id}, $l1->{id}, 'the same row');
my $every = $t->post('/api/opt-outs', key => $manage, json => { address => '+14155550621' })->{json}{id};
$r = $t->post('/api/sms/opt-outs', key => $manage, json => { phone => '+14155550621' });
is($r->{status}, 200, 'a phone opted out of every channel is already opted out of SMS');
is($r->{json}{id}, $every, 'its every-channel row');
is($t->mysql_value('SELECT COUNT(*) FROM opt_outs WHERE address=?', '+14155550621'), 1, 'no second row');
is_error($t->post('/api/sms/opt-outs', key => $manage, json => { phone => 'ann@example.com' }),
    422, 'invalid_address', 'predecessor opt-outs take phones only');
is_error($t->post('/api/sms/opt-outs', key => $manage, json => { address => '+14155550620' }),
    400, 'invalid_request', 'predecessor opt-outs need phone');
is_error($t->post('/api/sms/opt-outs', key => $manage, json => { phone => '+14155550623', source => 'x' x 33 }),
    422, 'invalid_source', 'source over 32 bytes');
$r = $t->get('/api/sms/opt-outs', key => $read);
is($r->{status}, 200, 'predecessor GET');
my %sms_listed = map { $_->{phone} => 1 } @{ $r->{json}{opt_outs} || [] };
ok($sms_listed{'+14155550620'} && $sms_listed{'+14155550621'} && $sms_listed{'+14155550601'},
   'lists the SMS and every-channel opt-outs of phones');
ok(!$sms_listed{'+14155550602'}, 'not a WhatsApp-only opt-out');
ok(!grep({ /@/ } keys %sms_listed), 'not e-mail addresses');
$r = $t->post('/api/sms/blacklist', key => $manage, json => { phone => '+14155550622', reason => 'fraud' });
is($r->{status}, 201, 'predecessor blacklist POST') or diag $r->{content};
is_deeply([sort keys %{ $r->{json} || {} }], [qw(created_at id phone reason)], 'predecessor blacklist item');
my $lb = $r->{json}{id};
$r = $t->get('/api/sms/blacklist', key => $read);
is_deeply([map { $_->{phone} } @{ $r->{json}{blacklist} || [] }], ['+14155550611', '+14155550622'],
   'predecessor blacklist lists phones only');
is(del("/api/sms/blacklist/$lb", key => $manage)->{status}, 200, 'predecessor blacklist DELETE');
is(del("/api/sms/opt-outs/$every", key => $manage)->{status}, 200, 'predecessor opt-out DELETE');
is_error(del("/api/sms/opt-outs/$every", key => $manage), 404, 'not_found', 'predecessor DELETE twice');

# ------------------------------------------------- enforcement, end to end
# B blacklisted (above); O opted out of SMS; W opted out of WhatsApp only;
# C nothing. One request, so the claim checks all four in one batch.
my ($B, $O, $W, $C, $L) = ('+14155550611', '+14155550612', '+14155550613', '+14155550614', '+14155550620');
is($t->post('/api/opt-outs', key => $manage, json => { address => $O, channel => 'sms' })->{status}, 201, 'O opts out of sms');
my $ow = $t->post('/api/opt-outs', key => $manage, json => { address => $W, channel => 'whatsapp' });
is($ow->{status}, 201, 'W opts out of whatsapp');

$r = $t->send_sms(key => $send, to => [$B, $O, $W, $C, $L], message => 'compliance run 1');
is($r->{status}, 202, 'send accepted (suppression is the sender\'s)') or diag $r->{content};
my %id = map { $_->{to} => $_->{id} } @{ $r->{json}{messages} || [] };
is(scalar keys %id, 5, 'five messages queued');

my $st = $t->wait_status([values %id], qr/^(blocked|delivered|failed|undelivered)$/, 60, $send);
is(($st->{ $id{$B} } || {})->{status}, 'blocked', 'blacklisted: blocked');
is(($st->{ $id{$B} } || {})->{error_code}, 'blacklisted', 'blacklisted: error_code blacklisted');
is(($st->{ $id{$O} } || {})->{status}, 'blocked', 'SMS opt-out: blocked');
is(($st->{ $id{$O} } || {})->{error_code}, 'opted_out', 'SMS opt-out: error_code opted_out');
is(($st->{ $id{$W} } || {})->{status}, 'delivered', 'a WhatsApp opt-out does not block SMS');
is(($st->{ $id{$C} } || {})->{status}, 'delivered', 'control delivered');
is(($st->{ $id{$L} } || {})->{error_code}, 'opted_out', 'an opt-out added on the predecessor route blocks SMS');
is(sim_to($L), 0, 'the simulator never got it');
is(sim_to($B), 0, 'the simulator never got the blacklisted number');
is(sim_to($O), 0, 'the simulator never got the opted-out number');
is(sim_to($W), 1, 'the simulator got W once');
is(sim_to($C), 1, 'the simulator got C once');
is($t->mysql_value('SELECT attempts FROM messages WHERE id=?', $id{$B}), 0, 'no attempt spent on a blocked message');

# WhatsApp (a template: no window needed): W and B blocked, O (sms only) sent
$r = $t->send_whatsapp(key => $send, to => [$W, $B, $O], content_sid => $HX,
    content_variables => { 1 => 'Ann', 2 => '1' });
is($r->{status}, 202, 'WhatsApp send accepted') or diag $r->{content};
my %wid = map { (my $n = $_->{to}) =~ s/^whatsapp://; $n => $_->{id} } @{ $r->{json}{messages} || [] };
$st = $t->wait_status([values %wid], qr/^(blocked|delivered|read|failed|undelivered)$/, 60, $send);
is(($st->{ $wid{$W} } || {})->{error_code}, 'opted_out', 'WhatsApp opt-out blocks WhatsApp (whatsapp: prefix stripped)');
is(($st->{ $wid{$B} } || {})->{error_code}, 'blacklisted', 'the blacklist blocks WhatsApp too');
like(($st->{ $wid{$O} } || {})->{status} // '', qr/^(delivered|read)$/, 'an SMS opt-out does not block WhatsApp');
is(sim_to("whatsapp:$W"), 0, 'simulator: no WhatsApp to W');
is(sim_to("whatsapp:$B"), 0, 'simulator: no WhatsApp to B');

# e-mail: the blacklisted address gets nothing
$r = $t->send_email(key => $send, to => ['spam@example.org'], subject => 'hi', text => 'x');
if ($r->{status} == 202) {
    my $eid = $r->{json}{messages}[0]{id};
    $st = $t->wait_status([$eid], qr/^(blocked|accepted|delivered|failed)$/, 60, $send);
    is(($st->{$eid} || {})->{error_code}, 'blacklisted', 'blacklisted e-mail address blocked');
} else {
    diag "e-mail send not accepted here: $r->{status} $r->{content}";
}

# an every-channel opt-out written by the sender itself (Twilio 21610) keeps
# working: channel '' blocks the next SMS
my $U = '+15005550009';
$r = $t->send_sms(key => $send, to => [$U], message => 'first');
my $u1 = $r->{json}{messages}[0]{id};
$t->wait_status([$u1], qr/^failed$/, 60, $send);
ok(wait_until(sub { $t->mysql_value("SELECT COUNT(*) FROM opt_outs WHERE address=? AND channel=''", $U) }, 30, 0.1),
   "21610 writes an every-channel opt-out (channel '')");
$r = $t->send_sms(key => $send, to => [$U], message => 'second');
my $u2 = $r->{json}{messages}[0]{id};
$st = $t->wait_status([$u2], qr/^(blocked|failed|delivered)$/, 60, $send);
is(($st->{$u2} || {})->{error_code}, 'opted_out', 'the next SMS is blocked');
$r = $t->get('/api/opt-outs?search=%2B15005550009', key => $read);
my ($uo) = @{ $r->{json}{opt_outs} || [] };
is($uo && $uo->{source}, 'twilio_21610', 'listed with its source');
ok($uo && !defined $uo->{channel}, 'and channel null');

# DELETE restores sending
is(del("/api/blacklist/$b1->{id}", key => $manage)->{status}, 200, 'B removed from the blacklist');
my ($oid) = map { $_->{id} } grep { $_->{address} eq $O }
    @{ $t->get('/api/opt-outs?channel=sms', key => $read)->{json}{opt_outs} || [] };
ok($oid, 'O found in the sms opt-outs');
is(del("/api/opt-outs/$oid", key => $manage)->{status}, 200, 'O opt-out removed');
$r = $t->send_sms(key => $send, to => [$B, $O], message => 'compliance run 2');
is($r->{status}, 202, 'second send accepted');
%id = map { $_->{to} => $_->{id} } @{ $r->{json}{messages} || [] };
$st = $t->wait_status([values %id], qr/^(blocked|delivered|failed|undelivered)$/, 60, $send);
is(($st->{ $id{$B} } || {})->{status}, 'delivered', 'B delivered once off the blacklist');
is(($st->{ $id{$O} } || {})->{status}, 'delivered', 'O delivered once opted back in');
is(sim_to($B), 1, 'the simulator got B now');
is(sim_to($O), 1, 'the simulator got O now');

$t->done;
