#!/usr/bin/perl
# bench/costs.sh's arithmetic: CPU ticks of processes, and the report.
#
#   costs.pl ticks PID...   utime + stime of the PIDs (all their threads,
#                           living and exited) in clock ticks, summed
#   costs.pl report DIR     the fixed table of DIR/scenarios (lines
#                           "key<TAB>unit<TAB>count<TAB>what"), each from its
#                           snapshots DIR/snap/<key>.0 and .1, plus
#                           DIR/memory and DIR/storage, and the arithmetic
#                           of docs/CAPACITY.md's plan (100 million a day
#                           at the api scenario's costs); on stdout
#
# A snapshot is what costs.sh's snap() wrote: "cpu.<process> <ticks>",
# "time <epoch s>", then Redis INFO (commandstats, stats, memory,
# persistence: "name:value" lines) and MySQL's SHOW GLOBAL STATUS
# ("Name<TAB>value" lines).
use strict;
use warnings;
use POSIX qw(sysconf);

my $CLK_TCK = sysconf(POSIX::_SC_CLK_TCK()) || 100;

my @PROCS = (
    [ 'nginx',  'nginx workers' ],
    [ 'sender', 'sender' ],
    [ 'redis',  'redis-server' ],
    [ 'mysql',  'mariadbd' ],
    [ 'replica', 'mariadbd replica' ],
);
# MariaDB 10.11 has no Innodb_rows_*: rows are counted by the handler
my @MYSQL = (
    [ 'Handler_write',          'rows written (Handler_write)' ],
    [ 'Handler_update',         'rows updated (Handler_update)' ],
    [ 'Handler_delete',         'rows deleted (Handler_delete)' ],
    [ 'Rows_read',              'rows read (Rows_read)' ],
    [ 'Handler_read_key',       'index lookups (Handler_read_key)' ],
    [ 'Com_insert',             'Com_insert' ],
    [ 'Com_update',             'Com_update' ],
    [ 'Com_select',             'Com_select' ],
    [ 'Com_stmt_execute',       'Com_stmt_execute' ],
    [ 'Com_commit',             'Com_commit' ],
    [ 'Innodb_os_log_written',  'redo bytes (Innodb_os_log_written)' ],
    [ 'Innodb_data_written',    'data bytes (Innodb_data_written)' ],
    [ 'Innodb_data_fsyncs',     'fsyncs (Innodb_data_fsyncs)' ],
    [ 'Binlog_bytes_written',   'binlog bytes (Binlog_bytes_written)' ],
);
# the measurement's own commands, not the product's: INFO, and the AUTH of
# each redis-cli it runs (the product's connections authenticate once);
# XINFO GROUPS is the product's too (the recorder's lag watch), so the
# waits' polls of it stay in (at most 50 a second)
my %NOT_PRODUCT = map { $_ => 1 } qw(info auth);
my $TOP_COMMANDS = 12;

sub ticks {
    my $sum = 0;
    for my $pid (@_) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $stat = <$fh>;
        # the command name (field 2) may hold spaces: count after its ")"
        my @f = split ' ', substr($stat, rindex($stat, ')') + 2);
        $sum += $f[11] + $f[12];    # utime, stime (fields 14, 15)
    }
    print "$sum\n";
}

sub read_snap {
    my ($file) = @_;
    my (%s, %cmd, %usec);
    open my $fh, '<', $file or die "costs: $file: $!\n";
    while (my $l = <$fh>) {
        $l =~ s/\r?\n\z//;
        if ($l =~ /^cmdstat_(\S+?):calls=(\d+),usec=(\d+)/) {
            ($cmd{$1}, $usec{$1}) = ($2, $3);
        } elsif ($l =~ /^(cpu\.\w+|time) (\S+)$/) {
            $s{$1} = $2;
        } elsif ($l =~ /^(\w+):(-?[\d.]+)$/) {
            $s{"redis.$1"} = $2;
        } elsif ($l =~ /^(\w+)\t(-?[\d.]+)$/) {
            $s{"mysql.$1"} = $2;
        }
    }
    $s{cmd} = \%cmd;
    $s{usec} = \%usec;
    return \%s;
}

sub measured {   # a process present in the snapshots (the replica is optional)
    my ($p, $sc) = @_;
    return grep { exists $_->{d}{"cpu.$p->[0]"} } @$sc;
}

sub read_kv {
    my ($file) = @_;
    my %kv;
    open my $fh, '<', $file or return \%kv;
    while (<$fh>) { chomp; my ($k, $v) = split /\s+/, $_, 2; $kv{$k} = $v if defined $v; }
    return \%kv;
}

