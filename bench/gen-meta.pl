#!/usr/bin/perl
# gen-meta.pl APP_SECRET PHONE_NUMBER_ID DISPLAY_PHONE WABA_ID COUNT > file
# Signed Meta WhatsApp status notifications, all distinct (distinct wamid),
# one per line: "X-Hub-Signature-256<TAB>body".
use strict;
use warnings;
use Digest::SHA qw(hmac_sha256_hex);

my ($secret, $pid, $display, $waba, $count) = @ARGV;
$count ||= 50000;
my $ts = time;
my @st = qw(sent delivered read);
for my $i (1 .. $count) {
    my $wa = sprintf '1415555%04d', $i % 10000;
    my $wamid = sprintf 'wamid.HBgLMTQxNTU1NTBCENCH%016dAA==', $i;
    my $s = $st[$i % 3];
    my $body = '{"object":"whatsapp_business_account","entry":[{"id":"' . $waba
        . '","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"'
        . $display . '","phone_number_id":"' . $pid . '"},"statuses":[{"id":"' . $wamid
        . '","status":"' . $s . '","timestamp":"' . $ts . '","recipient_id":"' . $wa
        . '","conversation":{"id":"bench' . $i . '","origin":{"type":"utility"}},'
        . '"pricing":{"billable":true,"pricing_model":"PMP","category":"utility","type":"regular"}}]},'
        . '"field":"messages"}]}]}';
    print 'sha256=', hmac_sha256_hex($body, $secret), "\t", $body, "\n";
}
