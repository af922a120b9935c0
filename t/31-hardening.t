#!/usr/bin/perl
# Hardening of what exists: findings of a review, each checked here.
# Media types are matched exactly; a header line (an e-mail's subject, a
# sender name) is one line; a number of E.164 form outside its country's
# numbering plan is called that; an over-long password is "too long"; an
# unknown username costs as much time as a wrong password.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use HTTP::Tiny;
use BC::Test qw(:all);

my $t = BC::Test->new;
my $send = $t->create_key('send');
my $sms = { recipients => ['+14155550801'], message => 'hi' };

# ------------------------------------------------------------ media types
my $r = $t->post('/api/send/sms', key => $send, body => json_encode($sms),
                 no_content_type => 1);
is_error($r, 415, 'unsupported_media_type', 'a JSON body without Content-Type');
for my $ct ('application/jsonx', 'application/json-patch+json', 'text/json',
            'application/x-www-form-urlencoded', 'application/json x') {
    $r = $t->post('/api/send/sms', key => $send, body => json_encode($sms),
                  headers => { 'Content-Type' => $ct });
    is_error($r, 415, 'unsupported_media_type', "Content-Type: $ct");
}
for my $ct ('application/json', 'Application/JSON; charset=utf-8',
            'application/json;charset=UTF-8') {
    $r = $t->post('/api/send/sms', key => $send, body => json_encode($sms),
                  headers => { 'Content-Type' => $ct });
    is($r->{status}, 202, "Content-Type: $ct is JSON") or diag $r->{content};
}

