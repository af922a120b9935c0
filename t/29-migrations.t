#!/usr/bin/perl
# Migrations are forward-only and run on databases that already hold the
# schema and data: for each of the latest migrations N (006 to the newest
# in sql/), a database migrated to N-1 (broadcastctl migrate --to N-1) gets
# a row in every table that exists then, every column set (foreign keys to
# the rows of their parents); migrated to N, every row is still there with
# the same values in the columns it had, and schema_migrations records N;
# migrating again changes nothing, schema or data.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my $dbh = $t->dbh;
my $sqldir = "$FindBin::Bin/../sql";
my $ctl_bin = "$FindBin::Bin/../build/bin/broadcastctl";

my @versions = sort { $a <=> $b } map { m{/(\d+)_[^/]*\.sql$} ? $1 + 0 : () } glob("$sqldir/*.sql");
my $newest = $versions[-1];
cmp_ok($newest, '>=', 11, "the newest migration is $newest (011_campaigns.sql at least)");

open my $in, '<', $t->dir . '/migrate.conf' or die "migrate.conf: $!";
my $conf_text = join '', <$in>;
close $in;

# broadcastctl migrate on database db (args: --to N); its exit code and output
sub migrate {
    my ($db, @args) = @_;
    (my $conf = $conf_text) =~ s/^mysql_database\s*=.*$/mysql_database = $db/m or die 'no mysql_database';
    my $file = $t->dir . "/$db.conf";
    open my $out, '>', $file or die "$file: $!";
    print $out $conf;
    close $out;
    my $output = `$ctl_bin migrate --config $file --sql-dir $sqldir @args 2>&1`;
    return ($? >> 8, $output);
}

sub tables {
    my ($db) = @_;
    return @{ $dbh->selectcol_arrayref(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name',
        undef, $db) };
}

# the tables in an order where a table's parents (foreign keys) come first
sub by_parents {
    my ($db, @tables) = @_;
    my %parents;
    for my $r (@{ $dbh->selectall_arrayref(
            'SELECT table_name, referenced_table_name FROM information_schema.key_column_usage '
          . 'WHERE table_schema = ? AND referenced_table_name IS NOT NULL', undef, $db) }) {
        $parents{$r->[0]}{$r->[1]} = 1 unless $r->[0] eq $r->[1];
    }
    my (@order, %done);
    while (@order < @tables) {
        my $before = @order;
        for my $tb (grep { !$done{$_} } @tables) {
            next if grep { !$done{$_} } keys %{ $parents{$tb} || {} };
            push @order, $tb;
            $done{$tb} = 1;
        }
        die "foreign keys in a cycle in $db" if @order == $before;
    }
    return @order;
}

# a value for a column of this type (every column is set, nullable or not)
sub value_for {
    my ($c, $n) = @_;
    my ($type, $ctype, $len) = @$c{qw(data_type column_type max_len)};
    return $1 if $type eq 'enum' && $ctype =~ /^enum\('([^']*)'/;
    return 1 if $type =~ /int$/;
    return '1.5' if $type =~ /^(decimal|float|double)$/;
    return '2026-01-02 03:04:05.678' if $type =~ /^(datetime|timestamp)$/;
    return '2026-01-02' if $type eq 'date';
    return '03:04:05' if $type eq 'time';
    # text that is also a JSON object, for the columns that hold JSON
    my $v = qq({"k":"v$n"});
    return length($v) <= ($len // 1e9) ? $v : substr("v$n" x 8, 0, $len);
}

