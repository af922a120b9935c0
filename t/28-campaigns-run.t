#!/usr/bin/perl
# Campaigns run by the sender's dispatcher (docs/DESIGN.md "Campaigns"):
# campaigns and variants are inserted with SQL (the module's campaign API
# is written elsewhere), contacts through POST /api/contacts; what counts
# is what reaches the simulator. Every eligible recipient gets exactly one
# rendered message; every skip reason is counted; never-repeat holds across
# campaigns; audience_limit takes the next N; A/B splits by weight; pause
# stops sends within a second and resume finishes; a SIGKILLed dispatcher
# sends nobody twice; a scheduled campaign starts by itself; e-mail and
# Meta template campaigns are rendered.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use BC::Test qw(:all);

my $t = BC::Test->new(env => { BC_RECLAIM_IDLE_MS => 1000 });
my $manage = $t->create_key('manage');

my @CROCKFORD = split //, '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
sub ulid { join '', '01', map { $CROCKFORD[int rand 32] } 1 .. 24 }

sub contact {
    my (%c) = @_;
    my $r = $t->post('/api/contacts', key => $manage, json => \%c);
    die "POST /api/contacts: $r->{status} $r->{content}" unless $r->{status} == 201;
    return $r->{json}{id};
}

sub sms_proto {
    my ($body) = @_;
    return { channel => 'sms', provider => 'twilio', from => $t->sms_from,
             messaging_service_sid => '', body => $body, extra => undef };
}

# a campaign row and its variants ([name, weight, proto] each); returns id
sub insert_campaign {
    my (%o) = @_;
    my $dbh = $t->dbh;
    my $proto = $o{proto} // sms_proto($o{body});
    $dbh->do(q{INSERT INTO campaigns (name, channel, status, batch_id,
        template_id, never_repeat_template, audience, audience_limit,
        template_variables, rate_per_second, schedule_at, created_at,
        updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,
        IF(? IS NULL, NULL, UTC_TIMESTAMP(3) + INTERVAL ? SECOND),
        UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))}, undef,
        $o{name} // 'c', $proto->{channel}, $o{status} // 'running', ulid(),
        $o{template_id}, $o{never_repeat} ? 1 : 0,
        json_encode($o{audience}), $o{limit},
        $o{vars} ? json_encode($o{vars}) : undef, $o{rate} // 0,
        $o{schedule_in}, $o{schedule_in});
    my $id = $dbh->last_insert_id(undef, undef, 'campaigns', 'id');
    my $variants = $o{variants} // [['default', 1, $proto]];
    my $i = 0;
    for my $v (@$variants) {
        $dbh->do(q{INSERT INTO campaign_variants (campaign_id, idx, name,
            weight, proto) VALUES (?,?,?,?,?)}, undef, $id, $i++, $v->[0],
            $v->[1], json_encode($v->[2]));
    }
    return $id;
}

