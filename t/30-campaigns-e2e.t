#!/usr/bin/perl
# Campaigns end to end through the API: contacts and a group, a template,
# a campaign created, started, paused and resumed with the API and run by
# the sender's dispatcher to the simulator; live stats; never the same
# template twice ("the next N who never had it"); check-duplicates and the
# template's history; retry-failed; a WhatsApp (Meta) and an e-mail
# campaign. The simulator's received list is the witness throughout.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use BC::Test qw(:all);

my $t = BC::Test->new;
my $manage = $t->create_key('manage');
my $send = $t->create_key('send');
my $read = $t->create_key('read');

sub phone { sprintf '+1415556%04d', $_[0] }
sub ok_json {
    my ($r, $status, $what) = @_;
    is($r->{status}, $status, $what) or diag $r->{content};
    return $r->{json} || {};
}
sub contact {
    my (%c) = @_;
    return ok_json($t->post('/api/contacts', key => $manage, json => \%c), 201, "contact $c{name}")->{id};
}
sub group_of {
    my ($name, @ids) = @_;
    my $g = ok_json($t->post('/api/groups', key => $manage, json => { name => $name }), 201, "group $name")->{id};
    ok_json($t->post("/api/groups/$g/members", key => $manage, json => { contact_ids => \@ids }), 200, "members of $name");
    return $g;
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
sub bodies_to { my %b; push @{ $b{ $_->{to} // '' } }, $_->{body} for @{ $t->sim_messages }; \%b }

# ------------------------------------------------------------ the audience
my @ids = map { contact(name => "Ann$_", phone => phone($_), attributes => { city => "City$_" }) } 1 .. 30;
push @ids, contact(name => 'NoPhone', email => 'nophone@example.com');
my $optout = phone(31);
push @ids, contact(name => 'Opted', phone => $optout, attributes => { city => 'X' });
ok_json($t->post('/api/opt-outs', key => $manage, json => { channel => 'sms', address => $optout }), 201, 'opt-out');
my $g1 = group_of('e2e', @ids);
my $tpl = ok_json($t->post('/api/templates', key => $manage,
    json => { channel => 'sms', name => 'hello', body => 'Hi {{name}} from {{city}}' }), 201, 'template')->{id};

# ------------------------------------------------------------ run one
my $c1 = campaign({ name => 'first', channel => 'sms', template_id => $tpl, audience => { group_ids => [$g1] } });
is($c1->{status}, 'draft', 'created as a draft');
is($c1->{never_repeat_template}, JSON::PP::true(), 'never_repeat_template defaults to true with a template');
my $r = act($c1->{id}, 'start');
is(($r->{json} || {})->{status}, 'running', 'start → running') or diag $r->{content};
is_error(act($c1->{id}, 'start'), 409, 'invalid_transition', 'start twice');
ok(wait_status($c1->{id}, 'completed', 90), 'the dispatcher completed it');
my $st = get_campaign($c1->{id})->{stats} || {};
is($st->{audience}, 32, 'stats.audience: every recipient row');
is($st->{eligible}, 30, 'stats.eligible: 30');
is_deeply($st->{skipped}, { no_address => 1, opted_out => 1 }, 'skipped by reason');
ok(wait_until(sub { (get_campaign($c1->{id})->{stats}{delivered} // 0) == 30 }, 60, 0.2),
   'stats.delivered reaches 30 with the callbacks');
is(get_campaign($c1->{id})->{stats}{progress}, 1, 'progress 1');
my $got = received();
is(scalar(grep { ($got->{ phone($_) } // 0) == 1 } 1 .. 30), 30, 'each of the 30 got exactly one message');
ok(!$got->{$optout}, 'the opted-out contact got nothing');
is(bodies_to()->{ phone(7) }[0], 'Hi Ann7 from City7', 'rendered from the contact and its attributes');

# ------------------------------------------------------------ never twice, next N
my @new = map { contact(name => "New$_", phone => phone(100 + $_), attributes => { city => 'N' }) } 1 .. 10;
ok_json($t->post("/api/groups/$g1/members", key => $manage, json => { contact_ids => \@new }), 200, 'ten more members');
my $c2 = campaign({ name => 'next five', channel => 'sms', template_id => $tpl,
                    audience => { group_ids => [$g1], limit => 5 } });
act($c2->{id}, 'start');
ok(wait_status($c2->{id}, 'completed', 90), 'the next-5 campaign completed');
$st = get_campaign($c2->{id})->{stats} || {};
is($st->{eligible}, 5, 'five eligible recipients');
ok(($st->{skipped}{already_sent_template} // 0) >= 30, 'the 30 who had it were skipped as already_sent_template');
$got = received();
is(scalar(grep { ($got->{ phone($_) } // 0) == 1 } 1 .. 30), 30, 'nobody of the first 30 got it twice');
my @new_got = grep { ($got->{ phone(100 + $_) } // 0) == 1 } 1 .. 10;
is(scalar @new_got, 5, 'exactly five of the new contacts got it');
ok(!grep({ ($got->{ phone(100 + $_) } // 0) > 1 } 1 .. 10), 'and none twice');

$r = $t->post('/api/campaigns/check-duplicates', key => $read,
              json => { template_id => $tpl, addresses => [phone(1), '+14155559999'] });
is($r->{status}, 200, 'check-duplicates') or diag $r->{content};
is_deeply([map { $_->{address} } @{ $r->{json}{already_sent} || [] }], [phone(1)], 'already_sent: the one who had it');
is_deeply([map { $_->{address} } @{ $r->{json}{not_sent} || [] }], ['+14155559999'], 'not_sent: the stranger');
my $hist = $t->get("/api/templates/$tpl/history?limit=500", key => $read)->{json}{history} || [];
is(scalar @$hist, 35, "the template's history: 30 + 5 recipients");

# ------------------------------------------------------------ pause and resume
my @pids = map { contact(name => "P$_", phone => phone(200 + $_)) } 1 .. 40;
my $gp = group_of('paced', @pids);
my $c3 = campaign({ name => 'paced', channel => 'sms', content => { message => 'P {{name}}' },
                    audience => { group_ids => [$gp] }, rate_per_second => 10 });
act($c3->{id}, 'start');
my %is_p = map { phone(200 + $_) => 1 } 1 .. 40;
sub p_sent { [grep { $is_p{ $_->{to} // '' } } @{ $t->sim_messages }] }
ok(wait_until(sub { @{ p_sent() } >= 5 }, 30, 0.05), 'the paced campaign is sending');
$r = act($c3->{id}, 'pause');
my $paused_ms = time * 1000;
is(($r->{json} || {})->{status}, 'paused', 'pause → paused');
is_error(act($c3->{id}, 'pause'), 409, 'invalid_transition', 'pause twice');
like($t->post("/api/campaigns/$c3->{id}/pause", key => $send, json => {})->{json}{error}{message} // '',
     qr/paused/, 'the 409 names the current status');
sleep 2;    # watching for provider calls that must not happen
my $late = grep { ($_->{created_ms} // 0) > $paused_ms + 1000 } @{ p_sent() };
is($late, 0, 'no provider call started more than 1 s after the pause answer');
my $held = 40 - @{ p_sent() };
ok($held > 0, "the pause held $held back");
is((act($c3->{id}, 'resume')->{json} || {})->{status}, 'running', 'resume → running');
ok(wait_status($c3->{id}, 'completed', 60), 'the resumed campaign completed');
$got = received();
is(scalar(grep { ($got->{ phone(200 + $_) } // 0) == 1 } 1 .. 40), 40, 'after pause and resume each of 40 got exactly one');

# ------------------------------------------------------------ retry-failed
# the simulator's magic numbers: 21211 (invalid, never retried) and a
# 429 that the sender retries by itself; undelivered ones come from the
# simulator's ratio below
$t->sim_config(undelivered_ratio => 1);
my @rids = map { contact(name => "R$_", phone => phone(300 + $_)) } 1 .. 6;
my $gr = group_of('retry', @rids);
my $c4 = campaign({ name => 'retry', channel => 'sms', content => { message => 'R' },
                    audience => { group_ids => [$gr] } });
act($c4->{id}, 'start');
ok(wait_until(sub { (get_campaign($c4->{id})->{stats}{undelivered} // 0) == 6 }, 60, 0.2),
   'every message ends undelivered (carrier error 30005 from the simulator)');
ok(wait_status($c4->{id}, 'completed', 60), 'and the campaign completes');
$t->sim_config(undelivered_ratio => 0);
$r = $t->post("/api/campaigns/$c4->{id}/retry-failed", key => $send, json => {});
is(($r->{json} || {})->{requeued}, 6, 'retry-failed requeues the six') or diag $r->{content};
ok(wait_until(sub { (get_campaign($c4->{id})->{stats}{delivered} // 0) == 6 }, 60, 0.2),
   'and they are delivered on the second attempt');
$got = received();
is(scalar(grep { ($got->{ phone(300 + $_) } // 0) == 2 } 1 .. 6), 6, 'two attempts each, one per retry');
is($t->post("/api/campaigns/$c4->{id}/retry-failed", key => $send, json => {})->{json}{requeued}, 0,
   'nothing left to retry');

# ------------------------------------------------------------ other channels
my $mail = contact(name => 'Mailer', email => 'mailer@example.com');
my $wa = contact(name => 'Wanda', phone => phone(400), whatsapp => phone(400));
my $gm = group_of('other channels', $mail, $wa);
my $c5 = campaign({ name => 'mail', channel => 'email',
                    content => { subject => 'Hello {{name}}', text => 'Dear {{name}}' },
                    audience => { group_ids => [$gm] } });
act($c5->{id}, 'start');
ok(wait_status($c5->{id}, 'completed', 60), 'the e-mail campaign completed');
my ($em) = grep { ($_->{to} // '') eq 'mailer@example.com' } @{ $t->sim_messages };
ok($em, 'the simulator got the e-mail');
my $c6 = campaign({ name => 'meta', channel => 'whatsapp', from => $t->meta_from,
                    content => { template => { name => 'hello_world', language => 'en_US' } },
                    audience => { group_ids => [$gm] } });
act($c6->{id}, 'start');
ok(wait_status($c6->{id}, 'completed', 60), 'the Meta template campaign completed');
$st = get_campaign($c6->{id})->{stats} || {};
is($st->{eligible}, 1, 'one WhatsApp recipient (the e-mail-only contact has no number)');
is_deeply($st->{skipped}, { no_address => 1 }, 'the other skipped as no_address');
ok(grep({ ($_->{to} // '') =~ /4155560400$/ } @{ $t->sim_messages }), 'the simulator got the WhatsApp template');

$t->done;
