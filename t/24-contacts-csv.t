#!/usr/bin/perl
# CSV import of contacts: POST /api/contacts/import (a file with a BOM,
# CRLF, quotes, an embedded newline, Chinese headers, duplicate and bad
# rows), the status of GET /api/contacts/imports/{id} polled until done,
# the contacts, tags and group memberships written, a re-import updating
# rather than duplicating; scopes, 404, 413, hostile values; the export
# streamed (chunked, longer than broadcast_backend_timeout, a slow reader)
# and broadcast_import_max_body; the predecessor's SMS contacts import
# (headerless by position) and export.
use strict;
use warnings;
use utf8;
use Encode qw(encode_utf8);
use IO::Socket::INET;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my $manage = $t->create_key('manage');
my $read = $t->create_key('read');
my $send = $t->create_key('send');

sub import_csv {
    my ($csv, $query, %o) = @_;
    $t->post('/api/contacts/import' . ($query ? "?$query" : ''), key => exists $o{key} ? $o{key} : $manage,
             body => $csv, headers => { 'Content-Type' => $o{type} // 'text/csv' });
}

sub import_status { $t->get("/api/contacts/imports/$_[0]", key => $read) }

# the final status of an import, polled
sub finished {
    my ($id) = @_;
    my $st;
    wait_until(sub {
        my $r = import_status($id);
        $st = $r->{json};
        $st && $st->{status} && $st->{status} ne 'running';
    }, 30) or diag explain $st;
    return $st || {};
}

sub contact_by {
    my ($col, $v) = @_;
    my $id = $t->mysql_value("SELECT id FROM contacts WHERE $col = ?", $v) or return undef;
    return $t->get("/api/contacts/$id", key => $read)->{json};
}

my $r = $t->post('/api/groups', key => $manage, json => { name => 'csv-imported' });
is($r->{status}, 201, 'group for the import') or diag $r->{content};
my $gid = $r->{json}{id};

# ------------------------------------------------------------ a tricky file
# BOM, CRLF, Chinese headers (姓名, 手机号, 邮箱, 标签), a quoted name with a
# comma, a quoted note with an embedded newline and doubled quotes, an
# unknown column (note) into attributes, a duplicate of row 2, bad rows.
my @lines = (
    '姓名,手机号,邮箱,标签,WhatsApp,Locale,timezone,note',
    '"Lovelace, Ada",+14155550100,Ada@Example.COM,vip;newsletter,,en-GB,Europe/London,plain',
    'Grace Hopper,(415) 555-0101,,vip,whatsapp:+14155550102,,,"two' . "\r\n" . 'lines, ""quoted"""',
    '张三,+8613800138000,zhang@example.cn,客户,,zh-CN,Asia/Shanghai,',
    '"Lovelace, Ada",+14155550100,ada@example.com,vip,,,,dup',
    '',
    'No Address,,,,,,,',
    'Bad Phone,not-a-phone,,,,,,',
    "Robert'); DROP TABLE contacts;--,,bobby\@example.com,<script>alert(1),,,,\"<b>x</b>\"",
    '');
my $csv = "\xEF\xBB\xBF" . encode_utf8(join("\r\n", @lines));

$r = import_csv($csv, "group_id=$gid&tags=imported,batch-1");
is($r->{status}, 202, 'import accepted: 202') or diag $r->{content};
my $iid = $r->{json}{import_id};
like($iid // '', qr/^\d+$/, 'import_id is a number');

my $st = finished($iid);
is($st->{status}, 'done', 'import done');
is($st->{id}, $iid, 'status names its id');
is($st->{rows}, 7, 'seven data rows (the header is not one; the embedded newline does not split a row)');
is($st->{created}, 4, 'four contacts created');
is($st->{updated}, 1, 'the duplicate row updated the first, not a new contact');
is($st->{rejected}, 2, 'two rows rejected');
is_deeply([map { $_->{line} } @{ $st->{errors} || [] }], [8, 9],
    'rejections name their lines (an embedded newline and a blank line counted)')
    or diag explain $st->{errors};
like($st->{errors}[0]{error} // '', qr/no phone, whatsapp or email/, 'why: no address');
like($st->{errors}[1]{error} // '', qr/phone/, 'why: a bad phone');

my $ada = contact_by(phone => '+14155550100');
ok($ada, 'contact by normalised phone');
is($ada->{name}, 'Lovelace, Ada', 'quoted name with a comma');
is($ada->{email}, 'ada@example.com', 'e-mail lower-cased');
is($ada->{locale}, 'en-GB', 'locale kept by the duplicate row (empty cells keep values)');
is($ada->{timezone}, 'Europe/London', 'timezone');
is_deeply($ada->{attributes}, { note => 'dup' }, 'other columns go to attributes (the later row wins)');
is_deeply([sort @{ $ada->{tags} }], [sort qw(vip newsletter imported batch-1)],
    'tags from the cell (split on ;) and from ?tags=');
is($t->mysql_value('SELECT COUNT(*) FROM contacts WHERE phone = ?', '+14155550100'), 1, 'one contact for the duplicate');

my $grace = contact_by(phone => '+14155550101');
is($grace->{whatsapp}, '+14155550102', 'whatsapp: prefix dropped');
is($grace->{attributes}{note}, "two\r\nlines, \"quoted\"", 'embedded newline and doubled quotes in a quoted cell');

my $zhang = contact_by(email => 'zhang@example.cn');
is($zhang->{name}, '张三', 'UTF-8 name');
is($zhang->{phone}, '+8613800138000', 'Chinese number');
ok((grep { $_ eq '客户' } @{ $zhang->{tags} }), 'Chinese tag');

my $bobby = contact_by(email => 'bobby@example.com');
is($bobby->{name}, "Robert'); DROP TABLE contacts;--", 'SQL metacharacters stored as text');
ok((grep { $_ eq '<script>alert(1)' } @{ $bobby->{tags} }), 'markup kept as text in a tag');
is($t->mysql_value('SELECT COUNT(*) FROM contact_group_members WHERE group_id = ?', $gid), 4,
    'every imported contact joined the group');
is($t->mysql_value('SELECT COUNT(*) FROM imports WHERE id = ?', $iid), 1, 'the imports row');

# ------------------------------------------------------------ re-import
my $count = $t->mysql_value('SELECT COUNT(*) FROM contacts');
$r = import_csv($csv, "group_id=$gid&tags=imported,batch-1");
is($r->{status}, 202, 're-import accepted');
$st = finished($r->{json}{import_id});
is($st->{status}, 'done', 're-import done');
is($st->{created}, 0, 're-import creates nothing');
is($st->{updated}, 5, 're-import updates every valid row');
is($t->mysql_value('SELECT COUNT(*) FROM contacts'), $count, 'no duplicate contacts');
is($t->mysql_value('SELECT COUNT(*) FROM contact_group_members WHERE group_id = ?', $gid), 4, 'no duplicate memberships');

# addresses of one row held by two contacts: only that row refused
$r = import_csv("phone,email\n+14155550101,zhang\@example.cn\n+14155550199,new\@example.com\n");
$st = finished($r->{json}{import_id});
is($st->{status}, 'done', 'colliding row: import still done');
is($st->{created}, 1, 'the other row of the batch created');
is($st->{rejected}, 1, 'the row whose addresses belong to two contacts rejected');
is($st->{errors}[0]{line}, 2, 'with its line');

# a header without any address column: the import fails with a reason
$r = import_csv("name,city\nAda,London\n");
$st = finished($r->{json}{import_id});
is($st->{status}, 'failed', 'no address column: failed');
like($st->{message} // '', qr/no phone/, 'failed import says why');

# invalid UTF-8 in a cell: that row refused
$r = import_csv("email,name\nu8\@example.com,\xff\xfe\n");
$st = finished($r->{json}{import_id});
is($st->{rejected}, 1, 'invalid UTF-8 cell: row rejected');
like($st->{errors}[0]{error} // '', qr/UTF-8/, 'says UTF-8');

# tags: a bad one refuses the row, empty pieces are no tags
$r = import_csv("email,tags\nt1\@example.com,a/b\nt2\@example.com,\"x; ;y;\"\n");
$st = finished($r->{json}{import_id});
is($st->{rejected}, 1, 'a tag with / refuses its row');
like($st->{errors}[0]{error} // '', qr{'/'}, 'says why');
is_deeply([sort @{ contact_by(email => 't2@example.com')->{tags} || [] }], ['x', 'y'], 'empty pieces skipped');

# an over-long cell
$r = import_csv("email,name\nlong\@example.com," . ('n' x 300) . "\n");
$st = finished($r->{json}{import_id});
is($st->{rejected}, 1, 'name over 255 characters: row rejected');

# ------------------------------------------------------------ export
sub export_csv { $t->get('/api/contacts/export' . ($_[0] ? "?$_[0]" : ''), key => $read) }
sub data_lines { my @l = split /\r\n/, $_[0]; shift @l; return @l }

$r = export_csv();
is($r->{status}, 200, 'export 200') or diag $r->{content};
like($r->{headers}{'content-type'} // '', qr{^text/csv}, 'export is text/csv');
like($r->{headers}{'content-disposition'} // '', qr/attachment/, 'as an attachment');
my $full = $r->{content} // '';
like($full, qr/^name,phone,whatsapp,email,tags,locale,timezone,attributes\r\n/, 'the header the import reads');
my $all = $t->mysql_value('SELECT COUNT(*) FROM contacts');
is(scalar(data_lines($full)), $all, 'one line per contact');
like($full, qr/"Lovelace, Ada","\+14155550100",,"ada\@example.com","batch-1;imported;newsletter;vip","en-GB","Europe\/London","\{""note"":""dup""\}"\r\n/,
    'a contact: quoted cells, tags joined by ;, attributes as JSON');

$r = export_csv('tag=vip');
is(scalar(data_lines($r->{content})), 2, 'export by tag: the two vip contacts');
$r = export_csv("group_id=$gid");
is(scalar(data_lines($r->{content})), 4, 'export by group: its four members');
$r = export_csv('tag=' . uri_escape(encode_utf8('客户')));
is(scalar(data_lines($r->{content})), 1, 'export by a Chinese tag');
$r = export_csv('tag=nobody-has-this');
is($r->{content}, "name,phone,whatsapp,email,tags,locale,timezone,attributes\r\n", 'no match: the header alone');
is_error(export_csv('tag=a/b'), 422, 'invalid_tag', 'export: bad tag');
is_error(export_csv('group_id=1%20OR%201=1'), 422, 'invalid_group_id', 'export: bad group_id');
is_error($t->get('/api/contacts/export'), 401, 'unauthorized', 'export without a credential');
$r = $t->http(HEAD => '/api/contacts/export', key => $read);
is($r->{status}, 200, 'HEAD export: 200');
like($r->{headers}{'content-type'} // '', qr{^text/csv}, 'HEAD export: its type');
is($r->{content} // '', '', 'HEAD export: no body');
is($t->get('/api/contacts/export?tag=vip', key => $read)->{status}, 200, 'the connection serves on after a HEAD');

# round trip: everything deleted, the export imported, the same export
$t->dbh->do('DELETE FROM contacts');
$r = import_csv($full);
$st = finished($r->{json}{import_id});
is($st->{status}, 'done', 'export re-imported');
is($st->{created}, $all, 'every exported contact created again');
is($st->{rejected}, 0, 'nothing rejected');
is(export_csv()->{content}, $full, 'export -> import -> export is identical');

# more than one batch (1,000) and one export page (5,000)
{
    my $big = "phone,name,email\n" . join('', map { sprintf "+1415%07d,Person %d,p%d\@example.org\n", 2000000 + $_, $_, $_ } 1 .. 12001);
    $r = import_csv($big, 'tags=bulk');
    $st = finished($r->{json}{import_id});
    is($st->{status}, 'done', 'bulk import done');
    is($st->{created}, 12001, '12,001 contacts created over 13 batches');
    is($t->mysql_value("SELECT COUNT(*) FROM contact_tags WHERE tag = 'bulk'"), 12001, 'each tagged');
    $r = export_csv('tag=bulk');
    my @l = data_lines($r->{content});
    is(scalar @l, 12001, 'export pages through all 12,001 (keyset, 5,000 a page)');
    is(scalar(keys %{{ map { $_ => 1 } @l }}), 12001, 'no contact twice across pages');
}

# ------------------------------------------------------------ predecessor
# POST /api/sms/contacts/import: its headers (English or Chinese), or none
# (phone,name,tags by position); asynchronous like ours
sub sms_import {
    my ($csv, %o) = @_;
    $t->post('/api/sms/contacts/import', key => $o{key} // $manage, body => $csv,
             headers => { 'Content-Type' => 'text/csv' });
}
$r = sms_import(encode_utf8("手机号,姓名,标签\n+14155550311,李四,老客户;vip\n"));
is($r->{status}, 202, 'predecessor import: 202') or diag $r->{content};
$st = finished($r->{json}{import_id});
is_deeply([@$st{qw(status created rejected)}], ['done', 1, 0], 'Chinese header: one contact');
my $li = contact_by(phone => '+14155550311');
is($li->{name}, '李四', 'its name');
is_deeply([sort @{ $li->{tags} }], [sort('老客户', 'vip')], 'its tags');

$r = sms_import("phone,name,tags\n+14155550312,Pat Header,sms\n");
$st = finished($r->{json}{import_id});
is($st->{created}, 1, 'English header phone,name,tags');

$r = sms_import("+14155550313,Headless One,a;b\r\n(415) 555-0314,Headless Two,\r\nnot-a-phone,Bad,\r\n");
$st = finished($r->{json}{import_id});
is($st->{status}, 'done', 'headerless file: done');
is($st->{rows}, 3, 'line 1 is a row, not a header');
is($st->{created}, 2, 'two created by position');
is($st->{rejected}, 1, 'the bad phone rejected');
is($st->{errors}[0]{line}, 3, 'with its line');
is(contact_by(phone => '+14155550313')->{name}, 'Headless One', 'column 2 is the name');
is_deeply([sort @{ contact_by(phone => '+14155550313')->{tags} }], ['a', 'b'], 'column 3 the tags');
is(contact_by(phone => '+14155550314')->{name}, 'Headless Two', 'a national number by position');

# ours still wants a header naming an address
$r = import_csv("+14155550315,No Header,x\n");
$st = finished($r->{json}{import_id});
is($st->{status}, 'failed', 'POST /api/contacts/import of a headerless file: failed');
is_error(sms_import("phone\n+14155550316\n", key => $read), 403, 'forbidden', 'predecessor import with a read key');

# GET /api/sms/contacts/export: phone,name,tags of the contacts with a phone
$r = $t->get('/api/sms/contacts/export', key => $read);
is($r->{status}, 200, 'predecessor export: 200');
like($r->{headers}{'content-disposition'} // '', qr/filename="sms_contacts\.csv"/, 'as sms_contacts.csv');
my @sms = split /\r\n/, $r->{content} // '';
is(shift(@sms), 'phone,name,tags', 'its columns');
is(scalar @sms, $t->mysql_value('SELECT COUNT(*) FROM contacts WHERE phone IS NOT NULL'), 'one line per contact with a phone');
ok((grep { $_ eq '"+14155550313","Headless One","a;b"' } @sms), 'a contact: phone, name, tags joined by ;');
ok(!(grep { /bobby/ } @sms), 'a contact without a phone is not in it');
is_error($t->get('/api/sms/contacts/export'), 401, 'unauthorized', 'predecessor export without a credential');

# the predecessor's file imports back through its own route unchanged
{
    my $before = $r->{content};
    $r = sms_import($before);
    $st = finished($r->{json}{import_id});
    is_deeply([@$st{qw(status created rejected)}], ['done', 0, 0], 'its export re-imported: nothing new, nothing refused');
    is($t->get('/api/sms/contacts/export', key => $read)->{content}, $before, 'and exported the same');
}

# ------------------------------------------------------------ refusals
is_error(import_csv($csv, '', key => undef), 401, 'unauthorized', 'import without a credential');
is_error(import_csv($csv, '', key => $read), 403, 'forbidden', 'import with a read key');
is_error(import_csv($csv, '', key => $send), 403, 'forbidden', 'import with a send key');
is_error($t->get("/api/contacts/imports/$iid"), 401, 'unauthorized', 'status without a credential');
is_error($t->get('/api/contacts/imports/999999', key => $read), 404, 'not_found', 'unknown import');
is_error($t->get('/api/contacts/imports/abc', key => $read), 404, 'not_found', 'malformed import id');
is_error(import_csv($csv, 'group_id=999999'), 422, 'group_not_found', 'unknown group');
is_error(import_csv($csv, 'group_id=x%27%20OR%201'), 422, 'invalid_group_id', 'malformed group_id');
is_error(import_csv($csv, 'tags=a/b'), 422, 'invalid_tags', "tag with '/'");
is_error(import_csv($csv, 'tags=' . ('t' x 65)), 422, 'invalid_tags', 'tag over 64 characters');
is_error(import_csv('', ''), 400, 'empty_file', 'empty body');
is_error(import_csv($csv, '', type => 'application/json'), 415, 'unsupported_media_type', 'JSON content type');
is_error(import_csv($csv, '', type => 'text/csvx'), 415, 'unsupported_media_type', 'a look-alike type');
is_error($t->post('/api/contacts/import', key => $manage, body => $csv, no_content_type => 1),
         415, 'unsupported_media_type', 'no Content-Type at all');
is(import_csv($csv, '', type => 'text/csv; charset=utf-8')->{status}, 202, 'text/csv with a charset is fine');

# over 100 MB by Content-Length: the module's JSON 413 before any byte is read
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Timeout => 10)
        or die "connect: $!";
    print $s "POST /api/contacts/import HTTP/1.1\r\nHost: x\r\nX-API-Key: $manage\r\n"
           . "Content-Type: text/csv\r\nContent-Length: 104857601\r\nConnection: close\r\n\r\n";
    local $/;
    my $resp = <$s> // '';
    like($resp, qr{^HTTP/1\.1 413}, 'over 100 MB: 413');
    like($resp, qr/"body_too_large"/, '413 with the stable code');
}

# ------------------------------------------------------------ streaming
# a location whose broadcast_backend_timeout is far below what the whole
# export takes, and an import limit of 1 KB: nginx reloaded with both
{
    my $conf = $t->dir . '/nginx/conf/nginx.conf';
    open my $fh, '<', $conf or die "$conf: $!";
    my $text = do { local $/; <$fh> };
    close $fh;
    $text =~ s/^(\s*)(location = \/api\/contacts\/import \{)/$1location = \/api\/contacts\/export {\n$1    broadcast_backend_timeout 250ms;\n$1    broadcast_api;\n$1}\n\n$1$2/m
        or die "no import location in $conf";
    $text =~ s/broadcast_import_max_body 100m;/broadcast_import_max_body 1k;/ or die 'no broadcast_import_max_body';
    open $fh, '>', $conf or die "$conf: $!";
    print $fh $text;
    close $fh;
    $t->signal(HUP => 'nginx');
}
my $kb2 = "email\n" . join('', map { "limit$_\@example.org\n" } 1 .. 100);
ok(wait_until(sub { import_csv($kb2)->{status} == 413 }, 30, 0.2), 'after the reload broadcast_import_max_body 1k applies');
is_error(import_csv($kb2), 413, 'body_too_large', 'import over broadcast_import_max_body: 413');
like(import_csv($kb2)->{json}{error}{message} // '', qr/1024 bytes.*broadcast_import_max_body/, 'the 413 names the limit');
$r = import_csv("email\nunder-limit\@example.org\n");
is($r->{status}, 202, 'an import under the limit is accepted');
is(finished($r->{json}{import_id})->{created}, 1, 'and done');
{
    # a chunked body has no Content-Length: refused once it is on disk
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Timeout => 10)
        or die "connect: $!";
    print $s "POST /api/contacts/import HTTP/1.1\r\nHost: x\r\nX-API-Key: $manage\r\n"
           . "Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $kb2, $kb2);
    local $/;
    my $resp = <$s> // '';
    like($resp, qr{^HTTP/1\.1 413}, 'chunked import over the limit: 413');
    like($resp, qr/"body_too_large"/, 'with the stable code');
}

# 150,000 contacts tagged "stream": 30 keyset pages, several page tasks
my $nstream = 150000;
$t->dbh->do(q{INSERT INTO contacts (name, email, attributes, created_at, updated_at)
              SELECT CONCAT('Stream ', seq), CONCAT('s', seq, '@stream.example'),
                     CONCAT('{"n":"', seq, '"}'), NOW(3), NOW(3) FROM seq_1_to_150000});
$t->dbh->do(q{INSERT INTO contact_tags (contact_id, tag)
              SELECT id, 'stream' FROM contacts WHERE email LIKE 's%@stream.example'});
{
    my $t0 = time;
    $r = export_csv('tag=stream');
    my $took = elapsed($t0);
    is($r->{status}, 200, 'export longer than broadcast_backend_timeout: 200') or diag substr($r->{content} // '', 0, 300);
    is(lc($r->{headers}{'transfer-encoding'} // ''), 'chunked', 'sent chunked, as it is read');
    my @l = data_lines($r->{content} // '');
    is(scalar @l, $nstream, 'every contact of the tag, across pages and tasks');
    is(scalar(keys %{{ map { $_ => 1 } @l }}), $nstream, 'none twice');
    like($l[-1] // '', qr/^"Stream 150000",,,"s150000\@stream.example","stream",,,"\{""n"":""150000""\}"$/, 'the last one whole');
    diag sprintf 'streamed %d rows in %.2fs', $nstream, $took;
}

# a slow reader (reads of 64 KB at most every 10 ms, ~7 MB in all): the
# stream waits for the socket, well past broadcast_backend_timeout (250ms)
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Timeout => 30)
        or die "connect: $!";
    print $s "GET /api/contacts/export?tag=stream HTTP/1.0\r\nHost: x\r\nX-API-Key: $read\r\n\r\n";
    my ($resp, $buf) = ('', '');
    my $t0 = time;
    while (sysread($s, $buf, 65536)) {
        $resp .= $buf;
        select(undef, undef, undef, 0.01);
    }
    my $took = elapsed($t0);
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    like($head // '', qr{^HTTP/1\.1 200}, 'slow reader: 200');
    cmp_ok($took, '>', 0.25, 'the export took longer than broadcast_backend_timeout');
    my @l = data_lines($body // '');
    is(scalar @l, $nstream, 'slow reader: every row');
    like($l[-1] // '', qr/"s150000\@stream.example"/, 'slow reader: to the last row');
}
{
    # a client that goes away mid-export leaves nothing behind
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Timeout => 10)
        or die "connect: $!";
    print $s "GET /api/contacts/export HTTP/1.1\r\nHost: x\r\nX-API-Key: $read\r\n\r\n";
    my $buf;
    sysread($s, $buf, 1024);
    like($buf // '', qr{^HTTP/1\.1 200}, 'an export started');
    close $s;
    ok(wait_until(sub { $t->get('/health')->{status} == 200 && export_csv('tag=vip')->{status} == 200 }, 10),
       'the worker serves on after a client left mid-export');
}

my $max = $t->mysql_value('SELECT MAX(id) FROM imports');
is($t->mysql_value("SELECT COUNT(*) FROM imports WHERE status = 'running'"), 0, 'no import left running');

# the imported files are not left behind in the body temp directory
my $body_dir = $t->dir . '/nginx/tmp/body';
ok(-d $body_dir, 'the body temp directory');
my @left = glob("$body_dir/*");
is(scalar @left, 0, 'no upload or export file left behind') or diag "@left";
ok($max, 'imports recorded');

$t->done;
