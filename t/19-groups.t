#!/usr/bin/perl
# Contact groups and their members: /api/groups, /api/groups/{id},
# /api/groups/{id}/members. Scopes, keyset paging, name clashes, hostile
# values, contact id lists. Contacts are inserted with SQL so the test
# does not depend on the contacts API.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Encode qw(encode_utf8);
use BC::Test qw(:all);

my $t = BC::Test->new;
my $manage = $t->create_key('manage');
my $send = $t->create_key('send');
my $read = $t->create_key('read');

sub req {
    my ($method, $path, %o) = @_;
    $o{key} = $manage unless exists $o{key};
    delete $o{key} unless defined $o{key};
    return $t->http($method => $path, %o);
}

# a contact row, as the contacts API would store it; its id
sub contact {
    my (%c) = @_;
    $t->dbh->do('INSERT INTO contacts (name, phone, whatsapp, email, attributes, created_at, updated_at) '
              . 'VALUES (?,?,?,?,?,UTC_TIMESTAMP(3),UTC_TIMESTAMP(3))', undef,
              @c{qw(name phone whatsapp email attributes)});
    my $id = $t->dbh->last_insert_id(undef, undef, 'contacts', 'id');
    $t->dbh->do('INSERT INTO contact_tags (contact_id, tag) VALUES (?,?)', undef, $id, $_)
        for @{ $c{tags} || [] };
    return 0 + $id;
}

# ------------------------------------------------------------ auth
is_error(req(GET => '/api/groups', key => undef), 401, 'unauthorized', 'list without a credential');
is_error(req(POST => '/api/groups', key => undef, json => { name => 'x' }), 401, 'unauthorized',
    'create without a credential');
is_error(req(POST => '/api/groups', key => $read, json => { name => 'x' }), 403, 'forbidden',
    'create with a read key');
is_error(req(POST => '/api/groups', key => $send, json => { name => 'x' }), 403, 'forbidden',
    'create with a send key');
is($t->mysql_value('SELECT COUNT(*) FROM contact_groups'), 0, 'refused creates stored nothing');

