#!/usr/bin/perl
# The Debian packages (make deb) installed into this machine: the module is
# enabled in /etc/nginx/modules-enabled/ and loads into the system nginx;
# the sender package brings its user, config, directories and systemd unit;
# then Debian's nginx runs the packaged module in a private prefix, the
# packaged sender runs as "broadcast", the packaged broadcastctl applies the
# packaged migrations, and an SMS sent through the API is delivered by the
# simulator. Both packages are purged at the end, leaving nothing behind.
#
# Installs packages, so it needs root (as CI runs the suite on Debian 12).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);
use File::Temp qw(tempdir);

my $REPO    = $BC::Test::REPO;
my @PKGS    = qw(libnginx-mod-http-broadcast broadcast-sender);
my $MOD_SO  = '/usr/lib/nginx/modules/ngx_http_broadcast_module.so';
my $ENABLED = '/etc/nginx/modules-enabled/50-mod-http-broadcast.conf';
my $CONF    = '/usr/share/nginx/modules-available/mod-http-broadcast.conf';
my $UNIT    = '/lib/systemd/system/broadcast-sender.service';

if ($> != 0) {
    fail('t/42 installs and purges Debian packages: run it as root '
       . '(sudo prove -v t/42-debian-package.t), as CI does');
    done_testing();
    exit;
}

