#!/usr/bin/perl
# Campaigns, slice 2 (docs/DESIGN.md "Campaigns"): quiet hours defer a
# recipient whose local time (its contact's IANA zone, DST included) is
# inside the window to the window's end, counted as
# skipped.quiet_hours_deferred while it waits and sent when the window
# ends; a contact value with '"' and '\' inside Twilio's content_variables
# is JSON-escaped (the message goes out, its ContentVariables parse);
# multi-step campaigns: WhatsApp first, then SMS to whoever did not read it
# within the delay; e-mail, then a follow-up to whoever did not open it
# (SendGrid "open" is read), each step written once per recipient, stats
# per step; steps are checked like the main content.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);
use BC::Test qw(:all);

my $t = BC::Test->new;
my $manage = $t->create_key('manage');
my $send = $t->create_key('send');
my $read = $t->create_key('read');

sub phone { sprintf '+1415557%04d', $_[0] }
sub ok_json {
    my ($r, $status, $what) = @_;
    is($r->{status}, $status, $what) or diag $r->{content};
    return $r->{json} || {};
}
sub contact {
    my (%c) = @_;
    return ok_json($t->post('/api/contacts', key => $manage, json => \%c), 201, "contact $c{name}")->{id};
}
sub campaign { ok_json($t->post('/api/campaigns', key => $send, json => $_[0]), 201, "campaign $_[0]{name}") }
sub act { $t->post("/api/campaigns/$_[0]/$_[1]", key => $send, json => $_[2] // {}) }
sub get_campaign { $t->get("/api/campaigns/$_[0]", key => $read)->{json} || {} }
sub wait_status {
    my ($id, $status, $timeout) = @_;
    my $c;
    my $ok = wait_until(sub { $c = get_campaign($id); ($c->{status} // '') eq $status }, $timeout // 60, 0.1);
    diag explain $c unless $ok;
    return $ok;
}
sub received { my %n; $n{ $_->{to} // '' }++ for @{ $t->sim_messages }; \%n }
sub recipient {
    my ($cid, $contact, $step) = @_;
    return $t->mysql(q{SELECT r.*, TIMESTAMPDIFF(SECOND, '1970-01-01', r.not_before) AS nb,
                              m.status, m.payload
                       FROM campaign_recipients r LEFT JOIN messages m ON m.id = r.message_id
                       WHERE r.campaign_id=? AND r.contact_id=? AND r.step=?},
                     $cid, $contact, $step // 0)->[0] || {};
}

# the local wall clock of a zone at UTC time $at, as epoch seconds
# (this test is one thread: switching TZ is fine here, not in the sender)
sub local_epoch {
    my ($zone, $at) = @_;
    local $ENV{TZ} = $zone;
    POSIX::tzset();
    my ($sign, $h, $m) = strftime('%z', localtime(int $at)) =~ /^([+-])(\d\d)(\d\d)$/;
    POSIX::tzset();
    return int($at) + ($sign eq '-' ? -1 : 1) * ($h * 3600 + $m * 60);
}
sub hhmm { strftime('%H:%M', gmtime $_[0]) }

# ------------------------------------------------------------ quiet hours
# Sydney is in daylight time in December (+11) and standard time in June
# (+10): either way the window is computed from its wall clock now. The
# window ends at the next minute boundary at least 20 s away, so the
# deferred recipient is sent within this test.
my $now = time;
my $syd_local = local_epoch('Australia/Sydney', $now);
my $end_local = (int($syd_local / 60) + 1) * 60;
$end_local += 60 if $end_local - $syd_local < 20;
my $expected_until = int($now) + ($end_local - int($syd_local));
my $quiet = { start => hhmm($syd_local - 3600), end => hhmm($end_local) };

my $syd = contact(name => 'Syd', phone => phone(1), timezone => 'Australia/Sydney');
my $del = contact(name => 'Del', phone => phone(2), timezone => 'Asia/Kolkata');
my $utc = contact(name => 'Utc', phone => phone(3));
my $q = campaign({ name => 'quiet', channel => 'sms', content => { message => 'Hello {{name}}' },
                   audience => { contact_ids => [$syd, $del, $utc] }, quiet_hours => $quiet });
is_deeply($q->{quiet_hours}, $quiet, 'quiet_hours kept');
ok_json(act($q->{id}, 'start'), 200, 'start');
ok(wait_until(sub { my $n = received(); $n->{ phone(2) } && $n->{ phone(3) } }, 30, 0.1),
   'contacts outside their quiet hours (Kolkata, no zone = UTC) are sent at once');
my $r = recipient($q->{id}, $syd);
is($r->{state}, 'pending', 'the Sydney contact inside its window is pending, not dropped');
ok(defined $r->{nb} && abs($r->{nb} - $expected_until) <= 1,
   "not_before is the window's end in Sydney's daylight-saving wall clock")
    or diag "not_before $r->{nb}, expected $expected_until";
ok(!received()->{ phone(1) }, 'nothing sent to it inside the window');
my $st = get_campaign($q->{id})->{stats} || {};
is($st->{skipped}{quiet_hours_deferred}, 1, 'stats.skipped.quiet_hours_deferred counts it while deferred');
is($st->{pending}, 0, 'a deferred row is not also pending');
is($st->{eligible}, 3, 'it stays eligible');
is(get_campaign($q->{id})->{status}, 'running', 'the campaign waits for it');

# ------------------------------------------------------------ content_variables
my $HX = 'HX379d788fb88317820505798e3af452cb';
my $hostile = q{Ann "the \\ 'quote'" O"Neil};
my $wa = contact(name => $hostile, phone => phone(10), whatsapp => phone(10));
my $cv = campaign({ name => 'cv', channel => 'whatsapp', from => $t->whatsapp_from,
                    content => { content_sid => $HX, content_variables => { 1 => '{{name}}', 2 => '10' } },
                    audience => { contact_ids => [$wa] } });
ok_json(act($cv->{id}, 'start'), 200, 'start the content_variables campaign');
ok(wait_status($cv->{id}, 'completed', 60), 'it completes');
$r = recipient($cv->{id}, $wa);
ok(wait_until(sub { ($r = recipient($cv->{id}, $wa))->{status} =~ /^(delivered|read)$/ }, 30, 0.1),
   'the message to a name with quotes and a backslash is delivered (Twilio took its ContentVariables)')
    or diag explain $r;
my $payload = json_decode($t->unseal($r->{payload}) // '') || {};
my $vars = json_decode($payload->{content_variables} // '');
is_deeply($vars, { 1 => $hostile, 2 => '10' }, 'content_variables is valid JSON with the name intact');

# ------------------------------------------------------------ quiet hours changed
# a window ending in an hour; paused, patched away, resumed: sent at once
# (quiet_hours' own timezone places the contact without one)
my $syd2 = contact(name => 'Syd2', phone => phone(4), timezone => 'Australia/Sydney');
my $notz = contact(name => 'NoTz', phone => phone(5));
my $syd2_local = local_epoch('Australia/Sydney', time);
my %q2h = (start => hhmm($syd2_local - 3600), end => hhmm($syd2_local + 3600));
for my $bad ('Mars/Olympus_Mons', '../etc/passwd', 7) {
    my $r = $t->post('/api/campaigns', key => $send, json => { name => 'q', channel => 'sms',
        content => { message => 'x' }, audience => { contact_ids => [$notz] },
        quiet_hours => { %q2h, timezone => $bad } });
    is($r->{status}, 422, "quiet_hours.timezone $bad: 422") or diag $r->{content};
    like((($r->{json} || {})->{error} || {})->{message} // '', qr/^quiet_hours/, '... naming quiet_hours');
}
my $q2 = campaign({ name => 'quiet 2', channel => 'sms', content => { message => 'Later {{name}}' },
                    audience => { contact_ids => [$syd2, $notz] },
                    quiet_hours => { %q2h, timezone => 'Australia/Sydney' } });
is($q2->{quiet_hours}{timezone}, 'Australia/Sydney', 'quiet_hours keeps its timezone');
ok_json(act($q2->{id}, 'start'), 200, 'start the one-hour quiet campaign');
ok(wait_until(sub { defined recipient($q2->{id}, $syd2)->{nb} }, 30, 0.1), 'deferred by an hour');
my $nb2 = recipient($q2->{id}, $notz)->{nb};
ok(defined $nb2 && abs($nb2 - recipient($q2->{id}, $syd2)->{nb}) <= 1,
   "a contact without a zone is deferred in quiet_hours' timezone");
ok_json(act($q2->{id}, 'pause'), 200, 'pause it');
my $pq = $t->http(PATCH => "/api/campaigns/$q2->{id}", key => $send, json => { quiet_hours => undef });
is($pq->{status}, 200, 'quiet_hours removed') or diag $pq->{content};
ok(!defined recipient($q2->{id}, $syd2)->{nb}, 'the deferral is lifted with them');
ok_json(act($q2->{id}, 'resume'), 200, 'resume');
ok(wait_until(sub { received()->{ phone(4) } && received()->{ phone(5) } }, 30, 0.1),
   'sent without waiting for the old window')
    or diag explain [$t->mysql('SELECT * FROM campaign_recipients WHERE campaign_id=?', $q2->{id}),
                     get_campaign($q2->{id})];

# ------------------------------------------------------------ steps: checks
sub is_422 {
    my ($body, $like, $what) = @_;
    my $r = $t->post('/api/campaigns', key => $send, json => $body);
    is($r->{status}, 422, "$what: 422") or diag $r->{content};
    like(error_code($r) // '', qr/^invalid_request$/, "$what: invalid_request");
    like((($r->{json} || {})->{error} || {})->{message} // '', $like, "$what: names the field");
}
my %base = (name => 'bad', channel => 'sms', content => { message => 'x' }, audience => { contact_ids => [$utc] });
is_422({ %base, steps => [{ channel => 'sms', content => { message => 'y' } }] },
       qr/steps\[0\].*delay/, 'a step without a delay');
is_422({ %base, steps => [{ channel => 'sms', content => { message => 'y' }, delay_minutes => 1, condition => 'maybe' }] },
       qr/steps\[0\]\.condition/, 'an unknown condition');
is_422({ %base, steps => [{ channel => 'fax', content => { message => 'y' }, delay_minutes => 1 }] },
       qr/steps\[0\]/, 'an unknown channel');
is_422({ %base, steps => [{ channel => 'email', content => { message => 'y' }, delay_minutes => 1 }] },
       qr/steps\[0\]\.content\.message/, "a key of another channel's content");
is_422({ %base, steps => [{ channel => 'email', content => { subject => 's' }, delay_minutes => 1 }] },
       qr/^steps\[0\]\.content: /, "the e-mail send handler's own rule");

# ------------------------------------------------------------ steps: WhatsApp, then SMS if not read
$t->sim_config(whatsapp_read => JSON::PP::false());
my $rd = contact(name => 'Reader', phone => phone(20), whatsapp => phone(20));
my $un = contact(name => 'Unread', phone => phone(21), whatsapp => phone(21));
my $ws = campaign({ name => 'wa then sms', channel => 'whatsapp', from => $t->whatsapp_from,
                    content => { content_sid => $HX, content_variables => { 1 => '{{name}}', 2 => '10' } },
                    audience => { contact_ids => [$rd, $un] },
                    steps => [{ channel => 'sms', content => { message => 'Did you see it, {{name}}?' },
                                delay_seconds => 6, condition => 'not_read' }] });
is_deeply([map { [$_->{step}, $_->{channel}, $_->{condition}, $_->{delay_seconds}] } @{ $ws->{steps} || [] }],
          [[1, 'sms', 'not_read', 6]], 'the campaign shows its step');
ok_json(act($ws->{id}, 'start'), 200, 'start the two-step campaign');
my $rrow;
ok(wait_until(sub { ($rrow = recipient($ws->{id}, $rd))->{status} && $rrow->{status} eq 'delivered' }, 30, 0.1),
   "the reader's WhatsApp delivered") or diag explain $rrow;
my $psid = $t->mysql_value('SELECT provider_message_id FROM messages WHERE id=?', $rrow->{message_id});
my $rcb = $t->twilio_post("/webhooks/twilio/whatsapp?mid=$rrow->{message_id}",
    { AccountSid => $t->account_sid, ApiVersion => '2010-04-01', ChannelPrefix => 'whatsapp',
      From => $t->whatsapp_from, To => 'whatsapp:' . phone(20), MessageSid => $psid, SmsSid => $psid,
      MessageStatus => 'read', SmsStatus => 'read', StructuredMessage => 'false' });
is($rcb->{status}, 200, 'the reader reads it (status callback)');
ok(wait_until(sub { (recipient($ws->{id}, $rd)->{status} // '') eq 'read' }, 10, 0.1), 'read recorded');
ok(wait_status($ws->{id}, 'completed', 60), 'the two-step campaign completes');
my $n = received();
is($n->{ phone(21) }, 1, 'the one who did not read got the SMS');
ok(!$n->{ phone(20) }, 'the reader got no SMS');
my $s1 = recipient($ws->{id}, $un, 1);
is($s1->{state}, 'queued', 'step 1 row of the unread recipient queued');
my $gap = $t->mysql_value(q{SELECT TIMESTAMPDIFF(MICROSECOND, p.sent_at, s.created_at) / 1e6
    FROM campaign_recipients r0 JOIN messages p ON p.id = r0.message_id
    JOIN campaign_recipients r1 ON r1.campaign_id = r0.campaign_id AND r1.contact_id = r0.contact_id AND r1.step = 1
    JOIN messages s ON s.id = r1.message_id WHERE r0.campaign_id = ? AND r0.contact_id = ? AND r0.step = 0},
    $ws->{id}, $un);
ok(defined $gap && $gap >= 6, "the SMS went out after the delay (${\($gap // 'none')} s after the WhatsApp)");
is(recipient($ws->{id}, $rd, 1)->{skip_reason}, 'condition_not_met', "the reader's step 1 is skipped condition_not_met");
is($t->mysql_value('SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id=?', $ws->{id}), 4,
   'one row per step and recipient');
$st = get_campaign($ws->{id})->{stats} || {};
is($st->{audience}, 2, 'top-level stats count the first message');
is($st->{read}, 1, 'one read');
my $ss = ($st->{steps} || [])->[0] || {};
is($ss->{channel}, 'sms', 'stats.steps[0] is the SMS step');
is($ss->{audience}, 2, 'stats.steps[0].audience: both decided');
is_deeply($ss->{skipped}, { condition_not_met => 1 }, 'stats.steps[0].skipped: the reader');
is(($ss->{delivered} // 0) + ($ss->{sent} // 0) + ($ss->{queued} // 0), 1, 'stats.steps[0]: one SMS');

# ------------------------------------------------------------ steps: e-mail, follow-up if not opened
my $op = contact(name => 'Opener', email => 'opener@example.com');
my $no = contact(name => 'Closed', email => 'closed@example.com');
my $em = campaign({ name => 'mail then mail', channel => 'email', from => $t->email_from,
                    content => { subject => 'News for {{name}}', text => 'Hello {{name}}' },
                    audience => { contact_ids => [$op, $no] },
                    steps => [{ channel => 'email', content => { subject => 'Did you miss it, {{name}}?', text => 'Again' },
                                delay_seconds => 5, condition => 'not_read' }] });
ok_json(act($em->{id}, 'start'), 200, 'start the e-mail campaign');
my $orow;
ok(wait_until(sub { ($orow = recipient($em->{id}, $op))->{status} && $orow->{status} =~ /^(sent|delivered)$/ }, 30, 0.1),
   "the opener's e-mail sent") or diag explain $orow;
my $mrow = $t->mysql('SELECT * FROM messages WHERE id=?', $orow->{message_id})->[0];
my $sg = $t->sendgrid_post([{ email => $mrow->{to_address}, event => 'open', sg_event_id => 'steps-open-1',
    sg_message_id => $mrow->{provider_message_id}, bc_message_id => $mrow->{id},
    bc_batch_id => $mrow->{batch_id}, timestamp => int time }]);
ok($sg->{status} >= 200 && $sg->{status} < 300, 'SendGrid "open" for the opener') or diag $sg->{content};
ok(wait_until(sub { (recipient($em->{id}, $op)->{status} // '') eq 'read' }, 10, 0.1), 'open is read');
ok(wait_status($em->{id}, 'completed', 60), 'the e-mail campaign completes');
is(recipient($em->{id}, $no, 1)->{state}, 'queued', 'the one who did not open got the follow-up');
is(recipient($em->{id}, $op, 1)->{skip_reason}, 'condition_not_met', 'the opener did not');
my $subjects = $t->mysql(q{SELECT m.to_address, m.payload FROM campaign_recipients r JOIN messages m ON m.id = r.message_id
                           WHERE r.campaign_id = ? AND r.step = 1}, $em->{id});
is(scalar @$subjects, 1, 'one follow-up message');
like($t->unseal($subjects->[0]{payload}) // '', qr/Did you miss it, Closed\?/, 'rendered for its recipient');

# ------------------------------------------------------------ steps: SMS, a reminder if no reply; PATCH
my $rp = contact(name => 'Replier', phone => phone(30));
my $si = contact(name => 'Silent', phone => phone(31));
my $sr = campaign({ name => 'sms then reminder', channel => 'sms', content => { message => 'Coming, {{name}}?' },
                    audience => { contact_ids => [$rp, $si] },
                    steps => [{ channel => 'email', content => { subject => 's', text => 't' }, delay_minutes => 5 }] });
is(scalar @{ $sr->{steps} }, 1, 'created with a step');
my $pr = $t->http(PATCH => "/api/campaigns/$sr->{id}", key => $send,
               json => { steps => [{ channel => 'sms', content => { message => 'Reminder, {{name}}' },
                                     delay_seconds => 5, condition => 'not_replied' }] });
is($pr->{status}, 200, 'PATCH replaces the steps') or diag $pr->{content};
is_deeply([map { [$_->{channel}, $_->{condition}, $_->{delay_seconds}] } @{ ($pr->{json} || {})->{steps} || [] }],
          [['sms', 'not_replied', 5]], 'the new step');
ok_json(act($sr->{id}, 'start'), 200, 'start the reminder campaign');
ok(wait_until(sub { my $n = received(); $n->{ phone(30) } && $n->{ phone(31) } }, 30, 0.1), 'both got the first SMS');
ok(wait_until(sub { (recipient($sr->{id}, $rp)->{status} // '') =~ /^(sent|delivered)$/ }, 30, 0.1), 'sent');
my $in_sid = 'SM' . hex32();
is($t->twilio_post('/webhooks/twilio/sms/inbound', $t->inbound_sms_params(phone(30), 'yes!', $in_sid))->{status},
   200, 'the replier answers');
ok(wait_status($sr->{id}, 'completed', 60), 'the reminder campaign completes');
my $bodies = {};
push @{ $bodies->{ $_->{to} // '' } }, $_->{body} for @{ $t->sim_messages };
is_deeply($bodies->{ phone(31) }, ['Coming, Silent?', 'Reminder, Silent'], 'the silent one got the reminder');
is_deeply($bodies->{ phone(30) }, ['Coming, Replier?'], 'the replier did not');
my $dr = $t->http(PATCH => "/api/campaigns/$sr->{id}", key => $send, json => { steps => undef });
is($dr->{status}, 409, 'a completed campaign cannot be patched');

# ------------------------------------------------------------ quiet hours end
ok(wait_until(sub { received()->{ phone(1) } }, $end_local - int($syd_local) + 30, 0.2),
   'the deferred recipient is sent when its window ends');
my $sent_at = $t->mysql_value(q{SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01', m.created_at) / 1e6
    FROM campaign_recipients r JOIN messages m ON m.id = r.message_id WHERE r.campaign_id = ? AND r.contact_id = ?},
    $q->{id}, $syd);
ok(defined $sent_at && $sent_at >= $expected_until, 'and not before the window ended')
    or diag "claimed at $sent_at, window ended at $expected_until";
ok(wait_status($q->{id}, 'completed', 30), 'the quiet-hours campaign completes');
is(received()->{ phone(1) }, 1, 'exactly once');
$st = get_campaign($q->{id})->{stats} || {};
ok(!$st->{skipped}{quiet_hours_deferred}, 'no longer counted as deferred');

$t->done;
