#!/usr/bin/perl
# Issue 13's two guarantees t/45 does not cover, on the cluster stack
# (scripts/cluster.sh through BC::Cluster: a Redis Cluster of 3 masters and
# 3 replicas, MariaDB with a replica, two nginx nodes, three senders, the
# simulator), through the public API of both nginx nodes:
#  1. a shared per-sender rate limit is exact across the three sender
#     processes: direct sends through both nodes on one from number go out
#     at the configured rate, never faster in any second, not much slower,
#     and more than one sender process sends them;
#  2. a campaign started through node 1 and paused through node 2 sends
#     nothing later than 1 s after the pause's answer, though it runs
#     faster than the lane allows (so each sender holds claimed work
#     waiting for tokens); resumed through node 1 it completes at the
#     lane's rate, every recipient sent exactly once, the stats agree.
# The claim-ahead that bounds the pause is per sender (a quarter second of
# the lane's rate each, DESIGN.md "Pacing shared by every sender"): three
# senders hold ~0.75 s, so this file's margin is the stack's sender count;
# T47_SENDERS=N runs it with N senders (8 showed the pause taking 1.3 s).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use BC::Test qw(:all);
use BC::Cluster;

my $SENDERS = $ENV{T47_SENDERS} // 3;    # cluster.sh's default
my $RATE = 100;             # rate_per_sender of every sender: segments/s per from number
my $BURST = $RATE / 5;      # a lane's bucket holds a fifth of a second
my $DIRECT_N = 600;         # 300 through each nginx node, ~6 s at $RATE
my $BATCH = 20;             # recipients per POST, a POST every
my $ARRIVAL = 2 * $RATE;    # $BATCH / $ARRIVAL s: the queue grows at twice
                            # the lane's rate, yet arrives over 3 s (a sender
                            # reads up to 1,000 at once: 600 queued in one go
                            # would all be the first reader's)
my $CAMPAIGN_N = 2000;
my $CAMPAIGN_RATE = 400;    # over the lane's rate (t/45's): the dispatcher
                            # queues ahead and each sender holds work waiting
                            # for the shared bucket, the pause's hardest case;
                            # ~20 s at $RATE
my $PAUSE_AFTER = 300;      # campaign messages received before the pause

my $T0 = time;
# every sender takes the same rate_per_sender (stack.sh's BC_RATE_PER_SENDER)
my $c = BC::Cluster->new(env => { BC_RATE_PER_SENDER => $RATE, BC_SENDERS => $SENDERS });
note sprintf 'cluster started in %.1f s', $c->start_secs;

sub direct_phone { sprintf '+1415220%04d', $_[0] }
sub campaign_phone { sprintf '+1415230%04d', $_[0] }

sub must { $c->must(@_) }

