#!/usr/bin/perl
# gen-inbound.pl TOKEN PUBLIC_URL ACCOUNT_SID TO COUNT > file
# One signed Twilio inbound SMS per line ("signature\tbody"), each from its
# own number with its own MessageSid, so none is a duplicate of another.
use strict;
use warnings;
use Digest::SHA qw(hmac_sha1_base64);

my ($token, $public, $sid, $to, $count) = @ARGV;
die "usage: $0 TOKEN PUBLIC_URL ACCOUNT_SID TO COUNT\n" unless $count;
my $url = "$public/webhooks/twilio/sms/inbound";
sub enc { my $s = shift; $s =~ s/([^A-Za-z0-9\-._~])/sprintf '%%%02X', ord $1/ge; $s }
for my $i (1 .. $count) {
    my $msid = sprintf 'SM%032x', 0x10000000 + $i;
    my %p = (AccountSid => $sid, ApiVersion => '2010-04-01', To => $to,
             From => sprintf('+1415666%04d', $i % 10000), Body => "inbound $i",
             MessageSid => $msid, SmsSid => $msid, SmsMessageSid => $msid,
             NumMedia => 0, NumSegments => 1, SmsStatus => 'received');
    my $data = $url . join '', map { $_ . $p{$_} } sort keys %p;
    my $sig = hmac_sha1_base64($data, $token);
    $sig .= '=' while length($sig) % 4;
    print $sig, "\t", join('&', map { enc($_) . '=' . enc($p{$_}) } sort keys %p), "\n";
}
