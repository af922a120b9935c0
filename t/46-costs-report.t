#!/usr/bin/perl
# bench/costs.pl: the arithmetic behind make costs and docs/CAPACITY.md.
# Snapshots as bench/costs.sh writes them (CPU ticks, Redis INFO, MySQL
# status) in, the fixed table out: per-1,000 CPU from tick deltas, Redis
# commands per unit without the measurement's own INFO, MySQL per unit,
# queued bytes and bytes per row. No stack: it checks the figures a plan is
# built on are computed as the report says.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use POSIX qw(sysconf);

my $costs = "$FindBin::Bin/../bench/costs.pl";
my $tck = sysconf(POSIX::_SC_CLK_TCK()) || 100;
my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/snap" or die;

sub put { my ($f, $s) = @_; open my $fh, '>', "$dir/$f" or die; print $fh $s; close $fh; }
sub snap {   # cpu ticks (nginx sender redis mysql sim), time, xadd, info, net in, Handler_write, redo
    my ($name, $cpu, $t, $xadd, $info, $in, $hw, $redo) = @_;
    my @p = qw(nginx sender redis mysql sim);
    put("snap/$name", join('', map { "cpu.$p[$_] $cpu->[$_]\n" } 0 .. 4)
        . "time $t\n# Commandstats\r\n"
        . "cmdstat_xadd:calls=$xadd,usec=5,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n"
        . "cmdstat_xinfo|groups:calls=7,usec=5,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n"
        . "cmdstat_info:calls=$info,usec=5,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n"
        . "# Stats\r\ntotal_net_input_bytes:$in\r\ntotal_net_output_bytes:100\r\n"
        . "Handler_write\t$hw\nInnodb_os_log_written\t$redo\nCom_commit\t3\n");
}

# 2,000 messages: nginx 3 s, sender 1 s, redis 0.5 s, mysql 2 s, sim 4 s of CPU
snap('api.0', [0, 0, 0, 0, 0], 100, 10, 5, 1000, 50, 0);
snap('api.1', [3 * $tck, $tck, $tck / 2, 2 * $tck, 4 * $tck], 110, 6010, 500, 5001000, 8050, 4000000);
# an idle scenario of 500 events: nothing moved but the clock
snap('idle.0', [7, 7, 7, 7, 7], 200, 6010, 500, 5001000, 8050, 4000000);
snap('idle.1', [7, 7, 7, 7, 7], 202, 6010, 900, 5001000, 8050, 4000000);
put('scenarios', "api\tmessages\t2000\tsends\nidle\tevents\t500\tnothing\n");
put('memory', "used0 1000000\naof0 0\nqueued 1000\nused1 1800000\naof1 700000\n");
put('storage', "messages\t1000\t1048576\t524288\nmessage_events\t0\t16384\t0\n");
put('meta', "date D\nmachine M\nworkers 2\nclients 4\n");

my $out = `perl $costs report $dir 2>$dir/stderr`;
is($?, 0, 'the report is written');
is(-s "$dir/stderr" // 0, 0, 'without a warning (no replica measured: its row is left out)');
ok($out !~ /replica/, 'no replica row when none was measured');
my %row;
for (split /\n/, $out) {
    $row{$1} = [ split ' ', $2 ] if /^ *(\S.*?\S)  +(\S+ +\S+)$/;
}
is_deeply($row{'units (messages or events)'}, [ '2,000', '500' ], 'units per scenario');
is_deeply($row{'wall seconds'}, [ '10.0', '2.00' ], 'wall seconds from the snapshots');
is_deeply($row{'nginx workers'}, [ '1.50', '0' ], 'nginx: 3 CPU s over 2,000 messages = 1.5 s per 1,000');
is_deeply($row{mariadbd}, [ '1.00', '0' ], 'mariadbd per 1,000');
is_deeply($row{'= the product (planned)'}, [ '3.25', '0' ], 'the planned sum leaves the simulator out');
is_deeply($row{'simulator (stands for providers)'}, [ '2.00', '0' ], 'the simulator is reported');
is_deeply($row{commands}, [ '3.00', '0' ], 'Redis commands per unit, INFO not counted');
is_deeply($row{xadd}, [ '3.00', '0' ], 'a command of its own');
ok(!exists $row{info}, 'INFO is the measurement, not the product');
is_deeply($row{'net input bytes'}, [ '2,500', '0' ], 'Redis bytes in per unit');
is_deeply($row{'rows written (Handler_write)'}, [ '4.00', '0' ], 'MySQL rows per unit');
is_deeply($row{'redo bytes (Innodb_os_log_written)'}, [ '2,000', '0' ], 'redo bytes per unit');
like($out, qr/used_memory 800 bytes, AOF 700 bytes/, 'Redis bytes per queued message');
like($out, qr/^ +messages +1,000 +1.00 +0.500 +1,573$/m, 'bytes per row of a table');
# the plan: 2,000 messages cost nginx 3 s, i.e. 1.5 ms a message; at the
# peak of 11,574/s that is 17.4 cores, 26.0 with the headroom, two 16-core boxes
like($out, qr/^ +nginx workers +1.50 +1.74 +17.4 +26.0 +2$/m, 'the plan: cores and machines for nginx');
like($out, qr/^ +redis-server +0.250 .* one thread$/m, 'Redis is one thread');
like($out, qr/storage: 1,573 bytes a message row -> 157 GB a day, 4.72 TB in 30 days/, 'storage a day and a month');
like($out, qr/MySQL primary at the peak: 46,296 rows written/, 'MySQL rows per second at the peak');

# ticks: this process's own CPU, threads included, from /proc
my $t0 = `perl $costs ticks $$`;
my $x = 0;
my $deadline = time + 20;
$x++ while `perl $costs ticks $$` == $t0 && time < $deadline;
cmp_ok(`perl $costs ticks $$`, '>', $t0, 'ticks grow with the CPU a process spends');
is(`perl $costs ticks 999999999` + 0, 0, 'a process that is gone counts nothing');

done_testing;
