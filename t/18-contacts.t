#!/usr/bin/perl
# Contacts and tags: POST/GET/PATCH/DELETE /api/contacts[/{id}], the listing
# (search, tag and group filters, keyset paging), tag counts, rename and
# delete; scopes, conflicts on addresses, hostile and over-long values.
use strict;
use warnings;
use utf8;
use Encode qw(encode_utf8);
use HTTP::Tiny;
use POSIX ();
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my $manage = $t->create_key('manage');
my $read = $t->create_key('read');
my $send = $t->create_key('send');

sub create { $t->post('/api/contacts', key => $manage, json => $_[0]) }
sub patch  { $t->http(PATCH => "/api/contacts/$_[0]", key => $manage, json => $_[1]) }
sub del    { $t->http(DELETE => $_[0], key => $manage) }
sub list   { $t->get('/api/contacts?' . BC::Test::form_encode($_[0]), key => $read) }

# ------------------------------------------------------------ create
my $r = create({ name => '  Ada Lovelace ', phone => '(415) 555-0100', whatsapp => 'whatsapp:+14155550101',
                 email => 'Ada@Example.COM', tags => ['VIP', ' vip ', 'newsletter'],
                 attributes => { plan => 'gold', n => 3 }, locale => 'en-GB', timezone => 'Europe/London' });
