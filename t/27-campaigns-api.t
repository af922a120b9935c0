#!/usr/bin/perl
# The campaigns API (campaigns*.c): create and patch with the send APIs'
# checks and the stored protos per channel, listing and one campaign with
# its stats, the state transitions and their 409s, recipients, retry of
# failures, check-duplicates and a template's history. No dispatcher runs
# in this test (the sender runs without it, BC_CAMPAIGNS=off, or it would
# complete the campaigns whose states are checked here): recipient and message rows
# are written with SQL.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Encode qw(encode_utf8);
use JSON::PP;
use BC::Test qw(:all);

# the API alone: no dispatcher moves a started campaign on, so states and
# stats are the ones the test writes
my $t = BC::Test->new(env => { BC_CAMPAIGNS => 'off' });
my $manage = $t->create_key('manage');
my $send = $t->create_key('send');
my $read = $t->create_key('read');
my $FOOTER = 'Reply STOP to opt out';

sub req {
    my ($method, $path, %o) = @_;
    $o{key} = $send unless exists $o{key};
    delete $o{key} unless defined $o{key};
    return $t->http($method => $path, %o);
}
sub create { req(POST => '/api/campaigns', json => $_[0], @_[1 .. $#_]) }
sub template {
    my $r = $t->post('/api/templates', key => $manage, json => $_[0]);
    die "POST /api/templates: $r->{status} $r->{content}" unless $r->{status} == 201;
    return $r->{json}{id};
}
sub proto {
    my ($id, $idx) = @_;
    my $p = $t->mysql_value('SELECT proto FROM campaign_variants WHERE campaign_id=? AND idx=?', $id, $idx // 0);
    return defined $p ? decode_json(encode_utf8($p)) : undef;
}
sub contact {
    my (%c) = @_;
    $t->dbh->do('INSERT INTO contacts (name, phone, whatsapp, email, created_at, updated_at) '
              . 'VALUES (?,?,?,?,UTC_TIMESTAMP(3),UTC_TIMESTAMP(3))', undef, @c{qw(name phone whatsapp email)});
    return 0 + $t->dbh->last_insert_id(undef, undef, 'contacts', 'id');
}
my $seq = 0;
sub ulid { sprintf '01JTEST%019d', ++$seq }
# a recipient row (and its message row when a status is given); its id
sub recipient {
    my (%o) = @_;
    my $mid = $o{message_id} // ulid();
    $t->dbh->do('INSERT INTO campaign_recipients (campaign_id, step, contact_id, variant, address, '
              . 'message_id, state, skip_reason, created_at, updated_at) VALUES '
              . '(?,0,?,?,?,?,?,?,UTC_TIMESTAMP(3),UTC_TIMESTAMP(3))', undef,
              $o{campaign}, $o{contact}, $o{variant} // 0, $o{address} // '+14155550100', $mid,
              $o{state} // 'queued', $o{skip});
    my $id = $t->dbh->last_insert_id(undef, undef, 'campaign_recipients', 'id');
    if ($o{status}) {
        $t->dbh->do('INSERT INTO messages (id, batch_id, channel, direction, provider, to_address, '
                  . 'from_address, body, status, status_rank, error_code, price, price_unit, '
                  . 'created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,UTC_TIMESTAMP(3),'
                  . 'UTC_TIMESTAMP(3))', undef,
                  $mid, 'B' x 26, 'sms', 'outbound', 'twilio', $o{address} // '+14155550100',
                  '+15005550006', 'hi', $o{status}, $o{rank} // 40, $o{error}, $o{price}, $o{price} ? 'USD' : undef);
    }
    return ($id, $mid);
}

# the opt-out footer configured, as an operator would (reload)
{
    my $conf = $t->dir . '/nginx/conf/nginx.conf';
    open my $fh, '<', $conf or die "$conf: $!";
    my $text = do { local $/; <$fh> };
    close $fh;
    $text =~ s/^(\s*)(broadcast_sms_from [^\n]*\n)/$1$2$1broadcast_sms_opt_out_text "$FOOTER";\n/m
        or die "no broadcast_sms_from in $conf";
    open $fh, '>', $conf or die "$conf: $!";
    print $fh $text;
    close $fh;
    $t->signal(HUP => 'nginx');
}

my $sms_tpl = template({ channel => 'sms', name => 'promo', body => 'Hi {{name}}, {{ offer }} today' });
my $mail_tpl = template({ channel => 'email', name => 'news', subject => 'News for {{name}}',
                          body => 'Hello {{name}}', html => '<p>Hello {{name}}</p>' });
my $meta_tpl = template({ channel => 'whatsapp', name => 'meta_hello', provider_name => 'hello_world',
                          language => 'en_US', body => 'Hello {{1}}' });
my $twilio_tpl = template({ channel => 'whatsapp', name => 'tw_hello',
                            content_sid => 'HX' . ('a' x 32), body => 'Hi {{1}}' });
my $grp = $t->post('/api/groups', key => $manage, json => { name => 'vip' })->{json}{id};

my %aud = (audience => { group_ids => [$grp] });

# ------------------------------------------------------------ auth
is_error(create({ name => 'x', channel => 'sms', content => { message => 'hi' }, %aud }, key => undef),
    401, 'unauthorized', 'create without a credential');
is_error(create({ name => 'x', channel => 'sms', content => { message => 'hi' }, %aud }, key => $read),
    403, 'forbidden', 'create with a read key');
is_error(req(GET => '/api/campaigns', key => undef), 401, 'unauthorized', 'list without a credential');
is($t->mysql_value('SELECT COUNT(*) FROM campaigns'), 0, 'refused creates stored nothing');

# ------------------------------------------------------------ SMS content
my $r;
ok(wait_until(sub {
    $r = create({ name => 'Spring sale', channel => 'sms', %aud,
                  content => { message => 'Hi {{name}}, sale!', append_opt_out => JSON::PP::true() } });
    $r->{status} == 201
}, 30, 0.2), 'create 201 (once the reload has the footer)') or diag $r->{content};
my $c1 = $r->{json} || {};
like($c1->{id} // '', qr/^\d+$/, 'id');
is($c1->{status}, 'draft', 'a campaign without schedule_at is a draft');
like($c1->{batch_id} // '', qr/^[0-9A-HJKMNP-TV-Z]{26}$/, 'batch_id is a ULID');
is($c1->{channel}, 'sms', 'channel');
is_deeply($c1->{audience}, { group_ids => [$grp] }, 'audience as given');
is_deeply($c1->{variants}, [{ name => 'default', weight => 1, template_id => undef }], 'one default variant');
ok(!$c1->{never_repeat_template}, 'never_repeat_template false without a template');
like($c1->{created_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'created_at ISO-8601');
is_deeply(proto($c1->{id}), { channel => 'sms', provider => 'twilio', from => $t->sms_from,
    messaging_service_sid => '', body => "Hi {{name}}, sale!\n$FOOTER", extra => undef },
    'SMS proto: the footer in the body, placeholders kept, no append_opt_out flag');

# ------------------------------------------------------------ SMS template
$r = create({ name => 'tpl sms', channel => 'sms', %aud, template_id => $sms_tpl,
              template_variables => { offer => '10% off' }, rate_per_second => 5,
              quiet_hours => { start => '21:00', end => '08:00' } });
is($r->{status}, 201, 'create by template 201') or diag $r->{content};
my $c2 = $r->{json} || {};
is($c2->{template_id}, $sms_tpl, 'template_id');
ok($c2->{never_repeat_template}, 'never_repeat_template defaults to true with a template');
is($c2->{rate_per_second}, 5, 'rate_per_second');
is_deeply($c2->{quiet_hours}, { start => '21:00', end => '08:00' }, 'quiet_hours');
is_deeply($c2->{template_variables}, { offer => '10% off' }, 'template_variables');
is(proto($c2->{id})->{body}, 'Hi {{name}}, {{offer}} today', 'template proto keeps its placeholders');

# ------------------------------------------------------------ WhatsApp
$r = create({ name => 'wa twilio', channel => 'whatsapp', from => $t->whatsapp_from, %aud,
              content => { body => 'Hola {{name}}', media_urls => ['https://example.com/a.png'] } });
is($r->{status}, 201, 'WhatsApp Twilio content 201') or diag $r->{content};
is_deeply(proto($r->{json}{id}), { channel => 'whatsapp', provider => 'twilio', from => $t->whatsapp_from,
    messaging_service_sid => '', body => 'Hola {{name}}', extra => { media_urls => ['https://example.com/a.png'] } },
    'WhatsApp Twilio proto');

$r = create({ name => 'wa twilio tpl', channel => 'whatsapp', from => $t->whatsapp_from, %aud,
              template_id => $twilio_tpl });
is($r->{status}, 201, 'WhatsApp Twilio content template 201') or diag $r->{content};
my $p = proto($r->{json}{id}) || {};
is($p->{extra}{content_sid}, 'HX' . ('a' x 32), 'content_sid from the template');
is_deeply(decode_json($p->{extra}{content_variables} // '{}'), { 1 => '{{1}}' },
    'content_variables keep the placeholder');

$r = create({ name => 'wa meta tpl', channel => 'whatsapp', from => $t->meta_from, %aud,
              template_id => $meta_tpl });
is($r->{status}, 201, 'WhatsApp Meta template 201') or diag $r->{content};
is_deeply(proto($r->{json}{id}), { channel => 'whatsapp', provider => 'meta', from => $t->meta_from,
    messaging_service_sid => '', body => 'template:hello_world',
    extra => { message => { type => 'template', template => { name => 'hello_world',
        language => { code => 'en_US' },
        components => [{ type => 'body', parameters => [{ type => 'text', text => '{{1}}' }] }] } } } },
    'WhatsApp Meta template proto: the parameters are placeholders');

$r = create({ name => 'wa meta content', channel => 'whatsapp', from => $t->meta_from, %aud,
              content => { template => { name => 'order_update', language => 'en_US' } } });
is($r->{status}, 201, 'WhatsApp Meta template content 201') or diag $r->{content};
is(proto($r->{json}{id})->{extra}{message}{template}{name}, 'order_update', 'Meta content template');

is_error(create({ name => 'x', channel => 'whatsapp', from => $t->meta_from, %aud, template_id => $twilio_tpl }),
    422, 'invalid_template', 'a Twilio content template from a Meta sender');
is_error(create({ name => 'x', channel => 'whatsapp', from => $t->whatsapp_from, %aud,
                  content => { template => { name => 'x', language => 'en' } } }),
    422, 'invalid_request', 'a Meta template from a Twilio sender');
is_error(create({ name => 'x', channel => 'whatsapp', from => 'whatsapp:+14155550999', %aud,
                  content => { body => 'hi' } }),
    422, 'sender_not_allowed', 'a WhatsApp sender outside the whitelist');
is_error(create({ name => 'x', channel => 'whatsapp', from => 'telegram:1', %aud, content => { body => 'hi' } }),
    422, 'invalid_request', 'a sender of no WhatsApp form');
is_error(create({ name => 'x', channel => 'whatsapp', from => $t->whatsapp_from, %aud,
                  content => { content_sid => 'HXnothex' } }),
    422, 'invalid_request', 'a content_sid of the wrong shape');

# ------------------------------------------------------------ e-mail
$r = create({ name => 'mail', channel => 'email', %aud,
              content => { subject => 'Hi {{name}}', html => '<b>{{name}}</b>', sandbox => JSON::PP::true() } });
is($r->{status}, 201, 'e-mail content 201') or diag $r->{content};
$p = proto($r->{json}{id}) || {};
is($p->{from}, $t->email_from, 'the default e-mail sender');
is($p->{body}, '<b>{{name}}</b>', 'body: the html when there is no text');
is($p->{extra}{subject}, 'Hi {{name}}', 'subject with its placeholder');
ok($p->{extra}{sandbox}, 'sandbox kept');

$r = create({ name => 'mail tpl', channel => 'email', %aud, template_id => $mail_tpl });
is($r->{status}, 201, 'e-mail template 201') or diag $r->{content};
$p = proto($r->{json}{id}) || {};
is($p->{extra}{subject}, 'News for {{name}}', 'template subject');
is($p->{extra}{html}, '<p>Hello {{name}}</p>', 'template html');
is($p->{body}, 'Hello {{name}}', 'template text as the body');
is_error(create({ name => 'x', channel => 'email', from => 'nobody@elsewhere.example', %aud,
                  content => { subject => 's', text => 't' } }),
    422, 'sender_not_allowed', 'an e-mail sender outside the whitelist');

# ------------------------------------------------------------ variants
$r = create({ name => 'ab', channel => 'sms', %aud, variants => [
    { name => 'A', weight => 3, content => { message => 'Offer A {{name}}' } },
    { name => 'B', weight => 1, template_id => $sms_tpl } ] });
is($r->{status}, 201, 'two variants 201') or diag $r->{content};
my $ab = $r->{json} || {};
is_deeply($ab->{variants}, [{ name => 'A', weight => 3, template_id => undef },
                            { name => 'B', weight => 1, template_id => $sms_tpl }], 'variants listed');
is(proto($ab->{id}, 0)->{body}, 'Offer A {{name}}', 'variant A proto');
is(proto($ab->{id}, 1)->{body}, 'Hi {{name}}, {{offer}} today', 'variant B proto');

for my $bad ([[{ name => 'A', weight => 0, content => { message => 'x' } }], 'weight 0'],
             [[{ name => 'A', weight => 1.5, content => { message => 'x' } }], 'weight 1.5'],
             [[{ name => 'A', weight => 1, content => { message => 'x' } },
               { name => 'A', weight => 1, content => { message => 'y' } }], 'duplicate names'],
             [[map { { name => "v$_", weight => 1, content => { message => 'x' } } } 1 .. 11], '11 variants'],
             [[{ name => 'A', weight => 1 }], 'neither content nor template']) {
    is_error(create({ name => 'x', channel => 'sms', %aud, variants => $bad->[0] }), 422, 'invalid_request',
        "variants: $bad->[1]");
}

$r = create({ name => 'x', channel => 'sms', %aud, variants => [{ name => 'A', weight => 1, content => 'hi' }] });
is_error($r, 422, 'invalid_request', 'variant content not an object');
like($r->{json}{error}{message} // '', qr/^variants\[0\]\.content /, 'the message names the variant');
is_error(create({ name => 'x', channel => 'sms', %aud, variants => [
    { name => 'A', weight => 1, content => { message => 'x' } }, { name => 'B', weight => 1, template_id => 999999 }] }),
    422, 'unknown_template', 'a variant of an unknown template');
is($t->mysql_value('SELECT COUNT(*) FROM campaigns WHERE name=?', 'x'), 0, 'refused creates stored nothing');

# ------------------------------------------------------------ 422s
is_error(create({ name => 'x', channel => 'fax', %aud, content => { message => 'x' } }), 422,
    'invalid_request', 'bad channel');
like(create({ name => 'x', channel => 'fax', %aud, content => { message => 'x' } })->{json}{error}{message},
    qr/channel/, 'the message names the channel');
is_error(create({ name => 'x', channel => 'sms', from => 'not a number', %aud, content => { message => 'x' } }),
    422, 'invalid_request', 'bad SMS from');
like(create({ name => 'x', channel => 'sms', from => 'nope', %aud, content => { message => 'x' } })->{json}{error}{message},
    qr/^content: from_number/, 'the message names the field');
is_error(create({ name => 'x', channel => 'sms', %aud, template_id => 999999 }), 422, 'unknown_template',
    'unknown template');
is_error(create({ name => 'x', channel => 'email', %aud, template_id => $sms_tpl }), 422, 'invalid_template',
    'a template of another channel');
is_error(create({ name => 'x', channel => 'sms', audience => { group_ids => [999999] },
                  content => { message => 'x' } }), 422, 'unknown_group', 'unknown group');
is_error(create({ name => 'x', channel => 'sms', content => { message => 'x' } }), 422, 'audience_required',
    'no audience');
is_error(create({ name => 'x', channel => 'sms', audience => { filter => { country => 'US' } },
                  content => { message => 'x' } }), 422, 'audience_required', 'a filter is no selector');
is_error(create({ name => 'x', channel => 'sms', %aud, content => { message => 'x', color => 'red' } }), 422,
    'invalid_request', 'a content key of no channel');
is_error(create({ name => 'x', channel => 'sms', %aud, content => { message => '' } }), 422,
    'invalid_request', 'an empty SMS');
is_error(create({ name => '', channel => 'sms', %aud, content => { message => 'x' } }), 422,
    'invalid_request', 'an empty name');
is_error(create({ name => 'x' x 256, channel => 'sms', %aud, content => { message => 'x' } }), 422,
    'invalid_request', 'a name of 256 characters');
is_error(create({ name => 'x', channel => 'sms', %aud, content => { message => 'x' }, schedule_at => 'tomorrow' }),
    422, 'invalid_request', 'schedule_at not ISO-8601');
is_error(create({ name => 'x', channel => 'sms', %aud, content => { message => 'x' },
                  quiet_hours => { start => '25:00', end => '08:00' } }),
    422, 'invalid_request', 'quiet_hours out of range');
is(req(POST => '/api/campaigns', body => '{"name":"' . ('x' x (10 * 1024 * 1024)) . '"}')->{status}, 413,
    'a 10 MB name: 413 from nginx\'s own limit');
is_error(req(POST => '/api/campaigns', body => '{"name":"' . ('x' x (1536 * 1024)) . '"}'), 413,
    'body_too_large', 'a 1.5 MB name: over broadcast_max_body');
is_error(req(POST => '/api/campaigns', body => "{\"name\":\"bad \xff\xfe\",\"channel\":\"sms\"}"), 400,
    'invalid_json', 'invalid UTF-8 refused by the JSON parser');
my $evil = q{x'); DROP TABLE campaigns; -- <script>alert(1)</script>};
$r = create({ name => $evil, channel => 'sms', %aud, content => { message => $evil } });
is($r->{status}, 201, 'SQL and HTML metacharacters accepted') or diag $r->{content};
is($r->{json}{name}, $evil, 'the name stored literally');
is($t->mysql_value('SELECT name FROM campaigns WHERE id=?', $r->{json}{id}), $evil, 'in MySQL too');
is(proto($r->{json}{id})->{body}, $evil, 'and the body');

# ------------------------------------------------------------ schedule_at
$r = create({ name => 'later', channel => 'sms', %aud, content => { message => 'x' },
              schedule_at => '2030-01-02T03:04:05.678Z' });
is($r->{status}, 201, 'scheduled create 201') or diag $r->{content};
is($r->{json}{status}, 'scheduled', 'status scheduled');
is($r->{json}{schedule_at}, '2030-01-02T03:04:05.678Z', 'schedule_at');
my $later = $r->{json}{id};

# ------------------------------------------------------------ get, list
$r = req(GET => "/api/campaigns/$c1->{id}", key => $read);
is($r->{status}, 200, 'get 200 with a read key');
is($r->{json}{name}, 'Spring sale', 'get name');
is($r->{json}{stats}{audience}, 0, 'no recipients yet');
is_error(req(GET => '/api/campaigns/999999', key => $read), 404, 'not_found', 'unknown id');
is_error(req(GET => '/api/campaigns/abc', key => $read), 404, 'not_found', 'not an id');
is_error(req(GET => "/api/campaigns/$c1->{id}", key => undef), 401, 'unauthorized', 'get without a credential');

my $total = $t->mysql_value('SELECT COUNT(*) FROM campaigns');
my (@seen, $cursor);
for (1 .. 20) {
    $r = req(GET => '/api/campaigns?limit=4' . ($cursor ? "&cursor=$cursor" : ''), key => $read);
    is($r->{status}, 200, 'list page 200') or last;
    push @seen, map { $_->{id} } @{ $r->{json}{campaigns} };
    $cursor = $r->{json}{next_cursor} or last;
}
is(scalar @seen, $total, 'paging visits every campaign');
is_deeply(\@seen, [sort { $b <=> $a } @seen], 'newest first');
$r = req(GET => '/api/campaigns?status=scheduled', key => $read);
is_deeply([map { $_->{id} } @{ $r->{json}{campaigns} }], [$later], 'status filter');
is_error(req(GET => '/api/campaigns?status=bogus', key => $read), 400, 'invalid_request', 'bad status filter');

# ------------------------------------------------------------ PATCH
$r = req(PATCH => "/api/campaigns/$c1->{id}", json => { name => 'Summer sale', rate_per_second => 9 });
is($r->{status}, 200, 'patch 200') or diag $r->{content};
is($r->{json}{name}, 'Summer sale', 'patched name');
is($r->{json}{rate_per_second}, 9, 'patched rate');
like(proto($c1->{id})->{body}, qr/^Hi \{\{name\}\}, sale!/, 'proto unchanged without content');
$r = req(PATCH => "/api/campaigns/$c1->{id}", json => { channel => 'sms', content => { message => 'New {{name}}' } });
is($r->{status}, 200, 'patch content 200') or diag $r->{content};
is(proto($c1->{id})->{body}, 'New {{name}}', 'patched content rebuilds the proto');
$r = req(PATCH => "/api/campaigns/$c1->{id}", json => { channel => 'sms', template_id => $sms_tpl });
is($r->{status}, 200, 'patch to a template 200') or diag $r->{content};
is($r->{json}{template_id}, $sms_tpl, 'its template_id');
ok($r->{json}{never_repeat_template}, 'never-repeat follows the template');
is(proto($c1->{id})->{body}, 'Hi {{name}}, {{offer}} today', 'the template proto');
$r = req(PATCH => "/api/campaigns/$c1->{id}", json => { channel => 'sms', content => { message => 'New {{name}}' },
                                                        never_repeat_template => JSON::PP::false() });
ok(!$r->{json}{never_repeat_template} && !defined $r->{json}{template_id}, 'back to content');
is_error(req(PATCH => "/api/campaigns/$c1->{id}", json => { content => { message => 'x' } }), 422,
    'invalid_request', 'content without channel');
is_error(req(PATCH => "/api/campaigns/$c1->{id}", key => $read, json => { name => 'x' }), 403, 'forbidden',
    'patch with a read key');
is_error(req(PATCH => '/api/campaigns/999999', json => { name => 'x' }), 404, 'not_found', 'patch unknown id');

# ------------------------------------------------------------ transitions
sub move { req(POST => "/api/campaigns/$_[0]/$_[1]", $_[2] ? (json => $_[2]) : ()) }
sub refused {
    my ($r, $status, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is_error($r, 409, 'invalid_transition', $name);
    is($r->{json}{error}{status}, $status, "$name: error.status");
    like($r->{json}{error}{message} // '', qr/is \Q$status\E/, "$name: the message names the status");
}

my $m = $c1->{id};
refused(move($m, 'pause'), 'draft', 'pause a draft');
refused(move($m, 'resume'), 'draft', 'resume a draft');
is_error(req(POST => "/api/campaigns/$m/start", key => undef), 401, 'unauthorized', 'start without a credential');
is_error(req(POST => "/api/campaigns/$m/start", key => $read), 403, 'forbidden', 'start with a read key');
is_error(move(999999, $_), 404, 'not_found', "$_ an unknown id") for qw(start pause resume cancel);
is_error(move(999999, 'schedule', { schedule_at => '2031-01-01T00:00:00Z' }), 404, 'not_found',
    'schedule an unknown id');
is_error(req(POST => '/api/campaigns/999999/retry-failed'), 404, 'not_found', 'retry an unknown id');
$r = move($m, 'schedule', { schedule_at => '2031-05-06T07:08:09Z' });
is($r->{status}, 200, 'schedule a draft') or diag $r->{content};
is($r->{json}{status}, 'scheduled', 'scheduled');
is($r->{json}{schedule_at}, '2031-05-06T07:08:09.000Z', 'schedule_at set');
is_error(move($m, 'schedule', {}), 422, 'invalid_request', 'schedule without schedule_at');
$r = move($m, 'start');
is($r->{status}, 200, 'start') or diag $r->{content};
is($r->{json}{status}, 'running', 'running');
like($r->{json}{started_at} // '', qr/^\d{4}-/, 'started_at');
refused(move($m, 'start'), 'running', 'start a running campaign');
refused(move($m, 'resume'), 'running', 'resume a running campaign');
refused(move($m, 'schedule', { schedule_at => '2031-01-01T00:00:00Z' }), 'running', 'schedule a running campaign');
refused(req(PATCH => "/api/campaigns/$m", json => { name => 'x' }), 'running', 'patch a running campaign');
refused(req(DELETE => "/api/campaigns/$m"), 'running', 'delete a running campaign');
is(move($m, 'pause')->{json}{status}, 'paused', 'pause');
refused(move($m, 'pause'), 'paused', 'pause a paused campaign');
refused(move($m, 'start'), 'paused', 'start a paused campaign (resume it)');
refused(move($m, 'schedule', { schedule_at => '2031-01-01T00:00:00Z' }), 'paused', 'schedule a paused campaign');
is(req(PATCH => "/api/campaigns/$m", json => { name => 'paused edit' })->{status}, 200, 'a paused campaign can be patched');
is(move($m, 'resume')->{json}{status}, 'running', 'resume');

# cancel: the status moves at once; what it leaves (pending recipients,
# their never-repeat rows) is the dispatcher's sweep, off in this test
# (t/28 proves the sweep)
my @contacts = map { contact(name => "c$_", phone => sprintf('+1415555%04d', $_)) } 1 .. 8;
my ($pend_id, $pend_mid) = recipient(campaign => $m, contact => $contacts[0], state => 'pending');
my ($q_id, $q_mid) = recipient(campaign => $m, contact => $contacts[1], status => 'delivered', rank => 50);
$t->dbh->do('INSERT INTO template_sends VALUES (?,?,?,?,UTC_TIMESTAMP(3))', undef, $sms_tpl, $contacts[0], $m, $pend_mid);
$t->dbh->do('INSERT INTO template_sends VALUES (?,?,?,?,UTC_TIMESTAMP(3))', undef, $sms_tpl, $contacts[1], $m, $q_mid);
$r = move($m, 'cancel');
is($r->{json}{status}, 'cancelled', 'cancel a running campaign') or diag $r->{content};
is($t->mysql_value('SELECT state FROM campaign_recipients WHERE id=?', $pend_id), 'pending',
    'the cancel itself touches no recipient row (the dispatcher sweeps)');
refused(move($m, 'cancel'), 'cancelled', 'cancel a cancelled campaign');
refused(move($m, 'resume'), 'cancelled', 'resume a cancelled campaign');
refused(req(POST => "/api/campaigns/$m/retry-failed"), 'cancelled', 'retry a cancelled campaign');
refused(req(POST => "/api/campaigns/$c2->{id}/retry-failed"), 'draft', 'retry a draft');

# ------------------------------------------------------------ stats
my $s = $ab->{id};
$t->dbh->do(q{UPDATE campaigns SET status='running', fanout_done=0, audience_limit=NULL WHERE id=?}, undef, $s);
recipient(campaign => $s, contact => $contacts[0], variant => 0, state => 'pending');
recipient(campaign => $s, contact => $contacts[1], variant => 0, status => 'queued', rank => 10);
recipient(campaign => $s, contact => $contacts[2], variant => 0, status => 'sent', rank => 40, price => '-0.0075');
recipient(campaign => $s, contact => $contacts[3], variant => 0, status => 'delivered', rank => 50, price => '-0.0075');
recipient(campaign => $s, contact => $contacts[4], variant => 1, status => 'failed', rank => 100, error => '30003');
recipient(campaign => $s, contact => $contacts[5], variant => 1, status => 'undelivered', rank => 100, error => '21610');
recipient(campaign => $s, contact => $contacts[6], variant => 1, state => 'skipped', skip => 'opted_out');
recipient(campaign => $s, contact => $contacts[7], variant => 1, state => 'skipped', skip => 'no_address');
recipient(campaign => $s, contact => contact(name => 'q'), variant => 0, state => 'queued');   # no message row yet
$r = req(GET => "/api/campaigns/$s", key => $read);
my $st = $r->{json}{stats} || {};
is($st->{audience}, 9, 'audience: every recipient row');
is($st->{eligible}, 7, 'eligible: rows not skipped');
is($st->{pending}, 1, 'pending');
is($st->{queued}, 2, 'queued: queued messages and queued rows without a message yet');
is($st->{sent}, 1, 'sent');
is($st->{delivered}, 1, 'delivered');
is($st->{failed}, 1, 'failed');
is($st->{undelivered}, 1, 'undelivered');
is($st->{read}, 0, 'read');
is_deeply($st->{skipped}, { opted_out => 1, no_address => 1 }, 'skipped by reason');
is_deeply($st->{cost}, [{ amount => '-0.01500', unit => 'USD' }], 'cost summed per unit');
# finished: 2 skipped + sent, delivered, failed, undelivered = 6 of 9
ok(abs($st->{progress} - 6 / 9) < 0.001, 'progress before the fan-out is done') or diag $st->{progress};
is_deeply([map { [$_->{name}, $_->{weight}, $_->{audience}, $_->{eligible}, $_->{delivered}, $_->{failed}] }
           @{ $st->{variants} || [] }],
          [['A', 3, 5, 5, 1, 0], ['B', 1, 4, 2, 0, 1]], 'per-variant counters');
is_deeply($st->{variants}[1]{skipped}, { opted_out => 1, no_address => 1 }, 'per-variant skips');
$t->dbh->do('UPDATE campaigns SET fanout_done=1 WHERE id=?', undef, $s);
$st = req(GET => "/api/campaigns/$s", key => $read)->{json}{stats};
ok(abs($st->{progress} - 6 / 9) < 0.001, 'progress once the fan-out is done');
$t->dbh->do('UPDATE campaigns SET fanout_done=0, audience_limit=10 WHERE id=?', undef, $s);
$st = req(GET => "/api/campaigns/$s", key => $read)->{json}{stats};
ok(abs($st->{progress} - 6 / 12) < 0.001, 'progress against the limit plus the skipped') or diag $st->{progress};
# stats that were expensive to count are shared through Redis for a while
# (a million recipients take a second): a fresh shared copy is what a read
# answers, and cheap stats (these) are never stored
is($t->redis("EXISTS", "bc:campstats:{$s}"), 0, 'cheap stats are not stored');
$t->redis('SET', "bc:campstats:{$s}", '{"audience":424242}', 'PX', 5000);
is(req(GET => "/api/campaigns/$s", key => $read)->{json}{stats}{audience}, 424242,
   'a shared copy is answered while fresh');
$t->redis('DEL', "bc:campstats:{$s}");
is(req(GET => "/api/campaigns/$s", key => $read)->{json}{stats}{audience}, 9, 'counted again once gone');

# ------------------------------------------------------------ recipients
$r = req(GET => "/api/campaigns/$s/recipients?limit=4", key => $read);
is($r->{status}, 200, 'recipients 200') or diag $r->{content};
is(scalar @{ $r->{json}{recipients} }, 4, 'a page of 4');
ok($r->{json}{next_cursor}, 'next_cursor');
my $first = $r->{json}{recipients}[0];
is($first->{variant}, 'A', 'variant by name');
is($first->{state}, 'pending', 'state');
is($first->{status}, undef, 'no message status for a pending row');
my @all = @{ $r->{json}{recipients} };
while (my $next = $r->{json}{next_cursor}) {
    $r = req(GET => "/api/campaigns/$s/recipients?limit=4&cursor=$next", key => $read);
    push @all, @{ $r->{json}{recipients} };
}
is(scalar @all, 9, 'paging reaches every recipient');
$r = req(GET => "/api/campaigns/$s/recipients?status=failed", key => $read);
is_deeply([map { [$_->{status}, $_->{error_code}] } @{ $r->{json}{recipients} }], [['failed', '30003']],
    'filter by message status');
$r = req(GET => "/api/campaigns/$s/recipients?status=skipped&variant=B", key => $read);
is_deeply([sort map { $_->{skip_reason} } @{ $r->{json}{recipients} }], ['no_address', 'opted_out'],
    'filter by state and variant');
is_error(req(GET => "/api/campaigns/$s/recipients?status=lost", key => $read), 400, 'invalid_request',
    'unknown status filter');
is_error(req(GET => '/api/campaigns/999999/recipients', key => $read), 404, 'not_found', 'recipients of an unknown id');
is_error(req(GET => "/api/campaigns/$s/recipients", key => undef), 401, 'unauthorized', 'recipients without a credential');

# ------------------------------------------------------------ retry-failed
my ($crash_id) = recipient(campaign => $s, contact => contact(name => 'z'), variant => 1,
                           status => 'failed', rank => 100, error => 'unknown_after_crash');
my ($ok_id, $ok_mid) = recipient(campaign => $s, contact => contact(name => 'y'), variant => 1,
                                 status => 'failed', rank => 100);
$t->dbh->do('INSERT INTO template_sends VALUES (?,?,?,?,UTC_TIMESTAMP(3))', undef, $sms_tpl,
    $t->mysql_value('SELECT contact_id FROM campaign_recipients WHERE id=?', $ok_id), $s, $ok_mid);
$t->dbh->do(q{UPDATE campaigns SET status='completed', completed_at=UTC_TIMESTAMP(3) WHERE id=?}, undef, $s);
is_error(req(POST => "/api/campaigns/$s/retry-failed", key => $read), 403, 'forbidden', 'retry with a read key');
$r = req(POST => "/api/campaigns/$s/retry-failed");
is($r->{status}, 200, 'retry-failed 200') or diag $r->{content};
is($r->{json}{requeued}, 2, 'the 30003 failure and the one without a code are retried');
my $rows = $t->mysql('SELECT r.id, r.state, r.attempts, r.message_id, m.error_code FROM campaign_recipients r '
                   . 'LEFT JOIN messages m ON m.id=r.message_id WHERE r.campaign_id=? ORDER BY r.id', $s);
my @pending = grep { $_->{state} eq 'pending' && $_->{attempts} == 1 } @$rows;
is(scalar @pending, 2, 'two rows pending again with attempts 1');
ok(!grep({ defined $_->{error_code} } @pending), 'with new message ids (no message row yet)');
my ($retried) = grep { $_->{id} == $ok_id } @$rows;
isnt($retried->{message_id}, $ok_mid, 'a new message id');
is($t->mysql_value('SELECT message_id FROM template_sends WHERE campaign_id=? AND message_id=?', $s,
                   $retried->{message_id}), $retried->{message_id}, 'its template_sends row follows');
my ($crash) = grep { $_->{id} == $crash_id } @$rows;
is($crash->{state}, 'queued', 'unknown_after_crash is not retried');
is($t->mysql_value('SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id=? AND state=? AND attempts=0 '
                   . 'AND message_id IN (SELECT id FROM messages WHERE error_code=?)', $s, 'queued', '21610'),
   1, 'an opt-out (21610) is not retried');
is($t->mysql_value('SELECT status FROM campaigns WHERE id=?', $s), 'running', 'completed went back to running');
is(req(POST => "/api/campaigns/$s/retry-failed")->{json}{requeued}, 0, 'a second retry finds nothing');

# ------------------------------------------------------------ check-duplicates, history
my $had = contact(name => 'had', phone => '+14155559001', email => 'Had@Example.com');
my $fresh = contact(name => 'fresh', phone => '+14155559002');
$t->dbh->do('INSERT INTO template_sends VALUES (?,?,?,?,UTC_TIMESTAMP(3))', undef, $mail_tpl, $had, $s, 'M' x 26);
$r = req(POST => '/api/campaigns/check-duplicates', key => $read, json => {
    template_id => 0 + $mail_tpl, addresses => ['(415) 555-9001', 'nobody@example.com', '+14155559002'],
    contact_ids => [0 + $had, 0 + $fresh] });
is($r->{status}, 200, 'check-duplicates 200') or diag $r->{content};
is_deeply([map { [$_->{address} // $_->{contact_id}, $_->{contact_id}, $_->{campaign_id}] } @{ $r->{json}{already_sent} }],
          [['(415) 555-9001', $had, $s], [$had, $had, $s]], 'already_sent: by a national number and by id');
is_deeply([map { [$_->{address} // $_->{contact_id}, $_->{contact_id}] } @{ $r->{json}{not_sent} }],
          [['nobody@example.com', undef], ['+14155559002', $fresh], [$fresh, $fresh]], 'not_sent');
$r = req(POST => '/api/campaigns/check-duplicates', key => $read,
         json => { template_name => 'news', addresses => ['HAD@example.com'] });
is(scalar @{ $r->{json}{already_sent} || [] }, 1, 'by template name, e-mail normalised') or diag $r->{content};
is_error(req(POST => '/api/campaigns/check-duplicates', key => $read,
             json => { template_name => 'nope', addresses => ['+14155559001'] }), 422, 'unknown_template',
    'unknown template name');
template({ channel => 'sms', name => 'news', body => 'sms news' });
is_error(req(POST => '/api/campaigns/check-duplicates', key => $read,
             json => { template_name => 'news', addresses => ['+14155559001'] }), 422, 'invalid_request',
    'a template name of two channels');
$r = req(POST => '/api/campaigns/check-duplicates', key => $read,
         json => { template_name => 'news', channel => 'email', addresses => ['had@example.com'] });
is(scalar @{ $r->{json}{already_sent} || [] }, 1, 'the name and channel pick one') or diag $r->{content};
is_error(req(POST => '/api/campaigns/check-duplicates', key => $read, json => { template_id => 0 + $mail_tpl }), 422,
    'invalid_request', 'nothing to check');
is_error(req(POST => '/api/campaigns/check-duplicates', key => $read,
             json => { template_id => 0 + $mail_tpl, addresses => ["not an address"] }), 422, 'invalid_request',
    'an address of no form');
is_error(req(POST => '/api/campaigns/check-duplicates', key => undef, json => { template_id => 1 }), 401,
    'unauthorized', 'check-duplicates without a credential');

$r = req(GET => "/api/templates/$sms_tpl/history?limit=1", key => $read);
is($r->{status}, 200, 'history 200') or diag $r->{content};
is(scalar @{ $r->{json}{history} }, 1, 'a page of one');
my @hist = @{ $r->{json}{history} };
while (my $next = $r->{json}{next_cursor}) {
    $r = req(GET => "/api/templates/$sms_tpl/history?limit=1&cursor=$next", key => $read);
    push @hist, @{ $r->{json}{history} };
}
my $expect = $t->mysql_value('SELECT COUNT(*) FROM template_sends WHERE template_id=?', $sms_tpl);
is(scalar @hist, $expect, 'paging reaches every row');
my ($h) = grep { $_->{contact_id} == $contacts[1] } @hist;
is($h->{campaign_id}, $m, 'campaign_id');
is($h->{campaign_name}, 'paused edit', 'campaign_name');
is($h->{status}, 'delivered', 'the message status');
is($h->{address}, '+14155550100', 'the recipient address');
is_error(req(GET => '/api/templates/999999/history', key => $read), 404, 'not_found', 'history of an unknown template');

# ------------------------------------------------------------ DELETE
$r = req(DELETE => "/api/campaigns/$later");
is($r->{status}, 200, 'delete 200') or diag $r->{content};
is_deeply($r->{json}, { deleted => JSON::PP::true(), id => $later }, 'deleted answer');
is_error(req(GET => "/api/campaigns/$later", key => $read), 404, 'not_found', 'gone');
is_error(req(DELETE => "/api/campaigns/$later"), 404, 'not_found', 'delete twice');
is_error(req(DELETE => "/api/campaigns/$c2->{id}", key => $read), 403, 'forbidden', 'delete with a read key');
is($t->mysql_value('SELECT COUNT(*) FROM campaign_variants WHERE campaign_id=?', $later), 0,
    'its variants went with it');

$t->done;
