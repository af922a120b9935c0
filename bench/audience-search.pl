#!/usr/bin/perl
# audience-search.pl PORT KEY SOCKET USER GROUP_ID N: contact searches at
# scale, each kind N times with varied arguments, through the API
# (GET /api/contacts, one keep-alive connection) and, as the baseline, the
# same statements the module runs (the count, the page, the page's tags)
# through DBI on the same MariaDB. Prints one line per kind:
#   kind api_p50_ms api_p99_ms sql_p50_ms sql_p99_ms
use strict;
use warnings;
use DBI;
use HTTP::Tiny;
use Time::HiRes qw(time);

my ($port, $key, $sock, $user, $gid, $n) = @ARGV;
$n ||= 200;
srand 42;

my $ua = HTTP::Tiny->new(keep_alive => 1, timeout => 30);
my $dbh = DBI->connect("DBI:MariaDB:database=broadcast;mariadb_socket=$sock",
                       $user, '', { RaiseError => 1, AutoCommit => 1 });
my ($maxid) = $dbh->selectrow_array('SELECT MAX(id) FROM contacts');

my @first = qw(Ada Alan Anna Boris Carla Chen David Dora Emil Erin Mara Mateo
               Nadia Noah Olga Omar Sara Sven Tara Theo);
my $cols = q{c.id,c.name,c.phone,c.whatsapp,c.email,c.attributes,c.locale,c.timezone,}
         . q{DATE_FORMAT(c.created_at,'%Y-%m-%dT%H:%i:%s.%fZ'),DATE_FORMAT(c.updated_at,'%Y-%m-%dT%H:%i:%s.%fZ')};

# each kind: the query string, and the module's FROM ... WHERE for the SQL
my %kinds = (
    name => sub {
        my $p = $first[rand @first];
        ("search=$p", "FROM contacts c WHERE 1 = 1 AND (c.name LIKE '$p%' OR c.email LIKE '$p%')",
         "FROM (SELECT c.id FROM contacts c WHERE c.name LIKE '$p%' UNION SELECT c.id FROM contacts c WHERE c.email LIKE '$p%') u");
    },
    phone => sub {
        my $p = sprintf '%%2B14152%05d', int rand 100000;
        (my $v = $p) =~ s/%2B/+/;
        ("search=$p", "FROM contacts c WHERE 1 = 1 AND (c.name LIKE '$v%' OR c.email LIKE '$v%' OR c.phone LIKE '$v%' OR c.whatsapp LIKE '$v%')",
         "FROM (" . join(' UNION ', map { "SELECT c.id FROM contacts c WHERE c.$_ LIKE '$v%'" } qw(name email phone whatsapp)) . ') u');
    },
    tag => sub {
        my $t = sprintf 't%02d', int rand 20;
        ("tag=$t", "FROM contacts c JOIN contact_tags t ON t.contact_id = c.id AND t.tag = '$t' WHERE 1 = 1",
         "FROM contact_tags t WHERE t.tag = '$t'");
    },
    group => sub {
        ("group_id=$gid", "FROM contacts c JOIN contact_group_members g ON g.contact_id = c.id AND g.group_id = $gid WHERE 1 = 1",
         "FROM contact_group_members g WHERE g.group_id = $gid");
    },
    cursor => sub {
        my $t = sprintf 't%02d', int rand 20;
        my $c = int rand $maxid;
        ("tag=$t&cursor=$c", "FROM contacts c JOIN contact_tags t ON t.contact_id = c.id AND t.tag = '$t' WHERE 1 = 1 AND c.id > $c",
         "FROM contact_tags t WHERE t.tag = '$t'");
    },
);

sub pct {
    my ($p, @v) = @_;
    @v = sort { $a <=> $b } @v;
    return $v[int(($#v) * $p + 0.5)] * 1000;
}

for my $kind (qw(name phone tag group cursor)) {
    my (@api, @sql);
    for (1 .. $n) {
        my ($q, $from, $count_from) = $kinds{$kind}->();
        my $t0 = time;
        my $r = $ua->get("http://127.0.0.1:$port/api/contacts?$q&limit=50",
                         { headers => { 'X-API-Key' => $key } });
        push @api, time - $t0;
        die "GET /api/contacts?$q: $r->{status} $r->{content}\n" unless $r->{status} == 200;

        # the module's statements, in the module's order
        (my $page_from = $from) =~ s/ AND c\.id > \d+$//;
        my ($cursor) = $from =~ / AND c\.id > (\d+)$/;
        $t0 = time;
        $dbh->selectrow_array("SELECT COUNT(*) $count_from");
        my $rows = $dbh->selectall_arrayref("SELECT $cols $page_from AND c.id > " . ($cursor // 0)
                                            . ' ORDER BY c.id LIMIT 51');
        if (@$rows) {
            $dbh->selectall_arrayref('SELECT contact_id, tag FROM contact_tags WHERE contact_id IN ('
                                     . join(',', map { $_->[0] } @$rows) . ') ORDER BY contact_id, tag');
        }
        push @sql, time - $t0;
    }
    printf "%s %.1f %.1f %.1f %.1f\n", $kind, pct(0.5, @api), pct(0.99, @api),
        pct(0.5, @sql), pct(0.99, @sql);
}