sub campaign { $t->mysql('SELECT * FROM campaigns WHERE id=?', $_[0])->[0] }
sub wait_done {
    my ($id, $timeout) = @_;
    return wait_until(sub { (campaign($id)->{status} // '') =~ /^(completed|failed)$/ },
                      $timeout // 60, 0.1);
}
sub reasons {
    my ($id) = @_;
    my %r;
    for (@{ $t->mysql(q{SELECT IFNULL(skip_reason, state) AS r, COUNT(*) AS n
                         FROM campaign_recipients WHERE campaign_id=? GROUP BY 1}, $_[0]) }) {
        $r{ $_->{r} } = $_->{n};
    }
    return \%r;
}
# messages the simulator took, by recipient
sub sim_by_to {
    my %by;
    push @{ $by{ $_->{to} // '' } }, $_ for @{ $t->sim_messages };
    return \%by;
}
# every phone of @$phones got exactly one message whose body matches
sub exactly_once {
    my ($phones, $what, $body) = @_;
    my $by = sim_by_to();
    my @bad = grep { @{ $by->{$_} || [] } != 1 } @$phones;
    ok(!@bad, "$what: each of " . scalar(@$phones) . " recipients got exactly one message")
        or diag explain { map { $_ => scalar @{ $by->{$_} || [] } } @bad };
    if ($body) {
        my @wrong = grep { $by->{$_} && !$body->($_, $by->{$_}[0]{body}) } @$phones;
        ok(!@wrong, "$what: rendered") or diag explain [map { $by->{$_}[0]{body} } @wrong];
    }
}
sub phone { sprintf '+1415556%04d', $_[0] }

# ------------------------------------------------------------ skip reasons
# (a suppressed contact lacking a variable is counted as suppressed)
my (@ok, %name);
for my $i (1 .. 5) {
    my $p = phone($i);
    push @ok, $p;
    $name{$p} = "Ann$i";
    contact(name => "Ann$i", phone => $p, tags => ['basic'],
            attributes => { plan => "gold$i", n => $i });
}
contact(name => 'NoPhone', email => 'nophone@example.com', tags => ['basic'], attributes => { plan => 'x' });
contact(name => 'Opt', phone => phone(11), tags => ['basic'], attributes => { plan => 'x' });
contact(name => 'OptSms', phone => phone(12), tags => ['basic'], attributes => { plan => 'x' });
contact(name => 'Black', phone => phone(13), tags => ['basic'], attributes => { plan => 'x' });
contact(name => 'NoPlan', phone => phone(14), tags => ['basic']);
contact(name => 'OptMail', phone => phone(15), tags => ['basic'], attributes => { plan => 'gold15', n => 15 });
push @ok, phone(15);
$name{ phone(15) } = 'OptMail';
contact(name => 'Other', phone => phone(16), tags => ['elsewhere'], attributes => { plan => 'x' });
$t->dbh->do(q{INSERT INTO opt_outs (address, channel, source, created_at) VALUES
    (?, '', 'test', UTC_TIMESTAMP()), (?, 'sms', 'test', UTC_TIMESTAMP()),
    (?, 'email', 'test', UTC_TIMESTAMP())}, undef, phone(11), phone(12), phone(15));
$t->dbh->do(q{INSERT INTO blacklist (address, reason, created_at) VALUES (?, 'test', UTC_TIMESTAMP())},
    undef, phone(13));

my $c1 = insert_campaign(audience => { tags => ['basic'] },
    body => 'Hi {{name}}, plan {{ plan }} #{{n}} {{promo}}',
    vars => { promo => 'SAVE10' });
ok(wait_done($c1), 'the campaign completed') or diag explain campaign($c1);
my $row = campaign($c1);
is($row->{status}, 'completed', 'status completed');
ok($row->{completed_at}, 'completed_at set');
ok(!defined $row->{lease_owner}, 'the lease is given back');
is($row->{recipients}, 11, 'recipients counts every row');
is($row->{eligible}, 6, 'eligible counts the rows not skipped');
is_deeply(reasons($c1), { queued => 6, no_address => 1, opted_out => 2,
    blacklisted => 1, missing_variables => 1 }, 'each skip reason counted once')
    or diag explain reasons($c1);
exactly_once(\@ok, 'tag audience', sub {
    my ($p, $b) = @_;
    my ($n) = $p =~ /(\d\d)$/;
    $n += 0;
    $b eq "Hi $name{$p}, plan gold$n #$n SAVE10";
});
my $by = sim_by_to();
ok(!grep({ $by->{ phone($_) } } 11 .. 14, 16), 'nobody skipped or outside the audience got anything');
is($t->mysql_value(q{SELECT COUNT(*) FROM messages m JOIN campaign_recipients r
    ON r.message_id=m.id WHERE r.campaign_id=? AND m.batch_id=?}, $c1, $row->{batch_id}),
    6, 'every message carries the campaign batch_id');

# ------------------------------------------------------------ audience: union and filter
# the union of tags, group_ids and contact_ids, narrowed by attributes,
# locale and the country of the phone number; the filtered-out get no row
sub uk { sprintf '+4474001234%02d', $_[0] }    # GB (+447911123… is Guernsey)
my %f;
$f{1} = contact(name => 'F1', phone => uk(1), locale => 'fr', attributes => { plan => 'gold' }, tags => ['fa']);
$f{2} = contact(name => 'F2', phone => uk(2), locale => 'fr', attributes => { plan => 'silver' }, tags => ['fa']);
$f{3} = contact(name => 'F3', phone => phone(201), locale => 'fr', attributes => { plan => 'gold' });
$f{4} = contact(name => 'F4', phone => uk(4), locale => 'fr', attributes => { plan => 'gold' });
$f{5} = contact(name => 'F5', phone => uk(5), locale => 'fr', attributes => { plan => 'gold' });
$f{6} = contact(name => 'F6', phone => uk(6), locale => 'fr', attributes => { plan => 'gold' });
$f{7} = contact(name => 'F7', phone => uk(7), locale => 'en', attributes => { plan => 'gold' }, tags => ['fa']);
my $g = $t->post('/api/groups', key => $manage, json => { name => 'campaign group' });
is($g->{status}, 201, 'group created') or diag $g->{content};
my $gr = $t->post("/api/groups/$g->{json}{id}/members", key => $manage, json => { contact_ids => [$f{3}, $f{4}] });
is($gr->{status}, 200, 'members added') or diag $gr->{content};
my $cf_id = insert_campaign(body => 'F {{name}}', audience => {
    tags => ['fa'], group_ids => [0 + $g->{json}{id}], contact_ids => [0 + $f{5}],
    filter => { attributes => { plan => 'gold' }, locale => 'fr', country => 'GB' } });
ok(wait_done($cf_id), 'the filtered campaign completed');
is_deeply([map { $_->{contact_id} } @{ $t->mysql(
    'SELECT contact_id FROM campaign_recipients WHERE campaign_id=? ORDER BY contact_id', $cf_id) }],
    [$f{1}, $f{4}, $f{5}], 'rows only for the audience members the filter keeps');
exactly_once([uk(1), uk(4), uk(5)], 'union and filter', sub { $_[1] =~ /^F F[145]$/ });
$by = sim_by_to();
ok(!grep({ $by->{ uk($_) } } 2, 6, 7) && !$by->{ phone(201) }, 'the others got nothing');

# ------------------------------------------------------------ never repeat + limit
my @nr = map { phone(100 + $_) } 1 .. 6;
contact(name => "NR$_", phone => $nr[$_ - 1], tags => ['nr']) for 1 .. 6;
my %nr_got;
my @nr_c;
for my $k (1 .. 3) {
    my $id = insert_campaign(audience => { tags => ['nr'] }, body => "NR$k {{name}}",
        template_id => 7001, never_repeat => 1, limit => $k < 3 ? 2 : undef);
    ok(wait_done($id), "never-repeat campaign $k completed");
    push @nr_c, $id;
}
$by = sim_by_to();
exactly_once(\@nr, 'never-repeat over three campaigns');
is_deeply([map { ($by->{$_}[0]{body} // '') =~ /^NR(\d)/ ? $1 : 0 } @nr], [1, 1, 2, 2, 3, 3],
    'audience_limit 2 takes the next two who never had the template');
is_deeply(reasons($nr_c[1]), { queued => 2, already_sent_template => 2 },
    'the second campaign skipped the first two as already_sent_template');
is(campaign($nr_c[1])->{eligible}, 2, 'the limit counts eligible rows');
is_deeply(reasons($nr_c[2]), { queued => 2, already_sent_template => 4 },
    'the third campaign took the rest');
is($t->mysql_value('SELECT COUNT(*) FROM template_sends WHERE template_id=7001'), 6,
    'one template_sends row per contact');

# ------------------------------------------------------------ A/B split
my @ab = map { phone(1000 + $_) } 1 .. 200;
contact(name => "AB$_", phone => $ab[$_ - 1], tags => ['ab']) for 1 .. 200;
my $cab = insert_campaign(audience => { tags => ['ab'] }, variants => [
    ['a', 1, sms_proto('A {{name}}')], ['b', 3, sms_proto('B {{name}}')] ]);
ok(wait_done($cab, 90), 'A/B campaign completed');
exactly_once(\@ab, 'A/B', sub { $_[1] =~ /^[AB] AB\d+$/ });
$by = sim_by_to();
my $na = grep { ($by->{$_}[0]{body} // '') =~ /^A / } @ab;
ok($na >= 25 && $na <= 75, "variant a (weight 1 of 4) got $na of 200 (50 expected)");
is($t->mysql_value(q{SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id=? AND variant=0}, $cab),
   $na, 'the rows record the variant each recipient got');

# ------------------------------------------------------------ pause and resume
my @pr = map { phone(2000 + $_) } 1 .. 40;
contact(name => "PR$_", phone => $pr[$_ - 1], tags => ['pr']) for 1 .. 40;
my $cpr = insert_campaign(audience => { tags => ['pr'] }, body => 'PR {{name}}', rate => 8);
my %is_pr = map { $_ => 1 } @pr;
sub pr_sent { [grep { $is_pr{ $_->{to} // '' } } @{ $t->sim_messages }] }
ok(wait_until(sub { @{ pr_sent() } >= 5 }, 30, 0.05), 'the paced campaign is sending');
$t->dbh->do(q{UPDATE campaigns SET status='paused' WHERE id=?}, undef, $cpr);
my $paused_ms = time * 1000;
sleep 2.5;    # watching for sends that should not happen
my $late = grep { $_->{created_ms} > $paused_ms + 1000 } @{ pr_sent() };
is($late, 0, 'no message reached the simulator more than 1 s after the pause');
my $n_paused = @{ pr_sent() };
ok($n_paused < 40, "the pause held back the rest ($n_paused of 40 sent)");
is($t->mysql_value(q{SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id=? AND state='queued'
    AND message_id NOT IN (SELECT id FROM messages)}, $cpr), 0,
    'no row is left queued without being sent');
$t->dbh->do(q{UPDATE campaigns SET status='running' WHERE id=?}, undef, $cpr);
ok(wait_done($cpr, 60), 'the resumed campaign completed');
exactly_once(\@pr, 'pause and resume', sub { $_[1] =~ /^PR PR\d+$/ });

# ------------------------------------------------------------ cancel: swept in the background
# The API's cancel moves the status only; the dispatcher marks the pending
# recipients cancelled and gives back their never-repeat rows, in batches.
my @cx = map { phone(2500 + $_) } 1 .. 30;
contact(name => "CX$_", phone => $cx[$_ - 1], tags => ['cx']) for 1 .. 30;
my %is_cx = map { $_ => 1 } @cx;
sub cx_sent { [grep { $is_cx{ $_->{to} // '' } } @{ $t->sim_messages }] }
my $ccx = insert_campaign(audience => { tags => ['cx'] }, body => 'CX {{name}}', rate => 4,
    template_id => 7002, never_repeat => 1);
ok(wait_until(sub { @{ cx_sent() } >= 3 }, 30, 0.05), 'the campaign to cancel is sending');
my $cancel = $t->post("/api/campaigns/$ccx/cancel", key => $manage, json => {});
is($cancel->{json}{status}, 'cancelled', 'cancel answers cancelled') or diag $cancel->{content};
my $cancelled_ms = time * 1000;
ok(wait_until(sub { defined campaign($ccx)->{completed_at} }, 30, 0.1),
   'the dispatcher swept the cancelled campaign (completed_at set)');
my $rs = reasons($ccx);
ok(!$rs->{pending}, 'no recipient is left pending') or diag explain $rs;
ok(($rs->{cancelled} // 0) > 0, "the never-queued recipients are cancelled ($rs->{cancelled})");
is($t->mysql_value('SELECT COUNT(*) FROM template_sends WHERE campaign_id=?', $ccx),
   $rs->{queued} // 0, 'only the queued recipients keep their never-repeat rows');
is(scalar(grep { $_->{created_ms} > $cancelled_ms + 1000 } @{ cx_sent() }), 0,
   'nothing reached the simulator more than 1 s after the cancel');

# ------------------------------------------------------------ SIGKILL
my @k = map { phone(3000 + $_) } 1 .. 60;
contact(name => "K$_", phone => $k[$_ - 1], tags => ['k']) for 1 .. 60;
my %is_k = map { $_ => 1 } @k;
my $ck = insert_campaign(audience => { tags => ['k'] }, body => 'K {{name}}', rate => 20);
ok(wait_until(sub { grep({ $is_k{ $_->{to} // '' } } @{ $t->sim_messages }) >= 10 }, 30, 0.05),
   'the campaign is sending');
ok($t->kill9('sender'), 'sender SIGKILLed mid-campaign');
is($t->start('sender'), 0, 'sender restarted');
ok(wait_done($ck, 90), 'the campaign completed after the restart');
exactly_once(\@k, 'SIGKILL and restart', sub { $_[1] =~ /^K K\d+$/ });

# ------------------------------------------------------------ takeover
# a dead sender's expired lease: rows it queued in MySQL but never XADDed
# (no messages row, no bc:msg) are queued again; a row whose entry is in
# the stream is sent from that entry, not queued twice; a stale entry
# (an older queue_seq) is dropped
my @tk = map { phone(3500 + $_) } 1 .. 5;
my @tkc = map { contact(name => "T$_", phone => $tk[$_ - 1]) } 1 .. 5;
my $ct = insert_campaign(audience => { contact_ids => \@tkc }, body => 'T {{name}}', status => 'draft');
my $tk_batch = campaign($ct)->{batch_id};
my %tk_mid;
for my $i (0 .. 4) {
    $tk_mid{$i} = ulid();
    $t->dbh->do(q{INSERT INTO campaign_recipients (campaign_id, step, contact_id, variant,
        address, message_id, state, queue_seq, created_at, updated_at)
        VALUES (?, 0, ?, 0, ?, ?, 'queued', 1, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))},
        undef, $ct, $tkc[$i], $tk[$i], $tk_mid{$i});
}
sub tk_job {
    my ($i, $seq) = @_;
    return json_encode({ id => $tk_mid{$i}, batch_id => $tk_batch, channel => 'sms',
        provider => 'twilio', to => $tk[$i], from => $t->sms_from,
        messaging_service_sid => '', body => 'T T' . ($i + 1), api_key_id => 0,
        created_ms => int(time * 1000), attempt => 0, campaign_id => 0 + $ct,
        queue_seq => $seq });
}
# the dead sender holds the lease for 3 more seconds; row 4's entry made it
# to the stream (with bc:msg), row 5 has only a stale entry of an earlier seq
$t->dbh->do(q{UPDATE campaigns SET status='running', fanout_done=1, lease_owner='sender-dead',
    lease_until=UTC_TIMESTAMP(3) + INTERVAL 3 SECOND WHERE id=?}, undef, $ct);
$t->redis('SET', "bc:{q}:msg:$tk_mid{3}", tk_job(3, 1), 'EX', '600');
$t->redis('XADD', 'bc:{q}:stream:send', '*', 'job', tk_job(3, 1));
$t->redis('XADD', 'bc:{q}:stream:send', '*', 'job', tk_job(4, 0));
ok(wait_done($ct, 60), 'a campaign with an expired lease is taken over and completed');
is(campaign($ct)->{status}, 'completed', 'completed');
exactly_once(\@tk, 'takeover', sub { $_[1] =~ /^T T\d$/ });
is($t->mysql_value(q{SELECT queue_seq FROM campaign_recipients WHERE message_id=?}, $tk_mid{3}), 1,
   'the row whose entry was in the stream was not queued again');
is($t->mysql_value(q{SELECT queue_seq FROM campaign_recipients WHERE message_id=?}, $tk_mid{0}), 2,
   'a row that never reached the stream was queued again (next seq)');

# ------------------------------------------------------------ scheduled
my $sp = phone(4001);
contact(name => 'Sched', phone => $sp, tags => ['sched']);
my $cs = insert_campaign(audience => { contact_ids => [] , tags => ['sched'] },
    body => 'S {{name}}', status => 'scheduled', schedule_in => 2);
is(campaign($cs)->{status}, 'scheduled', 'scheduled, not started early');
ok(wait_done($cs, 30), 'the scheduled campaign started by itself and completed');
ok($t->mysql_value(q{SELECT started_at >= schedule_at FROM campaigns WHERE id=?}, $cs),
   'started at or after schedule_at');
exactly_once([$sp], 'scheduled', sub { $_[1] eq 'S Sched' });

# ------------------------------------------------------------ e-mail (SendGrid)
my @em = map { "camp$_\@example.org" } 1 .. 3;
contact(name => "Mail$_", email => $em[$_ - 1], tags => ['mail']) for 1 .. 3;
my $ce = insert_campaign(audience => { tags => ['mail'] }, proto => {
    channel => 'email', provider => 'sendgrid', from => $t->email_from,
    messaging_service_sid => '', body => 'Hello {{name}}',
    extra => { subject => 'News for {{name}}', text => 'Hello {{name}}',
               html => '<p>Hello {{name}}</p>' } });
ok(wait_done($ce, 60), 'the e-mail campaign completed');
my @mails = grep { ($_->{provider} // '') eq 'sendgrid' } @{ $t->sim_messages };
for my $i (1 .. 3) {
    my @m = grep { lc($_->{to} // '') eq $em[$i - 1] } @mails;
    is(scalar @m, 1, "e-mail $i sent once");
    is($m[0] && $m[0]{subject}, "News for Mail$i", "e-mail $i subject rendered");
}

# ------------------------------------------------------------ WhatsApp: Meta template, window
my @wa = map { phone(5000 + $_) } 1 .. 2;
contact(name => "Wa$_", phone => phone(6000 + $_), whatsapp => $wa[$_ - 1], tags => ['wa']) for 1 .. 2;
my $cm = insert_campaign(audience => { tags => ['wa'] }, proto => {
    channel => 'whatsapp', provider => 'meta', from => $t->meta_from,
    messaging_service_sid => '', body => 'template hello_world',
    extra => { message => { type => 'template', template => {
        name => 'hello_world', language => { code => 'en_US' },
        components => [{ type => 'body', parameters => [{ type => 'text', text => '{{name}}' }] }] } } } });
ok(wait_done($cm, 60), 'the Meta template campaign completed');
for my $i (1 .. 2) {
    (my $digits = $wa[$i - 1]) =~ s/^\+//;
    my @m = grep { ($_->{provider} // '') eq 'meta' && ($_->{to} // '') eq $digits } @{ $t->sim_messages };
    is(scalar @m, 1, "Meta template $i reached the simulator once (to the whatsapp number)");
    is($m[0] && $m[0]{template}, 'hello_world', "Meta template $i by name");
    my $payload = $t->mysql_open(q{SELECT m.payload FROM messages m JOIN campaign_recipients r
        ON r.message_id=m.id WHERE r.campaign_id=? AND r.address=?}, $cm, $wa[$i - 1]) // '';
    like($payload, qr/"text":"Wa$i"/, "Meta template $i parameter rendered in what was sent");
}

# free-form WhatsApp (Twilio) only inside the customer's 24-hour window
my $wf = $t->whatsapp_from;
$t->redis('SET', "bc:{ev}:wawin:$wf:$wa[0]", '1', 'EX', '600');
my $cw = insert_campaign(audience => { tags => ['wa'] }, proto => {
    channel => 'whatsapp', provider => 'twilio', from => $wf,
    messaging_service_sid => '', body => 'Free {{name}}', extra => undef });
ok(wait_done($cw, 60), 'the free-form WhatsApp campaign completed');
is_deeply(reasons($cw), { queued => 1, outside_24h_window => 1 },
    'the closed window is skipped outside_24h_window');
$by = sim_by_to();
is(scalar @{ $by->{"whatsapp:$wa[0]"} || [] }, 1, 'the open window got the free-form message');
is(($by->{"whatsapp:$wa[0]"}[0] || {})->{body}, 'Free Wa1', 'rendered');

# ------------------------------------------------------------ a broken proto fails
my $cf = insert_campaign(audience => { all => JSON::PP::true() }, proto => { channel => 'sms' });
ok(wait_done($cf, 30), 'a campaign whose content cannot be used ends');
$row = campaign($cf);
is($row->{status}, 'failed', 'status failed');
like($row->{error} // '', qr/variant/, 'error says why');
is($t->mysql_value('SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id=?', $cf), 0,
   'nothing fanned out');

# ------------------------------------------------------------ the stream is left clean
ok(wait_until(sub { ($t->redis_raw('XPENDING', 'bc:{q}:stream:send', 'senders') // '') =~ /\A0\n/ }, 30, 0.1),
   'every stream entry acknowledged');

$t->done;