is($r->{status}, 201, 'create 201') or diag $r->{content};
my $c = $r->{json} || {};
my $ada = $c->{id};
like($ada // '', qr/^\d+$/, 'id is a number');
ok(!ref $ada && $r->{content} =~ /"id":\d+/, 'id is a JSON number, not a string');
is($c->{name}, 'Ada Lovelace', 'name trimmed');
is($c->{phone}, '+14155550100', 'phone normalised to E.164 with the default country');
is($c->{whatsapp}, '+14155550101', 'whatsapp: prefix dropped, +E164 stored');
is($c->{email}, 'ada@example.com', 'email lower-cased');
is_deeply([sort @{ $c->{tags} || [] }], ['VIP', 'newsletter'], 'tags trimmed and deduplicated case-insensitively');
is_deeply($c->{attributes}, { plan => 'gold', n => 3 }, 'attributes object');
is($c->{locale}, 'en-GB', 'locale');
is($c->{timezone}, 'Europe/London', 'timezone');
like($c->{created_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'created_at ISO-8601 ms Z');
like($c->{updated_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'updated_at ISO-8601 ms Z');
is($t->mysql_value('SELECT attributes FROM contacts WHERE id = ?', $ada), '{"n":3,"plan":"gold"}',
   'attributes stored as compact JSON text');
is($t->mysql_value('SELECT COUNT(*) FROM contact_tags WHERE contact_id = ?', $ada), 2, 'two tag rows');

$r = create({ email => 'only@example.com' });
is($r->{status}, 201, 'email alone is enough');
my $only = $r->{json}{id};
is($r->{json}{phone}, undef, 'absent phone is null');
is($r->{json}{name}, undef, 'absent name is null');
is(create({ email => 'blank@example.com', name => '   ' })->{json}{name}, undef, 'a name of spaces is no name');
is_deeply($r->{json}{tags}, [], 'no tags: []');

is_error(create({ name => 'Nobody' }), 422, 'no_address', 'no address');
is_error(create({ name => 'Nobody', phone => undef, email => '' }), 422, 'no_address', 'null and empty addresses');

# the same address on another contact: 409 with the holder's id
my $before = $t->mysql_value('SELECT COUNT(*) FROM contacts');
$r = create({ phone => '+1 415 555 0100', name => 'Copy' });
is_error($r, 409, 'contact_exists', 'phone held by another contact');
is($r->{json}{error}{existing_id}, $ada, 'existing_id names the holder');
$r = create({ email => 'ADA@example.com' });
is_error($r, 409, 'contact_exists', 'email held (case differs)');
is($r->{json}{error}{existing_id}, $ada, 'existing_id for the email');
is($t->mysql_value('SELECT COUNT(*) FROM contacts'), $before, 'no row written by the refused creates');

# concurrent creates of one address: one wins, the others get 409 with its id
{
    my $phone = '+14155550777';
    my @kids;
    for my $i (1 .. 6) {
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $rd;
            my $res = $t->post('/api/contacts', key => $manage, ua => HTTP::Tiny->new(timeout => 30),
                               json => { phone => $phone, name => "racer $i" });
            my $e = $res->{json} && $res->{json}{error} ? $res->{json}{error}{existing_id} // '' : '';
            print $wr join(' ', $res->{status}, $res->{json}{id} // '', $e), "\n";
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    my @res;
    for my $k (@kids) {
        my $fh = $k->[1];
        my $line = <$fh> // '';
        chomp $line;
        push @res, [split / /, $line, -1];
        waitpid $k->[0], 0;
    }
    my @won = grep { $_->[0] eq '201' } @res;
    my @lost = grep { $_->[0] eq '409' } @res;
    is(scalar @won, 1, 'one concurrent create wins') or diag explain \@res;
    is(scalar @lost, 5, 'the others get 409') or diag explain \@res;
    my $winner = @won ? $won[0][1] : -1;
    is(scalar(grep { $_->[2] eq $winner } @lost), scalar @lost, 'each 409 names the winner');
    is($t->mysql_value('SELECT COUNT(*) FROM contacts WHERE phone = ?', $phone), 1, 'one row for the address');
    del("/api/contacts/$winner");
}

# ------------------------------------------------------------ validation
my @bad = (
    [{ phone => 'not a phone' },                          'invalid phone'],
    [{ whatsapp => 'whatsapp:12' },                       'invalid whatsapp'],
    [{ email => 'no-at-sign' },                           'invalid email'],
    [{ email => ('a' x 250) . '@example.com' },           'over-long email'],
    [{ email => 'x1@example.com', name => 'n' x 256 },    'name over 255 characters'],
    [{ email => 'x1@example.com', name => "two\nlines" }, 'name with a newline'],
    [{ email => 'x1@example.com', tags => 'vip' },        'tags not an array'],
    [{ email => 'x1@example.com', tags => [1] },          'tag not a string'],
    [{ email => 'x1@example.com', tags => ['   '] },      'empty tag'],
    [{ email => 'x1@example.com', tags => ['t' x 65] },   'tag over 64 characters'],
    [{ email => 'x1@example.com', tags => ['a/b'] },      "tag with '/' (not addressable in a path)"],
    [{ email => 'x1@example.com', tags => ["a\tb"] },     'tag with a control character'],
    [{ email => 'x1@example.com', tags => [map { "t$_" } 1 .. 101] }, 'more than 100 tags'],
    [{ email => 'x1@example.com', attributes => [1] },    'attributes not an object'],
    [{ email => 'x1@example.com', attributes => { big => 'x' x 70000 } }, 'attributes over 64 KB'],
    [{ email => 'x1@example.com', locale => 'english!' }, 'locale shape'],
    [{ email => 'x1@example.com', locale => 'en-' . ('a' x 40) }, 'locale over 35'],
    [{ email => 'x1@example.com', timezone => 'Europe/../etc' }, 'timezone shape'],
    [{ email => 'x1@example.com', timezone => 'A/' . ('b' x 70) }, 'timezone over 64'],
);
for my $b (@bad) {
    is_error(create($b->[0]), 400, 'invalid_request', $b->[1]);
}
is($t->mysql_value("SELECT COUNT(*) FROM contacts WHERE email = 'x1\@example.com'"), 0, 'nothing stored by refused bodies');
is_error($t->post('/api/contacts', key => $manage, body => '{"email":'), 400, 'invalid_json', 'truncated JSON');
is_error($t->post('/api/contacts', key => $manage, body => qq({"name":"\xff\xfe","email":"u\@example.com"})),
    400, 'invalid_json', 'invalid UTF-8 refused by the parser');
is_error($t->post('/api/contacts', key => $manage, body => '[1]'), 400, 'invalid_request', 'body not an object');

# 100 tags and 64-character tags are the limit, not over it
$r = create({ email => 'many@example.com', tags => [(map { "t$_" } 1 .. 99), 'é' x 64] });
is($r->{status}, 201, '100 tags, one of 64 two-byte characters') or diag $r->{content};
is(scalar @{ $r->{json}{tags} || [] }, 100, 'all 100 stored');
my $many = $r->{json}{id};

# ------------------------------------------------------------ hostile values
my $evil = q{Robert'); DROP TABLE contacts;-- <script>alert(1)</script> \\ %_};
$r = create({ name => $evil, email => 'bobby@example.com', tags => ["x' OR '1'='1", '<b>tag<b>'],
              attributes => { q{k'"} => '<script>' } });
is($r->{status}, 201, 'SQL metacharacters and markup stored as data') or diag $r->{content};
my $bobby = $r->{json}{id};
is($r->{json}{name}, $evil, 'name round-trips byte for byte');
is_deeply([sort @{ $r->{json}{tags} }], ['<b>tag<b>', "x' OR '1'='1"], 'hostile tags round-trip');
is_deeply($r->{json}{attributes}, { q{k'"} => '<script>' }, 'hostile attributes round-trip');
like($r->{headers}{'content-type'} // '', qr{^application/json}, 'JSON, never HTML');
ok($t->mysql_value('SELECT COUNT(*) FROM contacts') >= 4, 'contacts table still there');

# ------------------------------------------------------------ get
$r = $t->get("/api/contacts/$ada", key => $read);
is($r->{status}, 200, 'GET by id with a read key');
is($r->{json}{email}, 'ada@example.com', 'the contact');
is_deeply([sort @{ $r->{json}{tags} }], ['VIP', 'newsletter'], 'its tags');
is_error($t->get('/api/contacts/999999999', key => $read), 404, 'not_found', 'unknown id');
is_error($t->get('/api/contacts/abc', key => $read), 404, 'not_found', 'non-numeric id');
is_error($t->get("/api/contacts/1%27%20OR%201=1", key => $read), 404, 'not_found', 'injection in the id');
is_error($t->get('/api/contacts/0', key => $read), 404, 'not_found', 'id 0');
is_error($t->get('/api/contacts/99999999999999999999999', key => $read), 404, 'not_found', 'id beyond BIGINT');
is_error($t->get('/api/contacts/-1', key => $read), 404, 'not_found', 'negative id');

# ------------------------------------------------------------ auth and scopes
is_error($t->get("/api/contacts/$ada"), 401, 'unauthorized', 'GET without a credential');
is_error($t->post('/api/contacts', json => { email => 'z@example.com' }), 401, 'unauthorized', 'POST without a credential');
is_error($t->get('/api/contacts'), 401, 'unauthorized', 'list without a credential');
is_error($t->post('/api/contacts', key => $read, json => { email => 'z@example.com' }), 403, 'forbidden', 'create with a read key');
is_error($t->post('/api/contacts', key => $send, json => { email => 'z@example.com' }), 403, 'forbidden', 'create with a send key');
is_error($t->http(PATCH => "/api/contacts/$ada", key => $read, json => { name => 'x' }), 403, 'forbidden', 'PATCH with a read key');
is_error($t->http(DELETE => "/api/contacts/$ada", key => $send), 403, 'forbidden', 'DELETE with a send key');
is_error($t->http(DELETE => '/api/contacts/tags/VIP', key => $read), 403, 'forbidden', 'tag delete with a read key');
is_error($t->post('/api/contacts/tags/rename', key => $send, json => { from_tag => 'a', to_tag => 'b' }),
    403, 'forbidden', 'tag rename with a send key');
is($t->mysql_value("SELECT COUNT(*) FROM contacts WHERE email = 'z\@example.com'"), 0, 'refused creates wrote nothing');

# ------------------------------------------------------------ patch
$r = patch($ada, { name => 'Ada King', tags => ['engineer'], locale => undef });
is($r->{status}, 200, 'PATCH 200') or diag $r->{content};
is($r->{json}{name}, 'Ada King', 'name changed');
is_deeply($r->{json}{tags}, ['engineer'], 'tags replaced');
is($r->{json}{locale}, undef, 'null clears locale');
is($r->{json}{timezone}, 'Europe/London', 'untouched fields kept');
is($r->{json}{phone}, '+14155550100', 'phone kept');
is($t->mysql_value('SELECT COUNT(*) FROM contact_tags WHERE contact_id = ?', $ada), 1, 'old tag rows gone');

is_error(patch($only, { email => 'ada@example.com' }), 409, 'contact_exists', 'PATCH onto a held address');
is($t->get("/api/contacts/$only", key => $read)->{json}{email}, 'only@example.com', 'refused PATCH changed nothing');
$r = patch($ada, { email => 'ada@example.com' });
is($r->{status}, 200, 'PATCH with its own address is no conflict');
is_error(patch($only, { email => undef }), 422, 'no_address', 'removing the last address');
is_error(patch($ada, { phone => undef, whatsapp => undef, email => undef }), 422, 'no_address', 'removing every address');
is($t->get("/api/contacts/$ada", key => $read)->{json}{phone}, '+14155550100', 'refused PATCH kept the phone');
$r = patch($ada, { phone => undef });
is($r->{status}, 200, 'removing one of several addresses');
is($r->{json}{phone}, undef, 'phone cleared');
is_error(patch($ada, { phone => 'nope' }), 400, 'invalid_request', 'PATCH validates');
is_error(patch($ada, {}), 400, 'invalid_request', 'PATCH with nothing to change');
is_error(patch(999999999, { name => 'x' }), 404, 'not_found', 'PATCH unknown id');
$r = patch($ada, { phone => '+14155550100', tags => ['engineer', 'VIP'] });
is($r->{status}, 200, 'phone and tags back');

# ------------------------------------------------------------ list
my @ids;
for my $i (1 .. 7) {
    $r = create({ name => sprintf('Page %02d', $i), phone => sprintf('+1415555%04d', 300 + $i),
                  tags => [$i % 2 ? 'odd' : 'even'] });
    is($r->{status}, 201, "page contact $i") or diag $r->{content};
    push @ids, $r->{json}{id};
}
my $all = $t->mysql_value('SELECT COUNT(*) FROM contacts');

$r = list({});
is($r->{status}, 200, 'list 200');
is($r->{json}{total}, $all, 'total counts every contact');
is(scalar @{ $r->{json}{contacts} }, $all, 'default limit covers them');
is($r->{json}{next_cursor}, undef, 'no next page');
my @got = map { $_->{id} } @{ $r->{json}{contacts} };
is_deeply(\@got, [sort { $a <=> $b } @got], 'ordered by id');

# keyset paging: every contact once, in order, 3 at a time
my (@seen, $cursor, $pages);
do {
    $r = list({ limit => 3, defined $cursor ? (cursor => $cursor) : () });
    is($r->{status}, 200, 'page 200') or last;
    is($r->{json}{total}, $all, 'total on every page');
    push @seen, map { $_->{id} } @{ $r->{json}{contacts} };
    $cursor = $r->{json}{next_cursor};
    ok(!defined $cursor || !ref $cursor, 'cursor is a string');
    $pages++;
} while (defined $cursor && $pages < 20);
is_deeply(\@seen, \@got, 'pages cover every contact once, in order');
is($pages, int(($all + 2) / 3), 'page count');

$r = list({ tag => 'odd' });
is_deeply([map { $_->{id} } @{ $r->{json}{contacts} }], [@ids[0, 2, 4, 6]], 'tag filter');
is($r->{json}{total}, 4, 'tag filter total');
$r = list({ tag => 'odd', limit => 2 });
is(scalar @{ $r->{json}{contacts} }, 2, 'tag filter paged');
$r = list({ tag => 'odd', limit => 2, cursor => $r->{json}{next_cursor} });
is_deeply([map { $_->{id} } @{ $r->{json}{contacts} }], [@ids[4, 6]], 'tag filter second page');
is_deeply(list({ tag => 'vip' })->{json}{contacts}[0]{id}, $ada, 'tag filter is case-insensitive');

$r = list({ search => 'Page 0' });
is($r->{json}{total}, 7, 'name prefix search');
$r = list({ search => 'page 03' });
is_deeply([map { $_->{id} } @{ $r->{json}{contacts} }], [$ids[2]], 'name search is case-insensitive');
$r = list({ search => '+1415555030' });
is($r->{json}{total}, 7, 'phone prefix search');
$r = list({ search => '14155550305' });
is_deeply([map { $_->{id} } @{ $r->{json}{contacts} }], [$ids[4]], 'phone search without +');
$r = list({ search => 'ADA@' });
is_deeply([map { $_->{id} } @{ $r->{json}{contacts} }], [$ada], 'email prefix search');
$r = list({ search => 'age' });
is($r->{json}{total}, 0, 'search is a prefix match, not a substring one');
$r = list({ search => '%' });
is($r->{json}{total}, 0, '% in search is a literal, not a wildcard');
$r = list({ search => '_' });
is($r->{json}{total}, 0, '_ in search is a literal');
$r = list({ search => q{Robert'); DROP} });
is_deeply([map { $_->{id} } @{ $r->{json}{contacts} }], [$bobby], 'quote in search is data');
$r = list({ search => '<script>' });
is($r->{status}, 200, 'markup in search');
is($r->{json}{total}, 0, 'no match');
$r = list({ search => encode_utf8('é') });
is($r->{status}, 200, 'non-ASCII search') or diag $r->{content};

# group filter, through memberships made here (the groups API is elsewhere)
$t->dbh->do(q{INSERT INTO contact_groups (name, created_at, updated_at) VALUES ('g1', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))});
my $gid = $t->mysql_value(q{SELECT id FROM contact_groups WHERE name = 'g1'});
$t->dbh->do(q{INSERT INTO contact_group_members (group_id, contact_id, created_at) VALUES (?, ?, UTC_TIMESTAMP(3)), (?, ?, UTC_TIMESTAMP(3))},
            undef, $gid, $ids[1], $gid, $ids[5]);
$r = list({ group_id => $gid });
is_deeply([map { $_->{id} } @{ $r->{json}{contacts} }], [@ids[1, 5]], 'group filter');
is($r->{json}{total}, 2, 'group filter total');
$r = list({ group_id => $gid, tag => 'even', search => 'Page 06' });
is_deeply([map { $_->{id} } @{ $r->{json}{contacts} }], [$ids[5]], 'filters combine');

$r = $t->get('/api/contacts?search=&tag=&group_id=&limit=&cursor=', key => $read);
is($r->{status}, 200, 'empty arguments are absent ones') or diag $r->{content};
is(scalar @{ $r->{json}{contacts} || [] }, $r->{json}{total}, 'the whole (small) list');
is_error(list({ limit => 0 }), 400, 'invalid_request', 'limit 0');
is_error(list({ limit => 501 }), 400, 'invalid_request', 'limit 501');
is_error(list({ limit => 'x' }), 400, 'invalid_request', 'limit not a number');
is_error(list({ cursor => "1' OR 1=1" }), 400, 'invalid_request', 'cursor not ours');
is_error(list({ group_id => 'abc' }), 400, 'invalid_request', 'group_id not a number');
is_error(list({ search => 'x' x 300 }), 400, 'invalid_request', 'over-long search');
is_error($t->get('/api/contacts?search=%FF%FE', key => $read), 400, 'invalid_request', 'search of invalid UTF-8');
is_error($t->get('/api/contacts?tag=%FF', key => $read), 400, 'invalid_request', 'tag filter of invalid UTF-8');
is(list({ limit => 500 })->{status}, 200, 'limit 500');

# ------------------------------------------------------------ delete
$r = del("/api/contacts/$ids[1]");
is($r->{status}, 200, 'DELETE 200');
ok($r->{json}{deleted}, 'deleted true');
is($r->{json}{id}, $ids[1], 'deleted id');
is_error($t->get("/api/contacts/$ids[1]", key => $read), 404, 'not_found', 'gone');
is_error(del("/api/contacts/$ids[1]"), 404, 'not_found', 'DELETE twice');
is($t->mysql_value('SELECT COUNT(*) FROM contact_group_members WHERE contact_id = ?', $ids[1]), 0, 'memberships cascade');
is($t->mysql_value('SELECT COUNT(*) FROM contact_tags WHERE contact_id = ?', $ids[1]), 0, 'tags cascade');
is(list({ group_id => $gid })->{json}{total}, 1, 'group listing follows');

# ------------------------------------------------------------ tags
$r = $t->get('/api/contacts/tags', key => $read);
is($r->{status}, 200, 'tags 200') or diag $r->{content};
my %count = map { $_->{tag} => $_->{count} } @{ $r->{json}{tags} || [] };
is($count{odd}, 4, 'odd counted');
is($count{even}, 2, 'even counted after a delete');
my @tl = @{ $r->{json}{tags} };
ok(!grep({ $tl[$_]{count} > $tl[$_ - 1]{count} } 1 .. $#tl), 'sorted by count desc');
my @ones = grep { /^[a-z0-9]+$/i } map { $_->{tag} } grep { $_->{count} == 1 } @tl;
is_deeply(\@ones, [sort { lc $a cmp lc $b } @ones], 'ties sorted by tag');
is_error($t->get('/api/contacts/tags'), 401, 'unauthorized', 'tags without a credential');

# rename into an existing tag: a contact with both keeps one
patch($ids[0], { tags => ['odd', 'even'] });
$r = $t->post('/api/contacts/tags/rename', key => $manage, json => { from_tag => 'odd', to_tag => 'even' });
is($r->{status}, 200, 'rename merging into an existing tag') or diag $r->{content};
is_deeply($r->{json}, { from_tag => 'odd', to_tag => 'even', updated => 4 }, 'rename answer');
is($t->mysql_value(q{SELECT COUNT(*) FROM contact_tags WHERE tag = 'odd'}), 0, 'from_tag gone');
is($t->mysql_value(q{SELECT COUNT(*) FROM contact_tags WHERE tag = 'even'}), 6, 'every holder has to_tag once');
is_deeply($t->get("/api/contacts/$ids[0]", key => $read)->{json}{tags}, ['even'], 'the contact with both keeps one');

# a rename that only changes case keeps the tag
$r = $t->post('/api/contacts/tags/rename', key => $manage, json => { from_tag => 'even', to_tag => 'Even' });
is($r->{status}, 200, 'case-only rename');
is($r->{json}{updated}, 6, 'case-only rename counts');
is($t->mysql_value(q{SELECT COUNT(*) FROM contact_tags WHERE BINARY tag = 'Even'}), 6, 'spelling changed, rows kept');
$r = $t->post('/api/contacts/tags/rename', key => $manage, json => { from_tag => 'none-such', to_tag => 'x' });
is($r->{json}{updated}, 0, 'renaming an unknown tag updates nothing');
is_error($t->post('/api/contacts/tags/rename', key => $manage, json => { from_tag => 'a' }), 400, 'invalid_request', 'rename without to_tag');
is_error($t->post('/api/contacts/tags/rename', key => $manage, json => { from_tag => 'a', to_tag => 'b' x 65 }),
    400, 'invalid_request', 'rename to an over-long tag');
$r = $t->post('/api/contacts/tags/rename', key => $manage, json => { from_tag => "x' OR '1'='1", to_tag => 'safe' });
is($r->{json}{updated}, 1, 'hostile tag renamed as data');

# delete a tag, URL-encoded
$r = del('/api/contacts/tags/' . uri_escape('<b>tag<b>'));
is($r->{status}, 200, 'DELETE tag 200') or diag $r->{content};
is_deeply($r->{json}, { tag => '<b>tag<b>', removed => 1 }, 'URL-decoded tag removed');
$r = del('/api/contacts/tags/' . uri_escape('Even'));
is($r->{json}{removed}, 6, 'removed counts the contacts');
is($t->mysql_value(q{SELECT COUNT(*) FROM contact_tags WHERE tag = 'even'}), 0, 'rows gone');
is(del('/api/contacts/tags/nothing-here')->{json}{removed}, 0, 'unknown tag removes nothing');
is_error(del('/api/contacts/tags/%FF'), 404, 'not_found', 'tag of invalid UTF-8 in the path');
$r = del('/api/contacts/tags/' . uri_escape(encode_utf8('é' x 64)));
is($r->{json}{removed}, 1, 'UTF-8 tag in the path');

$t->done;
