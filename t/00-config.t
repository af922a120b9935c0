#!/usr/bin/perl
# The module loads into Debian's nginx; conf.example is valid; bad
# configurations are rejected by `nginx -t` with a message naming the problem.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use File::Path ();
use BC::Test qw(:all);

my $repo = $BC::Test::REPO;
my $so = ($ENV{BC_BUILD} // "$repo/build") . "/nginx/ngx_http_broadcast_module.so";
my $nginx_bin = $ENV{BC_NGINX_BINARY} // '/usr/sbin/nginx';
my $nginx = nginx_command();
ok(-f $so, 'module built');

# same ABI signature as the stock binary
sub signature {
    my ($f) = @_;
    open my $fh, '<:raw', $f or return '';
    local $/;
    my $data = <$fh>;
    return $data =~ /\0(\d+,\d+,\d+,[01]{20,})\0/ ? $1 : '';
}
my $sig = signature($so);
ok($sig, "module signature $sig");
is($sig, signature($nginx_bin), 'module signature matches the nginx binary');

mkdir "$repo/t/tmp";
my $dir = tempdir('bc-conf-XXXXXX', DIR => "$repo/t/tmp", CLEANUP => !$ENV{TEST_LEAVE});
chmod 0755, $dir;
File::Path::make_path("$dir/nginx/conf", "$dir/nginx/logs", "$dir/nginx/tmp");
my %env = (BC_VAR => $dir, PORT => free_port(), REDIS_PORT => free_port(),
           MYSQL_PORT => free_port(), SIM_PORT => free_port());

# nginx -t on a config text; returns (exit code, output)
sub nginx_t {
    my ($text, $name) = @_;
    my $f = "$dir/nginx/conf/$name.conf";
    open my $fh, '>', $f or die "$f: $!";
    print $fh $text;
    close $fh;
    my $out = `$nginx -p $dir/nginx/ -c conf/$name.conf -e logs/error.log -t 2>&1`;
    return ($? >> 8, $out);
}

# load only
my ($rc, $out) = nginx_t("load_module $so;\nevents {}\npid logs/t.pid;\n", 'load');
is($rc, 0, 'module loads (load_module + events {})') or diag $out;

# conf.example rendered by stack.sh
{
    local %ENV = (%ENV, %env);
    my $o = `bash $repo/scripts/stack.sh render 2>&1`;
    is($? >> 8, 0, 'stack.sh render') or diag $o;
}
open my $fh, '<', "$dir/nginx/conf/nginx.conf" or die $!;
my $conf = do { local $/; <$fh> };
close $fh;
like($conf, qr/(?m)^load_module \Q$so\E;/m, 'rendered: load_module points at the build');
like($conf, qr/(?m)^\s*broadcast_redis 127\.0\.0\.1:$env{REDIS_PORT} user=broadcast password_file=\Q$dir\E\/secrets\/redis\.password;/m,
     'rendered: redis port, ACL user and password file');
like($conf, qr/(?m)^\s*listen 127\.0\.0\.1:$env{PORT};/m, 'rendered: listen port');
unlike($conf, qr{/etc/broadcast/|sms\.example\.com|/var/lib/nginx/}, 'no deployment paths left');
($rc, $out) = nginx_t($conf, 'good');
is($rc, 0, 'rendered conf.example passes nginx -t') or diag $out;
like($out, qr/syntax is ok/, 'syntax is ok');

# client_max_body_size must exceed broadcast_max_body in conf.example
open $fh, '<', "$repo/conf.example" or die $!;
my $example = do { local $/; <$fh> };
my ($mb) = $example =~ /^\s*broadcast_max_body\s+(\d+)m;/m;
my ($cm) = $example =~ /^\s*client_max_body_size\s+(\d+)m;/m;
ok($mb && $cm && $cm > $mb, "client_max_body_size ${\($cm//0)}m > broadcast_max_body ${\($mb//0)}m");

sub bad {
    my ($name, $re_from, $to, $expect) = @_;
    my $c = $conf;
    my $done = $c =~ s{$re_from}{my $one = $1 // ''; (my $x = $to) =~ s/\$1/$one/; $x}me;
    ok($done, "$name: edited the config") or return;
    my ($rc, $out) = nginx_t($c, 'bad');
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\]/, "$name: [emerg]");
    like($out, $expect, "$name: the message names the problem") or diag $out;
}

