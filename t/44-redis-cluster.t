#!/usr/bin/perl
# The Redis client for a single server or a Redis Cluster (common/bc_rc.c)
# against a real cluster (scripts/redis_cluster.sh: 3 masters, 3 replicas)
# and a plain redis-server, driven by build/bin/rc_probe. No nginx, no
# MariaDB: only Redis.
use strict;
use warnings;
use lib 't/lib';

use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IPC::Open2;
use POSIX qw(WNOHANG);
use BC::Test qw(wait_until);

my $REPO  = $BC::Test::REPO;
my $PROBE = ($ENV{BC_BUILD} // "$REPO/build") . '/bin/rc_probe';
plan skip_all => "$PROBE not built (make probe)" unless -x $PROBE;

my $dir = tempdir('bc-rc-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my ($single_pid, @probes);

# six node ports and their cluster bus ports (+10000), all free
sub free_ports {
    for (1 .. 50) {
        my $base = 20000 + int rand 20000;
        my $ok = 1;
        for my $p ((map { $base + $_ } 0 .. 6), (map { $base + 10000 + $_ } 0 .. 5)) {
            my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                LocalPort => $p, Proto => 'tcp', ReuseAddr => 1);
            $ok = 0, last unless $s;
            close $s;
        }
        return $base if $ok;
    }
    die 'no free range of ports';
}

my $base = free_ports();

END {
    kill 'TERM', $_ for @probes;
    kill 'KILL', $single_pid if $single_pid;
    system('bash', "$REPO/scripts/redis_cluster.sh", 'stop', $dir) if $dir;
}

my $started = `bash $REPO/scripts/redis_cluster.sh start $dir $base 3 1 2>&1`;
my ($nodes) = $started =~ /^REDIS_NODES=(\S+)$/m
    or BAIL_OUT("cluster did not start: $started");
my @ports = map { (split /:/)[1] } split /,/, $nodes;
is scalar @ports, 6, 'six nodes: three masters, three replicas';

my $admin_pass = do { local (@ARGV, $/) = "$dir/secrets/redis_admin.password"; <> };
chomp $admin_pass;

# redis-cli as admin on one node: raw output, no trailing newline
sub rcli {
    my ($port, @cmd) = @_;
    local $ENV{REDISCLI_AUTH} = $admin_pass;
    open my $fh, '-|', 'redis-cli', '--no-auth-warning', '--user', 'admin',
        '-p', $port, '--raw', @cmd or die "redis-cli: $!";
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    $out =~ s/\n\z//;
    return $out;
}

# the node table as one node sees it: id => {port, master, slots, master_id}
sub cluster_nodes {
    my ($port) = @_;
    my %n;
    for (split /\n/, rcli($port, 'CLUSTER', 'NODES')) {
        my ($id, $addr, $flags, $master, undef, undef, undef, $link, @slots) = split / /;
        my ($p) = $addr =~ /:(\d+)@/;
        $n{$id} = { id => $id, port => $p, master => $flags =~ /master/ ? 1 : 0,
                    fail => $flags =~ /fail/ ? 1 : 0, master_id => $master,
                    slots => [ grep { /^\d/ } @slots ] };
    }
    return \%n;
}

sub slot_of { rcli($ports[1], 'CLUSTER', 'KEYSLOT', $_[0]) }

sub owner_of_slot {    # the master node (hash) serving a slot
    my ($slot, $port) = @_;
    for my $n (values %{ cluster_nodes($port // $ports[1]) }) {
        next unless $n->{master} && !$n->{fail};
        for (@{ $n->{slots} }) {
            my ($a, $b) = split /-/;
            $b //= $a;
            return $n if $slot >= $a && $slot <= $b;
        }
    }
    return undef;
}

# ends a slot's move to $dst as redis-cli does: the destination first (it
# was importing: its config epoch is bumped, so the cluster keeps its
# claim against the source's replicas), then every other master; then
# waits until every node sees the new owner
sub assign_slot {
    my ($slot, $src, $dst) = @_;
    rcli($dst->{port}, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $dst->{id});
    rcli($src->{port}, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $dst->{id});
    for my $n (grep { $_->{master} && $_->{id} ne $src->{id} && $_->{id} ne $dst->{id} }
               values %{ cluster_nodes($dst->{port}) }) {
        rcli($n->{port}, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $dst->{id});
    }
    return wait_until(sub {
        !grep { ((owner_of_slot($slot, $_) // {})->{id} // '') ne $dst->{id} } @ports;
    }, 10);
}

# ------------------------------------------------------------- the probe

sub probe_start {
    my (@args) = @_;
    my $pid = open2(my $out, my $in, $PROBE, @args,
        'user=broadcast', "password_file=$dir/secrets/redis.password");
    push @probes, $pid;
    my $p = { pid => $pid, out => $out, in => $in, connects => 0, errors => 0 };
    $p->{mode} = probe_line($p);
    return $p;
}

# one reply line; a (re)connect's "MODE ..." is counted, not returned
sub probe_line {
    my ($p) = @_;
    while (1) {
        my $l = readline $p->{out};
        die 'the probe ended' unless defined $l;
        chomp $l;
        if ($l =~ /^MODE (\w+)/) { $p->{connects}++; return $1 if $p->{connects} == 1 && !defined $p->{mode}; next; }
        $p->{errors}++ if $l =~ /^!ERR/;
        return $l;
    }
}

sub cmd {
    my ($p, $line) = @_;
    print { $p->{in} } "$line\n";
    $p->{in}->flush;
    return probe_line($p);
}

sub pipeline {
    my ($p, @lines) = @_;
    print { $p->{in} } join("\n", 'PIPE', @lines, 'END'), "\n";
    $p->{in}->flush;
    return map { probe_line($p) } @lines;
}

# ------------------------------------------------------------ cluster mode

my $p = probe_start($nodes);
is $p->{mode}, 'cluster', 'several addresses: cluster mode';

# one key on each master
my %key_on;
for my $i (0 .. 200) {
    my $n = owner_of_slot(slot_of("bc:k$i"));
    $key_on{ $n->{port} } //= "bc:k$i";
    last if keys %key_on == 3;
}
my @keys = map { $key_on{$_} } sort keys %key_on;
is scalar @keys, 3, 'a key on each of the three masters';

for my $k (@keys) {
    is cmd($p, "SET $k v-$k"), '+OK', "SET $k";
}
for my $k (@keys) {
    is cmd($p, "GET $k"), "\$v-$k", "GET $k from its master";
    is rcli(owner_of_slot(slot_of($k))->{port}, 'GET', $k), "v-$k",
        "$k is stored on the master that owns its slot";
}

is_deeply [ pipeline($p, "GET $keys[2]", "INCR bc:{n}c", "GET $keys[0]",
                     'PING', "GET $keys[1]", "INCR bc:{n}c", "GET bc:none") ],
    [ "\$v-$keys[2]", ':1', "\$v-$keys[0]", '+PONG', "\$v-$keys[1]", ':2', '(nil)' ],
    'a pipeline across the three masters answers in append order';

is_deeply [ pipeline($p, 'MULTI', 'SET bc:{tx}a 1', 'INCR bc:{tx}a',
                     'SADD bc:{tx}s x', 'EXEC') ],
    [ '+OK', '+QUEUED', '+QUEUED', '+QUEUED', '*3[+OK,:2,:1]' ],
    'MULTI/EXEC on one hash tag runs on its node';
is cmd($p, 'GET bc:{tx}a'), '$2', 'the transaction applied';

like cmd($p, "MSET $keys[0] 1 $keys[1] 2"), qr/^-CROSSSLOT/,
    'keys of different slots in one command: CROSSSLOT as an error reply';
is cmd($p, 'SCRIPT LOAD return(7)'), '$' . rcli($ports[0], 'SCRIPT', 'LOAD', 'return(7)'),
    'SCRIPT LOAD answers the script SHA';
for my $m (keys %key_on) {
    is rcli($m, 'SCRIPT', 'EXISTS', rcli($ports[0], 'SCRIPT', 'LOAD', 'return(7)')),
        1, "the script is loaded on master $m";
}

# ---------------------------------------------------------- ASK, then MOVED

my ($ka, $kb) = ('bc:{mig}1', 'bc:{mig}2');
my $slot = slot_of($ka);
my $src = owner_of_slot($slot);
my ($dst) = grep { $_->{master} && $_->{port} != $src->{port} } values %{ cluster_nodes($ports[1]) };
is cmd($p, "SET $ka one"), '+OK', 'a key in the slot to migrate';
is cmd($p, "SET $kb two"), '+OK', 'and another one';

rcli($dst->{port}, 'CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $src->{id});
rcli($src->{port}, 'CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $dst->{id});
is rcli($src->{port}, 'MIGRATE', '127.0.0.1', $dst->{port}, '', 0, 5000,
        'AUTH2', 'admin', $admin_pass, 'KEYS', $ka), 'OK', "$ka migrated";
like rcli($src->{port}, 'GET', $ka), qr/^ASK $slot /, 'its old node answers ASK';

is cmd($p, "GET $ka"), '$one', 'ASK followed: the migrated key is read';
is cmd($p, "GET $kb"), '$two', 'the key not migrated yet is read from the source';
is_deeply [ pipeline($p, "GET $ka", "GET $keys[0]", "GET $kb", "GET $ka") ],
    [ '$one', "\$v-$keys[0]", '$two', '$one' ], 'ASK followed inside a pipeline';

# both keys at once while only one has moved: TRYAGAIN, retried (within
# timeout_ms) until the migration ends, then MOVED followed
sub tryagains {
    my ($n) = rcli($src->{port}, 'INFO', 'errorstats') =~ /errorstat_TRYAGAIN:count=(\d+)/;
    return $n // 0;
}
like rcli($src->{port}, 'MGET', $ka, $kb), qr/^TRYAGAIN/, 'the source answers TRYAGAIN to both keys at once';
my $tryagains = tryagains();
print { $p->{in} } "MGET $ka $kb\n";
$p->{in}->flush;
ok wait_until(sub { tryagains() > $tryagains }, 5), 'the probe met TRYAGAIN';

is rcli($src->{port}, 'MIGRATE', '127.0.0.1', $dst->{port}, '', 0, 5000,
        'AUTH2', 'admin', $admin_pass, 'KEYS', $kb), 'OK', "$kb migrated";
ok assign_slot($slot, $src, $dst), "slot $slot now served by $dst->{port} for every node";
is probe_line($p), '*2[$one,$two]', 'the multi-key command retried answers once the slot has moved';
like rcli($src->{port}, 'GET', $ka), qr/^MOVED $slot 127\.0\.0\.1:$dst->{port}$/,
    'the old owner answers MOVED';
is_deeply [ pipeline($p, "GET $ka", "GET $kb", "GET $keys[1]", "GET $ka") ],
    [ '$one', '$two', "\$v-$keys[1]", '$one' ],
    'after the move a pipeline reads both keys from the new owner';
is cmd($p, "INCR bc:{n}c"), ':3', 'and the client goes on';

# moves the (empty) slot of key to another master behind the probe's back;
# (slot, its new owner)
sub move_empty_slot {
    my ($key) = @_;
    my $slot = slot_of($key);
    my $src = owner_of_slot($slot);
    my ($dst) = grep { $_->{master} && $_->{port} != $src->{port} } values %{ cluster_nodes($ports[1]) };
    rcli($dst->{port}, 'CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $src->{id});
    rcli($src->{port}, 'CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $dst->{id});
    ok assign_slot($slot, $src, $dst), "slot $slot now served by $dst->{port} for every node";
    return ($slot, $dst);
}

# an (empty) slot moved behind the probe's back: two pipelined commands
# on it both meet MOVED, followed in order
my ($pslot, $pdst) = move_empty_slot('bc:{p}x');
is_deeply [ pipeline($p, 'SET bc:{p}x 1', "GET $keys[2]", 'INCR bc:{p}x', 'GET bc:{p}x') ],
    [ '+OK', "\$v-$keys[2]", ':2', '$2' ],
    'MOVED followed inside a pipeline, no error to the caller';
is rcli($pdst->{port}, 'GET', 'bc:{p}x'), 2, 'written once, on the new owner';

# an (empty) slot moved under a transaction: resent whole to its new owner
my ($wslot, $wdst) = move_empty_slot('bc:{w}a');
is_deeply [ pipeline($p, 'MULTI', 'SET bc:{w}a 5', 'INCR bc:{w}a', 'EXEC') ],
    [ '+OK', '+QUEUED', '+QUEUED', '*2[+OK,:6]' ],
    'a transaction on a moved slot runs whole on the new owner';
is rcli($wdst->{port}, 'GET', 'bc:{w}a'), 6, 'applied once, on the new owner';
is $p->{errors}, 0, 'no client error so far';
is $p->{connects}, 1, 'one connection all along';

# CLUSTER SLOTS refused (an ACL, or a server that dropped it): the map
# comes from CLUSTER SHARDS; a right map routes without a single MOVED
for my $port (@ports) {
    rcli($port, 'ACL', 'SETUSER', 'shardsonly', 'on', '>shards-pass', '~bc:*', '+@all', '-cluster|slots');
}
open my $pw, '>', "$dir/shards.password" or die $!;
print $pw "shards-pass\n";
close $pw;
sub moved_total {
    my $n = 0;
    for my $port (@ports) {
        my ($c) = rcli($port, 'INFO', 'errorstats') =~ /errorstat_MOVED:count=(\d+)/;
        $n += $c // 0;
    }
    return $n;
}
my $moved = moved_total();
{
    my $pid = open2(my $out, my $in, $PROBE, $nodes, 'user=shardsonly', "password_file=$dir/shards.password");
    push @probes, $pid;
    print $in "CLUSTER SLOTS\n", map { "GET $_\n" } @keys, 'bc:{p}x';
    close $in;
    my @lines = map { chomp; $_ } <$out>;
    waitpid $pid, 0;
    is_deeply \@lines, [ 'MODE cluster', "-NOPERM this user has no permissions to run the 'cluster|slots' command",
                         (map { "\$v-$_" } @keys), '$2' ],
        'a user without CLUSTER SLOTS: every key read';
    is moved_total(), $moved, 'routed by the CLUSTER SHARDS map: no MOVED';
}

# ----------------------------------------------------------------- failover

my $victim = owner_of_slot(slot_of($keys[0]));
my ($replica) = grep { $_->{master_id} eq $victim->{id} } values %{ cluster_nodes($ports[1]) };
ok $replica, "master $victim->{port} has a replica ($replica->{port})";
ok wait_until(sub {
    my ($m) = rcli($victim->{port}, 'INFO', 'replication') =~ /master_repl_offset:(\d+)/;
    my ($r) = rcli($replica->{port}, 'INFO', 'replication') =~ /slave_repl_offset:(\d+)/;
    defined $m && defined $r && $m == $r;
}, 10), 'the replica has caught up';

# a command first: the map re-read a MOVED asked for happens now, so the
# probe holds a link to the victim when it dies (the caller's case)
is cmd($p, "GET $keys[0]"), "\$v-$keys[0]", 'the key of the master to kill is read';

my $pid = do { local (@ARGV, $/) = "$dir/node-$victim->{port}/redis.pid"; <> };
chomp $pid;
kill 'KILL', $pid;
my @alive = grep { $_ != $victim->{port} } @ports;
ok wait_until(sub {
    rcli($replica->{port}, 'ROLE') =~ /^master/
        && !grep { rcli($_, 'CLUSTER', 'INFO') !~ /cluster_state:ok/ } @alive;
}, 30), 'the replica took over and the cluster is ok again';

my $errors0 = $p->{errors};
my $failed = 0;
for my $k (@keys, $ka, $kb, 'bc:{w}a', 'bc:{tx}a') {
    my $want = { $ka => '$one', $kb => '$two', 'bc:{w}a' => '$6',
                 'bc:{tx}a' => '$2' }->{$k} // "\$v-$k";
    my $got = cmd($p, "GET $k");
    if ($got =~ /^!ERR/) { $failed++; $got = cmd($p, "GET $k"); }
    is $got, $want, "GET $k after the failover";
}
note "commands failed across the failover: $failed";
cmp_ok $failed, '<=', 1, 'at most one command failed across the failover';
is $p->{errors} - $errors0, $failed, 'no other client error';
is $p->{connects}, 1 + $failed, 'the probe connected again only after the failed command';

# ------------------------------------------------------------- single mode

my $sport = free_ports() + 7;
system('redis-server', '--port', $sport, '--bind', '127.0.0.1', '--daemonize', 'yes',
    '--pidfile', "$dir/single.pid", '--dir', $dir, '--logfile', "$dir/single.log",
    '--save', '', '--appendonly', 'no', '--aclfile', "$dir/users.acl") == 0
    or BAIL_OUT('redis-server did not start');
ok wait_until(sub { rcli($sport, 'PING') eq 'PONG' }, 10), 'a plain redis-server';
$single_pid = do { local (@ARGV, $/) = "$dir/single.pid"; <> };
chomp $single_pid;

my $s = probe_start("127.0.0.1:$sport");
is $s->{mode}, 'single', 'one address of a plain Redis: single mode';
is cmd($s, 'SET bc:a 1'), '+OK', 'single: SET';
is_deeply [ pipeline($s, 'INCR bc:a', 'GET bc:a', 'MULTI', 'INCR bc:a', 'EXEC', 'GET bc:none') ],
    [ ':2', '$2', '+OK', '+QUEUED', '*1[:3]', '(nil)' ], 'single: a pipeline with a transaction';
is cmd($s, 'GET bc:a'), '$3', 'single: GET';
like cmd($s, 'GET other'), qr/^-NOPERM/, 'single: the ACL still applies';

my $one = probe_start("127.0.0.1:$ports[1]");
is $one->{mode}, 'cluster', 'one address of a cluster node: cluster mode (INFO cluster)';
is cmd($one, "GET $keys[1]"), "\$v-$keys[1]", 'and it routes by slot';

close $_->{in} for $p, $s, $one;
waitpid $_, 0 for @probes;
@probes = ();
is $?, 0, 'the probe exits cleanly';

done_testing;