# one row in each table (in parents-first order); the values inserted
sub fill {
    my ($db, $n) = @_;
    my %ids;    # table => { column => value } of the row inserted
    for my $tb (by_parents($db, grep { $_ ne 'schema_migrations' } tables($db))) {
        my $cols = $dbh->selectall_arrayref(
            'SELECT column_name AS name, data_type, column_type, character_maximum_length AS max_len, extra '
          . 'FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position',
            { Slice => {} }, $db, $tb);
        my %fk = map { $_->[0] => [$_->[1], $_->[2]] } @{ $dbh->selectall_arrayref(
            'SELECT column_name, referenced_table_name, referenced_column_name FROM information_schema.key_column_usage '
          . 'WHERE table_schema = ? AND table_name = ? AND referenced_table_name IS NOT NULL', undef, $db, $tb) };
        # a table its migration seeded (privacy_salt) keeps its own row
        if (my $seeded = $dbh->selectrow_hashref("SELECT * FROM `$db`.`$tb` LIMIT 1")) {
            $ids{$tb} = $seeded;
            next;
        }
        my (%row, @names, @vals);
        for my $c (@$cols) {
            next if ($c->{extra} // '') =~ /auto_increment|GENERATED/i;
            my $v = $fk{$c->{name}} ? $ids{$fk{$c->{name}}[0]}{$fk{$c->{name}}[1]} : value_for($c, $n);
            push @names, "`$c->{name}`";
            push @vals, $v;
        }
        $dbh->do("INSERT INTO `$db`.`$tb` (" . join(',', @names) . ') VALUES (' . join(',', ('?') x @vals) . ')',
                 undef, @vals);
        my $row = $dbh->selectrow_hashref("SELECT * FROM `$db`.`$tb` LIMIT 1");
        $ids{$tb} = $row;
    }
    return \%ids;
}

# every table's rows (columns sorted), and its columns' definitions
sub snapshot {
    my ($db) = @_;
    my %s;
    for my $tb (tables($db)) {
        $s{rows}{$tb} = $dbh->selectall_arrayref("SELECT * FROM `$db`.`$tb` ORDER BY 1", { Slice => {} });
        $s{cols}{$tb} = $dbh->selectall_arrayref(
            'SELECT column_name, column_type, is_nullable, column_default FROM information_schema.columns '
          . 'WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position', undef, $db, $tb);
    }
    return \%s;
}

for my $n (grep { $_ >= 6 } @versions) {
    my $db = "bc_mig_$n";
    my $name = sprintf '%03d', $n;
    $dbh->do("DROP DATABASE IF EXISTS `$db`");
    $dbh->do("CREATE DATABASE `$db` CHARACTER SET utf8mb4");
    $dbh->do('GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, REFERENCES '
           . "ON `$db`.* TO 'broadcast_migrate'\@'127.0.0.1'");

    # the migration before N (versions may have a gap while branches land)
    my $prev = (grep { $_ < $n } sort { $a <=> $b } @versions)[-1];
    my ($rc, $out) = migrate($db, '--to', $prev);
    is($rc, 0, "$name: the database migrated to $prev") or diag $out;
    is($dbh->selectrow_array("SELECT MAX(version) FROM `$db`.schema_migrations"), $prev,
       "$name: schema_migrations stops at $prev");
    my @old_tables = grep { $_ ne 'schema_migrations' } tables($db);
    fill($db, $n);
    my $before = snapshot($db);
    ok(!grep({ !@{ $before->{rows}{$_} } } @old_tables), "$name: a row in each of the " . @old_tables . ' tables');

    ($rc, $out) = migrate($db, '--to', $n);
    is($rc, 0, "$name: migrated on the data") or diag $out;
    like($out, qr/applied ${name}_/, "$name: applied");
    my $after = snapshot($db);
    for my $tb (@old_tables) {
        my @cols = map { $_->[0] } @{ $before->{cols}{$tb} };
        my @kept = grep { my $c = $_; grep { $_->[0] eq $c } @{ $after->{cols}{$tb} || [] } } @cols;
        my $proj = sub { [ map { my $r = $_; +{ map { $_ => $r->{$_} } @kept } } @{ $_[0] || [] } ] };
        is_deeply($proj->($after->{rows}{$tb}), $proj->($before->{rows}{$tb}), "$name: $tb intact")
            or diag explain { before => $before->{rows}{$tb}, after => $after->{rows}{$tb} };
    }
    is($dbh->selectrow_array("SELECT COUNT(*) FROM `$db`.schema_migrations WHERE version = ?", undef, $n), 1,
       "$name: schema_migrations records it");
    is($dbh->selectrow_array("SELECT MAX(version) FROM `$db`.schema_migrations"), $n, "$name: and nothing later");

    ($rc, $out) = migrate($db, '--to', $n);
    is($rc, 0, "$name: migrating again succeeds");
    like($out, qr/schema up to date/, "$name: migrating again applies nothing") or diag $out;
    is_deeply(snapshot($db), $after, "$name: migrating again changes no schema or data");
    $dbh->do("DROP DATABASE `$db`");
}

# the newest, as make run migrates: no --to, on the database of the stack
my ($rc, $out) = migrate('broadcast');
is($rc, 0, 'the stack database: migrate without --to');
like($out, qr/schema up to date \(\d+ migrations\)/, 'nothing to apply: the stack is on the newest');
is($t->mysql_value('SELECT MAX(version) FROM schema_migrations'), $newest, "the stack is on $newest");

# --to refuses what is not a number
($rc, $out) = migrate('broadcast', '--to', 'latest');
is($rc, 2, '--to latest: refused');
like($out, qr/--to wants a migration's number/, 'and says what it wants');

$t->done;
