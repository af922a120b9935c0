#!/usr/bin/perl
# The console in a real browser (Debian's Chromium, driven by
# playwright-core): sign-in, the dashboard's health, an API key shown once
# in settings, an SMS sent from the send page and looked up delivered,
# logout. t/40-console-admin.t drives the other pages.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my ($user, $pass) = $t->admin_credentials;

my $out = `node $FindBin::Bin/browser/console.js @{[ $t->base_url ]} $user $pass 2>&1`;
my $seen = json_decode((split /\n/, $out)[-1] // '') || {};
is_deeply($seen->{errors}, [], 'no page errors, every step completed') or diag $out;

ok($seen->{login_shown}, 'an anonymous visitor sees the sign-in form');
like($seen->{login_error} // '', qr/invalid username or password/i,
     'a wrong password is refused with a readable message');
ok($seen->{logged_in}, 'the admin signs in');
ok($seen->{cookie_http_only}, 'the session is an HttpOnly cookie');
is_deeply($seen->{local_storage_keys}, [], 'nothing is kept in localStorage');
like($seen->{health} // '', qr/Redis: ok\s+MySQL: ok/, 'the dashboard shows both backends up');

like($seen->{new_key} // '', qr/shown once.*bck_[A-Za-z0-9_-]{43}/,
     'a new API key is shown once');
like($seen->{keys_table} // '', qr/from-console/, 'the key is listed');
unlike($seen->{keys_table} // '', qr/bck_[A-Za-z0-9_-]{43}/,
       'the list never shows a raw key');
my $keys = $t->get('/api/keys', token => $t->token)->{json}{keys} || [];
ok((grep { $_->{name} eq 'from-console' } @$keys), 'the key exists in the API');

my $sent = $seen->{send_result} || {};
is(scalar @{ $sent->{messages} || [] }, 1, 'the form queued the valid number');
is($sent->{rejected}[0]{to}, 'bogus', 'the invalid one is rejected by itself');
like($seen->{status_row} // '', qr/\+14155550142.*delivered/s,
     'the batch lookup shows the message delivered');

ok($seen->{logged_out}, 'logout ends the session (a reload asks to sign in)');

$t->done;
