#!/usr/bin/perl
# gen-sendgrid.pl PRIVATE_KEY_B64 COUNT EVENTS_PER_BODY TMPDIR > file
# Signed SendGrid Event Webhook batches, all distinct (distinct sg_event_id),
# one per line: "timestamp<TAB>signature<TAB>body" (the body is sent with a
# trailing CRLF, as SendGrid does, and signed that way). Signing runs
# `openssl dgst -sha256 -sign` in parallel workers.
use strict;
use warnings;
use MIME::Base64;
use POSIX qw(_exit);

my ($priv, $count, $per, $tmp) = @ARGV;
$count ||= 4000;
$per ||= 10;
$tmp ||= '/tmp';
my $pem = "$tmp/sg-bench.pem";
{
    (my $b = $priv) =~ s/\s+//g;
    open my $fh, '>', $pem or die "$pem: $!";
    print $fh "-----BEGIN PRIVATE KEY-----\n";
    print $fh "$1\n" while $b =~ /(.{1,64})/g;
    print $fh "-----END PRIVATE KEY-----\n";
    close $fh;
    chmod 0600, $pem;
}
my $ts = time;
my @bodies;
for my $i (1 .. $count) {
    my @ev;
    for my $k (1 .. $per) {
        my $n = ($i - 1) * $per + $k;
        my $ev = $k % 2 ? 'delivered' : 'processed';
        push @ev, sprintf '{"bc_batch_id":"01BENCHBATCH0000000000000%01d","bc_message_id":"01BENCH%019d",'
            . '"email":"user%d@bench.example.org","event":"%s","sg_event_id":"bench-%d-%d",'
            . '"sg_message_id":"benchxmid%d.filterdrecv-bench-%d.0","smtp-id":"<benchxmid%d@ismtpd0001p1iad1.sendgrid.net>","timestamp":%d}',
            $n % 10, $n, $n, $ev, $ts, $n, $i, $n, $i, $ts;
    }
    push @bodies, '[' . join(',', @ev) . ']';
}
my $workers = `nproc` + 0 || 2;
$workers *= 2;
my @pids;
for my $w (0 .. $workers - 1) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open my $out, '>', "$tmp/sg-bench.$w" or die $!;
        for (my $i = $w; $i < @bodies; $i += $workers) {
            my $data = "$tmp/sg-bench-data.$w";
            open my $d, '>:raw', $data or die $!;
            print $d $ts . $bodies[$i] . "\r\n";
            close $d;
            my $sig = `openssl dgst -sha256 -sign $pem $data`;
            die "openssl failed\n" if $? || !length $sig;
            print $out "$i\t", encode_base64($sig, ''), "\n";
        }
        close $out;
        unlink "$tmp/sg-bench-data.$w";
        _exit(0);
    }
    push @pids, $pid;
}
waitpid $_, 0 for @pids;
my %sig;
for my $w (0 .. $workers - 1) {
    open my $in, '<', "$tmp/sg-bench.$w" or die $!;
    while (<$in>) { chomp; my ($i, $s) = split /\t/; $sig{$i} = $s; }
    close $in;
    unlink "$tmp/sg-bench.$w";
}
unlink $pem;
for my $i (0 .. $#bodies) {
    die "missing signature $i\n" unless $sig{$i};
    print "$ts\t$sig{$i}\t$bodies[$i]\n";
}
