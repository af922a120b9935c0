#!/usr/bin/perl
# The predecessor console's routes for customers (+tags, groups, members),
# SMS contacts and groups, message and SMS templates and keyword rules:
# each answers in the predecessor's shape, on our tables and our checks;
# scopes, 404s, 4xx codes, hostile and over-long values.
use strict;
use warnings;
use utf8;
use Encode qw(encode_utf8);
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my $manage = $t->create_key('manage');
my $read = $t->create_key('read');

sub post   { $t->post($_[0], key => $manage, json => $_[1]) }
sub patch  { $t->http(PATCH => $_[0], key => $manage, json => $_[1]) }
sub del    { $t->http(DELETE => $_[0], key => $manage, $_[1] ? (json => $_[1]) : ()) }
sub get    { $t->get($_[0], key => $read) }

# ------------------------------------------------------------ customers
my $r = post('/api/customers', { name => 'Ada', email => 'Ada@Example.COM', mobile => '(415) 555-0100',
                                 whatsapp => '+14155550101', country => 'United States', country_code => 'US',
                                 tags => ['vip', 'news'], ignored_field => 1 });
is($r->{status}, 201, 'POST /api/customers') or diag $r->{content};
my $c = $r->{json} || {};
my $ada = $c->{id};
like($ada // '', qr/^\d+$/, 'customer id');
is($c->{email}, 'ada@example.com', 'email lower-cased');
is($c->{mobile}, '+14155550100', 'mobile normalised (our phone)');
is($c->{whatsapp}, 'whatsapp:+14155550101', 'whatsapp in the predecessor\'s whatsapp: form');
is($c->{country}, 'United States', 'country');
is($c->{country_code}, 'US', 'country_code');
is_deeply([sort @{ $c->{tags} || [] }], ['news', 'vip'], 'tags');
ok(exists $c->{has_marketed} && !$c->{has_marketed}, 'has_marketed false');
is($c->{sms_sent_count}, 0, 'counters present');
ok(!exists $c->{phone} && !exists $c->{attributes}, 'no field of our shape leaks');
is($t->mysql_value('SELECT phone FROM contacts WHERE id = ?', $ada), '+14155550100', 'stored in our contacts table');

is_error(post('/api/customers', { name => 'Nobody' }), 422, 'no_address', 'no address at all');
$r = post('/api/customers', { mobile => '+1 415 555 0100' });
is_error($r, 409, 'contact_exists', 'same mobile twice: deduplicated here');
is($r->{json}{error}{existing_id}, $ada, 'existing_id');
is_error(post('/api/customers', { name => 'x' x 300, email => 'long@example.com' }), 400, 'invalid_request',
         'over-long name refused');
is_error($t->post('/api/customers', key => $manage, body => qq({"name":"\xff\xfe","email":"u\@example.com"})),
         400, 'invalid_json', 'invalid UTF-8 refused by the parser');
is_error($t->post('/api/customers', key => $manage, body => '[1]'), 400, 'invalid_request', 'body not an object');

my $hostile = q{Robert'); DROP TABLE contacts;-- <script>alert(1)</script>};
$r = post('/api/customers', { name => $hostile, email => 'bobby@example.com', tags => ['a\'b'] });
is($r->{status}, 201, 'hostile name stored') or diag $r->{content};
my $bobby = $r->{json}{id};
is(get("/api/customers/$bobby")->{json}{name}, $hostile, 'and read back verbatim');

$r = get("/api/customers/$ada");
is($r->{status}, 200, 'GET /api/customers/{id}');
is($r->{json}{mobile}, '+14155550100', 'in the predecessor shape');
is_error(get('/api/customers/999999'), 404, 'not_found', 'unknown customer');
is_error(get('/api/customers/abc'), 404, 'not_found', 'non-numeric id');

$r = patch("/api/customers/$ada", { name => 'Ada L.', mobile => '+14155550199' });
is($r->{status}, 200, 'PATCH') or diag $r->{content};
is($r->{json}{name}, 'Ada L.', 'name changed');
is($r->{json}{mobile}, '+14155550199', 'mobile changed');
is($r->{json}{country}, 'United States', 'country kept');
is_error(patch("/api/customers/$ada", { country => 'France' }), 422, 'field_not_supported',
         'country on PATCH refused, not half-applied');
is_error(patch('/api/customers/999999', { name => 'x' }), 404, 'not_found', 'PATCH unknown');

# list: {customers,total}, filters, offset only 0
$r = get('/api/customers?tag=vip&limit=10&offset=0');
is($r->{status}, 200, 'GET /api/customers') or diag $r->{content};
is($r->{json}{total}, 1, 'total of the tag filter');
is_deeply([map { $_->{id} } @{ $r->{json}{customers} || [] }], [$ada], 'customers by tag');
is($r->{json}{customers}[0]{mobile}, '+14155550199', 'items in the predecessor shape');
$r = get('/api/customers?search=bobby');
is_deeply([map { $_->{id} } @{ $r->{json}{customers} || [] }], [$bobby], 'search');
$r = get('/api/customers?search=' . BC::Test::uri_escape(q{%' OR 1=1 -- }));
is($r->{json}{total}, 0, 'SQL metacharacters in search match nothing');
$r = get('/api/customers?limit=1');
is(scalar @{ $r->{json}{customers} || [] }, 1, 'limit');
ok(defined $r->{json}{next_cursor}, 'next_cursor to page on');
my $p2 = get('/api/customers?limit=1&cursor=' . $r->{json}{next_cursor});
isnt($p2->{json}{customers}[0]{id}, $r->{json}{customers}[0]{id}, 'cursor gives the next page');
is_error(get('/api/customers?offset=100'), 400, 'invalid_request', 'offset paging beyond 0 refused');
is_error(get('/api/customers?has_marketed=true'), 400, 'invalid_request', 'a filter with no column refused');
is_error(get('/api/customers?limit=100000'), 400, 'invalid_request', 'limit bound');

# tags
$r = get('/api/customers/tags');
is($r->{status}, 200, 'GET /api/customers/tags');
ok((grep { $_->{tag} eq 'vip' && $_->{count} == 1 } @{ $r->{json}{tags} || [] }), '{tags:[{tag,count}]}');
$r = post('/api/customers/tags/rename', { from_tag => 'VIP', to_tag => 'gold' });
is($r->{status}, 200, 'rename') or diag $r->{content};
is($r->{json}{status}, 'ok', '{status,...}');
is($r->{json}{updated}, 1, 'updated count');
$r = del('/api/customers/tags/gold');
is($r->{status}, 200, 'DELETE tag');
is($r->{json}{status}, 'ok', 'status ok');
is(get('/api/customers?tag=gold')->{json}{total}, 0, 'tag removed');

# ------------------------------------------------------------ customer groups
$r = post('/api/customers/groups', { name => 'Buyers', description => 'bought once' });
is($r->{status}, 201, 'POST /api/customers/groups') or diag $r->{content};
my $g = $r->{json}{id};
is($r->{json}{member_count}, 0, 'member_count');
is_error(post('/api/customers/groups', { name => 'buyers' }), 409, 'group_exists', 'unique name');
$r = post("/api/customers/groups/$g/members", { customer_ids => [$ada, $bobby, 999999] });
is($r->{status}, 200, 'add members') or diag $r->{content};
is($r->{json}{added}, 2, 'unknown ids skipped');
$r = get("/api/customers/groups/$g/members");
is($r->{json}{group_id}, $g, 'group_id');
is_deeply([sort { $a <=> $b } map { $_->{id} } @{ $r->{json}{members} || [] }], [sort { $a <=> $b } $ada, $bobby],
          'members');
is($r->{json}{members}[0]{mobile}, '+14155550199', 'members are customers');
is(get("/api/customers/groups/$g")->{json}{member_count}, 2, 'member_count counted');
is(get("/api/customers?group_id=$g")->{json}{total}, 2, 'customers filtered by group_id');
is_error(post("/api/customers/groups/$g/members", { customer_ids => 'x' }), 422, 'invalid_contact_ids',
         'customer_ids not a list');
$r = del("/api/customers/groups/$g/members", { customer_ids => [$bobby] });
is($r->{json}{removed}, 1, 'remove a member');
is(patch("/api/customers/groups/$g", { description => 'twice' })->{json}{description}, 'twice', 'PATCH group');
is_error(get('/api/customers/groups/999999'), 404, 'not_found', 'unknown group');

# delete a customer: memberships go with it
is(del("/api/customers/$bobby")->{status}, 200, 'DELETE customer');
is_error(get("/api/customers/$bobby"), 404, 'not_found', 'gone');
is($t->mysql_value('SELECT COUNT(*) FROM contacts WHERE id = ?', $bobby), 0, 'row deleted');
is(del("/api/customers/groups/$g")->{status}, 200, 'DELETE group');

# ------------------------------------------------------------ SMS contacts and groups
$r = post('/api/sms/contacts', { phone => '4155550123', name => 'Sam', tags => ['sms'] });
is($r->{status}, 201, 'POST /api/sms/contacts') or diag $r->{content};
is($r->{json}{phone}, '+14155550123', 'phone normalised');
is_deeply($r->{json}{tags}, ['sms'], 'tags');
ok(exists $r->{json}{disabled_at}, 'sms contact shape');
my $sam = $r->{json}{id};
my $n = $t->mysql_value('SELECT COUNT(*) FROM contacts');
$r = post('/api/sms/contacts', { phone => '+1 (415) 555-0123', name => 'Samantha', tags => ['sms', 'b'] });
is($r->{status}, 200, 'POST the same phone again: upsert, 200') or diag $r->{content};
is($r->{json}{id}, $sam, 'the same contact');
is($r->{json}{name}, 'Samantha', 'name updated');
is_deeply([sort @{ $r->{json}{tags} || [] }], ['b', 'sms'], 'tags replaced');
is($t->mysql_value('SELECT COUNT(*) FROM contacts'), $n, 'no new row');
$r = post('/api/sms/contacts', { phone => '+14155550199', name => 'Ada again' });
is($r->{json}{id}, $ada, 'upsert finds a customer by its mobile too (one contacts table)');
is(get("/api/customers/$ada")->{json}{name}, 'Ada again', 'and renames it');
is_error(post('/api/sms/contacts', { name => 'no phone' }), 422, 'no_address', 'phone required');
is_error(post('/api/sms/contacts', { phone => 'abc' }), 400, 'invalid_request', 'not a number');
$r = get('/api/sms/contacts?tag=sms&include_disabled=true');
is($r->{status}, 200, 'GET /api/sms/contacts') or diag $r->{content};
is_deeply([map { $_->{id} } @{ $r->{json}{contacts} || [] }], [$sam], '{contacts,total}');
is($r->{json}{total}, 1, 'total');
ok(!exists $r->{json}{contacts}[0]{email}, 'sms contact items only');
$r = post('/api/sms/groups', { name => 'SMS list', description => 'd' });
is($r->{status}, 201, 'POST /api/sms/groups') or diag $r->{content};
ok((grep { $_->{name} eq 'SMS list' } @{ get('/api/sms/groups')->{json}{groups} || [] }), 'GET /api/sms/groups');

# ------------------------------------------------------------ message templates
$r = post('/api/message-templates', { channel => 'EMAIL', name => 'Welcome', subject => 'Hi {{name}}',
                                      content => 'Hello {{name}}', language => 'en' });
is($r->{status}, 201, 'POST /api/message-templates') or diag $r->{content};
my $mt = $r->{json}{id};
is($r->{json}{channel}, 'EMAIL', 'channel upper-cased as before');
is($r->{json}{content}, 'Hello {{name}}', 'content (our body)');
ok(!exists $r->{json}{body}, 'no body field');
is($t->mysql_value('SELECT channel FROM message_templates WHERE id = ?', $mt), 'email', 'stored in ours')
    if $t->mysql_value(q{SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'message_templates'});
$r = get('/api/message-templates?channel=EMAIL');
is($r->{status}, 200, 'GET list with channel=EMAIL') or diag $r->{content};
is_deeply([map { $_->{id} } @{ $r->{json}{templates} || [] }], [$mt], 'templates listed');
is(patch("/api/message-templates/$mt", { content => 'Bye' })->{json}{content}, 'Bye', 'PATCH content');
is_error(post('/api/message-templates', { channel => 'FAX', name => 'x', content => 'y' }), 422, 'invalid_channel',
         'unknown channel');
is_error(post('/api/message-templates', { channel => 'SMS', name => 'long', content => 'x' x 2000 }), 422,
         'field_too_long', 'over-long SMS content');
is_error(get('/api/message-templates/999999'), 404, 'not_found', 'unknown template');
is(del("/api/message-templates/$mt")->{status}, 200, 'DELETE');

$r = post('/api/sms/templates', { name => 'Promo', body => 'Sale {{code}} <script>' });
is($r->{status}, 201, 'POST /api/sms/templates') or diag $r->{content};
my $st = $r->{json}{id};
is($r->{json}{body}, 'Sale {{code}} <script>', 'body kept verbatim');
is_deeply($r->{json}{variables}, ['code'], 'variables');
is_deeply([map { $_->{id} } @{ get('/api/sms/templates')->{json}{templates} || [] }], [$st],
          'only SMS templates listed');
is_error(post('/api/sms/templates', { name => 'Promo', body => 'again' }), 409, 'template_exists', 'name taken');

# ------------------------------------------------------------ keyword rules
$r = post('/api/sms/keyword-rules', { keyword => 'PRICE', match_type => 'contains', response_text => 'From $5' });
is($r->{status}, 201, 'POST /api/sms/keyword-rules') or diag $r->{content};
my $kr = $r->{json}{id};
is($r->{json}{channel}, 'sms', 'a predecessor rule answers SMS');
$r = get('/api/sms/keywords');
is($r->{status}, 200, 'alias /api/sms/keywords');
is_deeply([map { $_->{id} } @{ $r->{json}{rules} || [] }], [$kr], '{rules}');
ok(!patch("/api/sms/keywords/$kr", { enabled => JSON::PP::false() })->{json}{enabled}, 'PATCH enabled');
is(get("/api/sms/keyword-rules/$kr")->{json}{keyword}, 'PRICE', 'GET one rule');
is_error(post('/api/sms/keywords', { keyword => '(', match_type => 'regex', response_text => 'y' }),
         422, 'invalid_regex', 'bad regex');
is_error(post('/api/sms/keywords', { keyword => 'PRICE', match_type => 'contains', response_text => 'again' }),
         409, 'rule_exists', 'same rule twice');
is_error(del('/api/sms/keyword-rules/999999'), 404, 'not_found', 'unknown rule');
is(del("/api/sms/keyword-rules/$kr")->{status}, 200, 'DELETE rule');

# ------------------------------------------------------------ scopes
is_error($t->get('/api/customers'), 401, 'unauthorized', 'no credential');
is_error($t->get('/api/sms/contacts'), 401, 'unauthorized', 'no credential (sms contacts)');
is_error($t->post('/api/customers', key => $read, json => { email => 'r@example.com' }), 403, 'forbidden',
         'read key cannot create');
is_error($t->http(DELETE => "/api/customers/$ada", key => $read), 403, 'forbidden', 'read key cannot delete');
is_error($t->post('/api/message-templates', key => $read, json => { channel => 'SMS', name => 'a', content => 'b' }),
         403, 'forbidden', 'read key cannot create templates');
is_error($t->post('/api/sms/keywords', key => $read, json => { keyword => 'a', response_text => 'b' }),
         403, 'forbidden', 'read key cannot create rules');
is(get("/api/customers/$ada")->{status}, 200, 'and the customer is still there');

$t->done;
