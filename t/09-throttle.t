#!/usr/bin/perl
# Provider throttles pause the sender (or account) instead of burning each
# message's attempts: with max_attempts 2 and providers limited to a couple
# of calls per second, every message still ends delivered (Twilio 20429,
# Meta 130429, SendGrid 429 with X-RateLimit-Reset).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use BC::Test qw(:all);

my $t = BC::Test->new(env => { BC_MAX_ATTEMPTS => 2 });
my $key = $t->create_key('send');
my $status_sql = q{SELECT status, COUNT(*) n FROM messages WHERE channel = ? AND provider = ? GROUP BY status};

sub final_counts {
    my ($channel, $provider, $n) = @_;
    my %c;
    wait_until(sub {
        %c = map { $_->{status} => $_->{n} } @{ $t->mysql($status_sql, $channel, $provider) };
        my $done = 0;
        $done += $c{$_} // 0 for qw(delivered read failed undelivered);
        $done >= $n;
    }, 90, 0.2);
    return \%c;
}
sub sim_throttled {
    my $r = HTTP::Tiny->new(timeout => 10)->get($t->sim_url . '/sim/health');
    return (BC::Test::json_decode($r->{content} // '') // {})->{throttled} // 0;
}
sub throttles { $t->metric('broadcast_provider_throttles_total', qr/provider="$_[0]"/) // 0 }

# ---------------------------------------------------------------- Twilio
# 2 messages/s per sender at the provider, 10 at once from one sender
$t->sim_config(rate_per_sender => 2);
my @to = map { sprintf '+1415555%04d', 8100 + $_ } 1 .. 10;
my $r = $t->send_sms(key => $key, to => \@to, message => 'throttled sms');
is($r->{status}, 202, '10 SMS accepted') or diag $r->{content};
my $c = final_counts('sms', 'twilio', 10);
is($c->{delivered} // 0, 10, 'all 10 SMS delivered despite 20429s')
    or diag explain $c;
ok(sim_throttled() > 0, 'the provider did answer 20429 (' . sim_throttled() . ' times)');
ok(wait_until(sub { throttles('twilio') > 0 }, 30, 0.2),
   'broadcast_provider_throttles_total{provider="twilio"} counts them');
is($t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE channel = 'sms' AND status = 'failed'}), 0,
   'no SMS failed for want of attempts');
my $sim = $t->sim_messages;
is(scalar(grep { $_->{body} eq 'throttled sms' } @$sim), 10, 'each taken by the provider once');
$t->sim_config(rate_per_sender => 0);

# ---------------------------------------------------------------- Meta
my $from = $t->meta_from;
$r = $t->post('/api/whatsapp/senders', token => $t->token, json => { from_address => $from });
ok($r->{status} == 200 || $r->{status} == 201, 'meta sender added') or diag $r->{content};
$t->sim_config(meta_rate => 2);
my @wa = map { sprintf '+1415555%04d', 8200 + $_ } 1 .. 8;
$r = $t->send_whatsapp(key => $key, to => \@wa, from_address => $from,
    template => { name => 'hello_world', language => { code => 'en_US' } });
is($r->{status}, 202, '8 Meta WhatsApp messages accepted') or diag $r->{content};
$c = final_counts('whatsapp', 'meta', 8);
is(($c->{read} // 0) + ($c->{delivered} // 0), 8, 'all 8 delivered despite 130429s')
    or diag explain $c;
ok(wait_until(sub { throttles('meta') > 0 }, 30, 0.2), 'meta throttles counted');
$t->sim_config(meta_rate => 80);

# ---------------------------------------------------------------- SendGrid
# one mail/send call per second; four calls (different subjects do not
# share a call)
$t->sim_config(sendgrid_rate => 1);
my $before = sim_throttled();
for my $i (1 .. 4) {
    $r = $t->send_email(key => $key, to => ["throttle$i\@example.org"], subject => "throttle $i",
                        text => "mail $i");
    is($r->{status}, 202, "email $i accepted") or diag $r->{content};
}
$c = final_counts('email', 'sendgrid', 4);
is($c->{delivered} // 0, 4, 'all 4 emails delivered with one call per second allowed')
    or diag explain $c;
my $sg429 = sim_throttled() - $before;
ok($sg429 <= 8, "SendGrid answered 429 $sg429 times: the sender waited for X-RateLimit-Reset");

# ---------------------------------------------------------------- too old
# a message still throttled 10 hours after it was accepted fails instead of
# waiting on (the job is aged in the queue while the sender is down; the
# simulator's magic +15005550010 answers 20429 to its first call)
$t->sim_config(sendgrid_rate => 10000);
is($t->stop('sender'), 0, 'sender stopped');
$r = $t->send_sms(key => $key, to => ['+15005550010'], message => 'stale');
is($r->{status}, 202, 'SMS to the throttled number accepted') or diag $r->{content};
my $old_id = $r->{json}{messages}[0]{id};
my $job = BC::Test::json_decode($t->redis_raw('GET', "bc:{q}:msg:$old_id") // '');
ok($job && $job->{created_ms}, 'its job is queued');
my ($entry) = ($t->redis_raw('XREVRANGE', 'bc:{q}:stream:send', '+', '-', 'COUNT', 1) // '') =~ /^(\d+-\d+)$/m;
ok($entry, "stream entry $entry");
$job->{created_ms} -= 11 * 3600 * 1000;
$t->redis_raw('XDEL', 'bc:{q}:stream:send', $entry);
$t->redis_raw('XADD', 'bc:{q}:stream:send', '*', 'job', BC::Test::json_encode($job));
is($t->start('sender'), 0, 'sender started');
my $m;
ok(wait_until(sub { $m = $t->status_of($old_id, $key); $m && $m->{status} eq 'failed' }, 60, 0.2),
   'a message throttled 11 hours after it was sent failed');
is($m->{error_code}, 'throttled', 'error_code throttled');

$t->done;
