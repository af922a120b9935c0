#!/usr/bin/perl
# Inbound keywords and keyword auto-replies: the /api/keyword-rules API
# (GET/POST, GET/PATCH/DELETE {id}, PCRE2 regexes checked when written),
# and end to end through the simulator: an inbound STOP (or 退订) opts the
# sender out of that channel, START opts back in, HELP and a matching rule
# are answered once per window from the number written to, and nobody
# opted out or blacklisted gets an automatic reply.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Encode qw(encode_utf8);
use BC::Test qw(:all);

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $t = BC::Test->new;
my $manage = $t->create_key('manage');
my $read = $t->create_key('read');
my $send = $t->create_key('send');
my $SMS_FROM = $t->sms_from;
my $WA_FROM = $t->whatsapp_from;

sub req { my ($m, $path, %o) = @_; $o{key} = $manage unless exists $o{key}; $t->http($m => $path, %o) }
sub sim_to {
    my ($to, $body) = @_;
    return scalar grep { ($_->{to} // '') eq $to && (!defined $body || ($_->{body} // '') eq $body) }
        @{ $t->sim_messages };
}
# an inbound message through the simulator (signed as the provider signs),
# waited for until it is stored
sub inbound {
    my ($channel, $from, $body) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $in = $t->sim_inbound(channel => $channel, from => $from, body => $body,
                             to => $channel eq 'sms' ? $SMS_FROM : $WA_FROM);
    ok(wait_until(sub { $t->inbound_count($in->{sid}) >= 1 }, 30, 0.1), "$channel '$body' from $from stored")
        or diag $t->error_log;
}
# every reply queued so far is in MySQL: the recorder applies the events in
# order and queues a turn's replies before its next turn (barrier), and the
# sender deletes bc:{q}:msg:<id> once the message's row exists
sub settled {
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $t->barrier;
    ok(wait_until(sub { ($t->redis_raw('KEYS', 'bc:{q}:msg:*') // '') eq '' }, 30, 0.1), 'queued replies recorded');
}
sub outbound_to {
    my ($to) = @_;
    return $t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE direction='outbound' AND to_address=?}, $to);
}
sub opt_outs { my ($addr) = @_; $t->mysql(q{SELECT channel, source FROM opt_outs WHERE address=? ORDER BY channel}, $addr) }

# ------------------------------------------------- the schema (sql/009)
is($t->mysql_value("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema=DATABASE() "
    . "AND table_name='keyword_rules'"), 1, 'keyword_rules table');

# ------------------------------------------------- the API: auth
is_error(req(GET => '/api/keyword-rules', key => undef), 401, 'unauthorized', 'list without a credential');
is_error(req(POST => '/api/keyword-rules', key => undef, json => { keyword => 'x', response_text => 'y' }),
    401, 'unauthorized', 'POST without a credential');
is_error(req(POST => '/api/keyword-rules', key => $read, json => { keyword => 'x', response_text => 'y' }),
    403, 'forbidden', 'POST with a read key');
is_error(req(PATCH => '/api/keyword-rules/1', key => $send, json => { enabled => JSON::PP::false() }),
    403, 'forbidden', 'PATCH with a send key');
is_error(req(DELETE => '/api/keyword-rules/1', key => $read), 403, 'forbidden', 'DELETE with a read key');

# ------------------------------------------------- POST
my $r = req(POST => '/api/keyword-rules', json => { keyword => 'price', match_type => 'contains',
    channel => 'sms', response_text => 'Prices: example.com/prices' });
is($r->{status}, 201, 'POST contains rule 201') or diag $r->{content};
my $price = $r->{json} || {};
ok($price->{id} && $price->{id} =~ /^\d+$/, 'id');
is($price->{keyword}, 'price', 'keyword');
is($price->{match_type}, 'contains', 'match_type');
is($price->{channel}, 'sms', 'channel');
is($price->{response_text}, 'Prices: example.com/prices', 'response_text');
ok($price->{enabled} && JSON::PP::is_bool($price->{enabled}), 'enabled true by default');
like($price->{created_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'created_at ISO 8601');

$r = req(POST => '/api/keyword-rules', json => { keyword => '^order\s+\d+$', match_type => 'regex',
    channel => 'whatsapp', response_text => 'Your order is on its way' });
is($r->{status}, 201, 'POST regex rule 201') or diag $r->{content};
my $order = $r->{json} || {};

$r = req(POST => '/api/keyword-rules', json => { keyword => 'hours', response_text => 'We open 9-17' });
is($r->{status}, 201, 'POST exact rule (defaults) 201');
my $hours = $r->{json} || {};
is($hours->{match_type}, 'exact', 'match_type defaults to exact');
ok(exists $hours->{channel} && !defined $hours->{channel}, 'channel null: every channel');

is_error(req(POST => '/api/keyword-rules', json => { keyword => 'HOURS', response_text => 'again' }),
    409, 'rule_exists', 'same keyword (other case), type and channel');
$r = req(POST => '/api/keyword-rules', json => { keyword => 'hours', channel => 'sms', response_text => 'sms only' });
is($r->{status}, 201, 'the same keyword for one channel is another rule');
my $hours_sms = $r->{json} || {};

is_error(req(POST => '/api/keyword-rules', json => { keyword => '(unclosed', match_type => 'regex',
    response_text => 'x' }), 422, 'invalid_regex', 'regex that does not compile');
like(req(POST => '/api/keyword-rules', json => { keyword => 'a[', match_type => 'regex', response_text => 'x' })
    ->{json}{error}{message} // '', qr/offset \d+/, 'invalid_regex says where');
is_error(req(POST => '/api/keyword-rules', json => { keyword => 'x', match_type => 'fuzzy', response_text => 'x' }),
    422, 'invalid_match_type', 'unknown match_type');
is_error(req(POST => '/api/keyword-rules', json => { keyword => 'x', channel => 'email', response_text => 'x' }),
    422, 'invalid_channel', 'email is not a keyword channel');
is_error(req(POST => '/api/keyword-rules', json => { keyword => 'x' }), 422, 'invalid_request', 'no response_text');
is_error(req(POST => '/api/keyword-rules', json => { keyword => '', response_text => 'x' }), 422, 'invalid_request',
    'empty keyword');
is_error(req(POST => '/api/keyword-rules', json => { keyword => 'x', response_text => 'y', enabled => 'yes' }),
    400, 'invalid_request', 'enabled not a boolean');
is_error(req(POST => '/api/keyword-rules', json => { keyword => 'k' x 256, response_text => 'x' }),
    422, 'field_too_long', 'keyword of 256 characters');
is(req(POST => '/api/keyword-rules', json => { keyword => '字' x 255, response_text => 'x' })->{status}, 201,
   'keyword of 255 (3-byte) characters');
is_error(req(POST => '/api/keyword-rules', json => { keyword => 'long', response_text => 'r' x 1601 }),
    422, 'field_too_long', 'response_text of 1,601 characters');
is_error(req(POST => '/api/keyword-rules', body => '{"keyword":'), 400, 'invalid_json', 'truncated JSON');
is_error(req(POST => '/api/keyword-rules', body => qq({"keyword":"\xff\xfe","response_text":"x"})),
    400, 'invalid_json', 'invalid UTF-8');

# hostile values are stored and returned as they are
my $sqlish = q{x'); DROP TABLE keyword_rules; -- \\};
$r = req(POST => '/api/keyword-rules', json => { keyword => $sqlish,
    response_text => '<script>alert(1)</script>', enabled => JSON::PP::false() });
is($r->{status}, 201, 'SQL metacharacters and <script> 201') or diag $r->{content};
my $hostile = $r->{json} || {};
$r = req(GET => "/api/keyword-rules/$hostile->{id}", key => $read);
is($r->{json}{keyword}, $sqlish, 'SQL metacharacters round-trip');
is($r->{json}{response_text}, '<script>alert(1)</script>', '<script> round-trips verbatim (JSON)');
ok(!$r->{json}{enabled}, 'enabled false');
is($t->mysql_value("SELECT COUNT(*) FROM keyword_rules"), 6, 'the table is still there');

# ------------------------------------------------- GET, paging
$r = req(GET => '/api/keyword-rules?limit=2', key => $read);
is($r->{status}, 200, 'list 200');
is(scalar @{ $r->{json}{keyword_rules} || [] }, 2, 'limit 2');
ok($r->{json}{next_cursor}, 'next_cursor');
my @all = @{ $r->{json}{keyword_rules} };
while (my $c = $r->{json}{next_cursor}) {
    $r = req(GET => "/api/keyword-rules?limit=2&cursor=$c", key => $read);
    push @all, @{ $r->{json}{keyword_rules} || [] };
}
is(scalar @all, 6, 'paging walks every rule once');
is_deeply([ map { $_->{id} } @all ], [ sort { $a <=> $b } map { $_->{id} } @all ], 'ordered by id');
is_error(req(GET => '/api/keyword-rules?limit=0', key => $read), 400, 'invalid_request', 'limit 0');
is_error(req(GET => '/api/keyword-rules?cursor=abc', key => $read), 400, 'invalid_request', 'bad cursor');

# ------------------------------------------------- 404s, PATCH, DELETE
is_error(req(GET => '/api/keyword-rules/999999', key => $read), 404, 'not_found', 'GET unknown id');
is_error(req(GET => '/api/keyword-rules/abc', key => $read), 404, 'not_found', 'GET id not a number');
is_error(req(PATCH => '/api/keyword-rules/999999', json => { enabled => JSON::PP::true() }), 404, 'not_found',
    'PATCH unknown id');
is_error(req(DELETE => '/api/keyword-rules/999999'), 404, 'not_found', 'DELETE unknown id');
is_error(req(PATCH => "/api/keyword-rules/$hours->{id}", json => {}), 400, 'invalid_request', 'PATCH nothing');
is_error(req(PATCH => "/api/keyword-rules/$hours->{id}", json => { match_type => 'regex', keyword => '*x' }),
    422, 'invalid_regex', 'PATCH to an invalid regex');
is_error(req(PATCH => "/api/keyword-rules/$order->{id}", json => { keyword => '(' }), 422, 'invalid_regex',
    'PATCH of a regex rule\'s keyword is checked against its stored type');
is_error(req(PATCH => "/api/keyword-rules/$hours_sms->{id}", json => { channel => undef }), 409, 'rule_exists',
    'PATCH onto another rule');
$r = req(PATCH => "/api/keyword-rules/$hours->{id}", json => { response_text => 'Open 9-18', enabled => JSON::PP::false() });
is($r->{status}, 200, 'PATCH 200') or diag $r->{content};
is($r->{json}{response_text}, 'Open 9-18', 'PATCH changed response_text');
is($r->{json}{keyword}, 'hours', 'PATCH kept keyword');
ok(!$r->{json}{enabled}, 'PATCH disabled it');
$r = req(DELETE => "/api/keyword-rules/$hostile->{id}");
is($r->{status}, 200, 'DELETE 200');
is($r->{json}{deleted}, JSON::PP::true(), 'deleted true');
is_error(req(GET => "/api/keyword-rules/$hostile->{id}", key => $read), 404, 'not_found', 'gone after DELETE');
is_error(req(DELETE => "/api/keyword-rules/$hostile->{id}"), 404, 'not_found', 'DELETE twice');

# ------------------------------------------------- STOP / START, end to end
my $A = '+14155550701';
inbound('sms', $A, '  stop ');
ok(wait_until(sub { @{ opt_outs($A) } == 1 }, 30, 0.1), 'inbound STOP: an opt-out');
is_deeply(opt_outs($A), [ { channel => 'sms', source => 'sms_inbound' } ], 'for SMS only, source sms_inbound');
$r = $t->send_sms(key => $send, to => $A, message => 'after stop');
is($r->{status}, 202, 'send to the opted-out number accepted');
my $id = $r->{json}{messages}[0]{id};
my $st = $t->wait_status([$id], qr/^(blocked|delivered|failed|undelivered)$/, 60, $send);
is(($st->{$id} || {})->{status}, 'blocked', 'after STOP: blocked');
is(sim_to($A), 0, 'after STOP: nothing reached the provider');

# a Twilio STOP (every channel) is lifted by the SMS START too
$t->dbh->do(q{INSERT INTO opt_outs (address,channel,reason,source,created_at) VALUES (?,'',NULL,'twilio_inbound',UTC_TIMESTAMP(3))}, undef, $A);
inbound('sms', $A, 'Start');
ok(wait_until(sub { @{ opt_outs($A) } == 0 }, 30, 0.1), 'inbound START: SMS and every-channel opt-outs gone');
$r = $t->send_sms(key => $send, to => $A, message => 'after start');
$id = $r->{json}{messages}[0]{id};
$st = $t->wait_status([$id], qr/^(blocked|delivered|failed|undelivered)$/, 60, $send);
is(($st->{$id} || {})->{status}, 'delivered', 'after START: delivered');
is(sim_to($A, 'after start'), 1, 'after START: reached the provider');

my $Z = '+14155550702';
inbound('sms', $Z, '退订');
ok(wait_until(sub { @{ opt_outs($Z) } == 1 }, 30, 0.1), '退订 opts out');
my $WZ = '+14155550703';
inbound('whatsapp', $WZ, 'UNSUBSCRIBE');
ok(wait_until(sub { @{ opt_outs($WZ) } == 1 }, 30, 0.1), 'WhatsApp UNSUBSCRIBE opts out');
is_deeply(opt_outs($WZ), [ { channel => 'whatsapp', source => 'whatsapp_inbound' } ], 'of WhatsApp only');
my $Y = '+14155550704';
inbound('sms', $Y, 'STOP please');
settled();
is(scalar @{ opt_outs($Y) }, 0, 'a keyword inside a sentence is no opt-out keyword (whole message only)');

# ------------------------------------------------- HELP, once per window
my $H = '+14155550711';
inbound('sms', $H, 'HELP');
ok(wait_until(sub { sim_to($H) >= 1 }, 30, 0.1), 'HELP answered');
my ($help) = grep { ($_->{to} // '') eq $H } @{ $t->sim_messages };
like($help->{body} // '', qr/STOP/, 'the help text');
is($help->{from}, $SMS_FROM, 'from the number written to');
inbound('sms', $H, 'help');
settled();
is(outbound_to($H), 1, 'a second HELP within the window: no second reply');
is(sim_to($H), 1, 'the provider got one reply');

# ------------------------------------------------- rules
my $P = '+14155550721';
inbound('sms', $P, 'What is the PRICE of it?');
ok(wait_until(sub { sim_to($P, 'Prices: example.com/prices') >= 1 }, 30, 0.1), 'contains rule answered')
    or diag explain $t->sim_messages;
inbound('sms', $P, 'what is the price of it?');
settled();
is(outbound_to($P), 1, 'the same rule within the window: one reply');

my $D = '+14155550722';
inbound('whatsapp', $D, 'Order 12345');
ok(wait_until(sub { sim_to("whatsapp:$D", 'Your order is on its way') >= 1 }, 30, 0.1),
   'regex rule answered on WhatsApp') or diag explain $t->sim_messages;
my ($wa) = grep { ($_->{to} // '') eq "whatsapp:$D" } @{ $t->sim_messages };
is($wa->{from}, $WA_FROM, 'from our WhatsApp number');
inbound('sms', $D, 'Order 12345');
settled();
is(outbound_to($D), 0, 'a WhatsApp rule does not answer SMS');

my $E = '+14155550723';
inbound('whatsapp', $E, 'hours');
settled();
is(outbound_to("whatsapp:$E"), 0, 'a disabled rule does not answer');
inbound('sms', $E, 'hours');
ok(wait_until(sub { sim_to($E, 'sms only') >= 1 }, 30, 0.1), 'the SMS rule of the same keyword answers SMS');
is(req(PATCH => "/api/keyword-rules/$hours->{id}", json => { enabled => JSON::PP::true() })->{status}, 200,
   'enable it again');
inbound('whatsapp', $E, 'HOURS');
ok(wait_until(sub { sim_to("whatsapp:$E", 'Open 9-18') >= 1 }, 30, 0.1), 'enabled: answered (any channel)');

# Meta: the reply goes to the digits, from our phone-number-id
my $M = '+14155550724';
(my $mdigits = $M) =~ s/\D//g;
my $min = $t->sim_inbound(channel => 'meta', from => $M, body => 'Hours');
ok(wait_until(sub { $t->inbound_count($min->{id}) >= 1 }, 30, 0.1), 'Meta inbound stored');
ok(wait_until(sub { sim_to($mdigits, 'Open 9-18') >= 1 }, 30, 0.1), 'Meta inbound answered through the Graph API')
    or diag explain $t->sim_messages;
is($t->mysql_value(q{SELECT from_address FROM messages WHERE direction='outbound' AND to_address=?}, $M),
   $t->meta_from, 'from meta:<phone-number-id>');

# ------------------------------------------------- never to the blocked
my $B = '+14155550731';
is(req(POST => '/api/blacklist', json => { address => $B })->{status}, 201, 'blacklist B');
inbound('sms', $B, 'HELP');
inbound('sms', $B, 'price?');
settled();
is(outbound_to($B), 0, 'a blacklisted address gets no reply (help or rule)');
is(sim_to($B), 0, 'nothing reached the provider');

my $S = '+14155550732';
is(req(POST => '/api/keyword-rules', json => { keyword => 'stop', match_type => 'contains',
    response_text => 'pump' })->{status}, 201, 'a rule that would match STOP');
inbound('sms', $S, 'STOP');
settled();
is(outbound_to($S), 0, 'an opt-out message gets no rule reply');
inbound('sms', $S, 'price now');
settled();
is(outbound_to($S), 0, 'an opted-out address gets no rule reply');

$t->done;
