#!/usr/bin/perl
# The console's dashboard, contacts, compliance, send and settings pages in
# Debian's Chromium (t/browser/console-admin.js): a CSV import with its
# upload and import progress and per-line errors, the contact filters, an
# opt-out and a keyword rule added through the forms, the dashboard's
# chart and a running campaign's progress bar, hostile strings shown as
# text, the language switch, first paint under 300 ms, screenshots in
# t/tmp/screenshots/; users made in settings, the audit log, and a viewer
# who sees no write buttons, whose direct write is refused and who changes
# its password.
# Also GET /api/stats/series, the dashboard's time series.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Encode qw(encode_utf8);
use POSIX qw(strftime);
use BC::Test qw(:all);

my $t = BC::Test->new;
my ($user, $pass) = $t->admin_credentials;
my $manage = $t->create_key('manage');
my $read = $t->create_key('read');

sub api {
    my ($method, $path, $body) = @_;
    my $r = $t->http($method => $path, key => $manage, defined $body ? (json => $body) : ());
    die "$method $path: $r->{status} $r->{content}" unless $r->{status} =~ /^20/;
    return $r->{json};
}

my %hostile = (
    contact => '<img src=x onerror=window.__xss=1>',
    script  => '</script><script>window.__xss=2</script>',
    group   => '<img src=x onerror=window.__xss=3> group',
    reply   => '<img src=x onerror=window.__xss=4> reply',
    campaign => '<img src=x onerror=window.__xss=5> campaign',
);

my $c1 = api(POST => '/api/contacts', { name => $hostile{contact}, phone => '+14155550170',
                                        tags => ['vip'] })->{id};
my $c2 = api(POST => '/api/contacts', { name => $hostile{script}, phone => '+14155550171',
                                        tags => ['vip', 'beta'] })->{id};
my $c3 = api(POST => '/api/contacts', { name => 'Plain Person', phone => '+14155550172',
                                        tags => ['beta'] })->{id};
my $group = api(POST => '/api/groups', { name => $hostile{group} })->{id};
api(POST => "/api/groups/$group/members", { contact_ids => [$c1, $c3] });
api(POST => '/api/keyword-rules', { keyword => 'HOURS', response_text => $hostile{reply} });

# three SMS for the chart
my $sent = $t->send_sms(to => ['+14155550180', '+14155550181', '+14155550182'], message => 'chart');
is($sent->{status}, 202, 'three SMS sent for the chart');

# a campaign that runs for a while: 40 contacts at one message a second
my $audience = api(POST => '/api/groups', { name => 'Campaign audience' })->{id};
my @members = map { api(POST => '/api/contacts', { phone => sprintf('+1415555%04d', 2000 + $_) })->{id} } 1 .. 40;
api(POST => "/api/groups/$audience/members", { contact_ids => \@members });
my $camp = $t->post('/api/campaigns', key => $t->send_key, json => {
    name => $hostile{campaign}, channel => 'sms', audience => { group_ids => [$audience] },
    content => { message => 'Hello from the campaign' }, rate_per_second => 1 });
is($camp->{status}, 201, 'a campaign is created') or diag $camp->{content};
my $start = $t->post("/api/campaigns/$camp->{json}{id}/start", key => $t->send_key);
is($start->{status}, 200, 'and started') or diag $start->{content};

# ---- GET /api/stats/series ------------------------------------------------

ok(wait_until(sub {
    my $r = $t->get('/api/stats/series', key => $read);
    my $sms = 0;
    $sms += $_->{sms} for @{ $r->{json}{points} || [] };
    $sms >= 3;
}, 20), 'the series counts the SMS just sent');
my $series = $t->get('/api/stats/series', key => $read);
is($series->{status}, 200, 'series: 200');
is($series->{json}{bucket}, 'hour', 'hourly buckets by default');
my $hour = strftime('%Y-%m-%dT%H:00:00Z', gmtime);
my ($now) = grep { $_->{at} eq $hour } @{ $series->{json}{points} };
ok($now && $now->{sms} >= 3, 'the current hour holds the SMS') or diag explain $series->{json};
is_deeply([sort grep { $_ ne 'at' } keys %{ $now || {} }], [qw(email sms whatsapp)],
          'every channel is named in a point');