bad('bad broadcast_redis address', qr/(?m)^(\s*broadcast_redis) [^;]+;/, '$1 127.0.0.1:notaport;',
    qr/broadcast_redis|notaport/);
bad('bad broadcast_redis host', qr/(?m)^(\s*broadcast_redis) [^;]+;/, '$1 no such host name:;',
    qr/broadcast_redis|no such host/);
bad('broadcast_redis: a unix socket among cluster seeds', qr/(?m)^(\s*broadcast_redis) [^;]+;/,
    '$1 unix:/run/redis.sock 127.0.0.1:7001;', qr/broadcast_redis: a Redis unix: socket must be the only address/);
bad('broadcast_redis: a bad cluster seed', qr/(?m)^(\s*broadcast_redis) \S+/,
    '$1 127.0.0.1:7000 127.0.0.1:70x1', qr/invalid Redis cluster address "127\.0\.0\.1:70x1"/);
{
    # several addresses: Redis Cluster seeds, with the ACL parameters after them
    (my $c = $conf) =~ s/(?m)^(\s*broadcast_redis) \S+/$1 127.0.0.1:7000 127.0.0.1:7001 127.0.0.1:7002/;
    my ($rc, $out) = nginx_t($c, 'seeds');
    is($rc, 0, 'broadcast_redis with three cluster seeds passes nginx -t') or diag $out;
}
bad('broadcast_redis: wait_replicas out of range', qr/(?m)^(\s*broadcast_redis) \S+/,
    '$1 127.0.0.1:7000 wait_replicas=17', qr/wait_replicas must be a number from 0 to 16, not "17"/);
bad('broadcast_redis: a wait_timeout that is not a time', qr/(?m)^(\s*broadcast_redis) \S+/,
    '$1 127.0.0.1:7000 wait_timeout=soon', qr/wait_timeout must be a time from 1ms to 10s, not "soon"/);
{
    (my $c = $conf) =~ s/(?m)^(\s*broadcast_redis) \S+/$1 127.0.0.1:7000 127.0.0.1:7001 wait_replicas=1 wait_timeout=50ms/;
    my ($rc, $out) = nginx_t($c, 'wait');
    is($rc, 0, 'broadcast_redis with wait_replicas=1 wait_timeout=50ms passes nginx -t') or diag $out;
}
bad('broadcast_redis: lanes out of range', qr/(?m)^(\s*broadcast_redis) \S+/,
    '$1 127.0.0.1:7000 lanes=33', qr/broadcast_redis: lanes must be a number from 1 to 32/);
bad('broadcast_redis: lanes=0', qr/(?m)^(\s*broadcast_redis) \S+/,
    '$1 127.0.0.1:7000 lanes=0', qr/lanes must be a number from 1 to 32/);
{
    (my $c = $conf) =~ s/(?m)^(\s*broadcast_redis) \S+/$1 127.0.0.1:7000 lanes=3/;
    my ($rc, $out) = nginx_t($c, 'lanes');
    is($rc, 0, 'broadcast_redis with lanes=3 passes nginx -t') or diag $out;
}

bad('unknown broadcast_default_country', qr/(?m)^(\s*broadcast_default_country) \w+;/, '$1 QQ;',
    qr/broadcast_default_country|"QQ"|QQ/);
bad('missing auth token file', qr/(?m)^(\s*broadcast_twilio_auth_token_file) [^;]+;/,
    "\$1 $dir/secrets/does-not-exist;", qr/does-not-exist/);
bad('missing mysql password file', qr/password_file=[^;\s]+/,
    "password_file=$dir/secrets/no-mysql-password", qr/no-mysql-password/);
bad('broadcast_mysql without database', qr/ database=broadcast/, '',
    qr/broadcast_mysql|database/);
bad('API without broadcast_mysql', qr/(?m)^\s*broadcast_mysql [^;]+;/, '',
    qr/broadcast_mysql/);
bad('bad broadcast_max_body', qr/(?m)^(\s*broadcast_max_body) [^;]+;/, '$1 lots;',
    qr/broadcast_max_body|lots/);
bad('unknown webhook provider', qr/broadcast_webhook twilio;/, 'broadcast_webhook pigeon;',
    qr/broadcast_webhook|pigeon/);
bad('unknown thread pool', qr/(?m)^(\s*broadcast_thread_pool) \w+;/, '$1 nosuchpool;',
    qr/nosuchpool|thread_pool/);

done_testing;