# runs a command, its output in a log of ours; returns (exit code, output)
sub run {
    my ($cmd) = @_;
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

sub installed {
    my ($pkg) = @_;
    my $st = `dpkg-query -W -f='\${Status}' $pkg 2>/dev/null`;
    return $st =~ /\binstall ok installed\b/ ? 1 : 0;
}

my $APT = 'DEBIAN_FRONTEND=noninteractive apt-get -y -q '
        . '-o DPkg::Lock::Timeout=300 --no-install-recommends';
my ($t, $installed);

sub purge {
    return unless $installed;
    $installed = 0;
    return run("$APT purge @PKGS");
}

END {
    my $rc = $?;
    # a test that died: the stack down first, then the packages out
    $t->teardown(1) if $t && !$t->{down};
    purge();
    $? = $rc;
}

# --- build (again only when a source changed) ------------------------------
my ($rc, $out) = run("make -s -C $REPO deb");
is($rc, 0, 'make deb builds the packages') or diag substr($out, -3000);
my %deb;
for my $p (@PKGS) {
    ($deb{$p}) = grep { !/-dbgsym_/ } glob "$REPO/build/deb/${p}_*.deb";
    ok($deb{$p} && -s $deb{$p}, "build/deb holds $p") or BAIL_OUT('no package to test');
}

# a leftover of an interrupted run: out first, so this install is a fresh one
run("$APT purge @PKGS") if grep { installed($_) } @PKGS;

# --- install ---------------------------------------------------------------
($rc, $out) = run("$APT install $deb{'libnginx-mod-http-broadcast'} "
                . $deb{'broadcast-sender'});
$installed = 1;
is($rc, 0, 'apt-get install of both packages (dependencies resolved)')
    or diag $out;
ok(installed($_), "$_ is installed") for @PKGS;

# the module package: Debian's nginx module layout and ABI dependency
ok(-f $MOD_SO, "$MOD_SO installed");
ok(-l $ENABLED, "$ENABLED is a link (dh_nginx's postinst)");
is(readlink($ENABLED), $CONF, "... to $CONF");
is(slurp($CONF), "load_module modules/ngx_http_broadcast_module.so;\n",
   'mod-http-broadcast.conf loads the module');
my ($abi) = slurp('/usr/share/nginx/src/debian/libnginx-mod.abisubstvars')
    =~ /^nginx:abi=(\S+)/m;
like(`dpkg-query -W -f='\${Depends}' libnginx-mod-http-broadcast`,
     qr/(^|, )\Q$abi\E(,|$)/, "the module depends on the system nginx's ABI ($abi)");

# nginx -t with a private config loading what modules-enabled lists
mkdir "$REPO/t/tmp";
my $dir = tempdir('deb-XXXXXX', DIR => "$REPO/t/tmp", CLEANUP => 1);
my $port = free_port();
sub nginx_t {
    my ($include) = @_;
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh ($include ? "include /etc/nginx/modules-enabled/*.conf;\n" : ''),
        "pid $dir/nginx.pid;\nevents {}\n",
        "http {\n    broadcast_session_ttl 1h;\n",
        "    server { listen 127.0.0.1:$port; location = /health { broadcast_health; } }\n}\n";
    close $fh;
    # nginx's own prefix: the .conf names modules/ relative to it
    return run("/usr/sbin/nginx -t -e $dir/error.log -c $dir/nginx.conf");
}
($rc, $out) = nginx_t(1);
is($rc, 0, 'nginx -t: including modules-enabled/*.conf loads the module')
    or diag $out;
($rc, $out) = nginx_t(0);
isnt($rc, 0, 'nginx -t: without it, the broadcast directives are unknown');
like($out, qr/unknown directive "broadcast_/, '... and nginx says so');

# the sender package: user, config, directories, unit
my @pw = getpwnam('broadcast');
ok(@pw && $pw[2] < 1000, 'system user broadcast exists');
my $gid = getgrnam('broadcast');
my @st = stat '/etc/broadcast/sender.conf';
ok(@st, '/etc/broadcast/sender.conf installed');
is(sprintf('%04o', $st[2] & 07777), '0640', 'sender.conf mode 0640');
is("$st[4]:$st[5]", "0:$gid", 'sender.conf root:broadcast');
like(`dpkg-query -W -f='\${Conffiles}' broadcast-sender`,
     qr{^ /etc/broadcast/sender\.conf }m, 'sender.conf is a conffile');
for my $d (qw(/var/lib/broadcast /var/log/broadcast)) {
    my @s = stat $d;
    is(@s ? "$s[4]:$s[5]" : '', "$pw[2]:$gid", "$d owned by broadcast");
}
ok(-x '/usr/sbin/broadcast-sender', '/usr/sbin/broadcast-sender');
ok(-x '/usr/bin/broadcastctl', '/usr/bin/broadcastctl');
ok(-f '/usr/share/broadcast/html/index.html', 'the console in /usr/share/broadcast/html');
my @sql = glob "$REPO/sql/*.sql";
is(scalar(() = glob '/usr/share/broadcast/sql/*.sql'), scalar @sql,
   'every migration in /usr/share/broadcast/sql');

my $unit = slurp($UNIT);
like($unit, qr{^ExecStart=/usr/sbin/broadcast-sender --config /etc/broadcast/sender\.conf$}m,
     'the unit starts the packaged binary');
like($unit, qr/^$_$/m, "unit: $_")
    for qw(User=broadcast Restart=always NoNewPrivileges=yes ProtectSystem=strict
           CapabilityBoundingSet=);
my ($sa) = grep { -x } qw(/usr/bin/systemd-analyze /bin/systemd-analyze);
if ($sa) {
    ($rc, $out) = run("$sa verify $UNIT");
    is($rc, 0, 'systemd-analyze verify accepts the installed unit') or diag $out;
} else {
    diag('systemd-analyze is not installed: the unit was checked by its keys only');
}

# --- the packaged binaries running a stack --------------------------------
# Debian's nginx with the packaged module, the packaged sender (as
# broadcast), broadcastctl and migrations; Redis, MariaDB and the
# simulator are the test's own
$t = BC::Test->new(env => {
    BC_MODULE_SO  => $MOD_SO,
    BC_SENDER_BIN => '/usr/sbin/broadcast-sender',
    BC_CTL_BIN    => '/usr/bin/broadcastctl',
    BC_SQL_DIR    => '/usr/share/broadcast/sql',
    BC_HTML_DIR   => '/usr/share/broadcast/html',
    BC_RUN_USER   => 'broadcast',
});

my $master = $t->pid('nginx');
is(readlink("/proc/$master/exe"), '/usr/sbin/nginx', 'the system nginx binary runs');
my ($worker) = split ' ', `pgrep -P $master` // '';
ok($worker && slurp("/proc/$worker/maps") =~ /\Q$MOD_SO\E/,
   'its worker has the packaged module mapped');
my $sender = $t->pid('sender');
is(readlink("/proc/$sender/exe"), '/usr/sbin/broadcast-sender',
   'the packaged sender runs');
is((stat "/proc/$sender")[4], $pw[2], '... as user broadcast');
is($t->mysql_value('SELECT COUNT(*) FROM schema_migrations'), scalar @sql,
   'the packaged broadcastctl applied the packaged migrations');

my $r = $t->get('/');
is($r->{status}, 200, 'the packaged console is served');
is($r->{content}, slurp('/usr/share/broadcast/html/index.html'),
   '... from /usr/share/broadcast/html');

my $body = 'from the Debian packages ' . hex32();
$r = $t->send_sms(to => '+14155552671', message => $body);
is($r->{status}, 202, 'SMS accepted by the packaged module') or diag $r->{content};
my $id = $r->{json}{messages}[0]{id} // '';
my $done = $t->wait_status([$id], qr/^delivered$/, 60);
ok($done->{$id}, 'delivered through the simulator by the packaged sender')
    or diag explain $t->status_of($id);
is(scalar(grep { ($_->{body} // '') eq $body } @{ $t->sim_messages }), 1,
   'the simulator got it exactly once');

$t->teardown;

# --- purge -----------------------------------------------------------------
($rc, $out) = purge();
is($rc, 0, 'apt-get purge of both packages') or diag $out;
ok(!installed($_), "$_ is gone") for @PKGS;
ok(!-e $ENABLED && !-l $ENABLED && !-l "$ENABLED.removed",
   'the modules-enabled link is removed');
ok(!-e $_, "$_ is removed")
    for $MOD_SO, $CONF, $UNIT, '/etc/broadcast/sender.conf',
        '/var/lib/broadcast', '/var/log/broadcast', '/usr/sbin/broadcast-sender';
is(`dpkg-statoverride --list '/etc/broadcast/*' '/var/lib/broadcast' '/var/log/broadcast'`,
   '', 'no stat override left');

done_testing();

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    local $/;
    return <$fh> // '';
}
