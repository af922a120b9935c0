#!/usr/bin/perl
# Twilio voice call status callbacks (/webhooks/twilio/call): verified and
# counted in /metrics only.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;

sub call_cb {
    my ($status, %o) = @_;
    my %p = (AccountSid => $t->account_sid, ApiVersion => '2010-04-01',
             CallSid => 'CA' . hex32(), CallStatus => $status, Direction => 'outbound-api',
             From => $t->sms_from, To => '+14155550501', Called => '+14155550501',
             Caller => $t->sms_from, Timestamp => 'Sat, 21 Nov 2026 19:00:00 +0000',
             SequenceNumber => '0', CallbackSource => 'call-progress-events',
             ($status eq 'completed' ? (CallDuration => '42', Duration => '1') : ()),
             %{ $o{params} || {} });
    return $t->twilio_post('/webhooks/twilio/call', \%p, %o);
}
sub mv { $t->metric(@_) // 0 }

my $text = $t->metrics;
my %c0 = (
    completed => mv('twilio_call_callback_total', qr/status="completed"/, $text),
    failed    => mv('twilio_call_callback_total', qr/status="failed"/, $text),
    noanswer  => mv('twilio_call_callback_total', qr/status="no-answer"/, $text),
    done      => mv('twilio_calls_completed_total', undef, $text),
    fail      => mv('twilio_calls_failed_total', undef, $text),
    sigfail   => mv('broadcast_signature_failures_total', undef, $text),
);
my $queued0 = $t->stream_added;

# forged first: nothing counted
my $r = call_cb('completed', signature => 'bm90IGEgc2lnbmF0dXJl');
is($r->{status}, 403, 'forged call callback 403');
is($r->{json}{error}{code}, 'invalid_signature', 'invalid_signature') if ref $r->{json} eq 'HASH';
$r = call_cb('failed', no_signature => 1);
is($r->{status}, 403, 'unsigned call callback 403');
$r = call_cb('completed', params => { AccountSid => 'AC' . ('0' x 32) });
is($r->{status}, 403, 'validly signed callback from another AccountSid 403');
$text = $t->metrics;
is(mv('twilio_call_callback_total', qr/status="completed"/, $text), $c0{completed}, 'forged: completed not counted');
is(mv('twilio_calls_completed_total', undef, $text), $c0{done}, 'forged: calls_completed not counted');
is(mv('twilio_calls_failed_total', undef, $text), $c0{fail}, 'forged: calls_failed not counted');
ok(mv('broadcast_signature_failures_total', undef, $text) >= $c0{sigfail} + 3, 'signature failures counted');

# valid ones
$r = call_cb('completed');
is($r->{status}, 200, 'signed completed 200') or diag $r->{content};
$r = call_cb('completed');
is($r->{status}, 200, 'a second completed call 200');
$r = call_cb('failed');
is($r->{status}, 200, 'signed failed 200');
$r = call_cb('no-answer');
is($r->{status}, 200, 'signed no-answer 200');
$r = call_cb('busy');
is($r->{status}, 200, 'signed busy 200');
$r = call_cb('ringing');
is($r->{status}, 200, 'signed ringing 200');

ok(wait_until(sub {
    $text = $t->metrics;
    mv('twilio_call_callback_total', qr/status="completed"/, $text) == $c0{completed} + 2
}, 10, 0.05), 'twilio_call_callback_total{status="completed"} +2') or diag $text;
is(mv('twilio_call_callback_total', qr/status="failed"/, $text), $c0{failed} + 1, 'twilio_call_callback_total{status="failed"} +1');
is(mv('twilio_call_callback_total', qr/status="no-answer"/, $text), $c0{noanswer} + 1, 'twilio_call_callback_total{status="no-answer"} +1');
is(mv('twilio_call_callback_total', qr/status="busy"/, $text), 1, 'twilio_call_callback_total{status="busy"} 1');
is(mv('twilio_calls_completed_total', undef, $text), $c0{done} + 2, 'twilio_calls_completed_total +2');
my $f = mv('twilio_calls_failed_total', undef, $text) - $c0{fail};
ok($f >= 1 && $f <= 3, "twilio_calls_failed_total grew by $f (failed, and no-answer/busy if counted as failures)");
ok(mv('twilio_calls_failed_total', qr/disconnect_reason="failed"/, $text) >= 1, 'twilio_calls_failed_total{disconnect_reason="failed"}');
like($text, qr/^# TYPE twilio_call_callback_total counter/m, 'TYPE line for twilio_call_callback_total');
like($text, qr/^# TYPE twilio_calls_completed_total counter/m, 'TYPE line for twilio_calls_completed_total');
like($text, qr/^# TYPE twilio_calls_failed_total counter/m, 'TYPE line for twilio_calls_failed_total');
is($t->stream_added, $queued0, 'call callbacks are metrics only: nothing queued');

$t->done;
