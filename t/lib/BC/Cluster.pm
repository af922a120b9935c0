package BC::Cluster;

# The cluster stack (scripts/cluster.sh: a Redis Cluster of 3 masters and 3
# replicas, MariaDB with a replica, two nginx nodes, three senders, the
# simulator) in a private temp dir on free loopback ports, for one test
# file. It is a BC::Test for the HTTP and simulator helpers (node 1 is
# base_url; node($n) is another node's URL, for http()'s full-URL paths).
#
#   my $c = BC::Cluster->new(env => { ... });
#   $c->cluster_env->{REDIS_NODES};
#   $c->kill9('sender-2');  $c->redis_cli($port, 'CLUSTER', 'NODES');
#   $c->done;   # cluster.sh stop, no process left behind, logs checked

use strict;
use warnings;

use parent -norequire, 'BC::Test';
use BC::Test qw(:all);
use Test::More ();
use File::Path qw(rmtree);
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

my @LIVE;    # clusters to stop if the test dies

sub port_free {
    my ($p) = @_;
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
        LocalPort => $p, Proto => 'tcp', ReuseAddr => 1) or return 0;
    close $s;
    return 1;
}

# a first port with $n consecutive free ports, and their cluster bus ports
# (+10000) free as well. All below Linux's ephemeral range (32768-60999):
# the cluster's bus links and the replica's connection take local ports
# from it, which could take a chosen port between this check and its bind.
sub free_run {
    my ($n, $bus, $taken) = @_;
    for (1 .. 200) {
        my $base = $bus ? 10000 + int rand(12000) : 22000 + int rand(10700);
        my @want = map { $base + $_ } 0 .. $n - 1;
        push @want, map { $_ + 10000 } @want if $bus;
        next if grep { $taken->{$_} || !port_free($_) } @want;
        $taken->{$_} = 1 for @want;
        return $base;
    }
    die "no run of $n free ports found\n";
}

sub new {
    my ($class, %o) = @_;
    my $self = bless { opts => \%o }, $class;
    $self->{dir} = BC::Test::stack_dir('bcc');
    my %taken;
    $self->{port} = free_run(2, 0, \%taken);            # nginx nodes 1 and 2
    $self->{redis_first} = free_run(6, 1, \%taken);     # 6 nodes + bus ports
    $self->{mysql_port} = free_run(2, 0, \%taken);      # primary, replica
    $self->{sim_port} = free_run(1, 0, \%taken);
    $self->{env} = {
        BC_VAR => $self->{dir},
        PORT => $self->{port},
        REDIS_CLUSTER_PORT => $self->{redis_first},
        MYSQL_PORT => $self->{mysql_port},
        MYSQL_REPLICA_PORT => $self->{mysql_port} + 1,
        SIM_PORT => $self->{sim_port},
        BC_RECLAIM_IDLE_MS => 2000,
        BC_REQUEST_TIMEOUT_MS => 5000,
        BC_MYSQL_EXTRA => '--innodb-log-file-size=24M --innodb-buffer-pool-size=64M',
        %{ $o{env} || {} },
    };
    $self->{ua} = HTTP::Tiny->new(timeout => 30, keep_alive => 1, agent => 'bc-test/1');
    push @LIVE, $self;
    Test::More::diag("cluster in $self->{dir}") if $ENV{TEST_LEAVE};
    my $t0 = time;
    $self->cluster('start') == 0 or do {
        $self->dump_logs;
        die "scripts/cluster.sh start failed\n";
    };
    $self->{start_secs} = time - $t0;
    $self->{cenv} = $self->read_env("$self->{dir}/cluster.env");
    $self->{creds} = $self->read_env("$self->{dir}/providers.env");
    $self->{redis_port} = $self->{redis_first};
    $self->remember_pids;
    return $self;
}

sub cluster_env { $_[0]{cenv} }
sub start_secs { $_[0]{start_secs} }
sub node { my ($self, $n) = @_; 'http://127.0.0.1:' . ($self->{port} + $n - 1) }

