#!/usr/bin/perl
# GET /api/whatsapp/templates: the provider's templates (the simulator's
# Twilio Content API), paginated and searchable; a provider failure is a
# clear JSON 502, never a hang or a 500.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my $key = $t->create_key('read');

my $r = $t->get('/api/whatsapp/templates?provider=twilio&limit=2', key => $key);
is($r->{status}, 200, 'Twilio templates listed') or diag $r->{content};
my $page1 = $r->{json}{templates} || [];
is(scalar @$page1, 2, 'limit=2 gives two templates');
like($_->{sid} // '', qr/^HX[0-9a-f]{32}$/, "template $_->{friendly_name} has an HX sid")
    for @$page1;
my $next = $r->{json}{next_page_token};
ok(defined $next && length $next, 'a next_page_token is given');

$r = $t->get("/api/whatsapp/templates?provider=twilio&limit=2&page_token=$next", key => $key);
is($r->{status}, 200, 'second page');
my %first = map { $_->{sid} => 1 } @$page1;
my @page2 = @{ $r->{json}{templates} || [] };
ok(@page2 && !grep({ $first{$_->{sid}} } @page2), 'the second page holds other templates');

$r = $t->get('/api/whatsapp/templates?provider=twilio&limit=50&search=otp', key => $key);
is($r->{status}, 200, 'search');
is_deeply([map { $_->{friendly_name} } @{ $r->{json}{templates} || [] }], ['otp_code'],
          'search matches the friendly name');

$r = $t->get('/api/whatsapp/templates?provider=carrier-pigeon', key => $key);
is($r->{status}, 400, 'unknown provider: 400');
ok($r->{json}{error}{code} && $r->{json}{error}{message}, '... with a code and a message');

$r = $t->get('/api/whatsapp/templates?provider=twilio');
is($r->{status}, 401, 'no key: 401');

# Meta's /{waba}/message_templates through the simulator, paged by cursors
$r = $t->get('/api/whatsapp/templates?provider=meta', key => $key);
is($r->{status}, 200, 'Meta templates: 200') or diag $r->{content};
my @meta = @{ $r->{json}{templates} || [] };
is(scalar @meta, 5, 'the catalogue of five');
my ($hw) = grep { $_->{name} eq 'hello_world' } @meta;
is($hw && $hw->{language}, 'en_US', 'hello_world en_US');
is($hw && $hw->{status}, 'APPROVED', 'with its status');
is($hw && $hw->{category}, 'UTILITY', 'and category');
is($hw && ref $hw->{components}, 'ARRAY', 'and components');
$r = $t->get('/api/whatsapp/templates?provider=meta&limit=2', key => $key);
is(scalar @{ $r->{json}{templates} || [] }, 2, 'limit=2: two');
my $tok = $r->{json}{next_page_token};
ok($tok, 'and a next_page_token');
ok(!defined $r->{json}{previous_page_token}, 'no previous page on the first');
my %seen = map { $_->{id} => 1 } @{ $r->{json}{templates} };
my $pages = 1;
while ($tok && $pages < 5) {
    $r = $t->get('/api/whatsapp/templates?provider=meta&limit=2&page_token=' . uri_escape($tok), key => $key);
    is($r->{status}, 200, "page " . ++$pages) or last;
    $seen{$_->{id}}++ for @{ $r->{json}{templates} || [] };
    $tok = $r->{json}{next_page_token};
}
is($pages, 3, 'three pages of two');
is(scalar(keys %seen), 5, 'every template once across the pages');
ok(!grep({ $_ > 1 } values %seen), 'none twice');
$r = $t->get('/api/whatsapp/templates?provider=meta&search=order', key => $key);
is(scalar @{ $r->{json}{templates} || [] }, 2, 'search by name: both order_update languages');

# the provider's failure is ours to report clearly: a Meta answer that is
# not a template list (the simulator stopped) is a 502 with a code
$t->stop('sim');
$r = $t->get('/api/whatsapp/templates?provider=meta', key => $key);
is($r->{status}, 502, 'provider down: 502');
like($r->{json}{error}{code} // '', qr/^provider_(error|unavailable)$/, '... provider_error or provider_unavailable');
$t->start('sim');

$t->done;
