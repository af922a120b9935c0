#!/usr/bin/perl
# The console's templates, campaigns and inbox pages in Debian's Chromium
# (t/browser/console-campaigns.js), after POST /api/campaigns/estimate on
# its own: the live count of the wizard skips as the dispatcher does.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my ($user, $pass) = $t->admin_credentials;
my $manage = $t->create_key('manage');
my $read = $t->create_key('read');

my $HOSTILE_NAME = '<img src=x onerror=window.__xss=1>';

sub api {
    my ($method, $path, $json, $key) = @_;
    my $r = $t->http($method => $path, key => $key // $manage, defined $json ? (json => $json) : ());
    die "$method $path: $r->{status} $r->{content}" unless $r->{status} =~ /^20/;
    return $r->{json};
}

# ~30 contacts in one group: one opted out of SMS, one blacklisted, five in Oslo
my @ids;
for my $i (0 .. 29) {
    push @ids, api(POST => '/api/contacts', {
        name => $i == 0 ? $HOSTILE_NAME : "Member $i",
        phone => sprintf('+1415555%04d', 100 + $i),
        $i >= 10 && $i < 15 ? (attributes => { city => 'Oslo' }) : (),
    })->{id};
}
my $group = api(POST => '/api/groups', { name => 'wizard thirty' })->{id};
api(POST => "/api/groups/$group/members", { contact_ids => \@ids });
api(POST => '/api/opt-outs', { address => '+14155550101', channel => 'sms' });
api(POST => '/api/blacklist', { address => '+14155550102' });

# ---- POST /api/campaigns/estimate ----------------------------------------

sub estimate {
    my ($body, $key) = @_;
    return $t->http(POST => '/api/campaigns/estimate', key => $key // $read, json => $body);
}

my $r = estimate({ channel => 'sms', audience => { group_ids => [$group] } });
is($r->{status}, 200, 'a read key may estimate');
is_deeply($r->{json}, { audience => 30, eligible => 28,
    skipped => { no_address => 0, opted_out => 1, blacklisted => 1, already_sent_template => 0 } },
    'SMS: the opted-out and the blacklisted member are not eligible');

$r = estimate({ channel => 'whatsapp', audience => { group_ids => [$group] } });
is($r->{json}{eligible}, 29, 'WhatsApp (its address falls back to the phone): an SMS opt-out does not apply');
is($r->{json}{skipped}{blacklisted}, 1, 'the blacklist applies to every channel');

$r = estimate({ channel => 'email', audience => { group_ids => [$group] } });
is_deeply([ @{ $r->{json} }{qw(audience eligible)}, $r->{json}{skipped}{no_address} ], [30, 0, 30],
          'e-mail: nobody has an address');

$r = estimate({ channel => 'sms', audience => { group_ids => [$group], limit => 10 } });
is($r->{json}{eligible}, 10, 'limit caps the eligible count');

$r = estimate({ channel => 'sms', audience => { group_ids => [$group],
                                                 filter => { attributes => { city => 'Oslo' } } } });
is($r->{json}{audience}, 5, 'filter.attributes narrows by equal JSON values');
$r = estimate({ channel => 'sms', audience => { group_ids => [$group],
                                                 filter => { attributes => { city => 'oslo' } } } });
is($r->{json}{audience}, 0, 'attribute values compare case-sensitively, as the dispatcher does');

$r = estimate({ channel => 'sms', audience => { contact_ids => [@ids[0 .. 4]], filter => { country => 'US' } } });
is_deeply([ @{ $r->{json} }{qw(audience eligible)} ], [5, 3], 'filter.country: the region of the phone');
$r = estimate({ channel => 'sms', audience => { group_ids => [$group], filter => { country => 'GB' } } });
is($r->{json}{audience}, 0, 'no member has a British number');

my $tpl = api(POST => '/api/templates', { channel => 'sms', name => 'estimate probe', body => 'Hi {{name}}' })->{id};
$t->dbh->do('INSERT INTO template_sends (template_id, contact_id, campaign_id, message_id, created_at) '
          . "VALUES (?,?,0,'01JESTIMATEPROBE0000000000',UTC_TIMESTAMP(3))", undef, $tpl, $ids[5]);
$r = estimate({ channel => 'sms', template_id => 0 + $tpl, audience => { group_ids => [$group] } });
is_deeply([ $r->{json}{eligible}, $r->{json}{skipped}{already_sent_template} ], [27, 1],
          'never_repeat_template (the default with a template): who had it is skipped');
$r = estimate({ channel => 'sms', template_id => 0 + $tpl, never_repeat_template => JSON::PP::false(),
                audience => { group_ids => [$group] } });
is($r->{json}{eligible}, 28, 'never_repeat_template false counts them');
$t->dbh->do('DELETE FROM template_sends WHERE template_id=?', undef, $tpl);

$r = estimate({ channel => 'sms', audience => { all => JSON::PP::true() } });
is($r->{json}{audience}, 30, 'all: every contact');
is_error(estimate({ channel => 'sms', audience => {} }), 422, 'audience_required', 'an audience is required');
is_error(estimate({ channel => 'fax', audience => { group_ids => [$group] } }), 422, 'invalid_request',
         'an unknown channel is refused');
is_error(estimate({ channel => 'sms', audience => { group_ids => ['x'] } }), 422, 'invalid_request',
         'group ids are checked as for a campaign');
is($t->http(POST => '/api/campaigns/estimate', json => { channel => 'sms' })->{status}, 401,
   'no key, no estimate');

# ---- the pages in the browser --------------------------------------------

# a customer who wrote two days ago (its WhatsApp window closed), and an
# approved WhatsApp template to answer with
$t->dbh->do(q{INSERT INTO messages (id, batch_id, channel, direction, provider, to_address,
    from_address, peer, body, status, status_rank, send_state, created_at, updated_at)
    VALUES ('01JAAAAAAAAAA0000000000001', '01JAAAAAAAAAA0000000000001', 'whatsapp', 'inbound',
    'twilio', ?, 'whatsapp:+14155550150', '+14155550150', 'An old question', 'received', 50,
    'done', UTC_TIMESTAMP(3) - INTERVAL 2 DAY, UTC_TIMESTAMP(3) - INTERVAL 2 DAY)}, undef, $t->whatsapp_from);
api(POST => '/api/templates', { channel => 'whatsapp', name => 'welcome back', language => 'en',
                                content_sid => 'HXcb6b0828c05d7af4d37391699c9c2ea3' });

# a viewer: the pages without their writes
my $viewer = $t->post('/api/admin/users', token => $t->token,
                      json => { username => 'watcher', password => 'watcher-password-1', role => 'viewer' });
is($viewer->{status}, 201, 'a viewer is created') or diag $viewer->{content};

my $fixture = json_encode({ group_id => $group, viewer => ['watcher', 'watcher-password-1'], hostile_contact_id => $ids[0], send_key => scalar $t->create_key('send'),
                            hostile_name => $HOSTILE_NAME });
my $out = `node $FindBin::Bin/browser/console-campaigns.js @{[ $t->base_url ]} $user $pass @{[ $t->sim_url ]} '$fixture' 2>&1`;
my $seen = json_decode((split /\n/, $out)[-1] // '') || {};
is_deeply($seen->{errors}, [], 'no page errors, every step completed') or diag $out;

# templates
is_deeply($seen->{tpl_vars}, ['name', 'code'], 'the editor detects the variables as they are typed');
is_deeply($seen->{seg_gsm}, { encoding => 'GSM-7', segments => 2, characters => 170 },
          'a GSM text of 170 characters: GSM-7, 2 segments');
is_deeply($seen->{seg_gsm_ext}, { encoding => 'GSM-7', segments => 2, characters => 160 },
          'the euro sign takes two septets: 160 characters are 2 segments');
is_deeply($seen->{seg_ucs2}, { encoding => 'UCS-2', segments => 2, characters => 71 },
          'a Chinese text of 71 characters: UCS-2, 2 segments');
is_deeply($seen->{seg_ucs2_one}, { encoding => 'UCS-2', segments => 1, characters => 70 },
          '70 Chinese characters: 1 segment');
ok($seen->{tpl_id}, 'the template is created in the editor');
is_deeply($seen->{preview_api}, $seen->{preview_js}, "the page's counter agrees with the API's preview count");
like($seen->{preview_body} // '', qr/\Q$HOSTILE_NAME\E/, 'the preview for a contact shows its name as text');
ok($seen->{history_shown}, 'the send history is shown after the campaign');
like($seen->{wa_twilio} // '', qr/order_update/, "the Twilio Content templates are browsable");
like($seen->{wa_meta} // '', qr/Status.*\w/, "and Meta's") or diag $seen->{wa_meta};
is_deeply($seen->{meta_prefill}, { channel => 'whatsapp', provider_name => 'hello_world', language => 'en_US' },
          "a Meta template opens the editor prefilled");
ok($seen->{meta_saved}, 'and is saved as a template of ours');
ok($seen->{deleted_gone}, 'a template deleted from its editor leaves the list');

# the wizard and the first campaign
is($seen->{wizard_eligible}, 28, 'the wizard counts 28 eligible (an opted-out and a blacklisted member left out)');
like($seen->{review_cost} // '', qr/\d+\.\d{4} USD/, 'the review shows an estimated cost');
like($seen->{review_duration} // '', qr/about 6 s/, 'and an estimated duration: 28 at 5 a second');
is($seen->{camp1_progress}, 100, 'the progress bar reaches 100% as the simulator delivers');
ok(scalar(grep { $_ > 0 && $_ < 100 } @{ $seen->{camp1_samples} || [] }),
   'the bar moved on the way (' . join(', ', @{ $seen->{camp1_samples} || [] }) . ' %)');
ok($seen->{camp1_no_reload}, 'the campaign page was never reloaded');
like($seen->{camp1_status} // '', qr/Completed/, 'the campaign is shown completed');
ok(!$seen->{camp1_retry}, 'no retry-failed button without failures');

# the slow one: pause, resume, failures
like($seen->{camp2_running} // '', qr/Running/, 'the slow campaign runs');
like($seen->{camp2_paused} // '', qr/Paused/, 'pause is shown');
ok($seen->{camp2_retry}, 'the retry-failed button appears once messages failed');
like($seen->{camp2_resumed} // '', qr/Running/, 'resume is shown');
is($seen->{camp2_paused_elsewhere}, 200, 'paused through the API meanwhile');
like($seen->{camp2_conflict} // '', qr/is paused/, "the page's stale pause shows the API's 409 message");
like($seen->{camp2_cancelled} // '', qr/Cancelled/, 'cancel is shown');

# variants, a step, a start time
ok($seen->{ab_start_hidden}, 'with a start time the review offers no immediate start');
like($seen->{ab_create_label} // '', qr/scheduled/i, 'but a scheduled creation');
like($seen->{ab_status} // '', qr/Scheduled/, 'the campaign is created scheduled');
is_deeply($seen->{ab_variants}, ['A:3', 'B:1'], 'the A/B variants with their weights');
like($seen->{ab_steps} // '', qr/1\s*SMS\s*1800 s\s*if not delivered/, 'the follow-up step: 30 minutes, if not delivered');
is_deeply($seen->{ab_moves}, ['camp-start', 'camp-cancel'], 'a scheduled campaign may be started or cancelled');
like($seen->{ab_cancelled} // '', qr/Cancelled/, 'and is cancelled from its page');

is_deeply($seen->{filtered}, ['Cancelled', 'Cancelled'], 'the list filtered by status: the two cancelled campaigns');

# inbox
is($seen->{unread_badge}, '1', 'an inbound WhatsApp is an unread conversation');
like($seen->{bubble} // '', qr/\Q<img src=x onerror=window.__xss=1>\E/, 'its hostile body is shown as text');
ok($seen->{badge_cleared}, 'opening it marks it read');
like($seen->{reply_bubble} // '', qr/Thanks, we got it/, 'a reply inside the window is sent and appears');
ok($seen->{closed_picker}, 'outside the 24 h window the reply box is a template picker');
ok($seen->{closed_no_text}, 'and there is no free-text box');
unlike($seen->{closed_reply} // 'error: none', qr/^error:/, 'the approved template is sent from it and appears')
    or diag $seen->{closed_reply};

# a viewer
is_deeply($seen->{viewer}, { campaign_rows => 1, new_campaign => 0, moves => 0, new_template => 0,
                             save_template => 0, reply_box => 0, conversation => 1 },
          "a viewer sees the campaigns, a template and a conversation, and none of the write buttons")
    or diag json_encode($seen->{viewer});

# safety, language, speed
ok(!$seen->{xss}, 'window.__xss stays undefined on every page');
like($seen->{zh_nav} // '', qr/模板.*群发活动.*收件箱/, 'the navigation in Chinese');
like($seen->{zh_campaigns} // '', qr/新建活动/, 'the campaigns page in Chinese');
like($seen->{zh_templates} // '', qr/新建模板/, 'the templates page in Chinese');
like($seen->{zh_inbox} // '', qr/收件箱/, 'the inbox in Chinese');
note json_encode({ loads => $seen->{paint_all}, last => $seen->{paint_detail} });
for my $p (qw(templates campaigns campaign inbox)) {
    my $ms = $seen->{paint}{$p};
    ok(defined $ms && $ms < paint_budget_ms(), "first paint of $p under " . paint_budget_ms()
       . " ms from loopback (best of three: " . ($ms // "none") . " ms)");
}
for my $s (qw(templates template-editor campaigns wizard-basics wizard-audience wizard-content
              wizard-delivery wizard-review campaign inbox)) {
    ok(-s "$FindBin::Bin/tmp/screenshots/$s.png", "screenshot $s.png");
}

# what the API says of the first campaign
my $c = $seen->{camp1_id} ? api(GET => "/api/campaigns/$seen->{camp1_id}", undef, $read) : {};
is($c->{stats}{eligible}, 28, 'the dispatcher agreed: 28 eligible');
is(($c->{stats}{skipped}{opted_out} // 0) + ($c->{stats}{skipped}{blacklisted} // 0), 2, 'and 2 skipped');

$t->done;
