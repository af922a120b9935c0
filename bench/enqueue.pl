#!/usr/bin/perl
# The end-to-end runs' enqueue: CLIENTS forked clients, each with a
# kept-alive connection, share N recipients in requests of 100 SMS (every
# request carries the same 100 numbers) or of up to 1,000 emails, so the
# enqueue does not hide the pipeline's rate. Prints how many recipients
# were accepted.
#
# usage: enqueue.pl PORT KEY N CLIENTS sms|email [FROM_EMAIL]
use strict;
use warnings;
use HTTP::Tiny;

my ($port, $key, $n, $clients, $kind, $from) = @ARGV;
die "usage: $0 PORT KEY N CLIENTS sms|email [FROM_EMAIL]\n"
    unless defined $kind && ($kind eq 'sms' || $kind eq 'email');

my %kinds = (
    sms => {
        per => 100, timeout => 30, path => '/api/send/sms', what => 'send',
        body => sub {
            my ($sent) = @_;
            my @to = map { sprintf q{"+1415555%04d"}, 2000 + $_ } 0 .. 99;
            return "{\"recipients\":[" . join(",", @to) . "],\"message\":\"e2e $sent\"}";
        },
    },
    email => {
        per => 1000, timeout => 60, path => '/api/send/email', what => 'send email',
        body => sub {
            my ($sent) = @_;
            my $k = $n - $sent < 1000 ? $n - $sent : 1000;
            my @to = map { sprintf q{"u%06d@bench.example.org"}, $sent + $_ } 0 .. $k - 1;
            return "{\"recipients\":[" . join(",", @to) . "],\"from_email\":\"$from\","
                 . "\"subject\":\"bench $sent\",\"text\":\"bench mail\"}";
        },
    },
);
my $t = $kinds{$kind};

my @pipes;
for my $c (0 .. $clients - 1) {
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        close $r;
        my $ua = HTTP::Tiny->new(keep_alive => 1, timeout => $t->{timeout});
        my $accepted = 0;
        for (my $sent = $c * $t->{per}; $sent < $n; $sent += $t->{per} * $clients) {
            my $r = $ua->post("http://127.0.0.1:$port$t->{path}", { headers => {
                "Content-Type" => "application/json", "X-API-Key" => $key },
                content => $t->{body}->($sent) });
            die "$t->{what}: $r->{status} $r->{content}\n" unless $r->{status} == 202;
            # each accepted recipient is one {"id","to","status":"queued"};
            # a regex, not JSON::PP, whose pure-Perl decoding of 500
            # responses cost the machine under test seconds of CPU
            $accepted += () = $r->{content} =~ /"status":"queued"/g;
        }
        print $w $accepted;
        close $w;
        exit 0;
    }
    close $w;
    push @pipes, $r;
}
my $accepted = 0;
for my $r (@pipes) { local $/; $accepted += <$r> // 0; }
1 while wait() > 0;
print $accepted;
