#!/usr/bin/perl
# Message templates: GET/POST /api/templates, GET/PATCH/DELETE
# /api/templates/{id}, POST /api/templates/{id}/preview. Variables found,
# keyset paging, scopes, conflicts per channel + name, the channel rules,
# hostile and over-long values, and previews filled from a contact with
# carrier segment counts.
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

sub create  { $t->post('/api/templates', key => $manage, json => $_[0]) }
sub patch   { $t->http(PATCH => "/api/templates/$_[0]", key => $manage, json => $_[1]) }
sub del     { $t->http(DELETE => "/api/templates/$_[0]", key => $manage) }
sub fetch   { $t->get("/api/templates/$_[0]", key => $read) }
sub list    { $t->get('/api/templates?' . BC::Test::form_encode($_[0] || {}), key => $read) }
sub preview { $t->post("/api/templates/$_[0]/preview", key => $read, json => $_[1] || {}) }

# ------------------------------------------------------------ create
my $r = create({ channel => 'sms', name => 'welcome',
                 body => 'Hi {{ first_name }}, your code is {{code}}. Bye {{first_name}} {{ x y }} {{}} {{a-b}}' });
is($r->{status}, 201, 'create 201') or diag $r->{content};
my $sms = $r->{json} || {};
like($sms->{id} // '', qr/^\d+$/, 'id');
ok($r->{content} =~ /"id":\d+/, 'id is a JSON number');
is($sms->{channel}, 'sms', 'channel');
is($sms->{name}, 'welcome', 'name');
is_deeply($sms->{variables}, ['first_name', 'code'],
          'variables: distinct, in order, whitespace inside braces allowed, malformed ones are text');
is($sms->{subject}, undef, 'no subject');
is($sms->{html}, undef, 'no html');
like($sms->{created_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'created_at ISO-8601 ms Z');

$r = create({ channel => 'email', name => 'welcome', subject => 'Hello {{name}}',
              body => 'Dear {{ name }}, see {{link}}', html => '<p>{{greeting}} {{name}}</p>' });
is($r->{status}, 201, 'the same name on another channel is fine') or diag $r->{content};
my $email = $r->{json} || {};
is_deeply($email->{variables}, ['name', 'link', 'greeting'], 'variables over subject, body and html');

$r = create({ channel => 'whatsapp', name => 'order_ready', content_sid => 'HX' . ('ab12' x 8), body => '' });
is($r->{status}, 201, 'a WhatsApp template with content_sid may have no body') or diag $r->{content};
my $wa_sid = $r->{json} || {};
is($wa_sid->{body}, '', 'its body is ""');
is($wa_sid->{content_sid}, 'HX' . ('ab12' x 8), 'content_sid kept');

$r = create({ channel => 'whatsapp', name => 'meta_promo', provider_name => 'spring_sale', language => 'en_US' });
is($r->{status}, 201, 'a Meta template by name and language') or diag $r->{content};
my $wa_meta = $r->{json} || {};
is($wa_meta->{provider_name}, 'spring_sale', 'provider_name kept');
is($wa_meta->{language}, 'en_US', 'language kept');

# same channel + name: 409 with the holder; nothing written
my $before = $t->mysql_value('SELECT COUNT(*) FROM message_templates');
$r = create({ channel => 'sms', name => 'welcome', body => 'other' });
is_error($r, 409, 'template_exists', 'same channel and name');
is($r->{json}{error}{existing_id}, $sms->{id}, 'existing_id names the holder');
$r = create({ channel => 'sms', name => 'WELCOME', body => 'other' });
is_error($r, 409, 'template_exists', 'names differ only in case: one name');
is($t->mysql_value('SELECT COUNT(*) FROM message_templates'), $before, 'no row written by the refused creates');

# ------------------------------------------------------------ rules (422)
my @bad422 = (
    [{ channel => 'fax', name => 'n', body => 'b' },                       'invalid_channel', 'unknown channel'],
    [{ name => 'n', body => 'b' },                                          'invalid_channel', 'no channel'],
    [{ channel => 'SMS', name => 'n', body => 'b' },                        'invalid_channel', 'channel is case-sensitive'],
    [{ channel => 'sms', name => 'n', body => '' },                         'empty_body', 'empty body'],
    [{ channel => 'sms', name => 'n' },                                     'empty_body', 'no body'],
    [{ channel => 'whatsapp', name => 'n', body => '' },                    'empty_body', 'WhatsApp without a provider template needs a body'],
    [{ channel => 'email', name => 'n', body => '', html => '<p>x</p>' },   'empty_body', 'email needs a body'],
    [{ channel => 'sms', name => 'n', body => 'b', subject => 's' },        'field_not_allowed', 'subject on SMS'],
    [{ channel => 'whatsapp', name => 'n', body => 'b', html => '<b>' },    'field_not_allowed', 'html on WhatsApp'],
    [{ channel => 'sms', name => 'n', body => 'b', content_sid => 'HX' . ('0' x 32) }, 'field_not_allowed', 'content_sid on SMS'],
    [{ channel => 'email', name => 'n', body => 'b', provider_name => 'x' }, 'field_not_allowed', 'provider_name on email'],
    [{ channel => 'whatsapp', name => 'n', content_sid => 'HX123' },        'invalid_content_sid', 'short content_sid'],
    [{ channel => 'whatsapp', name => 'n', content_sid => 'HX' . ('g' x 32) }, 'invalid_content_sid', 'content_sid not hex'],
    [{ channel => 'whatsapp', name => 'n', provider_name => 'Bad Name', language => 'en' }, 'invalid_provider_name', 'provider_name shape'],
    [{ channel => 'whatsapp', name => 'n', provider_name => 'promo' },      'language_required', 'Meta template without a language'],
    [{ channel => 'sms', name => 'n', body => 'b', language => "e'; --" },  'invalid_language', 'language shape'],
    [{ channel => 'sms', name => '', body => 'b' },                         'invalid_name', 'empty name'],
    [{ channel => 'sms', body => 'b' },                                     'invalid_name', 'no name'],
    [{ channel => 'sms', name => "two\nlines", body => 'b' },               'invalid_name', 'name with a newline'],
    [{ channel => 'sms', name => 'n' x 129, body => 'b' },                  'field_too_long', 'name over 128 characters'],
    [{ channel => 'sms', name => 'n', body => 'x' x 1601 },                 'field_too_long', 'SMS body over 1600 characters'],
    [{ channel => 'whatsapp', name => 'n', body => 'x' x 4097 },            'field_too_long', 'WhatsApp body over 4096 characters'],
    [{ channel => 'email', name => 'n', body => 'b', subject => 's' x 999 }, 'field_too_long', 'subject over 998 characters'],
    [{ channel => 'email', name => 'n', body => 'x' x (524288 + 1) },       'field_too_long', 'email body over 512 KiB'],
    [{ channel => 'email', name => 'n', body => 'b', html => 'x' x (524288 + 1) }, 'field_too_long', 'email html over 512 KiB'],
);
for my $b (@bad422) {
    my $res = create($b->[0]);
    is_error($res, 422, $b->[1], $b->[2]);
    like($res->{json}{error}{message} // '', qr/\w{8,}/, "$b->[2]: a message a person can act on");
}
like(create({ channel => 'sms', name => 'n', body => 'x' x 1601 })->{json}{error}{message} // '',
     qr/body has 1601 characters.*at most 1600/, 'the too-long message names the field and the limit');
is($t->mysql_value('SELECT COUNT(*) FROM message_templates'), $before, 'no row written by the refused creates');

# 1600 characters, counted as characters, not bytes
$r = create({ channel => 'sms', name => 'longest', body => 'é' x 1600 });
is($r->{status}, 201, 'SMS body of exactly 1600 characters (3200 bytes)') or diag $r->{content};
del($r->{json}{id}) if $r->{json};

# ------------------------------------------------------------ types (400)
for my $b ([{ channel => 'sms', name => 'n', body => 5 }, 'body a number'],
           [{ channel => ['sms'], name => 'n', body => 'b' }, 'channel an array'],
           [{ channel => 'sms', name => { a => 1 }, body => 'b' }, 'name an object']) {
    is_error(create($b->[0]), 400, 'invalid_request', $b->[1]);
}
is_error($t->post('/api/templates', key => $manage, body => '{"channel":'), 400, 'invalid_json', 'truncated JSON');
is_error($t->post('/api/templates', key => $manage, body => qq({"channel":"sms","name":"u","body":"\xff\xfe"})),
         400, 'invalid_json', 'invalid UTF-8 refused by the parser');
is_error($t->post('/api/templates', key => $manage, body => '[1]'), 400, 'invalid_request', 'body not an object');
$r = $t->post('/api/templates', key => $manage,
              body => '{"channel":"email","name":"huge","body":"' . ('x' x (10 * 1024 * 1024)) . '"}');
# nginx's client_max_body_size answers first (its own page), before any parse
is($r->{status}, 413, 'a 10 MB field is refused before it is read whole');
is($t->mysql_value("SELECT COUNT(*) FROM message_templates WHERE name = 'huge'"), 0, 'and not stored');

# ------------------------------------------------------------ hostile values
my $evil = q{x'); DROP TABLE message_templates; -- "\\ <script>alert(1)</script> 名前};
$r = create({ channel => 'sms', name => $evil, body => "$evil {{v}}" });
is($r->{status}, 201, 'SQL metacharacters and markup are plain text') or diag $r->{content};
my $hostile = $r->{json} || {};
is($hostile->{name}, $evil, 'name round-trips byte for byte');
is(fetch($hostile->{id})->{json}{body}, "$evil {{v}}", 'body round-trips through GET');
is($t->mysql_value('SELECT name FROM message_templates WHERE id = ?', $hostile->{id}), $evil,
   'stored as given');
like($r->{content}, qr/\\u003c|<script>/, 'markup is JSON text, never interpreted');
is($r->{headers}{'content-type'} =~ m{^application/json} ? 1 : 0, 1, 'served as JSON, not HTML');

# ------------------------------------------------------------ read, list
$r = fetch($sms->{id});
is($r->{status}, 200, 'GET one');
is($r->{json}{body}, $sms->{body}, 'GET returns the body');
is_deeply($r->{json}{variables}, ['first_name', 'code'], 'GET lists the variables');

is_error(fetch(999999999), 404, 'not_found', 'unknown id');
is_error(fetch('abc'), 404, 'not_found', 'non-numeric id');
is_error(fetch('1%27%20OR%201=1'), 404, 'not_found', 'injection in the id');
is_error(fetch('0'), 404, 'not_found', 'id 0');
is_error(fetch('99999999999999999999999'), 404, 'not_found', 'id beyond BIGINT');

$r = list();
is($r->{status}, 200, 'list');
my @ids = map { $_->{id} } @{ $r->{json}{templates} || [] };
is_deeply(\@ids, [sort { $a <=> $b } @ids], 'listed in id order');
ok(scalar(grep { $_ == $sms->{id} } @ids), 'the SMS template is listed');
is($r->{json}{next_cursor}, undef, 'one page: no next_cursor');
is_deeply([map { $_->{channel} } @{ list({ channel => 'whatsapp' })->{json}{templates} || [] }],
          ['whatsapp', 'whatsapp'], 'channel filter');

# keyset paging: pages of 2 cover every row once, in order
{
    my (@seen, $cursor, $pages);
    while (1) {
        my $p = list({ limit => 2, ($cursor ? (cursor => $cursor) : ()) });
        is($p->{status}, 200, 'page') or last;
        push @seen, map { $_->{id} } @{ $p->{json}{templates} };
        ok(@{ $p->{json}{templates} } <= 2, 'at most limit rows');
        $cursor = $p->{json}{next_cursor};
        last if !defined $cursor || ++$pages > 20;
    }
    is_deeply(\@seen, \@ids, 'pages of 2 list every template once, in order');
}
is_error(list({ limit => 0 }), 400, 'invalid_request', 'limit 0');
is_error(list({ limit => 501 }), 400, 'invalid_request', 'limit over 500');
is_error(list({ cursor => "1' OR '1'='1" }), 400, 'invalid_request', 'injection in the cursor');
is_error(list({ channel => 'fax' }), 400, 'invalid_request', 'unknown channel filter');

# ------------------------------------------------------------ patch
$r = patch($sms->{id}, { body => 'Hello {{name}}, {{ name }} again', language => 'en' });
is($r->{status}, 200, 'PATCH') or diag $r->{content};
is($r->{json}{body}, 'Hello {{name}}, {{ name }} again', 'body changed');
is($r->{json}{language}, 'en', 'language set');
is($r->{json}{name}, 'welcome', 'name kept');
is_deeply($r->{json}{variables}, ['name'], 'variables follow the new body');
is(patch($sms->{id}, { language => undef })->{json}{language}, undef, 'null clears language');

is_error(patch($sms->{id}, { subject => 'no' }), 422, 'field_not_allowed', 'PATCH cannot add a subject to SMS');
is_error(patch($sms->{id}, { body => '' }), 422, 'empty_body', 'PATCH cannot empty the body');
is_error(patch($sms->{id}, { channel => 'fax' }), 422, 'invalid_channel', 'PATCH to an unknown channel');
is_error(patch($sms->{id}, { body => 'x' x 1601 }), 422, 'field_too_long', 'PATCH over-long body');
is_error(patch($email->{id}, { channel => 'sms' }), 422, 'field_not_allowed',
         'an email template with a subject cannot become SMS');
is(fetch($sms->{id})->{json}{body}, 'Hello {{name}}, {{ name }} again', 'refused PATCHes changed nothing');

$r = patch($wa_meta->{id}, { name => 'order_ready' });
is_error($r, 409, 'template_exists', 'PATCH to a taken channel + name');
is($r->{json}{error}{existing_id}, $wa_sid->{id}, 'existing_id on PATCH');
is(fetch($wa_meta->{id})->{json}{name}, 'meta_promo', 'name kept after the conflict');

is_error(patch($sms->{id}, {}), 400, 'invalid_request', 'PATCH with nothing to change');
is_error(patch(999999999, { body => 'x' }), 404, 'not_found', 'PATCH unknown id');

# ------------------------------------------------------------ scopes
is_error($t->get('/api/templates'), 401, 'unauthorized', 'list without a credential');
is_error($t->get("/api/templates/$sms->{id}"), 401, 'unauthorized', 'GET without a credential');
is_error($t->post('/api/templates', json => { channel => 'sms', name => 'z', body => 'b' }), 401, 'unauthorized',
         'POST without a credential');
is_error($t->post("/api/templates/$sms->{id}/preview", json => {}), 401, 'unauthorized', 'preview without a credential');
is_error($t->post('/api/templates', key => $read, json => { channel => 'sms', name => 'z', body => 'b' }), 403,
         'forbidden', 'create with a read key');
is_error($t->post('/api/templates', key => $send, json => { channel => 'sms', name => 'z', body => 'b' }), 403,
         'forbidden', 'create with a send key');
is_error($t->http(PATCH => "/api/templates/$sms->{id}", key => $read, json => { body => 'z' }), 403, 'forbidden',
         'PATCH with a read key');
is_error($t->http(DELETE => "/api/templates/$sms->{id}", key => $send), 403, 'forbidden', 'DELETE with a send key');
is(fetch($sms->{id})->{status}, 200, 'still there');
is($t->get('/api/templates', key => $send)->{status}, 200, 'a send key may read (scopes are ordered)');

# ------------------------------------------------------------ preview
$r = preview($sms->{id}, { variables => { name => 'Ada' } });
is($r->{status}, 200, 'preview') or diag $r->{content};
is($r->{json}{rendered}{body}, 'Hello Ada, Ada again', 'variables filled everywhere');
is_deeply($r->{json}{missing}, [], 'nothing missing');
is($r->{json}{encoding}, 'GSM-7', 'GSM-7');
is($r->{json}{segments}, 1, 'one segment');
is($r->{json}{characters}, 20, 'characters');
ok(!exists $r->{json}{rendered}{subject}, 'no subject for SMS');

$r = preview($sms->{id});
is_deeply($r->{json}{missing}, ['name'], 'missing names the unfilled variable once');
is($r->{json}{rendered}{body}, 'Hello {{name}}, {{ name }} again', 'an unfilled placeholder stays as written');

# segments as carriers count them
my $seg = create({ channel => 'sms', name => 'seg', body => '{{t}}' })->{json}{id};
for my $c (['a' x 160, 'GSM-7', 1, 160], ['a' x 161, 'GSM-7', 2, 161], ['€' x 80, 'GSM-7', 1, 80],
           ['€' x 81, 'GSM-7', 2, 81], ['a' x 306, 'GSM-7', 2, 306], [('a' x 152) . '[' . ('a' x 153), 'GSM-7', 3, 306],
           ['你' x 70, 'UCS-2', 1, 70], ['你' x 71, 'UCS-2', 2, 71], ['😀' x 35, 'UCS-2', 1, 35],
           ['😀' x 36, 'UCS-2', 2, 36], ['a' x 159 . 'á', 'UCS-2', 3, 160]) {
    my $p = preview($seg, { variables => { t => $c->[0] } })->{json} || {};
    is_deeply([$p->{encoding}, $p->{segments}, $p->{characters}], [@$c[1 .. 3]],
              sprintf('%d characters of %s: %s, %d segment(s)', $c->[3], substr($c->[0], 0, 1), $c->[1], $c->[2]));
}
is(preview($seg, { variables => { t => 42 } })->{json}{rendered}{body}, '42', 'a number fills as text');
is_error(preview($seg, { variables => { t => [1] } }), 400, 'invalid_request', 'a variable must be text or a number');
is_error(preview($seg, { variables => 'x' }), 400, 'invalid_request', 'variables must be an object');
is_error(preview($seg, { contact_id => 'x' }), 400, 'invalid_request', 'contact_id must be a number');

# from a contact: its columns and attributes; explicit variables win
my $ct = $t->post('/api/contacts', key => $manage,
                  json => { name => 'Grace', phone => '+14155550123', email => 'grace@example.com',
                            attributes => { greeting => 'Howdy', link => 'https://x.test/?a=1&b=<2>',
                                            name => 'not the column', n => 7 } })->{json}{id};
ok($ct, 'a contact');
$r = preview($email->{id}, { contact_id => $ct });
is($r->{status}, 200, 'email preview from a contact') or diag $r->{content};
is($r->{json}{rendered}{subject}, 'Hello Grace', 'subject from the contact name (the column beats the attribute)');
is($r->{json}{rendered}{body}, 'Dear Grace, see https://x.test/?a=1&b=<2>', 'body from an attribute');
is($r->{json}{rendered}{html}, '<p>Howdy Grace</p>', 'html from an attribute');
is_deeply($r->{json}{missing}, [], 'nothing missing');
ok(!exists $r->{json}{encoding} && !exists $r->{json}{segments}, 'no encoding or segments for e-mail');
$r = preview($email->{id}, { contact_id => $ct, variables => { name => 'Dr. Hopper' } });
is($r->{json}{rendered}{subject}, 'Hello Dr. Hopper', 'explicit variables win over the contact');
is_error(preview($email->{id}, { contact_id => 999999999 }), 404, 'contact_not_found', 'unknown contact');
is_error(preview(999999999), 404, 'not_found', 'preview of an unknown template');
$r = preview($wa_sid->{id});
is($r->{status}, 200, 'preview of a provider template');
is($r->{json}{segments}, 0, 'an empty body is no segment');

# ------------------------------------------------------------ delete
$r = del($hostile->{id});
is($r->{status}, 200, 'DELETE');
is($r->{json}{deleted}, JSON::PP::true(), 'deleted: true') if $r->{json};
is_error(fetch($hostile->{id}), 404, 'not_found', 'gone');
is_error(del($hostile->{id}), 404, 'not_found', 'DELETE again');
ok($t->mysql_value('SELECT COUNT(*) FROM message_templates') > 0, 'the table is still there');

$t->done;
