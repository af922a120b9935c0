#!/usr/bin/perl
# The cluster stack (make cluster, scripts/cluster.sh through BC::Cluster):
# a Redis Cluster of 3 masters and 3 replicas, a MariaDB primary and GTID
# replica, two nginx nodes, three senders and the simulator. First the
# harness itself: every part up, the env file right. Then the product on
# it: a 5,000-recipient campaign and 500 direct sends through both nginx
# nodes at once, while one sender is SIGKILLed and one Redis master is
# killed mid-run (its replica takes over); every recipient gets exactly one
# message (the simulator's list is the witness) and the API's counts agree.
# Last, cluster.sh stop leaves no process behind (in teardown).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use POSIX ();
use Time::Local qw(timegm);
use BC::Test qw(:all);
use BC::Cluster;

my $CAMPAIGN_N = 5000;
my $DIRECT_N = 500;            # 250 through each nginx node
my $CAMPAIGN_RATE = 400;       # msgs/s: the campaign lasts ~12 s, so the
                               # faults land mid-run
my $FAULT_AFTER = 1000;        # campaign messages received before the faults
my $FINAL = qr/^(delivered|read|failed|undelivered|blocked|canceled)$/;

my $T0 = time;
# The simulator retries a callback nginx could not take (a 5xx while a
# master is down) five times over 31 s, as Twilio can be told to ("#rc=5" on the
# callback URL: a status lost in the outage would leave its message short
# of final for reasons that are not the sends'
my $c = BC::Cluster->new(env => { BC_SIM_ARGS => '--callback-retries 5' });
note sprintf 'cluster started in %.1f s', $c->start_secs;
my $e = $c->cluster_env;

sub campaign_phone { sprintf '+1415200%04d', $_[0] }
sub direct_phone { sprintf '+1415210%04d', $_[0] }

sub must { $c->must(@_) }