# runs scripts/cluster.sh with this cluster's environment; its exit code
sub cluster {
    my ($self, @args) = @_;
    local %ENV = (%ENV, %{ $self->{env} });
    my $out = `bash $BC::Test::REPO/scripts/cluster.sh @args 2>&1`;
    my $rc = $? >> 8;
    $self->{last_cluster_output} = $out;
    Test::More::diag($out) if $rc != 0 || $ENV{TEST_VERBOSE_STACK};
    return $rc;
}
sub last_output { $_[0]{last_cluster_output} // '' }

# the first nginx and sender are stack.sh's own; the others are instances
sub pidfile {
    my ($self, $c) = @_;
    my $d = $self->{dir};
    return "$d/run/mysqld-replica.pid" if $c eq 'mysql_replica';
    return "$d/nginx-$1/logs/nginx.pid" if $c =~ /^nginx-([2-9]\d*)$/;
    return "$d/run/sender-$1.pid" if $c =~ /^sender-([2-9]\d*)$/;
    $c = 'sender' if $c eq 'sender-1';
    $c = 'nginx' if $c eq 'nginx-1';
    return $self->SUPER::pidfile($c);
}

# ------------------------------------------------------------ redis
# redis-cli as the cluster's admin user against one node; raw output
sub redis_cli {
    my ($self, $port, @cmd) = @_;
    local $ENV{REDISCLI_AUTH} = $self->secret('redis_admin.password');
    # a node that is down is asked too (failover polls): no stderr noise
    my $pid = open my $fh, '-|';
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open STDERR, '>', '/dev/null';
        exec 'redis-cli', '--no-auth-warning', '--user', 'admin',
            '-h', '127.0.0.1', '-p', $port, '--raw', @cmd;
        exit 127;
    }
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    $out =~ s/\n\z//;
    return $out;
}

sub node_ports {
    my ($self) = @_;
    return map { $self->{redis_first} + $_ } 0 .. 5;
}

# CLUSTER NODES from the first node that answers, as
# [{id, port, flags => {master|slave|fail|myself...}, master_id, slots}]
sub cluster_nodes {
    my ($self, @skip) = @_;
    my %skip = map { $_ => 1 } @skip;
    for my $p (grep { !$skip{$_} } $self->node_ports) {
        my $out = $self->redis_cli($p, 'CLUSTER', 'NODES');
        next unless $out =~ /\bmyself\b/;
        my @n;
        for my $l (split /\n/, $out) {
            my ($id, $addr, $flags, $master, undef, undef, undef, $link, @slots) = split ' ', $l;
            next unless defined $link;
            my ($port) = $addr =~ /:(\d+)/;
            push @n, { id => $id, port => $port, master_id => $master, link => $link,
                       flags => { map { $_ => 1 } split /,/, $flags }, slots => \@slots };
        }
        return \@n;
    }
    return [];
}

sub cluster_state {
    my ($self, $port) = @_;
    my $info = $self->redis_cli($port, 'CLUSTER', 'INFO');
    return $info =~ /^cluster_state:(\w+)/m ? $1 : '';
}

# the pid of the redis-server on a port (layout-agnostic: it says so itself)
sub redis_pid {
    my ($self, $port) = @_;
    my $info = $self->redis_cli($port, 'INFO', 'server');
    return $info =~ /^process_id:(\d+)/m ? $1 : undef;
}

# ------------------------------------------------------------ teardown
# every process of the cluster, for the check that stop leaves none
sub remember_pids {
    my ($self) = @_;
    my $d = $self->{dir};
    for my $f (glob("$d/run/*.pid"), "$d/sim/sim.pid", glob("$d/nginx*/logs/nginx.pid")) {
        open my $fh, '<', $f or next;
        my $p = <$fh> // '';
        $self->{pids}{$1} = $f if $p =~ /(\d+)/;
    }
    for my $port ($self->node_ports) {
        my $p = $self->redis_pid($port);
        $self->{pids}{$p} = "redis :$port" if $p;
    }
}

# processes still there: the remembered pids, anything whose command line
# names the cluster's dir, anything listening on a Redis node's port
sub leftovers {
    my ($self) = @_;
    my @left = map { "$_ ($self->{pids}{$_})" } grep { BC::Test::pid_alive($_) } sort keys %{ $self->{pids} };
    for my $f (glob '/proc/[0-9]*/cmdline') {
        my ($p) = $f =~ m{/proc/(\d+)/};
        next if $p == $$;
        open my $fh, '<', $f or next;
        my $cmd = do { local $/; <$fh> } // '';
        next unless index($cmd, $self->{dir}) >= 0 && BC::Test::pid_alive($p);
        $cmd =~ tr/\0/ /;
        push @left, "$p ($cmd)";
    }
    for my $port ($self->node_ports) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 1);
        push @left, "something listens on :$port" if $s;
    }
    return @left;
}

