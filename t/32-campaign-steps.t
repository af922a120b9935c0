#!/usr/bin/perl
# Campaigns, slice 2 (docs/DESIGN.md "Campaigns"): quiet hours defer a
# recipient whose local time (its contact's IANA zone, DST included) is
# inside the window to the window's end, counted as
# skipped.quiet_hours_deferred while it waits and sent when the window
# ends; a contact value with '"' and '\' inside Twilio's content_variables
# is JSON-escaped (the message goes out, its ContentVariables parse).
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
my $payload = json_decode($r->{payload} // '') || {};
my $vars = json_decode($payload->{content_variables} // '');
is_deeply($vars, { 1 => $hostile, 2 => '10' }, 'content_variables is valid JSON with the name intact');

# ------------------------------------------------------------ quiet hours end
ok(wait_until(sub { received()->{ phone(1) } }, $end_local - int($syd_local) + 30, 0.2),
   'the deferred recipient is sent when its window ends');
ok(time >= $expected_until - 1, 'and not before');
ok(wait_status($q->{id}, 'completed', 30), 'the quiet-hours campaign completes');
is(received()->{ phone(1) }, 1, 'exactly once');
$st = get_campaign($q->{id})->{stats} || {};
ok(!$st->{skipped}{quiet_hours_deferred}, 'no longer counted as deferred');

$t->done;
