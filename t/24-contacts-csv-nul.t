#!/usr/bin/perl
# CSV import: a cell holding a NUL byte. libcsv hands a field's length with
# its bytes; the import kept the field as a C string (strndup stops at the
# NUL) with the whole length, so the rest of that cell was read past its
# copy: heap bytes in a contact's attributes, or a spurious "not UTF-8".
# Such a row is refused with its reason; the rows around it are imported
# as written.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my $manage = $t->create_key('manage');
my $read = $t->create_key('read');

# the long tail after the NUL is what was read past the copy
my $csv = join("\n",
    'phone,name,note',
    "+14155550110,Nul Note,a\0" . ('x' x 300),
    '+14155550111,Clean,fine',
    "+14155550112,Nu\0l,",
    "+14155550113,Quoted,\"q\0" . ('y' x 100) . '"',
    '');

my $r = $t->post('/api/contacts/import', key => $manage, body => $csv,
                 headers => { 'Content-Type' => 'text/csv' });
is($r->{status}, 202, 'import accepted: 202') or diag $r->{content};
my $iid = $r->{json}{import_id};

my $st;
ok(wait_until(sub {
    $st = $t->get("/api/contacts/imports/$iid", key => $read)->{json};
    $st && $st->{status} && $st->{status} ne 'running';
}, 30), 'import finished') or diag explain $st;

is($st->{status}, 'done', 'import done');
is($st->{rows}, 4, 'four data rows');
is($st->{created}, 1, 'one contact created: the row without a NUL byte');
is($st->{rejected}, 3, 'the three rows with a NUL byte refused');
is_deeply([map { $_->{line} } @{ $st->{errors} || [] }], [2, 4, 5],
    'refusals name their lines') or diag explain $st->{errors};
for my $e (@{ $st->{errors} || [] }) {
    like($e->{error} // '', qr/NUL byte/, "line $e->{line}: why: a NUL byte")
        or diag explain $e;
}

is($t->mysql_value('SELECT COUNT(*) FROM contacts WHERE phone IN (?, ?, ?)',
                   '+14155550110', '+14155550112', '+14155550113'), 0,
   'no contact for a refused row');
my $id = $t->mysql_value('SELECT id FROM contacts WHERE phone = ?', '+14155550111');
my $clean = $t->get("/api/contacts/$id", key => $read)->{json};
is($clean->{name}, 'Clean', 'the clean row: name');
is_deeply($clean->{attributes}, { note => 'fine' }, 'the clean row: its note as written');

$t->done;
