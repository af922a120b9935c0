#!/usr/bin/perl
# gen-callbacks.pl TOKEN PUBLIC_URL ACCOUNT_SID FROM COUNT > file
# One signed Twilio status callback per line: "signature\tbody".
use strict;
use warnings;
use Digest::SHA qw(hmac_sha1_base64);

my ($token, $public, $sid, $from, $count) = @ARGV;
$count ||= 50000;
my $url = "$public/webhooks/twilio/sms/status";
sub enc { my $s = shift; $s =~ s/([^A-Za-z0-9\-._~])/sprintf '%%%02X', ord $1/ge; $s }
for my $i (1 .. $count) {
    my $msid = sprintf 'SM%032x', $i;
    my $st = $i % 2 ? 'delivered' : 'sent';
    my %p = (AccountSid => $sid, ApiVersion => '2010-04-01', From => $from,
             To => sprintf('+1415555%04d', 2000 + $i % 100),
             MessageSid => $msid, SmsSid => $msid,
             MessageStatus => $st, SmsStatus => $st);
    $p{Price} = '-0.00750', $p{PriceUnit} = 'USD', $p{NumSegments} = 1 if $st eq 'delivered';
    my $data = $url . join '', map { $_ . $p{$_} } sort keys %p;
    my $sig = hmac_sha1_base64($data, $token);
    $sig .= '=' while length($sig) % 4;
    print $sig, "\t", join('&', map { enc($_) . '=' . enc($p{$_}) } sort keys %p), "\n";
}