# ------------------------------------------------------------ one line
for my $subject ("Hello\r\nBcc: victim\@example.com", "two\nlines", "cr\rhere") {
    $r = $t->post('/api/send/email', key => $send,
                  json => { recipients => ['ann@example.com'],
                            subject => $subject, text => 'x' });
    is_error($r, 400, 'invalid_request', 'a subject with CR or LF');
    like($r->{json}{error}{message} // '', qr/single-line/, 'the message says single-line');
}
$r = $t->post('/api/send/email', key => $send,
              json => { recipients => ['ann@example.com'], subject => 'ok',
                        text => 'x', from_name => "Ann\r\nX-Evil: 1" });
is_error($r, 400, 'invalid_request', 'a from_name with CR/LF: the same rule');
$r = $t->post('/api/send/email', key => $send,
              json => { recipients => ['ann@example.com'],
                        subject => 'Grüße ☃', text => 'x' });
is($r->{status}, 202, 'a one-line UTF-8 subject is fine') or diag $r->{content};

# ------------------------------------------------------------ numbers
$r = $t->post('/api/send/sms', key => $send,
              json => { recipients => ['+19999999999'], message => 'x' });
is_error($r, 422, 'no_valid_recipients', '+19999999999 is refused');
my ($rej) = @{ $r->{json}{error}{rejected} // $r->{json}{rejected} // [] };
my $why = $rej ? json_encode($rej) : $r->{content};
like($why, qr/form of an E\.164 number but is not in its country's numbering plan/,
     'the reason says the form is right but the number is not assigned');

# ------------------------------------------------------------ nginx's own errors are JSON
sub json_error {
    my ($r, $status, $code, $what) = @_;
    is($r->{status}, $status, "$what: HTTP $status");
    like($r->{headers}{'content-type'} // '', qr{^application/json}, "$what: JSON, not an HTML page");
    is($r->{json} && $r->{json}{error}{code}, $code, "$what: error.code $code");
    ok($r->{json} && length($r->{json}{error}{message} // ''), "$what: a message");
}
json_error($t->post('/api/send/sms', key => $send, body => 'x' x (3 * 1024 * 1024)),
           413, 'body_too_large', 'a body over client_max_body_size');
json_error($t->get('/API/status/x', key => $send), 404, 'not_found', '/API/ (routes are case-sensitive)');
json_error($t->get('/no-such-page.html'), 404, 'not_found', 'a console file that does not exist');
json_error($t->get('/api/status/a%00b', key => $send), 400, 'bad_request', 'a %00 in the path');
json_error($t->get('/api/stats', key => $send, headers => { 'X-Big' => 'y' x 20000 }),
           400, 'bad_request', 'a header over large_client_header_buffers');
json_error($t->get('/broadcast-error'), 404, 'not_found', 'the error location itself is internal');

# ------------------------------------------------------------ security headers
$r = $t->get('/');
is($r->{status}, 200, 'the console');
my $csp = $r->{headers}{'content-security-policy'} // '';
like($csp, qr/default-src 'none'/, 'a strict Content-Security-Policy');
like($csp, qr/script-src 'self'(;|$)/, 'scripts from the console only, no inline');
like($csp, qr/frame-ancestors 'none'/, 'not framable (CSP)');
is($r->{headers}{'x-frame-options'}, 'DENY', 'not framable (X-Frame-Options)');
is($r->{headers}{'x-content-type-options'}, 'nosniff', 'nosniff on the console');
is($r->{headers}{'referrer-policy'}, 'no-referrer', 'Referrer-Policy');
$r = $t->get('/api/stats', key => $send);
is($r->{headers}{'x-content-type-options'}, 'nosniff', 'nosniff on API answers');
$r = $t->get('/webhooks/meta?hub.mode=subscribe&hub.verify_token=' . uri_escape($t->meta_verify_token)
             . '&hub.challenge=%3Cscript%3Ealert(1)%3C%2Fscript%3E');
is($r->{status}, 200, 'the Meta challenge echo');
is($r->{headers}{'x-content-type-options'}, 'nosniff', 'nosniff on the echo of a caller\'s text');
like($r->{headers}{'content-type'} // '', qr{^text/plain}, 'as text/plain');

# ------------------------------------------------------------ passwords
my ($user, $pass) = $t->admin_credentials;
$r = $t->post('/api/login', json => { username => $user, password => 'x' x 1025 });
is_error($r, 400, 'invalid_request', 'a password over 1,024 bytes');
like($r->{json}{error}{message} // '', qr/too long/, 'called too long, not empty');
# a 1 MB one is over the body limit: refused as too large, still not "empty"
$r = $t->post('/api/login', json => { username => $user, password => 'x' x (1024 * 1024) });
ok($r->{status} == 413 || $r->{status} == 400, "a 1 MB password refused ($r->{status})");
like($r->{json}{error}{message} // '', qr/too (long|large)/, 'as too long or too large');
$r = $t->post('/api/login', json => { username => $user, password => '' });
like($r->{json}{error}{message} // '', qr/non-empty/, 'an empty one is called empty');

# an unknown username takes as long as a wrong password (argon2 both ways)
sub login_time {
    my ($u) = @_;
    my $t0 = time;
    my $res = $t->post('/api/login', json => { username => $u, password => 'wrong-password' });
    die "login: $res->{status}" unless $res->{status} == 401;
    return time - $t0;
}
my (@known, @unknown);
for (1 .. 3) {
    push @known, login_time($user);
    push @unknown, login_time("nobody$_");
}
my ($k) = sort { $a <=> $b } @known;
my ($u) = sort { $a <=> $b } @unknown;
cmp_ok($u, '>', $k * 0.5, sprintf('unknown user %.0f ms vs wrong password %.0f ms: not told apart by time',
                                  $u * 1000, $k * 1000));
cmp_ok($k, '>', 0.02, 'and the wrong password did cost a real hash');

# ------------------------------------------------------------ least privilege
# started as root, only nginx's master keeps root: its workers, Redis,
# MariaDB, the sender and the simulator run as an unprivileged user
sub uid_of { my ($pid) = @_; open my $fh, '<', "/proc/$pid/status" or return undef;
             while (<$fh>) { return $1 if /^Uid:\s+(\d+)/ } undef }
sub children_of { my ($ppid) = @_; my @k;
    for my $st (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $st or next; my $l = <$fh> // next;
        push @k, $1 if $l =~ /^(\d+) \(.*\) \S (\d+)/ && $2 == $ppid;
    } @k }
my $want = $< == 0 ? 'unprivileged' : 'the invoking user';
for my $c (qw(redis mysql sender sim)) {
    my $uid = uid_of($t->pid($c));
    ok(defined $uid && ($< == 0 ? $uid != 0 : $uid == $<), "$c runs as $want (uid " . ($uid // '?') . ')');
}
my @workers = children_of($t->pid('nginx'));
ok(@workers >= 1, 'nginx has workers');
ok(!grep({ my $u = uid_of($_); !defined $u || ($< == 0 ? $u == 0 : $u != $<) } @workers),
   "every nginx worker runs as $want");

# ------------------------------------------------------------ Redis ACL
# whoever can write to Redis can queue messages: no anonymous access, and
# the product's own user may only run its command groups on bc:* keys
my $anon = $t->redis_as([undef, undef], 'XADD', 'bc:{q}:stream:send', '*', 'job', '{}') // '';
like($anon, qr/NOAUTH|NOPERM|WRONGPASS/, 'an unauthenticated client cannot queue a job');
my $bc = ['broadcast', $t->secret('redis.password')];
unlike($t->redis_as(['broadcast', 'wrong-password'], 'PING') // '', qr/PONG/, 'a wrong password is refused');
is($t->redis_as($bc, 'PING'), 'PONG', "the product's user connects");
ok(defined $t->redis_as($bc, 'XLEN', 'bc:{q}:stream:send') && $t->redis_as($bc, 'XLEN', 'bc:{q}:stream:send') =~ /^\d+$/,
   'and reads its stream');
for my $cmd (['FLUSHALL'], ['CONFIG', 'GET', 'requirepass'], ['KEYS', '*'], ['ACL', 'LIST'],
             ['SHUTDOWN', 'NOSAVE'], ['SET', 'not-ours', 'x']) {
    like($t->redis_as($bc, @$cmd) // '', qr/NOPERM/, "the product's user may not run @$cmd[0 .. ($#$cmd < 1 ? $#$cmd : 1)]");
}
ok($t->alive('redis'), 'Redis is still up');
my $acl = do { local $/; open my $fh, '<', $t->dir . '/redis/users.acl' or die; <$fh> };
unlike($acl, qr/\Q${\ $t->secret('redis.password')}\E/, 'the ACL file holds no password, only its SHA-256');

# ------------------------------------------------------------ login limiter
# keyed on username and address: an attacker at one address locks out only
# that pair; X-Forwarded-For from an untrusted client is not believed
my $ua_a = HTTP::Tiny->new(local_address => '127.0.0.4', timeout => 30);
my $ua_b = HTTP::Tiny->new(local_address => '127.0.0.5', timeout => 30);
sub login_from {
    my ($ua, $u, $p, %h) = @_;
    return $t->post('/api/login', ua => $ua, headers => \%h, json => { username => $u, password => $p });
}
my @codes = map { login_from($ua_a, $user, "guess$_", 'X-Forwarded-For' => "10.9.9.$_")->{status} } 1 .. 10;
is(join(',', @codes), join(',', (401) x 10), 'ten wrong passwords from one address: 401 each');
$r = login_from($ua_a, $user, $pass, 'X-Forwarded-For' => '10.1.1.1');
is_error($r, 429, 'too_many_attempts', 'then even the right password from that address waits');
like($r->{json}{error}{message} // '', qr/this username from this address/, 'the message says why');
is(login_from($ua_b, $user, $pass)->{status}, 200, 'the right password from another address still works');
is(login_from($ua_a, 'someone-else', 'x')->{status}, 401, 'another username from the locked address is not locked');

# without Redis the limiter cannot count: logins fail closed
is($t->stop('redis'), 0, 'Redis stopped');
$r = login_from($ua_b, $user, $pass);
is_error($r, 503, 'redis_unavailable', 'a login while Redis is down: 503, not an unlimited guess');
is($t->start('redis'), 0, 'Redis started again');
ok(wait_until(sub { login_from($ua_b, $user, $pass)->{status} == 200 }, 30, 0.2), 'logins work again');

$t->done;
