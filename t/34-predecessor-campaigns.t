#!/usr/bin/perl
# The predecessor console's campaign routes (SMS, e-mail with its flow,
# "smart marketing" with steps, executions and customer progress) on our
# campaigns: each answers in the predecessor's shape; scopes, 404s, 409s
# of illegal moves in its status words, 422 not_supported for what our
# engine does not do; an SMS campaign created through /api/sms/campaigns is
# run by the dispatcher and reaches each recipient exactly once.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my $manage = $t->create_key('manage');
my $send = $t->create_key('send');
my $read = $t->create_key('read');

sub phone { sprintf '+1415557%04d', $_[0] }
sub req { my ($m, $p, %o) = @_; $t->http($m => $p, %o) }
sub ok_json {
    my ($r, $status, $what) = @_;
    is($r->{status}, $status, $what) or diag $r->{content};
    return $r->{json} || {};
}
sub sms_post { req(POST => "/api/sms/campaigns$_[0]", key => $send, json => $_[1] // {}) }
sub sms_get  { req(GET => "/api/sms/campaigns$_[0]", key => $read) }
sub status_of_campaign { (sms_get("/$_[0]")->{json} || {})->{status} // '' }
sub received { my %n; $n{ $_->{to} // '' }++ for @{ $t->sim_messages }; \%n }

# ------------------------------------------------------------ the audience
my @cids = map {
    ok_json($t->post('/api/contacts', key => $manage, json => { name => "Ann$_", phone => phone($_) }),
            201, "contact $_")->{id}
} 1 .. 3;
my $g = ok_json($t->post('/api/groups', key => $manage, json => { name => 'sms people' }), 201, 'group')->{id};
ok_json($t->post("/api/groups/$g/members", key => $manage, json => { contact_ids => \@cids }), 200, 'members');

# ------------------------------------------------------------ SMS: create and read
my $r = sms_post('', { name => 'Spring', message => 'Spring sale for {{phone}}',
                       group_ids => [$g], recipients => [phone(2), '+1 (415) 557-0010', phone(11)],
                       rate_per_minute => 600, batch_size => 50 });
my $c = ok_json($r, 201, 'POST /api/sms/campaigns');
my $id = $c->{id};
like($id // '', qr/^\d+$/, 'id');
is($c->{status}, 'draft', 'draft without schedule_at');
is($c->{message}, 'Spring sale for {{phone}}', 'message');
is_deeply($c->{group_ids}, [$g], 'group_ids');
is_deeply([sort @{ $c->{recipients} || [] }], [sort(phone(2), phone(10), phone(11))],
          'recipients normalised, the contacts they are');
is($c->{rate_per_minute}, 600, 'rate_per_minute (10 a second)');
is($c->{append_opt_out}, JSON::PP::false(), 'append_opt_out false: no footer configured');
ok(exists $c->{variant_a} && !defined $c->{variant_a}, 'variant_a null without A/B');
ok(!exists $c->{channel} && !exists $c->{audience}, 'no field of our shape leaks');
is($t->mysql_value('SELECT COUNT(*) FROM contacts WHERE phone IN (?,?)', phone(10), phone(11)), 2,
   'new recipients became contacts');
my $ours = $t->get("/api/campaigns/$id", key => $read)->{json} || {};
is($ours->{channel}, 'sms', 'the same row on /api/campaigns');

my $list = ok_json(sms_get(''), 200, 'GET /api/sms/campaigns');
ok((grep { $_->{id} == $id } @{ $list->{campaigns} || [] }), 'listed');
$list = ok_json(sms_get('?status=draft'), 200, 'status filter');
ok((grep { $_->{id} == $id } @{ $list->{campaigns} || [] }), 'listed as a draft');
is(scalar @{ ok_json(sms_get('?status=canceled'), 200, 'canceled (its spelling)')->{campaigns} || [1] }, 0,
   'none canceled');
is_error(sms_get('?status=bogus'), 400, 'invalid_request', 'unknown status');
is_error(sms_get('?offset=20'), 400, 'invalid_request', 'offset paging');
is_error(sms_get('?limit=abc'), 400, 'invalid_request', 'limit not a number');
is_error(sms_get('?cursor=1%26status%3Ddraft'), 400, 'invalid_request', 'a cursor smuggling an argument');
is(ok_json(sms_get("/$id"), 200, 'GET /api/sms/campaigns/{id}')->{name}, 'Spring', 'name');

$c = ok_json(req(PATCH => "/api/sms/campaigns/$id", key => $send, json => { name => 'Spring 2' }), 200, 'PATCH');
is($c->{name}, 'Spring 2', 'renamed');
is($c->{message}, 'Spring sale for {{phone}}', 'content kept by a PATCH without it');
is_error(req(PATCH => "/api/sms/campaigns/$id", key => $send, json => { status => 'running' }),
         422, 'invalid_request', 'a free-form status is refused');

# ------------------------------------------------------------ auth and 404
is_error(req(GET => '/api/sms/campaigns', key => undef), 401, 'unauthorized', 'list without a credential');
is_error(req(POST => '/api/sms/campaigns', key => $read, json => { name => 'x', message => 'y', group_ids => [$g] }),
         403, 'forbidden', 'create with a read key');
is_error(req(POST => "/api/sms/campaigns/$id/start", key => $read), 403, 'forbidden', 'start with a read key');
is_error(req(POST => '/api/marketing/campaigns', key => $send, json => {}), 403, 'forbidden',
         'marketing writes need manage');
is_error(sms_get('/999999'), 404, 'not_found', 'no such campaign');
is_error(sms_get('/abc'), 404, 'not_found', 'id not a number');
is_error(sms_post('/999999/start'), 404, 'not_found', 'start of no campaign');
is_error(req(GET => "/api/email/campaigns/$id", key => $read), 404, 'not_found',
         'an SMS campaign is no e-mail campaign');
is_error(req(GET => "/api/email/campaigns/$id/flow", key => $read), 404, 'not_found', 'nor its flow');

# ------------------------------------------------------------ SMS: delivered once each
is(ok_json(sms_post("/$id/start"), 200, 'start')->{status}, 'running', 'running');
$r = sms_post("/$id/start");
is_error($r, 409, 'invalid_transition', 'start twice');
ok(wait_until(sub { status_of_campaign($id) eq 'completed' }, 90, 0.1), 'the dispatcher completed it')
    or diag explain sms_get("/$id")->{json};
my $got = received();
is(scalar(grep { ($got->{ phone($_) } // 0) == 1 } 1, 2, 3, 10, 11), 5,
   'group members and recipients: exactly one message each (phone 2 is both)');
is(scalar(grep { /^\+14155570/ } keys %$got), 5, 'nobody else');
my ($one) = grep { ($_->{to} // '') eq phone(1) } @{ $t->sim_messages };
is($one->{body}, 'Spring sale for ' . phone(1), 'rendered from the contact');
$r = sms_post("/$id/pause");
is_error($r, 409, 'invalid_transition', 'pause a completed campaign');
is($r->{json}{error}{status}, 'completed', 'the 409 names its status');
ok(wait_until(sub { (sms_get("/$id/stats")->{json}{delivered} // 0) == 5 }, 60, 0.2),
   'stats: delivered reaches 5 with the callbacks');
my $st = ok_json(sms_get("/$id/stats"), 200, 'GET .../stats');
is($st->{campaign_id}, $id, 'stats.campaign_id');
is($st->{total}, 5, 'stats.total');
is($st->{status}, 'completed', 'stats.status');
is_error(req(DELETE => "/api/sms/campaigns/999999", key => $send), 404, 'not_found', 'delete of no campaign');

# ------------------------------------------------------------ SMS: A/B, schedule, cancel, delete
$c = ok_json(sms_post('', { name => 'AB', variant_a => 'Text A', variant_b => 'Text B', ab_split => 30,
                            recipients => [phone(20)] }), 201, 'A/B campaign');
is($c->{variant_a}, 'Text A', 'variant_a');
is($c->{variant_b}, 'Text B', 'variant_b');
is($c->{ab_split}, 30, 'ab_split');
ok(!defined $c->{message}, 'no message with A/B');
my $ab = $c->{id};
is(ok_json(sms_post("/$ab/schedule", { schedule_at => '2099-01-01T09:00:00' }), 200, 'schedule')->{status},
   'scheduled', 'scheduled (a zone-less time is UTC)');
is(sms_get("/$ab")->{json}{schedule_at}, '2099-01-01T09:00:00.000Z', 'schedule_at');
is_error(sms_post("/$ab/resume"), 409, 'invalid_transition', 'resume a scheduled campaign');
is(ok_json(sms_post("/$ab/cancel"), 200, 'cancel')->{status}, 'canceled', 'canceled (its spelling)');
$r = sms_post("/$ab/start");
is_error($r, 409, 'invalid_transition', 'start a canceled campaign');
is($r->{json}{error}{status}, 'canceled', 'named in its spelling');
is(ok_json(req(DELETE => "/api/sms/campaigns/$ab", key => $send), 200, 'DELETE')->{status}, 'deleted',
   'deleted');
is_error(sms_get("/$ab"), 404, 'not_found', 'gone');
is_error(sms_post('', { name => 'none', message => 'x' }), 422, 'audience_required', 'no audience');
is_error(sms_post('', { name => 'bad', message => 'x', recipients => ['not a phone'] }), 422,
         'invalid_request', 'a recipient that is no number');
is_error(sms_post('', { name => 'bad', message => 'x', recipients => [phone(1)], ab_split => 101 }), 422,
         'invalid_request', 'ab_split over 100');

# ------------------------------------------------------------ e-mail and its flow
my $em = ok_json(req(POST => '/api/email/campaigns', key => $send,
                     json => { name => 'Mail', recipients => ['One@Example.com', 'two@example.com'],
                               subject => 'News', text => 'Hello' }), 201, 'POST /api/email/campaigns');
is($em->{status}, 'draft', 'draft');
is($em->{subject}, 'News', 'subject');
is($em->{text}, 'Hello', 'text');
is_deeply([sort @{ $em->{recipients} || [] }], ['one@example.com', 'two@example.com'], 'recipients lower-cased');
is($em->{followup_enabled}, JSON::PP::false(), 'followup_enabled false');
$r = req(POST => '/api/email/campaigns', key => $send,
         json => { name => 'F', recipients => ['a@example.com'], subject => 's', text => 't', followup_enabled => JSON::PP::true() });
is_error($r, 422, 'not_supported', 'a follow-up');
like($r->{json}{error}{message}, qr/followup_enabled/, 'naming the field');
ok((grep { $_->{id} == $em->{id} } @{ req(GET => '/api/email/campaigns', key => $read)->{json}{campaigns} || [] }),
   'listed among e-mail campaigns');
ok(!(grep { $_->{id} == $id } @{ req(GET => '/api/email/campaigns', key => $read)->{json}{campaigns} || [] }),
   'the SMS campaign is not');
is(ok_json(req(POST => "/api/email/campaigns/$em->{id}/start", key => $send), 200, 'start the e-mail')->{status},
   'running', 'running');
ok(wait_until(sub { (req(GET => "/api/email/campaigns/$em->{id}", key => $read)->{json}{status} // '') eq 'completed' },
              60, 0.1), 'e-mail campaign completed');
my $flow = ok_json(req(GET => "/api/email/campaigns/$em->{id}/flow", key => $read), 200, 'GET .../flow');
is(scalar @{ $flow->{flow} || [] }, 2, 'one flow row per recipient');
my ($row) = grep { $_->{recipient} eq 'one@example.com' } @{ $flow->{flow} || [] };
like($row->{initial}{message_id} // '', qr/^[0-9A-Z]{26}$/, 'the initial message id');
ok(defined $row->{initial}{status}, 'and its status');
ok(exists $row->{followup} && !defined $row->{followup}, 'no follow-up');
is(scalar(grep { ($_->{to} // '') =~ /^(one|two)\@example\.com$/ } @{ $t->sim_messages }), 2,
   'each address mailed once');

# ------------------------------------------------------------ marketing
sub mkt { req($_[0] => "/api/marketing/campaigns$_[1]", key => $manage, defined $_[2] ? (json => $_[2]) : ()) }
is_error(mkt(POST => '', { name => 'plan', customer_ids => [$cids[0]] }), 422, 'invalid_request',
         'a plan without its first step');
# a plan of several steps: order_no 1 is the campaign's own message, the
# later ones our steps (delay_days after the previous, condition always)
my $plan = ok_json(mkt(POST => '', { name => 'plan', customer_ids => [$cids[0]],
    steps => [{ order_no => 3, channel => 'WHATSAPP', content => 'three', delay_days => 1 },
              { order_no => 1, channel => 'SMS', content => 'one' },
              { order_no => 2, channel => 'EMAIL', subject => 'Two', content => 'two', delay_days => 2 }] }),
    201, 'a plan of three steps');
my $plan_ours = $t->get("/api/campaigns/$plan->{id}", key => $manage)->{json} // {};
is_deeply([map { [$_->{channel}, $_->{delay_seconds}, $_->{condition}] } @{ $plan_ours->{steps} || [] }],
    [['email', 2 * 86400, 'always'], ['whatsapp', 86400, 'always']],
    'order_no 2 and 3 are our steps, by order_no, delay_days after the previous');
my $plan_steps = ok_json(mkt(GET => "/$plan->{id}/steps"), 200, 'GET .../steps of the plan')->{steps} || [];
is_deeply([map { [@$_{qw(order_no channel delay_days content)}] } @$plan_steps],
    [[1, 'SMS', 0, 'one'], [2, 'EMAIL', 2, 'two'], [3, 'WHATSAPP', 1, 'three']], 'the plan read back');
is($plan_steps->[1]{subject}, 'Two', 'a later e-mail step keeps its subject');
$plan_steps = ok_json(mkt(POST => "/$plan->{id}/steps/batch", { steps => [
    { order_no => 1, channel => 'SMS', content => 'uno' },
    { order_no => 2, channel => 'SMS', content => 'dos', delay_days => 3 }] }), 200, 'steps/batch: the whole plan')->{steps} || [];
is_deeply([map { [@$_{qw(order_no channel delay_days content)}] } @$plan_steps],
    [[1, 'SMS', 0, 'uno'], [2, 'SMS', 3, 'dos']], 'the batch replaced the plan');
is_error(mkt(POST => "/$plan->{id}/steps/batch", { steps => [{ order_no => 1, channel => 'SMS', content => 'a' },
                                                           { order_no => 1, channel => 'SMS', content => 'b' }] }),
         400, 'invalid_request', 'an order_no given twice');
is_error(mkt(POST => '', { name => 'p', customer_ids => [$cids[0]],
                           steps => [{ order_no => 1, channel => 'SMS', content => 'x' },
                                     { order_no => 2, channel => 'SMS', content => 'y', delay_days => 31 }] }),
         422, 'invalid_request', 'a delay over 30 days');
is_error(mkt(POST => '', { name => 'p', customer_ids => [$cids[0]],
                           steps => [{ order_no => 1, channel => 'SMS', content => 'x' },
                                     { order_no => 2, channel => 'SMS', content => 'y', filter_rules => { opened => 1 } }] }),
         422, 'not_supported', 'a later step\'s own filter_rules');
is(mkt(DELETE => "/$plan->{id}")->{status}, 200, 'the plan deleted');
is_error(mkt(POST => '', { name => 'p', customer_ids => [$cids[0]], filter_rules => { has_marketed => 0 },
                           steps => [{ order_no => 1, channel => 'SMS', content => 'x' }] }),
         422, 'not_supported', 'a filter our audience has no field for');
is_error(mkt(POST => '', { name => 'p', customer_ids => [$cids[0]], run_immediately => JSON::PP::true(),
                           steps => [{ order_no => 1, channel => 'SMS', content => 'x' }] }),
         422, 'not_supported', 'run_immediately');
is_error(mkt(POST => '', { name => 'p', steps => [{ order_no => 1, channel => 'SMS', content => 'x' }] }),
         422, 'audience_required', 'no customers and no filter is nobody, not everyone');
my $mk = ok_json(mkt(POST => '', { name => 'plan', customer_ids => [@cids[0, 1]], type => 'GENERAL',
                                   steps => [{ order_no => 1, channel => 'SMS', content => 'Plan for {{name}}' }] }),
                 201, 'POST /api/marketing/campaigns');
is($mk->{status}, 'DRAFT', 'DRAFT');
is_deeply($mk->{target_customer_ids}, [@cids[0, 1]], 'target_customer_ids');
my $mid = $mk->{id};
my $steps = ok_json(mkt(GET => "/$mid/steps"), 200, 'GET .../steps')->{steps} || [];
is(scalar @$steps, 1, 'one step');
is($steps->[0]{channel}, 'SMS', 'step channel');
is($steps->[0]{content}, 'Plan for {{name}}', 'step content');
$r = mkt(POST => "/$mid/steps", { order_no => 2, channel => 'SMS', content => 'later' });
is_error($r, 422, 'not_supported', 'one later step by itself');
like($r->{json}{error}{message} // '', qr{steps/batch}, 'pointing at .../steps/batch');
my $step = ok_json(mkt(POST => "/$mid/steps", { order_no => 1, channel => 'SMS', content => 'Plan B {{name}}' }),
                   200, 'POST .../steps replaces the first step');
is($step->{content}, 'Plan B {{name}}', 'the new content');
is(ok_json(mkt(POST => "/$mid/steps/batch", { steps => [{ order_no => 1, channel => 'SMS', content => 'Plan C {{name}}' }] }),
           200, 'steps/batch')->{steps}[0]{content}, 'Plan C {{name}}', 'batch of one step');
is_error(mkt(POST => "/$mid/customers/$cids[0]/pause"), 422, 'not_supported', 'per-customer pause');
is_error(mkt(POST => "/$mid/executions", { step_id => 1, customer_id => $cids[0] }), 422, 'not_supported',
         'a manual execution');
is(ok_json(mkt(POST => "/$mid/start"), 200, 'start the plan')->{status}, 'RUNNING', 'RUNNING');
ok(wait_until(sub { (mkt(GET => "/$mid")->{json}{status} // '') eq 'COMPLETED' }, 60, 0.1), 'COMPLETED');
my $ex = ok_json(mkt(GET => "/$mid/executions"), 200, 'GET .../executions')->{executions} || [];
is(scalar @$ex, 2, 'one execution per customer');
is_deeply([sort { $a <=> $b } map { $_->{customer_id} } @$ex], [sort { $a <=> $b } @cids[0, 1]], 'their customers');
is($ex->[0]{channel}, 'sms', 'channel');
is($ex->[0]{step_id}, 1, 'step_id');
is_error(mkt(GET => "/$mid/executions?step_id=1"), 400, 'invalid_request', 'a filter not served');
is(scalar @{ ok_json(mkt(GET => "/$mid/executions?status=failed"), 200, 'executions by status')->{executions} || [1] }, 0,
   'none failed');
my $pr = ok_json(mkt(GET => "/$mid/customers/progress"), 200, 'GET .../customers/progress')->{customers} || [];
is(scalar @$pr, 2, 'progress per customer');
is($pr->[0]{paused}, JSON::PP::false(), 'not paused');
$r = mkt(POST => "/$mid/stop");
is_error($r, 409, 'invalid_transition', 'stop a completed plan');
is($r->{json}{error}{status}, 'COMPLETED', 'in its words');
my $m2 = ok_json(mkt(POST => '', { name => 'plan 2', filter_rules => { group_id => $g },
                                   steps => [{ order_no => 1, channel => 'SMS', content => 'x' }] }), 201, 'plan by group');
is_deeply($m2->{filter_rules}{group_ids}, [$g], 'filter_rules.group_ids');
is(ok_json(mkt(POST => "/$m2->{id}/stop"), 200, 'stop a draft')->{status}, 'STOPPED', 'STOPPED');
ok((grep { $_->{id} == $m2->{id} } @{ ok_json(mkt(GET => '?status=STOPPED'), 200, 'list STOPPED')->{campaigns} || [] }),
   'listed as STOPPED');

$t->done;