is($now->{email}, 0, 'channels without messages count 0');
my $day = $t->get('/api/stats/series?bucket=day&from=' . strftime('%Y-%m-%d', gmtime), key => $read);
is($day->{json}{points}[0]{at}, strftime('%Y-%m-%dT00:00:00Z', gmtime), 'bucket=day starts at midnight UTC');
is_deeply($t->get('/api/stats/series?channel=email', key => $read)->{json}{points}, [],
          'channel filters (no e-mail was sent)');
is_error($t->get('/api/stats/series?bucket=week', key => $read), 400, 'invalid_request', 'bucket=week');
is_error($t->get('/api/stats/series?from=2026-12-02&to=2026-12-01', key => $read), 422,
         'invalid_range', 'from after to');
is($t->get('/api/stats/series')->{status}, 401, 'series needs a credential');

# ---- the browser ----------------------------------------------------------

# 2,000 good rows and 3 bad ones, at physical lines 3, 500 and 1500
my @csv = ('name,phone,email,tags');
my %bad = (3 => 'Bad Phone,not-a-phone,,', 500 => 'Bad Mail,,nope@@example,', 1500 => 'No Address,,,');
my $n = 0;
for my $line (2 .. 2004) {
    push @csv, $bad{$line} // sprintf('Imported %d,+1415555%04d,,', $n, 4000 + $n++);
}
my $csv = join("\n", @csv) . "\n";

my $setup = "@{[ $t->dir ]}/console-setup.json";
open my $fh, '>', $setup or die "$setup: $!";
print $fh encode_utf8(json_encode({ csv => $csv, group_id => $group, plain_id => $c3 }));
close $fh;
my $shots = "$FindBin::Bin/tmp/screenshots";
mkdir $shots unless -d $shots;