# ------------------------------------------------------------ the harness
for my $k (qw(NGINX_URLS REDIS_NODES MYSQL_PRIMARY MYSQL_REPLICA SIM_URL
              TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN TWILIO_SMS_FROM SENDGRID_API_KEY
              META_ACCESS_TOKEN REDIS_USER REDIS_PASSWORD ADMIN_USER ADMIN_PASSWORD)) {
    ok(length($e->{$k} // ''), "cluster.env has $k");
}
is($e->{NGINX_URLS}, join(',', $c->node(1), $c->node(2)), 'NGINX_URLS: both nginx nodes');
my @seeds = split /,/, $e->{REDIS_NODES} // '';
is(scalar @seeds, 6, 'REDIS_NODES: six nodes');
is($e->{MYSQL_REPLICA}, '127.0.0.1:' . ($c->{mysql_port} + 1), 'MYSQL_REPLICA');
is($e->{SIM_URL}, $c->sim_url, 'SIM_URL');
is($e->{TWILIO_AUTH_TOKEN}, $c->auth_token, 'provider credentials as providers.env has them');
is($e->{REDIS_USER}, 'broadcast', 'REDIS_USER');
is($e->{REDIS_PASSWORD}, $c->secret('redis.password'), 'REDIS_PASSWORD: the product user\'s');
is(join(':', $e->{ADMIN_USER} // '', $e->{ADMIN_PASSWORD} // ''), join(':', $c->admin_credentials),
   'the admin credentials of admin.credentials');
is((stat "$c->{dir}/cluster.env")[2] & 0777, 0600, 'cluster.env is mode 600');

my $nodes = $c->cluster_nodes;
my @masters = grep { $_->{flags}{master} } @$nodes;
my @replicas = grep { $_->{flags}{slave} } @$nodes;
is(scalar @masters, 3, 'three Redis masters');
is(scalar @replicas, 3, 'three Redis replicas');
is(scalar(grep { my $r = $_; grep { $_->{id} eq $r->{master_id} } @masters } @replicas), 3,
   'each replica follows a master');
is_deeply([sort map { $_->{port} } @masters], [sort map { (split /:/)[1] } grep { defined } @seeds[0 .. 2]],
          'REDIS_NODES lists the masters first');
is(scalar(grep { $c->cluster_state($_) eq 'ok' } $c->node_ports), 6, 'cluster_state:ok on every node');

# lanes=3 (as many as masters): each family's three lanes live on three
# different masters, so the queue's and the events' work is spread over all
sub lane_key { my ($fam, $lane, $sfx) = @_; ($lane ? "bc:{$fam:$lane}" : "bc:{$fam}") . ":$sfx" }
sub master_of {    # the port of the master serving a key now
    my ($key, @skip) = @_;
    my @live = grep { $_->{flags}{master} && !$_->{flags}{fail} } @{ $c->cluster_nodes(@skip) };
    return 0 unless @live;
    my $slot = $c->redis_cli($live[0]{port}, 'CLUSTER', 'KEYSLOT', $key);
    for my $n (@live) {
        for (@{ $n->{slots} }) {
            my ($lo, $hi) = /^(\d+)(?:-(\d+))?$/ or next;
            return $n->{port} if $slot >= $lo && $slot <= ($hi // $lo);
        }
    }
    return 0;
}
for my $fam (['q', 'stream:send'], ['ev', 'stream:events']) {
    my %on = map { master_of(lane_key($fam->[0], $_, $fam->[1])) => 1 } 0 .. 2;
    is(scalar(grep { $_ } keys %on), 3, "the three $fam->[1] lanes are on three masters");
}

my $replica_sock = "$c->{dir}/mysql-replica/mysql.sock";
sub replica_sql {
    my ($sql) = @_;
    my $user = getpwuid($>) // 'root';
    my $out = `mariadb --no-defaults -S '$replica_sock' -u '$user' -N -B -e "$sql" 2>/dev/null`;
    chomp $out;
    return $out;
}
like(replica_sql('SHOW SLAVE STATUS'), qr/\tYes\tYes\t/, 'the MariaDB replica replicates (IO and SQL threads)');

ok($c->{ua}->get($c->sim_url . '/sim/messages')->{success}, 'the simulator answers');
for my $n (1, 2) {
    my $r = $c->get($c->node($n) . '/health');
    ok(ref $r->{json} eq 'HASH' && defined $r->{json}{status}, "nginx node $n answers /health")
        or diag "$r->{status} $r->{content}";
}
my %consumer;
for my $s (1 .. 3) {
    ok($c->alive("sender-$s"), "sender $s is running");
    my $conf = $s == 1 ? 'sender.conf' : "sender-$s.conf";
    my $env = $c->read_env("$c->{dir}/$conf");
    $consumer{ $env->{consumer} // '' }++;
}
is_deeply([sort keys %consumer], [qw(sender-1 sender-2 sender-3)], 'three senders, three consumer names');
is($c->cluster('status'), 0, 'cluster.sh status: everything up') or diag $c->last_output;

# ------------------------------------------------------------ the product on it
my $r;
my $healthy = wait_until(sub {
    2 == grep { ($c->get($c->node($_) . '/health')->{json}{redis} // '') eq 'ok' } 1, 2
}, 30, 0.2);
must(ok($healthy, 'both nginx nodes reach the Redis Cluster (/health redis ok)'),
     'nginx cannot use the Redis Cluster (the module does not speak the cluster protocol yet)');

my ($admin, $password) = $c->admin_credentials;
$r = $c->post('/api/login', json => { username => $admin, password => $password });
must(is($r->{status}, 200, 'the admin signs in on node 1'), "POST /api/login: $r->{status} $r->{content}");
$c->{token} = $r->{json}{token};
my $manage = $c->create_key('manage');
my $send = $c->create_key('send');
my $read = $c->create_key('read');

my $gid = $c->import_group(name => 'cluster', prefix => 'C', n => $CAMPAIGN_N, phone => \&campaign_phone,
                           manage => $manage, read => $read);
ok(wait_until(sub { replica_sql('SELECT COUNT(*) FROM broadcast.contacts') == $CAMPAIGN_N }, 30, 0.2),
   'the MariaDB replica has them too');

$r = $c->post('/api/campaigns', key => $send, json => {
    name => 'cluster', channel => 'sms', content => { message => 'Hi {{name}}' },
    audience => { group_ids => [$gid] }, rate_per_second => $CAMPAIGN_RATE });
is($r->{status}, 201, 'a campaign to the group') or diag $r->{content};
my $cid = ($r->{json} || {})->{id} // 0;
$r = $c->post($c->node(2) . "/api/campaigns/$cid/start", key => $send, json => {});
must(is(($r->{json} || {})->{status} // '', 'running', 'started through node 2'),
     "the campaign did not start: $r->{status} $r->{content}");

# direct sends: one process per nginx node, half before the faults, half
# after; a 5xx or a dropped connection (a master going away) is retried with
# the same Idempotency-Key, as a client should
my $marker = "$c->{dir}/faults.done";
my %child;
for my $n (1, 2) {
    my @to = map { direct_phone($_) } grep { $_ % 2 == $n - 1 } 0 .. $DIRECT_N - 1;
    my $pid = fork // die "fork: $!";
    if ($pid) { $child{$pid} = $n; next }
    eval { direct_sends($n, \@to); 1 } or POSIX::_exit(1);
    POSIX::_exit(0);    # not END: the parent owns the cluster
}

sub direct_sends {
    my ($n, $to_list) = @_;
    my @to = @$to_list;
    my $ua = HTTP::Tiny->new(timeout => 15, keep_alive => 1);
    open my $out, '>', "$c->{dir}/direct-$n.txt" or die "direct-$n.txt: $!";
    my $i = 0;
    for my $to (@to) {
        wait_until(sub { -e $marker }, 180, 0.05) if $i++ == @to / 2;
        my $res;
        wait_until(sub {
            $res = $c->http(POST => $c->node($n) . '/api/send/sms', ua => $ua, key => $send,
                headers => { 'Idempotency-Key' => "cluster-$to" },
                json => { recipients => [$to], message => 'direct' });
            $res->{status} < 500;
        }, 60, 0.2);
        my $id = $res->{status} == 202 ? ($res->{json}{messages}[0]{id} // '') : '';
        print $out join(' ', $to, $id || "FAILED:$res->{status}"), "\n";
    }
    close $out;
}

sub sim_count {
    my ($re) = @_;
    return scalar grep { ($_->{to} // '') =~ $re } @{ $c->sim_messages };
}
my $campaign_re = qr/^\+1415200\d{4}$/;
must(ok(wait_until(sub { sim_count($campaign_re) >= $FAULT_AFTER }, 90, 0.2),
        "the campaign is under way ($FAULT_AFTER received)"),
     'the campaign does not reach the simulator');

# ------------------------------------------------------------ the faults
my $mid_run = sim_count($campaign_re);
$c->kill9('sender-2');
pass("sender 2 SIGKILLed after $mid_run campaign messages");
# the master holding the most keys (whatever the keys are named)
my %keys = map { $_->{port} => $c->redis_cli($_->{port}, 'DBSIZE') } @masters;
my ($victim) = sort { $keys{ $b->{port} } <=> $keys{ $a->{port} } } @masters;
my ($heir) = grep { $_->{master_id} eq $victim->{id} } @replicas;
my $victim_pid = $c->redis_pid($victim->{port});
kill 'KILL', $victim_pid;
ok(wait_until(sub { !BC::Test::pid_alive($victim_pid) }, 10), "Redis master :$victim->{port} ($keys{ $victim->{port} } keys) SIGKILLed");
my $t_fail = time;
ok(wait_until(sub {
    my $now = $c->cluster_nodes($victim->{port});
    my ($h) = grep { $_->{id} eq $heir->{id} } @$now;
    $h && $h->{flags}{master}
        && 5 == grep { $c->cluster_state($_) eq 'ok' } grep { $_ != $victim->{port} } $c->node_ports;
}, 30, 0.1), "its replica :$heir->{port} took over, cluster_state:ok again");
my $t_promoted = time;
note sprintf 'failover took %.1f s', $t_promoted - $t_fail;
open my $m, '>', $marker or die "$marker: $!";
close $m;

# ------------------------------------------------------------ everyone once
my %direct_id;
for my $pid (keys %child) {
    waitpid $pid, 0;
    is($? >> 8, 0, "direct sender through node $child{$pid} finished");
    open my $in, '<', "$c->{dir}/direct-$child{$pid}.txt" or next;
    while (<$in>) { my ($to, $id) = split; $direct_id{$to} = $id }
}
my @failed = grep { $direct_id{$_} !~ /^\w{10,}$/ } keys %direct_id;
is(scalar keys %direct_id, $DIRECT_N, "$DIRECT_N direct sends made");
ok(!@failed, 'every direct send accepted (202)') or diag join ' ', map { "$_=$direct_id{$_}" } @failed[0 .. ($#failed < 9 ? $#failed : 9)];

my $camp = {};
ok(wait_until(sub {
    $camp = $c->get("/api/campaigns/$cid", key => $read)->{json} || {};
    ($camp->{status} // '') eq 'completed';
}, 150, 0.5), 'the campaign completed') or diag explain $camp->{stats};
my $all_re = qr/^\+14152[01]0\d{4}$/;
ok(wait_until(sub { sim_count($all_re) >= $CAMPAIGN_N + $DIRECT_N }, 90, 0.5),
   'the simulator received ' . ($CAMPAIGN_N + $DIRECT_N) . ' messages');
my $final = $c->wait_status([grep { /^\w{10,}$/ } values %direct_id], $FINAL, 90, $read);
is(scalar keys %$final, $DIRECT_N - @failed, 'every direct send is final');
is(scalar(grep { $_->{status} eq 'delivered' } values %$final), $DIRECT_N, 'every direct send delivered');

my %got;
$got{ $_->{to} // '' }++ for @{ $c->sim_messages };
my @camp_once = grep { ($got{ campaign_phone($_) } // 0) == 1 } 0 .. $CAMPAIGN_N - 1;
my @direct_once = grep { ($got{ direct_phone($_) } // 0) == 1 } 0 .. $DIRECT_N - 1;
my @twice = grep { $got{$_} > 1 } keys %got;
is(scalar @camp_once, $CAMPAIGN_N, "each of the $CAMPAIGN_N campaign recipients got exactly one message");
is(scalar @direct_once, $DIRECT_N, "each of the $DIRECT_N direct recipients got exactly one message");
ok(!@twice, 'nobody got a message twice') or diag scalar(@twice) . ' twice, e.g. ' . join ' ', @twice[0 .. ($#twice < 4 ? $#twice : 4)];
is(scalar keys %got, $CAMPAIGN_N + $DIRECT_N, 'nobody else got anything');

# wait_replicas=1: every accepted send and webhook event was followed by a
# WAIT on the master that took it (INFO commandstats of the masters now,
# the promoted replica among them)
my $waits = 0;
for my $n (grep { $_->{flags}{master} && !$_->{flags}{fail} } @{ $c->cluster_nodes($victim->{port}) }) {
    my $stats = $c->redis_cli($n->{port}, 'INFO', 'commandstats');
    $waits += $1 if $stats =~ /^cmdstat_wait:calls=(\d+)/m;
}
cmp_ok($waits, '>=', $DIRECT_N, "accepted writes waited for a replica (WAIT x $waits)");

# every lane of the send queue carried its share of the 5,500 messages
my %added;
for my $lane (0 .. 2) {
    my $k = lane_key('q', $lane, 'stream:send');
    my $info = $c->redis_cli(master_of($k, $victim->{port}), 'XINFO', 'STREAM', $k);
    $added{$lane} = $info =~ /^entries-added\n(\d+)$/m ? $1 : 0;
}
is(scalar(grep { $added{$_} >= ($CAMPAIGN_N + $DIRECT_N) / 6 } 0 .. 2), 3,
   'each send lane took at least a sixth of the messages') or diag explain \%added;

ok(wait_until(sub {
    $camp = $c->get($c->node(2) . "/api/campaigns/$cid", key => $read)->{json} || {};
    ($camp->{stats}{delivered} // 0) == $CAMPAIGN_N;
}, 60, 0.5), "the campaign's stats (through node 2): $CAMPAIGN_N delivered") or diag explain $camp->{stats};
my $st = $camp->{stats} || {};
is($st->{audience}, $CAMPAIGN_N, "stats.audience $CAMPAIGN_N");
is($st->{eligible}, $CAMPAIGN_N, "stats.eligible $CAMPAIGN_N");
is(($st->{failed} // 0) + ($st->{pending} // 0) + ($st->{queued} // 0), 0, 'nothing failed, pending or queued');
ok($c->alive('sender-1') && $c->alive('sender-3'), 'the other two senders ran throughout');

# nginx follows the promotion: once the replica is master (seen here within
# 0.1 s), a link to the dead master fails the one request that meets it and
# is made again with the new map; so past a second of slack (the access log
# has whole seconds) at most one 5xx per backend link: per nginx node, its
# workers' 16 pool threads and async link each
my %mon = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5, Jul => 6,
           Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);
my $ncpu = `nproc` =~ /(\d+)/ ? $1 : 1;    # worker_processes auto
my $links = 2 * $ncpu * (16 + 1);
my ($late_5xx, $n_5xx) = (0, 0);
for my $f (glob "$c->{dir}/nginx*/logs/access.log") {
    open my $in, '<', $f or next;
    while (<$in>) {
        next unless m{\[(\d+)/(\w+)/(\d+):(\d+):(\d+):(\d+) \+0000\] "[^"]*" 5\d\d };
        $n_5xx++;
        $late_5xx++ if timegm($6, $5, $4, $1, $mon{$2}, $3) >= int($t_promoted) + 2;
    }
}
ok($late_5xx <= $links, "after the promotion at most one failed request per backend link ($links)")
    or diag "$late_5xx of $n_5xx answers were 5xx more than a second after the replica took over";
note "$n_5xx answers were 5xx during the failover, $late_5xx of them later than a second after it";
note sprintf 'test ran %.0f s', time - $T0;

$c->done;