sub num {   # a figure to 3 significant digits, thousands grouped
    my ($v) = @_;
    return '-' unless defined $v;
    my $a = abs $v;
    my $s = $a >= 100 ? sprintf('%.0f', $v) : $a >= 10 ? sprintf('%.1f', $v)
          : $a >= 1 ? sprintf('%.2f', $v) : $a == 0 ? '0' : sprintf('%.3f', $v);
    1 while $s =~ s/^(-?\d+)(\d{3})/$1,$2/;
    return $s;
}

sub report {
    my ($dir) = @_;
    my @sc;
    open my $fh, '<', "$dir/scenarios" or die "costs: $dir/scenarios: $!\n";
    while (<$fh>) {
        chomp;
        my ($key, $unit, $count, $what) = split /\t/;
        my ($a, $b) = map { read_snap("$dir/snap/$key.$_") } 0, 1;
        my %d = map { $_ => ($b->{$_} // 0) - ($a->{$_} // 0) } grep { !ref $b->{$_} } keys %$b;
        my %cmd = map { $_ => $b->{cmd}{$_} - ($a->{cmd}{$_} // 0) } keys %{ $b->{cmd} };
        my %usec = map { $_ => $b->{usec}{$_} - ($a->{usec}{$_} // 0) } keys %{ $b->{usec} };
        delete @cmd{ keys %NOT_PRODUCT };
        delete @usec{ keys %NOT_PRODUCT };
        push @sc, { key => $key, unit => $unit, n => $count || 1, what => $what,
                    d => \%d, cmd => \%cmd, usec => \%usec };
    }
    close $fh;
    my $meta = read_kv("$dir/meta");
    my $w = 11;
    my $row = sub {
        my ($label, $f) = @_;
        printf "%-36s", $label;
        printf " %${w}s", num($f->($_)) for @sc;
        print "\n";
    };

    print "make costs ($meta->{date}): $meta->{machine}\n";
    print "nginx workers $meta->{workers}, wrk -t$meta->{clients} -c$meta->{clients} (one request in flight per connection)\n\n";
    printf "  %-9s %s\n", $_->{key}, $_->{what} for @sc;
    print "\n";
    printf "%-36s", '';
    printf " %${w}s", $_->{key} for @sc;
    print "\n";
    $row->("units (messages or events)", sub { $_[0]{n} });
    $row->("wall seconds", sub { $_[0]{d}{time} });
    $row->("units/s", sub { $_[0]{d}{time} ? $_[0]{n} / $_[0]{d}{time} : undef });
    print "CPU seconds per 1,000 units\n";
    for my $p (grep { measured($_, \@sc) } @PROCS) {
        $row->("  $p->[1]", sub { 1000 * $_[0]{d}{"cpu.$p->[0]"} / $CLK_TCK / $_[0]{n} });
    }
    $row->("  = the product (planned)", sub {
        my $s = 0;
        $s += $_[0]{d}{"cpu.$_->[0]"} // 0 for @PROCS;
        1000 * $s / $CLK_TCK / $_[0]{n};
    });
    $row->("  simulator (stands for providers)", sub { 1000 * $_[0]{d}{'cpu.sim'} / $CLK_TCK / $_[0]{n} });
    print "Redis per unit\n";
    $row->("  commands", sub { my $t = 0; $t += $_ for values %{ $_[0]{cmd} }; $t / $_[0]{n} });
    my %score;
    for my $s (@sc) {
        $score{$_} += $s->{cmd}{$_} / $s->{n} for keys %{ $s->{cmd} };
    }
    my @top = grep { $score{$_} > 0 } sort { $score{$b} <=> $score{$a} || $a cmp $b } keys %score;
    splice @top, $TOP_COMMANDS if @top > $TOP_COMMANDS;
    for my $c (@top) {
        $row->("    $c", sub { ($_[0]{cmd}{$c} // 0) / $_[0]{n} });
    }
    # Redis's own clock: where its time goes (a script's usec include the
    # commands it calls, which are also counted on their own)
    $row->("  usec in commands", sub { my $t = 0; $t += $_ for values %{ $_[0]{usec} }; $t / $_[0]{n} });
    my %uscore;
    for my $s (@sc) {
        $uscore{$_} += $s->{usec}{$_} / $s->{n} for keys %{ $s->{usec} };
    }
    my @utop = grep { $uscore{$_} > 0 } sort { $uscore{$b} <=> $uscore{$a} || $a cmp $b } keys %uscore;
    splice @utop, 6 if @utop > 6;
    for my $c (@utop) {
        $row->("    usec $c", sub { ($_[0]{usec}{$c} // 0) / $_[0]{n} });
    }
    $row->("  net input bytes", sub { $_[0]{d}{'redis.total_net_input_bytes'} / $_[0]{n} });
    $row->("  net output bytes", sub { $_[0]{d}{'redis.total_net_output_bytes'} / $_[0]{n} });
    print "MySQL per unit\n";
    for my $m (@MYSQL) {
        $row->("  $m->[1]", sub { ($_[0]{d}{"mysql.$m->[0]"} // 0) / $_[0]{n} });
    }
    print "\n";

    my $mem = read_kv("$dir/memory");
    if ($mem->{queued}) {
        printf "Redis per queued message (%s single-recipient sends, sender stopped): used_memory %s bytes, AOF %s bytes\n",
            num($mem->{queued}), num(($mem->{used1} - $mem->{used0}) / $mem->{queued}),
            num(($mem->{aof1} - $mem->{aof0}) / $mem->{queued});
    }
    my %per_row;
    if (open my $st, '<', "$dir/storage") {
        print "\nMySQL storage after the run (ANALYZE TABLE; information_schema data + index;\n"
            . "messages.<index>: each index of messages, its pages in mysql.innodb_index_stats, the primary key holding the rows)\n";
        printf "  %-34s %10s %10s %10s %10s\n", 'table', 'rows', 'data MB', 'index MB', 'bytes/row';
        while (<$st>) {
            chomp;
            my ($t, $rows, $data, $index) = split /\t/;
            next unless defined $index;
            printf "  %-34s %10s %10s %10s %10s\n", $t, num($rows), num($data / 1048576),
                num($index / 1048576), $rows ? num(($data + $index) / $rows) : '-';
            $per_row{$t} = ($data + $index) / $rows if $rows && $t !~ /\./;
        }
    }
    plan(\@sc, \%per_row, $mem);
    print "\n$meta->{notes}\n" if $meta->{notes};
}

# 100 million messages a day at the api scenario's costs: what each tier
# needs at the peak (10x the mean) with 1.5x headroom
my $DAY = 100_000_000;
my $PEAK = 10 * $DAY / 86400;
my $HEADROOM = 1.5;
my $BOX_CORES = 16;

sub plan {
    my ($sc, $per_row, $mem) = @_;
    my ($api) = grep { $_->{key} eq 'api' } @$sc;
    return unless $api && $api->{d}{time};
    my $per = sub { ($api->{d}{$_[0]} // 0) / $api->{n} };
    printf "\nAt %s messages a day (the api column; peak 10x the mean = %s msg/s; x%.1f headroom; %d-core machines)\n",
        num($DAY), num($PEAK), $HEADROOM, $BOX_CORES;
    printf "  %-16s %12s %12s %12s %14s %10s\n", 'process', 'CPU s/1,000', 'cores, mean',
        'cores, peak', "x$HEADROOM headroom", 'machines';
    for my $p (grep { measured($_, [$api]) } @PROCS) {
        my $cpu = $per->("cpu.$p->[0]") / $CLK_TCK;
        my $need = $cpu * $PEAK * $HEADROOM;
        printf "  %-16s %12s %12s %12s %14s %10s\n", $p->[1], num(1000 * $cpu),
            num($cpu * $PEAK / 10), num($cpu * $PEAK), num($need),
            $p->[0] eq 'redis' ? 'one thread' : POSIX::ceil($need / $BOX_CORES);
    }
    my $cmds = 0;
    $cmds += $_ for values %{ $api->{cmd} };
    printf "  Redis at the peak: %s commands/s, %s MB/s in, %s MB/s out\n",
        num($cmds / $api->{n} * $PEAK), num($per->('redis.total_net_input_bytes') * $PEAK / 1e6),
        num($per->('redis.total_net_output_bytes') * $PEAK / 1e6);
    printf "  MySQL primary at the peak: %s rows written/s, %s updated/s, %s commits/s, %s MB/s redo, %s MB/s data, %s fsyncs/s\n",
        map { num($per->("mysql.$_") * $PEAK * ($_ =~ /written/ ? 1e-6 : 1)) }
            qw(Handler_write Handler_update Com_commit Innodb_os_log_written Innodb_data_written Innodb_data_fsyncs);
    if ($per_row->{messages}) {
        printf "  storage: %s bytes a message row -> %s GB a day, %s TB in 30 days (a campaign's adds %s bytes of recipient row)\n",
            num($per_row->{messages}), num($per_row->{messages} * $DAY / 1e9),
            num($per_row->{messages} * $DAY * 30 / 1e12), num($per_row->{campaign_recipients} // 0);
    }
    if ($mem->{queued}) {
        printf "  a backlog: %s GB of Redis memory an hour of peak held in the queue\n",
            num(($mem->{used1} - $mem->{used0}) / $mem->{queued} * $PEAK * 3600 / 1e9);
    }
}

my $cmd = shift // '';
if ($cmd eq 'ticks') {
    ticks(@ARGV);
} elsif ($cmd eq 'report' && @ARGV == 1) {
    report($ARGV[0]);
} else {
    die "usage: $0 ticks PID... | report DIR\n";
}