sub sim_to {
    my ($re) = @_;
    return [grep { ($_->{to} // '') =~ $re } @{ $c->sim_messages }];
}

# inodes of the established TCP connections to the simulator (the only
# peer a sender reaches over HTTP is the provider: the simulator)
sub sim_socket_inodes {
    my %inode;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $in, '<', $f or next;
        <$in>;
        while (<$in>) {
            my @f = split ' ';
            next unless ($f[3] // '') eq '01' && ($f[2] // '') =~ /:([0-9A-F]{4})$/;
            $inode{ $f[9] } = 1 if hex($1) == $c->{sim_port};
        }
    }
    return \%inode;
}

# the senders (by name) holding a connection to the simulator: libcurl
# keeps a provider's connection open after its calls
sub senders_on_sim {
    my $inode = sim_socket_inodes();
    my @on;
    for my $s (1 .. $SENDERS) {
        my $pid = $c->pid("sender-$s") or next;
        my @socks = map { (readlink($_) // '') =~ /^socket:\[(\d+)\]$/ ? $1 : () } glob "/proc/$pid/fd/*";
        push @on, "sender-$s" if grep { $inode->{$_} } @socks;
    }
    return @on;
}

# no second holds more than the bucket allows: a second's rate plus the
# burst (and t/33's 5% on the rate); @$ms sorted
sub busiest_second_ok {
    my ($ms, $what) = @_;
    my ($max, $at, $j) = (0, 0, 0);
    for my $i (0 .. $#$ms) {
        $j++ while $j <= $#$ms && $ms->[$j] < $ms->[$i] + 1000;
        ($max, $at) = ($j - $i, $i) if $j - $i > $max;
    }
    my $allowed = int(1.05 * $RATE + $BURST);
    ok($max <= $allowed, "$what: no second holds more than $allowed (busiest: $max)")
        or diag sprintf 'from message %d at +%d ms', $at, $ms->[$at] - $ms->[0];
}

# ------------------------------------------------------------ the stack
my $healthy = wait_until(sub {
    2 == grep { ($c->get($c->node($_) . '/health')->{json}{redis} // '') eq 'ok' } 1, 2
}, 30, 0.2);
must(ok($healthy, 'both nginx nodes reach the Redis Cluster (/health redis ok)'),
     'nginx cannot use the Redis Cluster');
ok($c->alive("sender-$_"), "sender $_ is running") for 1 .. $SENDERS;
for my $s (1 .. $SENDERS) {
    my $conf = $s == 1 ? 'sender.conf' : "sender-$s.conf";
    is($c->read_env("$c->{dir}/$conf")->{rate_per_sender}, $RATE, "sender $s: rate_per_sender = $RATE");
}
my ($admin, $password) = $c->admin_credentials;
my $r = $c->post('/api/login', json => { username => $admin, password => $password });
must(is($r->{status}, 200, 'the admin signs in on node 1'), "POST /api/login: $r->{status} $r->{content}");
$c->{token} = $r->{json}{token};
my $manage = $c->create_key('manage');
my $send = $c->create_key('send');
my $read = $c->create_key('read');

# ------------------------------------------------------------ shared rate limit
# The simulator enforces the same limit on the from number (its bucket
# holds a whole second, so it answers 429 only if the senders together
# went past it): an independent witness beside the timestamps.
$c->sim_config(rate_per_sender => $RATE);
is_deeply([senders_on_sim()], [], 'no sender has called the provider yet');
my $t0 = time;
my $accepted = 0;
for my $b (0 .. $DIRECT_N / $BATCH - 1) {
    my $node = 1 + $b % 2;
    my $due = $t0 + $b * $BATCH / $ARRIVAL;
    sleep $due - time if $due > time;    # the arrival rate, not a wait for a condition
    my @to = map { direct_phone($b * $BATCH + $_) } 0 .. $BATCH - 1;
    my $res = $c->post($c->node($node) . '/api/send/sms', key => $send,
                       json => { recipients => \@to, message => 'paced' });
    $accepted += @{ ($res->{json} || {})->{messages} || [] } if $res->{status} == 202;
    diag "node $node: $res->{status} $res->{content}" if $res->{status} != 202;
}
note sprintf '%d sends queued in %.2f s', $accepted, time - $t0;
is($accepted, $DIRECT_N, "$DIRECT_N direct sends accepted, half through each node");

my $direct_re = qr/^\+1415220\d{4}$/;
my @direct;
ok(wait_until(sub {
    @direct = sort { $a->{created_ms} <=> $b->{created_ms} } @{ sim_to($direct_re) };
    @direct >= $DIRECT_N;
}, 60, 0.2), "the simulator received all $DIRECT_N") or diag scalar(@direct) . ' received';
my %seen;
$seen{ $_->{to} }++ for @direct;
is(scalar(keys %seen), $DIRECT_N, 'every recipient got one');
is(scalar(grep { $_ > 1 } values %seen), 0, 'nobody got two');

# t/33's measure: the rate over the run past the bucket's first burst
my @ms = map { $_->{created_ms} } @direct;
my $skip = $RATE / 2;
my $span = @ms > $skip + 1 ? ($ms[-1] - $ms[$skip]) / 1000 : 0;
my $rate = $span > 0 ? ($#ms - $skip) / $span : 0;
ok(abs($rate - $RATE) <= 0.05 * $RATE,
   sprintf('%d senders together: %.2f msgs/s (%d within ±5%%)', $SENDERS, $rate, $RATE));
busiest_second_ok(\@ms, 'the direct sends');
my $elapsed = $ms[-1] / 1000 - $t0;
my ($fastest, $slowest) = (($DIRECT_N - $BURST) / $RATE - 0.5, 1.5 * $DIRECT_N / $RATE + 1);
ok($elapsed >= $fastest && $elapsed <= $slowest,
   sprintf('the run took %.1f s (%.1f to %.1f s at %d/s)', $elapsed, $fastest, $slowest, $RATE));
my $throttled = (json_decode($c->{ua}->get($c->sim_url . '/sim/health')->{content}) // {})->{throttled};
is($throttled, 0, "the simulator's own limit of $RATE/s answered no 429");

# more than one process sent: each sender's StatusCallback is its own
# nginx node (cluster.sh: sender 2 on node 2, senders 1 and 3 on node 1),
# and each sender that called the provider holds a connection to it
my %by_node;
for my $m (@direct) {
    my ($n) = grep { index($m->{status_callback} // '', $c->node($_) . '/') == 0 } 1, 2;
    $by_node{ $n // 'none' }++;
}
ok(($by_node{1} // 0) > 0 && ($by_node{2} // 0) > 0,
   "sent by senders calling back to either node (node 1: " . ($by_node{1} // 0)
   . ', node 2: ' . ($by_node{2} // 0) . ')') or diag explain \%by_node;
my @on = senders_on_sim();
is_deeply(\@on, [map { "sender-$_" } 1 .. $SENDERS], "each of the $SENDERS senders called the provider")
    or diag "only @on";

# ------------------------------------------------------------ campaign pause
my $gid = $c->import_group(name => 'limits', prefix => 'L', n => $CAMPAIGN_N, phone => \&campaign_phone,
                           manage => $manage, read => $read);

$r = $c->post('/api/campaigns', key => $send, json => {
    name => 'limits', channel => 'sms', content => { message => 'Hi {{name}}' },
    audience => { group_ids => [$gid] }, rate_per_second => $CAMPAIGN_RATE });
is($r->{status}, 201, 'a campaign to the group') or diag $r->{content};
my $cid = ($r->{json} || {})->{id} // 0;
$r = $c->post($c->node(1) . "/api/campaigns/$cid/start", key => $send, json => {});
must(is(($r->{json} || {})->{status} // '', 'running', 'started through node 1'),
     "the campaign did not start: $r->{status} $r->{content}");

my $campaign_re = qr/^\+1415230\d{4}$/;
must(ok(wait_until(sub { @{ sim_to($campaign_re) } >= $PAUSE_AFTER }, 60, 0.1),
        "the campaign is under way ($PAUSE_AFTER received)"),
     'the campaign does not reach the simulator');
$r = $c->post($c->node(2) . "/api/campaigns/$cid/pause", key => $send, json => {});
my $paused_ms = time * 1000;
is($r->{status}, 200, 'paused through node 2') or diag $r->{content};
is(($r->{json} || {})->{status}, 'paused', 'the answer says paused');
# watching for what must not come: a message created more than 1 s after
# the answer (anything sent then is in the simulator's list by 3 s)
my $late_after = $paused_ms + 1000;
my @late;
wait_until(sub {
    @late = grep { $_->{created_ms} > $late_after } @{ sim_to($campaign_re) };
    @late > 0;
}, 3, 0.2);
my @sent_then = @{ sim_to($campaign_re) };
my $n_paused = @sent_then;
my $last_ms = (sort { $b <=> $a } map { $_->{created_ms} } @sent_then)[0] // 0;
note sprintf 'the last campaign message before the resume: %d ms after the pause answer', $last_ms - $paused_ms;
is(scalar @late, 0, 'no campaign message reached the simulator more than 1 s after the pause')
    or diag sprintf '%d late, the first %d ms after the pause', scalar @late,
        (sort { $a <=> $b } map { $_->{created_ms} } @late)[0] - $paused_ms;
ok($n_paused < $CAMPAIGN_N / 2, "the pause held back the rest ($n_paused of $CAMPAIGN_N sent)");
my $camp = $c->get($c->node(1) . "/api/campaigns/$cid", key => $read)->{json} || {};
is($camp->{status}, 'paused', 'node 1 shows it paused');
is($c->mysql_value(q{SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id=? AND state='queued'
    AND message_id NOT IN (SELECT id FROM messages)}, $cid), 0,
    'no row is left queued without being sent');

$r = $c->post($c->node(1) . "/api/campaigns/$cid/resume", key => $send, json => {});
is($r->{status}, 200, 'resumed through node 1') or diag $r->{content};
ok(wait_until(sub {
    $camp = $c->get($c->node(2) . "/api/campaigns/$cid", key => $read)->{json} || {};
    ($camp->{status} // '') eq 'completed';
}, 90, 0.5), 'the resumed campaign completed') or diag explain $camp->{stats};
ok(wait_until(sub { @{ sim_to($campaign_re) } >= $CAMPAIGN_N }, 30, 0.2),
   "the simulator received $CAMPAIGN_N campaign messages");
my @camp_all = @{ sim_to($campaign_re) };
my %got;
$got{ $_->{to} }++ for @camp_all;
# the resumed run is the lane's too: ~17 s of every sender on one bucket
my @resumed = sort { $a <=> $b } grep { $_ > $paused_ms + 1000 } map { $_->{created_ms} } @camp_all;
busiest_second_ok(\@resumed, 'the resumed campaign');
my $camp_rate = @resumed > $skip + 1 ? ($#resumed - $skip) / (($resumed[-1] - $resumed[$skip]) / 1000) : 0;
ok(abs($camp_rate - $RATE) <= 0.05 * $RATE,
   sprintf('the resumed campaign: %.2f msgs/s (the lane\'s %d within ±5%%)', $camp_rate, $RATE));
is(scalar(grep { ($got{ campaign_phone($_) } // 0) == 1 } 0 .. $CAMPAIGN_N - 1), $CAMPAIGN_N,
   "each of the $CAMPAIGN_N recipients got exactly one message");
my @twice = grep { $got{$_} > 1 } keys %got;
ok(!@twice, 'nobody got a message twice') or diag scalar(@twice) . ' twice, e.g. ' . join ' ', @twice[0 .. ($#twice < 4 ? $#twice : 4)];
is(scalar keys %got, $CAMPAIGN_N, 'nobody else got one');
ok(wait_until(sub {
    $camp = $c->get($c->node(1) . "/api/campaigns/$cid", key => $read)->{json} || {};
    ($camp->{stats}{delivered} // 0) == $CAMPAIGN_N;
}, 60, 0.5), "the campaign's stats: $CAMPAIGN_N delivered") or diag explain $camp->{stats};
my $st = $camp->{stats} || {};
is($st->{audience}, $CAMPAIGN_N, "stats.audience $CAMPAIGN_N");
is($st->{eligible}, $CAMPAIGN_N, "stats.eligible $CAMPAIGN_N");
is(($st->{failed} // 0) + ($st->{pending} // 0) + ($st->{queued} // 0), 0, 'nothing failed, pending or queued');
ok($c->alive("sender-$_"), "sender $_ ran throughout") for 1 .. $SENDERS;

# ------------------------------------------------------------ the rate through a failover
# The master holding the lane's bucket is SIGKILLed while direct sends
# wait for it. Until its replica takes over, each sender paces alone at
# its last known share of the rate from an empty bucket (ratelimit.c), so
# no second holds more than the bucket allows (every sender refilling a
# whole second of the rate made 180 in one second here).
my $FAIL_N = 400;
sub fail_phone { sprintf '+1415240%04d', $_[0] }
my $fail_re = qr/^\+1415240\d{4}$/;
my ($rate_port, $rate_key);
for my $n (grep { $_->{flags}{master} } @{ $c->cluster_nodes }) {
    # KEYS on a cluster node lists that node's keys
    my ($k) = $c->redis_cli($n->{port}, 'KEYS', 'bc:rate:*') =~ /^(bc:rate:\{twilio [^}]*\})$/m;
    ($rate_port, $rate_key) = ($n->{port}, $k) if $k;
}
must(ok($rate_port, "the lane's bucket " . ($rate_key // '') . " is on master :" . ($rate_port // 0)),
     'no Twilio rate bucket on any master');
my $rate_pid = $c->redis_pid($rate_port);
my $throttled0 = (json_decode($c->{ua}->get($c->sim_url . '/sim/health')->{content}) // {})->{throttled} // 0;
my ($killed_at, $fail_accepted, $refused) = (0, 0, 0);
my $t1 = time;
for my $b (0 .. $FAIL_N / $BATCH - 1) {
    my $due = $t1 + $b * $BATCH / $ARRIVAL;
    sleep $due - time if $due > time;    # the arrival rate, not a wait for a condition
    if (!$killed_at && @{ sim_to($fail_re) } >= 100) {
        kill 'KILL', $rate_pid;
        $killed_at = time;
    }
    my @to = map { fail_phone($b * $BATCH + $_) } 0 .. $BATCH - 1;
    # a request that meets the dead master (a lane of the queue is there
    # too) gets a 503 and is sent again, as a client would: under its
    # Idempotency-Key, so it is accepted once
    my $res;
    wait_until(sub {
        $res = $c->post($c->node(1 + $b % 2) . '/api/send/sms', key => $send,
                        json => { recipients => \@to, message => 'failover' },
                        headers => { 'Idempotency-Key' => "failover-$b" });
        $refused++ if $res->{status} >= 500;
        $res->{status} == 202;
    }, 30, 0.2);
    $fail_accepted += @{ ($res->{json} || {})->{messages} || [] } if $res->{status} == 202;
}
ok($killed_at, 'the bucket\'s master was SIGKILLed mid-run');
is($fail_accepted, $FAIL_N, "$FAIL_N direct sends accepted ($refused answers 5xx during the failover, sent again)");
my @fail;
ok(wait_until(sub {
    @fail = sort { $a->{created_ms} <=> $b->{created_ms} } @{ sim_to($fail_re) };
    @fail >= $FAIL_N;
}, 90, 0.2), "the simulator received all $FAIL_N") or diag scalar(@fail) . ' received';
my %once;
$once{ $_->{to} }++ for @fail;
is(scalar(grep { $_ == 1 } values %once), $FAIL_N, 'each exactly once');
busiest_second_ok([map { $_->{created_ms} } @fail], 'through the failover');
my $throttled1 = (json_decode($c->{ua}->get($c->sim_url . '/sim/health')->{content}) // {})->{throttled} // 0;
is($throttled1 - $throttled0, 0, "the simulator's own limit of $RATE/s answered no 429 through the failover");
note sprintf 'test ran %.0f s', time - $T0;

$c->done;
