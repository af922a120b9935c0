#!/usr/bin/perl
# Provider errors: 21610 opt-out, 21211 invalid number, 429 retried.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my $key = $t->create_key('send');

sub final_status {
    my ($id, $timeout) = @_;
    my $m;
    wait_until(sub {
        $m = $t->status_of($id, $key) or return 0;
        $m->{status} =~ /^(delivered|failed|undelivered|blocked|canceled)$/;
    }, $timeout // 60, 0.2);
    return $m || {};
}

my $r = $t->send_sms(key => $key, message => 'errors',
    to => ['+15005550009', '+15005550001', '+15005550010', '+14155552691']);
is($r->{status}, 202, 'sent to the magic numbers') or diag $r->{content};
my %id = map { $_->{to} => $_->{id} } @{ $r->{json}{messages} || [] };
is(scalar keys %id, 4, 'all four accepted by the API');

# 21610: unsubscribed -> failed + opt-out
my $m = final_status($id{'+15005550009'});
is($m->{status}, 'failed', '+15005550009 failed');
is($m->{error_code}, '21610', 'error_code 21610');
ok(defined $m->{error_message} && length $m->{error_message}, 'error_message');
is($t->mysql_value('SELECT COUNT(*) FROM opt_outs WHERE address = ?', '+15005550009'), 1,
   'number in opt_outs');

# 21211: invalid number -> failed, not retried
$m = final_status($id{'+15005550001'});
is($m->{status}, 'failed', '+15005550001 failed');
is($m->{error_code}, '21211', 'error_code 21211');
is($m->{attempts}, 1, 'a permanent error is not retried');

# 429 once, then success
$m = final_status($id{'+15005550010'}, 90);
is($m->{status}, 'delivered', '+15005550010 delivered after a retry');
ok(($m->{attempts} // 0) >= 2, "attempts >= 2 ($m->{attempts})");
like($m->{provider_message_id} // '', qr/^SM/, 'sid after the retry');

is(final_status($id{'+14155552691'})->{status}, 'delivered', 'ordinary number delivered');

# the simulator saw the opted-out number once; a later send ends blocked
# without calling the provider
$r = $t->send_sms(key => $key, to => ['+15005550009'], message => 'after opt-out');
is($r->{status}, 202, 'send to the opted-out number accepted by the API');
my $later = $r->{json}{messages}[0]{id};
$m = final_status($later);
is($m->{status}, 'blocked', 'later send to an opted-out number is blocked');
is($m->{error_code}, 'opted_out', 'error_code opted_out');
my $sim = $t->sim_messages;
ok(!grep({ $_->{body} eq 'after opt-out' } @$sim), 'the provider was not called for it');
is(scalar(grep { $_->{to} eq '+15005550010' } @$sim), 1, 'the 429 number accepted by the provider once');

my $mt = $t->metrics;
ok(($t->metric('broadcast_provider_retries_total', undef, $mt) // 0) >= 1, 'retries metric counts the 429');

$t->done;