sub check_logs_for_secrets {
    my ($self) = @_;
    BC::Test::logs_hold_no_secret($self->{dir}, $self->secrets);
}

sub dump_logs {
    my ($self) = @_;
    my $d = $self->{dir};
    BC::Test::diag_log_tails(20, glob("$d/nginx*/logs/error.log"), glob("$d/log/sender*.log"),
                             map { "$d/log/$_" } qw(sim.log mysqld.log mysqld-replica.log));
}

# a step the rest of a test depends on: when it fails, say why and stop
# there (the teardown still checks that the cluster stops cleanly)
sub must {
    my ($self, $ok, $why) = @_;
    return 1 if $ok;
    Test::More::diag("stopping here: $why");
    $self->done;
    exit;
}

# a group of n contacts imported as CSV ("<prefix><i>", phone($i) for i in
# 0 .. n-1) through node 1, waited for; the group's id
sub import_group {
    my ($self, %o) = @_;
    my ($manage, $read, $n) = @o{qw(manage read n)};
    my $r = $self->post('/api/groups', key => $manage, json => { name => $o{name} });
    $self->must(Test::More::is($r->{status}, 201, "a group $o{name}"),
                "POST /api/groups: $r->{status} $r->{content}");
    my $gid = $r->{json}{id};
    my $csv = "name,phone\n" . join '', map { "$o{prefix}$_," . $o{phone}->($_) . "\n" } 0 .. $n - 1;
    $r = $self->post("/api/contacts/import?group_id=$gid", key => $manage, body => $csv,
                     headers => { 'Content-Type' => 'text/csv' });
    Test::More::is($r->{status}, 202, "$n contacts: import accepted") or Test::More::diag($r->{content});
    my $import_id = ($r->{json} || {})->{import_id} // 0;
    my $imp = {};
    wait_until(sub {
        $imp = $self->get("/api/contacts/imports/$import_id", key => $read)->{json} || {};
        ($imp->{status} // 'running') ne 'running';
    }, 60, 0.2);
    $self->must(Test::More::is($imp->{status} // '', 'done', 'the import is done')
                && Test::More::is($imp->{created}, $n, "$n contacts created"),
                'the import did not complete: ' . json_encode($imp));
    return $gid;
}

# cluster.sh stop; then: it exited 0, nothing is left running, no nginx
# logged alert/crit/emerg, no secret in a log
sub teardown {
    my ($self, $died) = @_;
    return if $self->{down}++;
    @LIVE = grep { $_ != $self } @LIVE;
    $self->remember_pids;    # a promoted replica, a restarted sender
    kill 'CONT', $_ for keys %{ $self->{pids} };
    my $rc = $self->cluster('stop');
    Test::More::is($rc, 0, 'cluster.sh stop exits 0') or Test::More::diag($self->last_output);
    my @left = $self->leftovers;
    Test::More::ok(!@left, sprintf('cluster.sh stop left no process behind (%d were running)',
        scalar keys %{ $self->{pids} })) or Test::More::diag(join "\n", @left);
    my @bad;
    for my $f (glob "$self->{dir}/nginx*/logs/error.log") {
        open my $fh, '<', $f or next;
        push @bad, map { "$f: $_" } grep { /\[(alert|crit|emerg)\]/ } <$fh>;
    }
    Test::More::ok(!@bad, 'no nginx error.log has an [alert], [crit] or [emerg]')
        or Test::More::diag(join '', @bad[0 .. ($#bad < 19 ? $#bad : 19)]);
    $self->check_logs_for_secrets;
    my $passing = !$died && Test::More->builder->is_passing;
    $self->dump_logs unless $passing;
    return if $ENV{TEST_LEAVE};
    if ($passing) {
        rmtree($self->{dir});
    } else {
        rmtree("$self->{dir}/$_/data") for qw(mysql mysql-replica);
    }
}

END {
    my $died = $?;
    for my $s (@LIVE) {
        local $?;
        eval { $s->teardown($died) };
    }
}

1;
