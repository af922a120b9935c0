#!/usr/bin/perl
# Waits, cheaply, until the end-to-end run is drained: the simulator has sent
# at least TARGET callbacks and the recorders' consumer group on
# bc:{ev}:stream:events (every lane's) has nothing unread (lag 0) and nothing unacknowledged
# (pending 0). One process with a kept-alive HTTP connection and one Redis
# socket, polled every 20 ms: spawning curl and redis-cli twenty times a
# second cost about 5% of a 2-core machine, which the benchmark then
# reported as the pipeline's slowness.
#
# usage: drain-wait.pl SIM_PORT REDIS_PORT TARGET TIMEOUT_SECONDS
# exit 0 drained, 1 timed out
use strict;
use warnings;
use HTTP::Tiny;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

my ($sim_port, $redis_port, $target, $timeout) = @ARGV;
die "usage: $0 SIM_PORT REDIS_PORT TARGET TIMEOUT\n" unless defined $timeout;

my $ua = HTTP::Tiny->new(keep_alive => 1, timeout => 5);
my $redis;

sub resp_read {    # one RESP value from $redis; arrays as array refs
    my $line = <$redis> // die "redis: connection closed\n";
    $line =~ s/\r\n\z//;
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $type eq '+' || $type eq ':';
    die "redis: $rest\n" if $type eq '-';
    if ($type eq '$') {
        return undef if $rest < 0;
        my $buf = '';
        read($redis, $buf, $rest + 2) == $rest + 2 or die "redis: short read\n";
        return substr($buf, 0, $rest);
    }
    if ($type eq '*') {
        return undef if $rest < 0;
        return [ map { resp_read() } 1 .. $rest ];
    }
    die "redis: unexpected reply '$line'\n";
}

sub events_drained {
    unless ($redis) {
        $redis = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $redis_port)
            or die "redis: $!\n";
        # the stack's Redis has ACL users: the admin's password, if any
        if (defined $ENV{BC_VAR} && open my $fh, '<', "$ENV{BC_VAR}/secrets/redis_admin.password") {
            chomp(my $pw = <$fh> // '');
            printf $redis "*3\r\n\$4\r\nAUTH\r\n\$5\r\nadmin\r\n\$%d\r\n%s\r\n", length $pw, $pw;
            resp_read();
        }
    }
    # every lane's stream (BC_REDIS_LANES, as the stack was given)
    for my $lane (0 .. ($ENV{BC_REDIS_LANES} || 1) - 1) {
        my $stream = $lane ? "bc:{ev:$lane}:stream:events" : 'bc:{ev}:stream:events';
        printf $redis "*3\r\n\$5\r\nXINFO\r\n\$6\r\nGROUPS\r\n\$%d\r\n%s\r\n", length $stream, $stream;
        my $groups = resp_read();
        return 0 unless ref $groups eq 'ARRAY' && @$groups;
        for my $g (@$groups) {
            my %info = @$g;
            # lag is nil when Redis cannot tell; then only pending counts
            return 0 if $info{pending} != 0 || ($info{lag} // 0) != 0;
        }
    }
    return 1;
}

my $deadline = time + $timeout;
while (time < $deadline) {
    my $r = $ua->get("http://127.0.0.1:$sim_port/sim/health");
    my ($sent) = $r->{success} ? $r->{content} =~ /"callbacks_sent":(\d+)/ : ();
    exit 0 if defined $sent && $sent >= $target && events_drained();
    sleep 0.02;
}
exit 1;
