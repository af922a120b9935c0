#!/usr/bin/perl
# A MariaDB replica for heavy reads (broadcast_mysql_replica, docs/DESIGN.md
# "MySQL replica"): the stack runs a GTID replica of its database; contact
# listings, stats and exports read from it while it is fresh, reads by id
# and everything that decides a send stay on the primary; a replica that
# stops replicating or goes away is not read from (the primary answers),
# and is read from again once it is back.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new(env => { MYSQL_REPLICA_PORT => free_port() });
my $key = $t->create_key('manage');

my $sock = $t->dir . '/mysql-replica/mysql.sock';
my $me = getpwuid($>) // 'root';
sub replica {
    require DBI;
    return DBI->connect("DBI:MariaDB:database=broadcast;mariadb_socket=$sock", $me, '',
        { RaiseError => 1, PrintError => 0, AutoCommit => 1, mariadb_connect_timeout => 3 });
}
my $rdb = replica();
sub names {
    my ($q) = @_;
    my $r = $t->get("/api/contacts?search=$q&limit=50", key => $key);
    return undef unless $r->{status} == 200;
    return join ',', sort map { $_->{name} } @{ $r->{json}{contacts} || [] };
}

# ------------------------------------------------------------ replicating
my $c = $t->post('/api/contacts', key => $key, json => { name => 'Repl One', phone => '+14155550901' });
is($c->{status}, 201, 'a contact written through the API (the primary)') or diag $c->{content};
ok(wait_until(sub { ($rdb->selectrow_array(q{SELECT COUNT(*) FROM contacts WHERE name='Repl One'}))[0] }, 20, 0.1),
   'replicated to the replica');
my ($io, $sql) = @{ $rdb->selectrow_hashref('SHOW SLAVE STATUS') }{qw(Slave_IO_Running Slave_SQL_Running)};
is("$io/$sql", 'Yes/Yes', 'both replication threads run');

# a row only the replica has (written there by its root) tells who answered
$rdb->do(q{SET SESSION sql_log_bin=0});
# (an id far above the primary's, so replicated inserts never collide)
$rdb->do(q{INSERT INTO contacts (id, name, phone, created_at, updated_at)
           VALUES (900000, 'Repl Ghost', '+14155550999', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))});
my ($ghost) = $rdb->selectrow_array(q{SELECT id FROM contacts WHERE name='Repl Ghost'});
ok(wait_until(sub { (names('Repl') // '') eq 'Repl Ghost,Repl One' }, 10, 0.2),
   'the contact listing reads from the replica') or diag names('Repl');
is($t->get("/api/contacts/$ghost", key => $key)->{status}, 404,
   'a read by id stays on the primary (read your own writes)');
my $export = $t->get('/api/contacts/export', key => $key);
like($export->{content} // '', qr/Repl Ghost/, 'an export reads from the replica');

# ------------------------------------------------------------ stopped replication: the primary answers
$rdb->do('STOP SLAVE');
ok(wait_until(sub { (names('Repl') // '') eq 'Repl One' }, 10, 0.2),
   'replication stopped: the listing is read from the primary within seconds') or diag names('Repl');
my $c2 = $t->post('/api/contacts', key => $key, json => { name => 'Repl Two', phone => '+14155550902' });
is($c2->{status}, 201, 'a write while the replica lags');
is(names('Repl'), 'Repl One,Repl Two', 'and it is listed at once: no stale answer');

$rdb->do('START SLAVE');
ok(wait_until(sub { (names('Repl') // '') eq 'Repl Ghost,Repl One,Repl Two' }, 20, 0.2),
   'replication resumed: the replica serves the listing again, caught up') or diag names('Repl');

# ------------------------------------------------------------ a dead replica
my $pidfile = $t->dir . '/run/mysqld-replica.pid';
open my $fh, '<', $pidfile or die "$pidfile: $!";
chomp(my $pid = <$fh>);
close $fh;
kill 'KILL', $pid;
ok(wait_until(sub { !kill 0, $pid }, 10, 0.1), 'the replica killed');
ok(wait_until(sub { (names('Repl') // '') eq 'Repl One,Repl Two' }, 10, 0.2),
   'the listing is answered by the primary') or diag names('Repl');
is($t->get('/api/stats', key => $key)->{status}, 200, 'stats too');
my $s = $t->send_sms(key => $key, to => '+14155550903');
is($s->{status}, 202, 'sends never touch the replica');

$t->done;