# ------------------------------------------------------------ create
my $r = req(POST => '/api/groups', json => { name => 'VIP customers', description => 'the best ones' });
is($r->{status}, 201, 'create 201') or diag $r->{content};
my $vip = $r->{json} || {};
like($vip->{id} // '', qr/^\d+$/, 'id is a number');
is($vip->{name}, 'VIP customers', 'name');
is($vip->{description}, 'the best ones', 'description');
is($vip->{member_count}, 0, 'member_count 0');
like($vip->{created_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'created_at ISO-8601 with ms');
like($vip->{updated_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'updated_at');

$r = req(POST => '/api/groups', json => { name => 'VIP customers' });
is_error($r, 409, 'group_exists', 'duplicate name');
is($r->{json}{error}{existing_id}, $vip->{id}, '409 names the existing group');
$r = req(POST => '/api/groups', json => { name => 'vip CUSTOMERS' });
is_error($r, 409, 'group_exists', 'names are unique case-insensitively');

$r = req(POST => '/api/groups', json => { name => 'no description' });
is($r->{status}, 201, 'create without description');
is($r->{json}{description}, undef, 'description null');
my $plain = $r->{json}{id};

# ------------------------------------------------------------ hostile values
my $sqlname = q{Robert'); DROP TABLE contact_groups; -- \\' "};
$r = req(POST => '/api/groups', json => { name => $sqlname, description => "x' OR '1'='1" });
is($r->{status}, 201, 'SQL metacharacters: created') or diag $r->{content};
is($r->{json}{name}, $sqlname, 'SQL metacharacters stored verbatim');
is($r->{json}{description}, "x' OR '1'='1", 'description verbatim');
is($t->mysql_value('SELECT name FROM contact_groups WHERE id=?', $r->{json}{id}), $sqlname,
    'the row holds the same text');

my $script = '<script>alert(1)</script>';
$r = req(POST => '/api/groups', json => { name => $script, description => "<img src=x onerror=alert(1)>" });
is($r->{status}, 201, '<script> name: created');
is($r->{json}{name}, $script, '<script> returned as data');
like($r->{headers}{'content-type'} // '', qr{^application/json}, 'as JSON, never HTML');

my $wide = 'é' x 255;    # 255 characters, 510 bytes
$r = req(POST => '/api/groups', json => { name => $wide });
is($r->{status}, 201, '255 two-byte characters accepted') or diag $r->{content};
is($r->{json}{name}, $wide, 'multi-byte name round-trips');
$r = req(POST => '/api/groups', json => { name => '😀 emoji' });
is($r->{status}, 201, 'a 4-byte character (utf8mb4) accepted');
is($r->{json}{name}, '😀 emoji', 'emoji round-trips');

is_error(req(POST => '/api/groups', json => { name => 'x' x 256 }), 422, 'invalid_name', '256-character name');
is_error(req(POST => '/api/groups', json => { name => 'y' x 100_000 }), 422, 'invalid_name',
    '100,000-character name');
is_error(req(POST => '/api/groups', json => { name => 'big', description => 'd' x (1536 * 1024) }), 413,
    'body_too_large', 'a 1.5 MB field: over broadcast_max_body, refused before parsing');
is_error(req(POST => '/api/groups', json => { name => '' }), 422, 'invalid_name', 'empty name');
is_error(req(POST => '/api/groups', json => { description => 'd' }), 422, 'invalid_name', 'missing name');
is_error(req(POST => '/api/groups', json => { name => 42 }), 422, 'invalid_name', 'numeric name');
is_error(req(POST => '/api/groups', json => { name => "two\nlines" }), 422, 'invalid_name', 'newline in name');
is_error(req(POST => '/api/groups', body => encode_utf8('{"name":"nul') . '\u0000' . '"}'), 400,
    'invalid_json', 'NUL in name refused by the JSON parser');
is_error(req(POST => '/api/groups', json => { name => 'desc', description => 'd' x 1025 }), 422,
    'invalid_description', '1025-character description');
is_error(req(POST => '/api/groups', json => { name => 'desc', description => [] }), 422,
    'invalid_description', 'description not a string');
$r = req(POST => '/api/groups', json => { name => 'desc 1024', description => 'd' x 1024 });
is($r->{status}, 201, '1024-character description accepted');
is_error(req(POST => '/api/groups', body => "{\"name\":\"bad \xff\xfe utf8\"}"), 400, 'invalid_json',
    'invalid UTF-8 refused by the JSON parser');
is_error(req(POST => '/api/groups', body => '{"name":'), 400, 'invalid_json', 'truncated JSON');
is_error(req(POST => '/api/groups', body => '["name"]'), 400, 'invalid_request', 'JSON array body');
is_error(req(POST => '/api/groups', body => '{"name":"a","name":"b"}'), 400, 'invalid_json',
    'duplicate keys');
is($t->mysql_value('SELECT COUNT(*) FROM contact_groups WHERE name IN (?,?,?)', 'desc', 'big', 'nul'), 0,
    'refused groups were not stored');

# ------------------------------------------------------------ get, patch
$r = req(GET => "/api/groups/$vip->{id}", key => $read);
is($r->{status}, 200, 'GET one with a read key');
is_deeply($r->{json}, $vip, 'GET one answers what POST did');
is_error(req(GET => '/api/groups/999999999', key => $read), 404, 'not_found', 'unknown group');
is_error(req(GET => '/api/groups/abc', key => $read), 404, 'not_found', 'non-numeric id');
is_error(req(GET => "/api/groups/1'%20OR%20'1'='1", key => $read), 404, 'not_found', 'SQL in the id');
is_error(req(GET => '/api/groups/99999999999999999999999', key => $read), 404, 'not_found', 'overlong id');
is_error(req(GET => "/api/groups/$vip->{id}", key => undef), 401, 'unauthorized', 'GET one without a credential');

is_error(req(PATCH => "/api/groups/$vip->{id}", key => $send, json => { name => 'x' }), 403, 'forbidden',
    'PATCH with a send key');
$r = req(PATCH => "/api/groups/$vip->{id}", json => { name => 'VIP', description => undef });
is($r->{status}, 200, 'PATCH 200') or diag $r->{content};
is($r->{json}{name}, 'VIP', 'renamed');
is($r->{json}{description}, undef, 'description cleared with null');
is($r->{json}{created_at}, $vip->{created_at}, 'created_at kept');
$r = req(PATCH => "/api/groups/$vip->{id}", json => { description => 'only the description' });
is($r->{status}, 200, 'PATCH description only');
is($r->{json}{name}, 'VIP', 'name unchanged');
is($r->{json}{description}, 'only the description', 'description set');
$r = req(PATCH => "/api/groups/$vip->{id}", json => { name => 'no description' });
is_error($r, 409, 'group_exists', 'PATCH to a taken name');
is($r->{json}{error}{existing_id}, $plain, '409 names the holder');
is($t->mysql_value('SELECT name FROM contact_groups WHERE id=?', $vip->{id}), 'VIP', 'clash left the row');
$r = req(PATCH => "/api/groups/$vip->{id}", json => { name => 'VIP' });
is($r->{status}, 200, 'PATCH to its own name is no clash');
is_error(req(PATCH => "/api/groups/$vip->{id}", json => {}), 422, 'nothing_to_update', 'PATCH with nothing');
is_error(req(PATCH => "/api/groups/$vip->{id}", json => { name => 'z' x 300 }), 422, 'invalid_name',
    'PATCH with a long name');
is_error(req(PATCH => '/api/groups/999999999', json => { name => 'ghost' }), 404, 'not_found', 'PATCH unknown');
is_error(req(PUT => "/api/groups/$vip->{id}", json => { name => 'x' }), 405, 'method_not_allowed', 'PUT');

# ------------------------------------------------------------ members
my @c = map { contact(name => "Contact $_", phone => sprintf('+1415555%04d', $_),
                      email => "c$_\@example.com", tags => ["t$_", 'all']) } 1 .. 5;
my $hostile = contact(name => "O'Brien <script>x</script>", whatsapp => '+14155559999',
                      attributes => '{"city":"Zürich"}');

is_error(req(POST => "/api/groups/$vip->{id}/members", key => $read, json => { contact_ids => [$c[0]] }),
    403, 'forbidden', 'add with a read key');
is_error(req(POST => "/api/groups/$vip->{id}/members", key => undef, json => { contact_ids => [$c[0]] }),
    401, 'unauthorized', 'add without a credential');

$r = req(POST => "/api/groups/$vip->{id}/members", json => { contact_ids => [@c[0 .. 2], 999999999] });
is($r->{status}, 200, 'add 200') or diag $r->{content};
is_deeply($r->{json}, { group_id => $vip->{id}, added => 3, skipped => 1 }, 'unknown contact skipped');
$r = req(POST => "/api/groups/$vip->{id}/members", json => { contact_ids => [$c[0], $c[3], $c[3], $hostile] });
is_deeply($r->{json}, { group_id => $vip->{id}, added => 2, skipped => 2 },
    'existing member and a repeated id skipped');
is(req(GET => "/api/groups/$vip->{id}", key => $read)->{json}{member_count}, 5, 'member_count 5');

$r = req(POST => "/api/groups/$vip->{id}/members", json => { contact_ids => [$c[0], '2', 3] });
is_error($r, 422, 'invalid_contact_ids', 'string id');
is($r->{json}{error}{index}, 1, 'the bad element is named by index');
$r = req(POST => "/api/groups/$vip->{id}/members", key => undef, json => { contact_ids => [1, 'x'] });
is_error($r, 401, 'unauthorized', 'a bad id without a credential');
ok(!exists $r->{json}{error}{index}, 'the 401 tells nothing about the body');
is_error(req(POST => '/api/groups/999999999/members', json => { contact_ids => [1, 'x'] }), 422,
    'invalid_contact_ids', 'a bad list is refused before the group is looked up');
$r = req(POST => "/api/groups/$vip->{id}/members", json => { contact_ids => [1.5] });
is_error($r, 422, 'invalid_contact_ids', 'fractional id');
is($r->{json}{error}{index}, 0, 'index 0');
$r = req(POST => "/api/groups/$vip->{id}/members", json => { contact_ids => [$c[0], -4] });
is($r->{json}{error}{index}, 1, 'negative id refused at index 1');
is_error(req(POST => "/api/groups/$vip->{id}/members", json => { contact_ids => ["1; DROP TABLE contacts"] }),
    422, 'invalid_contact_ids', 'SQL in an id');
is_error(req(POST => "/api/groups/$vip->{id}/members", json => { contact_ids => [] }), 422,
    'invalid_contact_ids', 'empty list');
is_error(req(POST => "/api/groups/$vip->{id}/members", json => { contact_ids => $c[0] }), 422,
    'invalid_contact_ids', 'not a list');
is_error(req(POST => "/api/groups/$vip->{id}/members", json => {}), 422, 'invalid_contact_ids',
    'no contact_ids');
is_error(req(POST => "/api/groups/$vip->{id}/members", json => { contact_ids => [1 .. 10_001] }), 422,
    'invalid_contact_ids', '10,001 ids');
$r = req(POST => "/api/groups/$plain/members", json => { contact_ids => [(1_000_000 .. 1_009_998), $c[4]] });
is($r->{status}, 200, '10,000 ids in one request') or diag $r->{content};
is_deeply($r->{json}, { group_id => $plain, added => 1, skipped => 9999 }, 'the one known contact added');
is_error(req(POST => '/api/groups/999999999/members', json => { contact_ids => [$c[0]] }), 404, 'not_found',
    'add to an unknown group');
is($t->mysql_value('SELECT COUNT(*) FROM contact_group_members WHERE group_id=?', $vip->{id}), 5,
    'refused requests changed nothing');

# listing members: keyset pages of 2
my (@seen, $cursor, $pages);
while (1) {
    my $q = "/api/groups/$vip->{id}/members?limit=2" . (defined $cursor ? "&cursor=$cursor" : '');
    $r = req(GET => $q, key => $read);
    is($r->{status}, 200, "members page " . ++$pages) or last;
    is($r->{json}{group_id}, $vip->{id}, 'group_id');
    is($r->{json}{total}, 5, 'total 5');
    ok(@{ $r->{json}{members} } <= 2, 'at most limit members');
    push @seen, @{ $r->{json}{members} };
    $cursor = $r->{json}{next_cursor};
    last unless defined $cursor;
    last if $pages > 5;
}
is($pages, 3, 'three pages of 2, 2 and 1');
is_deeply([map { $_->{id} } @seen], [sort { $a <=> $b } @c[0 .. 3], $hostile], 'every member once, by id');
my ($m1) = grep { $_->{id} == $c[0] } @seen;
is($m1->{name}, 'Contact 1', 'member name');
is($m1->{phone}, '+14155550001', 'member phone');
is($m1->{email}, 'c1@example.com', 'member email');
is($m1->{whatsapp}, undef, 'member whatsapp null');
is_deeply($m1->{tags}, ['all', 't1'], 'member tags');
my ($mh) = grep { $_->{id} == $hostile } @seen;
is($mh->{name}, "O'Brien <script>x</script>", 'hostile contact name as data');
is_deeply($mh->{attributes}, { city => 'Zürich' }, 'attributes as JSON');
is_deeply($mh->{tags}, [], 'no tags: empty list');

$r = req(GET => "/api/groups/$vip->{id}/members?limit=1000", key => $read);
is(scalar @{ $r->{json}{members} }, 5, 'one big page');
is($r->{json}{next_cursor}, undef, 'no next page');
is_error(req(GET => "/api/groups/$vip->{id}/members?limit=0", key => $read), 400, 'invalid_request', 'limit 0');
is_error(req(GET => "/api/groups/$vip->{id}/members?limit=1001", key => $read), 400, 'invalid_request',
    'limit 1001');
is_error(req(GET => "/api/groups/$vip->{id}/members?cursor=x'--", key => $read), 400, 'invalid_request',
    'bad cursor');
is_error(req(GET => '/api/groups/999999999/members', key => $read), 404, 'not_found', 'members of unknown group');
is_error(req(GET => "/api/groups/$vip->{id}/members", key => undef), 401, 'unauthorized', 'members, no credential');

# removing members
is_error(req(DELETE => "/api/groups/$vip->{id}/members", key => $send, json => { contact_ids => [$c[0]] }),
    403, 'forbidden', 'remove with a send key');
$r = req(DELETE => "/api/groups/$vip->{id}/members", json => { contact_ids => [$c[0], $c[4], 999999999] });
is($r->{status}, 200, 'remove 200') or diag $r->{content};
is_deeply($r->{json}, { group_id => $vip->{id}, removed => 1 }, 'only the member was removed');
$r = req(DELETE => "/api/groups/$vip->{id}/members", json => { contact_ids => [$c[0], 'x'] });
is_error($r, 422, 'invalid_contact_ids', 'remove with a bad id');
is($r->{json}{error}{index}, 1, 'remove: index of the bad id');
is_error(req(DELETE => '/api/groups/999999999/members', json => { contact_ids => [1] }), 404, 'not_found',
    'remove from unknown group');
is(req(GET => "/api/groups/$vip->{id}", key => $read)->{json}{member_count}, 4, 'member_count 4');

# deleting a contact removes its memberships (the contacts API's job, the schema's guarantee)
$t->dbh->do('DELETE FROM contacts WHERE id=?', undef, $c[1]);
is(req(GET => "/api/groups/$vip->{id}/members", key => $read)->{json}{total}, 3, 'a deleted contact left');

# ------------------------------------------------------------ listing groups
req(POST => '/api/groups', json => { name => "bulk $_" }) for 1 .. 7;
my $in_db = $t->mysql_value('SELECT COUNT(*) FROM contact_groups');
my (@ids, %count);
($cursor, $pages) = (undef, 0);
while ($pages < 50) {
    $r = req(GET => '/api/groups?limit=3' . (defined $cursor ? "&cursor=$cursor" : ''), key => $read);
    $pages++;
    last unless $r->{status} == 200;
    push @ids, map { $_->{id} } @{ $r->{json}{groups} };
    $count{ $_->{id} } = $_->{member_count} for @{ $r->{json}{groups} };
    $cursor = $r->{json}{next_cursor};
    last unless defined $cursor;
}
is($r->{status}, 200, 'GET /api/groups pages');
is(scalar @ids, $in_db, 'every group listed');
is_deeply(\@ids, [sort { $a <=> $b } @ids], 'in id order, none twice');
is($count{ $vip->{id} }, 3, 'member_count in the listing');
is($count{$plain}, 1, 'member_count of the other group');
$r = req(GET => '/api/groups', key => $read);
is(scalar @{ $r->{json}{groups} }, $in_db, 'default page holds them all');
is($r->{json}{next_cursor}, undef, 'next_cursor null on the last page');
is_error(req(GET => '/api/groups?limit=abc', key => $read), 400, 'invalid_request', 'bad limit');
is_error(req(GET => '/api/groups?cursor=-1', key => $read), 400, 'invalid_request', 'negative cursor');

# ------------------------------------------------------------ delete
is_error(req(DELETE => "/api/groups/$vip->{id}", key => $read), 403, 'forbidden', 'DELETE with a read key');
$r = req(DELETE => "/api/groups/$vip->{id}");
is($r->{status}, 200, 'DELETE 200') or diag $r->{content};
ok(JSON::PP::is_bool($r->{json}{deleted}) && $r->{json}{deleted}, 'deleted: true');
is($r->{json}{id}, $vip->{id}, 'the id deleted');
is($t->mysql_value('SELECT COUNT(*) FROM contact_group_members WHERE group_id=?', $vip->{id}), 0,
    'memberships cascaded');
is($t->mysql_value('SELECT COUNT(*) FROM contacts WHERE id=?', $c[0]), 1, 'the contacts stay');
is_error(req(GET => "/api/groups/$vip->{id}", key => $read), 404, 'not_found', 'deleted group is gone');
is_error(req(DELETE => "/api/groups/$vip->{id}"), 404, 'not_found', 'DELETE twice');
$r = req(POST => '/api/groups', json => { name => 'VIP' });
is($r->{status}, 201, 'the name is free again');

$t->done;