my $out = `node $FindBin::Bin/browser/console-admin.js @{[ $t->base_url ]} $user $pass $setup $shots 2>&1`;
my $seen = json_decode((split /\n/, $out)[-1] // '') || {};
is_deeply($seen->{errors}, [], 'no page errors, every step completed') or diag $out;

note 'first paint (ms, best of three): '
   . join(', ', map { "$_ " . int($seen->{paint_ms}{$_} // -1) } sort keys %{ $seen->{paint_ms} || {} });
for my $page (qw(dashboard contacts compliance send settings)) {
    my $ms = $seen->{paint_ms}{$page};
    ok(defined $ms && $ms < paint_budget_ms(), "$page: first paint under " . paint_budget_ms() . " ms")
        or diag "$page: " . ($ms // 'never');
    ok(-s "$shots/$page.png", "$page: screenshot written");
}

is($seen->{upload_reported}, '1', 'the browser reports the whole file uploaded');
is($seen->{upload_value}, 1, 'the upload progress bar reaches 100%');
is($seen->{upload_pct}, '100%', 'and says so');
like($seen->{import_state} // '', qr/^done$/, 'the import completes');
like($seen->{import_status} // '', qr/2,?003 rows: 2,?000 created, 0 updated, 3 rejected/,
     'with its counters');
is_deeply([map { $_->[0] } @{ $seen->{import_errors} || [] }], [3, 500, 1500],
          'each rejected line is reported by its number');
ok(!grep({ !length $_->[1] } @{ $seen->{import_errors} || [] }), 'each with a reason');
is($t->get('/api/contacts?tag=csv&limit=1', key => $read)->{json}{total}, 2000,
   'the imported contacts are in the API, tagged');

is(scalar @{ $seen->{tag_rows} || [] }, 2, 'the tag filter shows the two vip contacts');
like($seen->{tag_total} // '', qr/\b2 contacts/, 'and counts them');
is($seen->{export_href}, '/api/contacts/export?tag=vip', 'the export link carries the filter');
is(scalar @{ $seen->{group_rows} || [] }, 2, 'the group filter shows the group\'s two members');
like(join(' ', @{ $seen->{group_rows} || [] }), qr/Plain Person/, 'the plain member among them');
unlike(join(' ', @{ $seen->{group_rows} || [] }), qr/\Q$hostile{script}\E/, 'not the other vip');

my $made = $t->get('/api/contacts?search=Made%20In', key => $read)->{json}{contacts} || [];
is($made->[0]{phone}, '+14155550177', 'a contact is made with the form');
is_deeply($made->[0]{tags}, ['console', 'vip'], 'with its tags');
like($seen->{tags_table} // '', qr/beta-testers/, 'a tag is renamed in the tags tab');
is($t->get('/api/contacts?tag=beta-testers', key => $read)->{json}{total}, 2, 'on both its contacts');
like($seen->{members_added} // '', qr/\b1 contacts/, 'a member is added to a new group by id');
like($seen->{members_after} // '', qr/\b0 contacts/, 'and removed');

like($seen->{oo_table} // '', qr/\+14155550199.*SMS.*asked on the phone/s, 'the opt-out is listed');
my $oo = $t->get('/api/opt-outs?search=%2B14155550199', key => $read)->{json}{opt_outs} || [];
is($oo->[0]{channel}, 'sms', 'and stored for SMS');
like($seen->{kw_table} // '', qr/PRICE.*contains.*example\.com\/prices/s, 'the keyword rule is listed');
my ($rule) = grep { $_->{keyword} eq 'PRICE' }
    @{ $t->get('/api/keyword-rules', key => $read)->{json}{keyword_rules} || [] };
is($rule && $rule->{match_type}, 'contains', 'and stored as a contains rule');

is($seen->{chart_canvas}, 1, 'the chart is drawn on a canvas');
cmp_ok($seen->{chart_total} // 0, '>=', 3, 'its series holds the sent messages');
like($seen->{chart_legend} // '', qr/SMS.*WhatsApp.*E-mail/s, 'one series per channel');
ok((grep { $_ > 0 && $_ <= 1 } @{ $seen->{campaign_progress} || [] }),
   'the running campaign has a moving progress bar');
like($seen->{campaign_text} // '', qr/\Q$hostile{campaign}\E/, 'under its name');

is($seen->{xss}, undef, 'no hostile string ran as code');
is($seen->{contacts_img}, 0, 'no element was made from data');
like(join(' ', @{ $seen->{tag_rows} || [] }), qr/\Q$hostile{contact}\E.*\Q$hostile{script}\E/s,
     'hostile contact names are shown as text');
like($seen->{groups_table} // '', qr/\Q$hostile{group}\E/, 'a hostile group name too');
like($seen->{kw_table} // '', qr/\Q$hostile{reply}\E/, 'and a hostile reply text');

like($seen->{nav_zh} // '', qr/概览.*联系人.*合规.*发送.*设置/s, 'the nav in Chinese');
like($seen->{settings_tabs_zh} // '', qr/发送方.*API 密钥/s, 'and the page too');

# users and roles
{
    like($seen->{users_table} // '', qr/op1.*viewer1/s, 'users are created in settings');
    my $users = $t->get('/api/admin/users', token => $t->token)->{json}{users} || [];
    my ($op) = grep { $_->{username} eq 'op1' } @$users;
    is($op && $op->{role}, 'operator', 'op1 is an operator');
    my @audit = @{ $seen->{audit_rows} || [] };
    is(scalar(grep { m{POST /api/admin/users} && /\Q$user\E/ } @audit), 2,
       'the audit log, filtered by action, shows both creations by the admin');
    like($seen->{viewer_who} // '', qr/viewer1/, 'the viewer signs in');
    is($seen->{viewer_new_button}, 0, 'no "new contact" for a viewer');
    is($seen->{viewer_edit_buttons}, 0, 'no edit or delete buttons in the list');
    ok($seen->{viewer_oo_form_hidden}, 'no opt-out form');
    is_deeply($seen->{viewer_key_scopes}, ['read'], 'a viewer may mint read keys only');
    ok($seen->{viewer_sender_form_hidden} && !$seen->{viewer_users_tab}, 'no sender form, no users tab');
    is($seen->{viewer_write}{status}, 403, 'a direct write is refused by the API');
    like($seen->{viewer_toast} // '', qr/\S.*\(forbidden\)/, 'and its message is shown');
    ok($seen->{password_changed}, 'the viewer changes its password in settings');
    is($t->post('/api/login', json => { username => 'viewer1', password => 'console-new-pass-viewer1' })->{status},
       200, 'the new password signs in');
    is($t->post('/api/login', json => { username => 'viewer1', password => 'console-pass-viewer1' })->{status},
       401, 'the old one no more');
}

$t->done;
