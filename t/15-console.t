#!/usr/bin/perl
# The admin console in a real browser (Debian's Chromium, driven by
# playwright-core): sign-in, API keys, an SMS sent from the form and seen
# delivered, an inbound WhatsApp shown as an unread conversation, logout.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my ($user, $pass) = $t->admin_credentials;

my $out = `node $FindBin::Bin/browser/console.js @{[ $t->base_url ]} $user $pass @{[ $t->sim_url ]} 2>&1`;
my $seen = json_decode((split /\n/, $out)[-1] // '') || {};
is_deeply($seen->{errors}, [], 'no page errors, every step completed') or diag $out;

ok($seen->{login_shown}, 'an anonymous visitor sees the sign-in form');
like($seen->{login_error} // '', qr/invalid username or password/i,
     'a wrong password is refused with a readable message');
ok($seen->{logged_in}, 'the admin signs in');
ok($seen->{cookie_http_only}, 'the session is an HttpOnly cookie');
is_deeply($seen->{local_storage_keys}, [], 'nothing is kept in localStorage');
like($seen->{health} // '', qr/redis: ok.*mysql: ok/, 'health shows both backends');

like($seen->{new_key} // '', qr/shown once.*bck_[A-Za-z0-9_-]{43}/,
     'a new API key is shown once');
like($seen->{keys_table} // '', qr/from-console/, 'the key is listed');
unlike($seen->{keys_table} // '', qr/bck_[A-Za-z0-9_-]{43}/,
       'the list never shows a raw key');

my $sent = $seen->{send_result} || {};
is(scalar @{ $sent->{messages} || [] }, 1, 'the form queued the valid number');
is($sent->{rejected}[0]{to}, 'bogus', 'the invalid one is rejected by itself');
like($seen->{status_row} // '', qr/\+14155550142.*delivered/s,
     'the batch lookup shows the message delivered');

is($seen->{unread_badge}, '1', 'an inbound WhatsApp is an unread conversation');
like($seen->{bubble} // '', qr/Hello from WhatsApp/, 'its text is shown');
ok($seen->{badge_cleared}, 'opening the conversation marks it read');
ok($seen->{logged_out}, 'logout ends the session (a reload asks to sign in)');

$t->done;
