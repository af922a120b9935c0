#!/usr/bin/perl
# A MariaDB replica for heavy reads (broadcast_mysql_replica, docs/DESIGN.md
# "MySQL replica"): the stack runs a GTID replica of its database; contact
# listings, stats and exports read from it while it is fresh, reads by id
# and everything that decides a send stay on the primary; a replica that
# stops replicating or goes away is not read from (the primary answers,
# also for a read that meets it dead within a second of its last check),
# and is read from again once it is back. An export of several keyset
# pages and chunks reads every page from a fresh replica; one whose replica
# stops replicating in its middle goes on from the primary where the
# replica's last page ended, each contact once and in id order. The
# sender's campaign dispatcher reads audiences from the replica once it
# has caught up with the primary, else from the primary.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF inet_aton pack_sockaddr_in);
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

# ------------------------------------------------------------ a multi-page export
# The export reads keyset pages of NGX_HTTP_BROADCAST_EXPORT_PAGE rows, a
# page task stopping once its buffer holds NGX_HTTP_BROADCAST_EXPORT_CHUNK
# bytes (csv_export.c). Rows of about 3/4 of chunk/page bytes make every
# chunk after the first (one page) two pages; 5.5 pages of them make six
# pages in four chunks. Ids go in steps of two, and the odd id in the first
# quarter of each page is a row only the replica has: which of them an
# export holds tells which server read each page.
sub export_constant {
    my ($name) = @_;
    my $src = "$BC::Test::REPO/src/ngx_http_broadcast_csv_export.c";
    open my $fh, '<', $src or die "$src: $!";
    my $text = do { local $/; <$fh> };
    close $fh;
    my ($expr) = $text =~ /^#define\s+NGX_HTTP_BROADCAST_EXPORT_$name\s+([\d\s*()]+?)\s*$/m
        or die "no NGX_HTTP_BROADCAST_EXPORT_$name in $src";
    my $v = 1;
    $v *= $_ for $expr =~ /(\d+)/g;
    return $v;
}
my $page = export_constant('PAGE');
my $chunk = export_constant('CHUNK');
my $base = 100000;
my $nrows = int(5.5 * $page);
my $row_bytes = int(0.75 * $chunk / $page);
my $bare = length sprintf qq{"Page %d",,,"p%d\@page.example",,,,"{""pad"":""""}"\r\n},
                          $base + 2 * $nrows, $base + 2 * $nrows;
my $pad = $row_bytes > $bare ? $row_bytes - $bare : 1;
my @page_ids = map { $base + 2 * $_ } 1 .. $nrows;
my @ghosts = map { $base + 2 * (($_ - 1) * $page + int($page / 4)) + 1 } 1 .. int($nrows / $page) + 1;
my $t0 = time;
$t->dbh->do(qq{INSERT INTO contacts (id, name, email, attributes, created_at, updated_at)
               SELECT $base + 2 * seq, CONCAT('Page ', $base + 2 * seq),
                      CONCAT('p', $base + 2 * seq, '\@page.example'),
                      CONCAT('{"pad":"', REPEAT('x', $pad), '"}'),
                      UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) FROM seq_1_to_$nrows});
ok(wait_until(sub { ($rdb->selectrow_array(qq{SELECT COUNT(*) FROM contacts
                                            WHERE name LIKE 'Page %'}))[0] == $nrows }, 30, 0.1),
   "$nrows contacts written on the primary are on the replica");
$rdb->do(q{SET SESSION sql_log_bin=0});
$rdb->do(q{INSERT INTO contacts (id, name, email, created_at, updated_at)
           VALUES (?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))}, undef, $_, "Ghost $_", "g$_\@page.example")
    for @ghosts;

# an export's lines: {header => times the header line came, lines => data
# lines, rows => [[kind, id], ...] of this section's rows in their order}
sub export_rows {
    my ($body) = @_;
    my @lines = split /\r\n/, $body // '';
    my $header = 'name,phone,whatsapp,email,tags,locale,timezone,attributes';
    my %e = (first => $lines[0] // '', header => scalar(grep { $_ eq $header } @lines));
    $e{lines} = @lines - $e{header};
    $e{rows} = [ map { /^"(Page|Ghost|Late) (\d+)",/ ? [$1, $2] : () } @lines ];
    return \%e;
}
# the ids of one kind, in the order exported
sub ids_of { my ($e, $kind) = @_; return [ map { $_->[1] } grep { $_->[0] eq $kind } @{ $e->{rows} } ] }
# '' when the section's rows come in strictly rising id order (none twice)
sub out_of_order {
    my ($e) = @_;
    my $rows = $e->{rows};
    for my $i (1 .. $#$rows) {
        return "$rows->[$i - 1][1] then $rows->[$i][1]" if $rows->[$i][1] <= $rows->[$i - 1][1];
    }
    return '';
}

{
    my $r = $t->get('/api/contacts/export', key => $key);
    is($r->{status}, 200, 'a multi-page export with the replica fresh');
    my $e = export_rows($r->{content});
    is($e->{first}, 'name,phone,whatsapp,email,tags,locale,timezone,attributes', 'the header first');
    is($e->{header}, 1, 'and only once');
    cmp_ok($e->{lines}, '>', 5 * $page, 'more than five keyset pages of rows');
    my $row_avg = length($r->{content} // '') / ($e->{lines} || 1);
    ok($row_avg * $page < $chunk && 2 * $row_avg * $page >= $chunk,
       sprintf('rows of %.0f bytes: a page under a chunk, two over (page tasks of two pages)', $row_avg));
    my ($count) = $rdb->selectrow_array('SELECT COUNT(*) FROM contacts');
    is($e->{lines}, $count, "as many rows as the replica has contacts ($count)");
    is_deeply(ids_of($e, 'Page'), \@page_ids, 'every contact once, in id order');
    is(out_of_order($e), '', 'the replica-only rows in id order among them');
    is_deeply(ids_of($e, 'Ghost'), \@ghosts, 'each page read from the replica (its replica-only row is there)');
    ok(index($r->{content} // '', '"Repl Ghost"') >= 0, 'to the last page');
}
diag sprintf 'a %d-row export from the replica in %.1fs (from the insert)', $nrows, time - $t0;

# ------------------------------------------------------------ the replica goes stale mid-export
# A client with a small receive buffer, on a listener with a small send
# buffer (else the kernel alone takes 4 MB: the whole export), reads the
# headers and the CSV header line, then stops reading: nginx holds the
# first chunk (one page, about 3/4 MB, of which the sockets take some KB),
# has the next one read, and reads no more until the first is sent.
# Meanwhile the replica's SQL thread stops (not fresh: the next freshness
# check of every thread, at most a second later, says so) and rows are
# added on the primary. The rest of the export is then read: its later
# pages come from the primary, continuing from the last id already sent.
my $slow_port = free_port();
{
    my $conf = $t->dir . '/nginx/conf/nginx.conf';
    open my $fh, '<', $conf or die "$conf: $!";
    my $text = do { local $/; <$fh> };
    close $fh;
    my $port = $t->port;
    $text =~ s/^(\s*)(listen 127\.0\.0\.1:$port;)$/$1$2\n$1listen 127.0.0.1:$slow_port sndbuf=32k;/m
        or die "no listen line in $conf";
    open $fh, '>', $conf or die "$conf: $!";
    print $fh $text;
    close $fh;
    $t->signal(HUP => 'nginx');
}
ok(wait_until(sub { $t->get("http://127.0.0.1:$slow_port/health")->{status} == 200 }, 20, 0.1),
   'nginx reloaded with a listener of a 32 KB send buffer');
sub read_into {
    my ($s, $buf, $until) = @_;
    my $sel = IO::Select->new($s);
    while (!defined $until || $$buf !~ $until) {
        return 0 unless $sel->can_read(30);
        return 0 unless sysread($s, $$buf, 65536, length $$buf);
    }
    return 1;
}
{
    require IO::Select;
    socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4096) or die "SO_RCVBUF: $!";
    connect($s, pack_sockaddr_in($slow_port, inet_aton('127.0.0.1'))) or die "connect: $!";
    syswrite($s, "GET /api/contacts/export HTTP/1.0\r\nHost: x\r\nX-API-Key: $key\r\n\r\n");
    my $resp = '';
    ok(read_into($s, \$resp, qr/\r\n\r\nname,[^\r]*\r\n/), 'a slow export started (headers and the CSV header read)');
    like($resp, qr{^HTTP/1\.1 200}, 'with 200');

    $rdb->do('STOP SLAVE SQL_THREAD');
    my $stopped = CORE::time();
    my $from = $base + 2 * $nrows + 10;
    my @late = map { $from + $_ } 1 .. 10;
    $t->dbh->do(qq{INSERT INTO contacts (id, name, email, created_at, updated_at)
                   SELECT $from + seq, CONCAT('Late ', $from + seq), CONCAT('l', $from + seq, '\@page.example'),
                          UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) FROM seq_1_to_10});
    # every thread checks the replica again in a later second than the stop
    ok(wait_until(sub { (names('Repl') // '') eq 'Repl One,Repl Two' && CORE::time() > $stopped }, 10, 0.1),
       'the replica stale (SQL thread stopped): the listing is read from the primary');

    read_into($s, \$resp);
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my $e = export_rows($body);
    is($e->{first}, 'name,phone,whatsapp,email,tags,locale,timezone,attributes', 'the export read to its end: the header first');
    is($e->{header}, 1, 'and only once');
    ok(($body // '') =~ /\r\n\z/, 'the last row whole');
    is_deeply(ids_of($e, 'Page'), \@page_ids,
              'every contact there when the export began comes once, in id order, across the switch');
    is(out_of_order($e), '', 'no row twice and none out of order');
    my %seen = map { $_ => 1 } @{ ids_of($e, 'Ghost') };
    my $served = join '', map { $seen{$_} ? 'R' : 'P' } @ghosts;
    like($served, qr/^R+P+$/, "the first pages from the replica, the rest from the primary ($served)");
    is_deeply(ids_of($e, 'Late'), \@late, 'the rows added on the primary meanwhile are in its later pages');
    ok(index($body // '', '"Repl Ghost"') < 0, 'the last page from the primary (no replica-only row at the end)');

    $rdb->do('START SLAVE SQL_THREAD');
    ok(wait_until(sub { ($rdb->selectrow_array(q{SELECT COUNT(*) FROM contacts WHERE name LIKE 'Late %'}))[0] == 10 }, 20, 0.1),
       'replication restarted: the replica catches up');
    ok(wait_until(sub { (names('Repl') // '') eq 'Repl Ghost,Repl One,Repl Two' }, 20, 0.2),
       'and serves the listing again') or diag names('Repl');
}
diag sprintf 'both multi-page exports in %.1fs', time - $t0;

# ------------------------------------------------------------ the dispatcher's audiences
# The sender (mysql_replica) reads a campaign's audience pages from the
# replica once it has applied what the primary had committed when the page
# was asked for (MASTER_GTID_WAIT); a replica that has not within
# mysql_replica_wait_ms leaves the page to the primary: no recipient is
# missed either way. Its log says which.
sub sender_log { open my $fh, '<', $t->dir . '/log/sender.log' or return ''; local $/; <$fh> }
sub audience {
    my ($name, $from) = @_;
    my @ids = map {
        $t->post('/api/contacts', key => $key,
                 json => { name => "$name $_", phone => sprintf('+1415563%04d', $from + $_) })->{json}{id}
    } 0 .. 9;
    my $g = $t->post('/api/groups', key => $key, json => { name => $name })->{json}{id};
    $t->post("/api/groups/$g/members", key => $key, json => { contact_ids => \@ids });
    return $g;
}
sub run_campaign {
    my ($name, $group, $from) = @_;
    my $r = $t->post('/api/campaigns', key => $key, json => {
        name => $name, channel => 'sms', content => { message => "$name {{name}}" },
        audience => { group_ids => [$group] } });
    my $id = ($r->{json} || {})->{id} // 0;
    $t->post("/api/campaigns/$id/start", key => $key, json => {});
    my $want = join ',', map { sprintf '+1415563%04d', $from + $_ } 0 .. 9;
    return wait_until(sub {
        my %got;
        $got{ $_->{to} }++ for grep { ($_->{body} // '') =~ /^\Q$name\E / } @{ $t->sim_messages };
        join(',', sort keys %got) eq $want && !grep { $_ != 1 } values %got;
    }, 60, 0.2);
}
ok(run_campaign('fresh', audience('fresh', 0), 0),
   'a campaign to a group written a moment ago: each of its 10 contacts sent once');
like(sender_log(), qr/mysql replica: audiences are read from it/, '... its audience read from the replica');

$rdb->do('STOP SLAVE SQL_THREAD');
ok(run_campaign('stale', audience('stale', 100), 100),
   'the replica stopped applying: a campaign to a group it lacks still sends to each of its 10 once');
like(sender_log(), qr/mysql replica: it is behind the primary .*audiences are read from the primary/,
     '... its audience read from the primary');
$rdb->do('START SLAVE SQL_THREAD');

# ------------------------------------------------------------ a dead replica
my $pidfile = $t->dir . '/run/mysqld-replica.pid';
open my $fh, '<', $pidfile or die "$pidfile: $!";
chomp(my $pid = <$fh>);
close $fh;
# A thread checks the replica's freshness once a second: from the top of
# a second, the listings find it fresh, then the replica dies and the next
# listings, in the same second, meet it dead on the threads that found it
# fresh. (The sleep aligns with the clock; it waits for no condition.)
sleep 1 - (time - int time);
ok(scalar(grep { (names('Repl') // '') eq 'Repl Ghost,Repl One,Repl Two' } 1 .. 10),
   'the replica serves the listing');
kill 'KILL', $pid;
my @answers = map { names('Repl') // 'failed' } 1 .. 20;
is(scalar(grep { $_ eq 'Repl One,Repl Two' } @answers), 20,
   'right after the kill every listing is answered by the primary') or diag explain \@answers;
ok(wait_until(sub { !kill 0, $pid }, 10, 0.1), 'the replica killed');
is($t->get('/api/stats', key => $key)->{status}, 200, 'stats too');
my $s = $t->send_sms(key => $key, to => '+14155550903');
is($s->{status}, 202, 'sends never touch the replica');

$t->done;
