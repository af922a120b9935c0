package BC::Test;

# Integration-test harness: one private stack (Redis, MariaDB, simulator,
# sender, nginx with the module) per test file, started through
# scripts/stack.sh on free loopback ports with BC_VAR in a temp dir.
#
#   my $t = BC::Test->new(env => { BC_RECLAIM_IDLE_MS => 1000 });
#   my $r = $t->http(POST => '/api/send/sms', json => {...}, key => $k);
#   $t->done;    # stops the stack, checks error.log, done_testing
#
# The temp dir goes when the file passes. When it fails, its logs stay for
# the CI output but the MariaDB data files go (tens of MB per stack; a CI
# disk fills up otherwise). TEST_LEAVE=1 keeps everything and prints where.

use strict;
use warnings;

use Exporter 'import';
use Test::More ();
use HTTP::Tiny;
use JSON::PP;
use Digest::SHA qw(hmac_sha1_base64 hmac_sha256_hex sha256_hex);
use MIME::Base64;
use File::Temp qw(tempdir);
use File::Path qw(rmtree);
use File::Basename qw(dirname);
use File::Spec;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use Cwd qw(abs_path);

our @EXPORT_OK = qw(wait_until twilio_sign free_port json_encode json_decode
                    form_encode elapsed meta_sign sendgrid_sign error_code
                    rejection is_error hex32 uri_escape nginx_command
                    paint_budget_ms);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

our $REPO = abs_path(dirname(__FILE__) . '/../../..');
my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

my @LIVE;    # stacks to stop if the test dies

sub json_encode { $JSON->encode($_[0]) }
sub json_decode { my $r = eval { $JSON->decode($_[0]) }; $r }

# the error code of a JSON error response, or undef
sub error_code {
    my ($r) = @_;
    return ref $r->{json} eq 'HASH' && ref $r->{json}{error} eq 'HASH'
         ? $r->{json}{error}{code} : undef;
}

# a JSON error answer: HTTP status, error.code, a non-empty error.message
# and a JSON content type (four tests)
sub is_error {
    my ($r, $status, $code, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::is($r->{status}, $status, "$name: HTTP $status")
        or Test::More::diag($r->{content});
    Test::More::is(error_code($r), $code, "$name: error.code $code");
    my $e = ref $r->{json} eq 'HASH' ? $r->{json}{error} : undef;
    Test::More::ok(ref $e eq 'HASH' && defined $e->{message} && length $e->{message},
        "$name: error.message present");
    Test::More::like($r->{headers}{'content-type'} // '', qr{^application/json},
        "$name: JSON content type");
}

# 32 random lower-case hex digits (the tail of a Twilio sid, a unique tag)
sub hex32 { join '', map { sprintf '%x', int rand 16 } 1 .. 32 }

# the nginx binary as a shell command; a sanitized module (make asan) runs
# in stock nginx with its runtime preloaded
sub nginx_command {
    my $bin = $ENV{BC_NGINX_BINARY} // '/usr/sbin/nginx';
    return $bin unless $ENV{BC_NGINX_PRELOAD};
    return "env LD_PRELOAD='$ENV{BC_NGINX_PRELOAD}' ASAN_OPTIONS=detect_leaks=0 $bin";
}

# the per-recipient rejection of $to in a send response (202 or 4xx):
# its error code (or message), matched on the digits of the address
sub rejection {
    my ($r, $to) = @_;
    my $j = $r->{json} // {};
    my @rej = (@{ ref $j->{rejected} eq 'ARRAY' ? $j->{rejected} : [] },
               @{ ref $j->{error} eq 'HASH' && ref $j->{error}{rejected} eq 'ARRAY' ? $j->{error}{rejected} : [] });
    (my $digits = $to) =~ s/\D//g;
    for my $x (@rej) {
        (my $d = $x->{to} // '') =~ s/\D//g;
        next unless $d eq $digits;
        my $e = $x->{error};
        return ref $e eq 'HASH' ? ($e->{code} // $e->{message} // '') : ($x->{code} // $e // '');
    }
    return undef;
}

# the console's first-paint budget: 300 ms from loopback; three times that
# when nginx runs under ASan/UBSan (make asan), whose instrumentation and
# shadow memory slow every request, not the page's weight
sub paint_budget_ms { $ENV{BC_NGINX_PRELOAD} ? 900 : 300 }

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
        LocalPort => 0, Proto => 'tcp', ReuseAddr => 1)
        or die "cannot bind a free port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# a fresh stack directory under t/tmp, readable by the stack's unprivileged
# user (a test run as root hands its processes to it)
sub stack_dir {
    my ($prefix) = @_;
    my $base = "$REPO/t/tmp";
    mkdir $base unless -d $base;
    chmod 0755, $base;
    my $dir = tempdir("$prefix-XXXXXX", DIR => $base, CLEANUP => 0);
    chmod 0755, $dir;
    return $dir;
}

sub new {
    my ($class, %o) = @_;
    my $self = bless { opts => \%o }, $class;
    $self->{dir} = stack_dir('bc');
    my %seen;
    for my $n (qw(port redis_port mysql_port sim_port)) {
        my $p;
        do { $p = free_port() } while $seen{$p}++;
        $self->{$n} = $p;
    }
    $self->{env} = {
        BC_VAR     => $self->{dir},
        PORT       => $self->{port},
        REDIS_PORT => $self->{redis_port},
        MYSQL_PORT => $self->{mysql_port},
        SIM_PORT   => $self->{sim_port},
        BC_RECLAIM_IDLE_MS => 2000,
        BC_REQUEST_TIMEOUT_MS => 5000,
        # a test stack writes little: a small redo log and buffer pool
        # keep each MariaDB data dir near 40 MB instead of 600 MB
        BC_MYSQL_EXTRA => '--innodb-log-file-size=24M '
                        . '--innodb-buffer-pool-size=64M',
        %{ $o{env} || {} },
    };
    $self->{ua} = HTTP::Tiny->new(timeout => 30, keep_alive => 1,
        agent => 'bc-test/1');
    push @LIVE, $self;
    Test::More::diag("stack in $self->{dir}") if $ENV{TEST_LEAVE};
    $self->stack('start') == 0 or do {
        $self->dump_logs;
        die "scripts/stack.sh start failed\n";
    };
    $self->{creds} = $self->read_env("$self->{dir}/providers.env");
    return $self;
}

sub dir  { $_[0]{dir} }
sub port { $_[0]{port} }
sub base_url { "http://127.0.0.1:$_[0]{port}" }
sub public_url { $_[0]{env}{BC_PUBLIC_URL} // $_[0]->base_url }
sub sim_url  { "http://127.0.0.1:$_[0]{sim_port}" }
sub creds { $_[0]{creds} }
sub sms_from { $_[0]{creds}{TWILIO_SMS_FROM} }
sub auth_token { $_[0]{creds}{TWILIO_AUTH_TOKEN} }
sub account_sid { $_[0]{creds}{TWILIO_ACCOUNT_SID} }
sub cred { $_[0]{creds}{$_[1]} }
sub whatsapp_from { $_[0]{creds}{TWILIO_WHATSAPP_FROM} }
sub meta_from { 'meta:' . $_[0]{creds}{META_PHONE_NUMBER_ID} }
sub email_from { $_[0]{creds}{SENDGRID_FROM_EMAIL} }
sub meta_app_secret { $_[0]{creds}{META_APP_SECRET} }
sub meta_verify_token { $_[0]{creds}{META_VERIFY_TOKEN} }

sub read_env {
    my ($self, $file) = @_;
    my %h;
    open my $fh, '<', $file or return \%h;
    while (<$fh>) {
        chomp;
        next if /^\s*(#|$)/;
        $h{$1} = $2 if /^\s*([A-Za-z_0-9]+)\s*=\s*(.*?)\s*$/;
    }
    return \%h;
}

# runs scripts/stack.sh with this stack's environment; returns exit code
sub stack {
    my ($self, @args) = @_;
    local %ENV = (%ENV, %{ $self->{env} });
    my $out = `bash $REPO/scripts/stack.sh @args 2>&1`;
    my $rc = $? >> 8;
    $self->{last_stack_output} = $out;
    Test::More::diag($out) if $rc != 0 || $ENV{TEST_VERBOSE_STACK};
    return $rc;
}

sub start { my ($self, @c) = @_; $self->stack('start', @c) }
sub stop  { my ($self, @c) = @_; $self->stack('stop', @c) }

sub pidfile {
    my ($self, $c) = @_;
    my $d = $self->{dir};
    return {
        redis  => "$d/run/redis.pid",
        mysql  => "$d/run/mysqld.pid",
        sim    => "$d/sim/sim.pid",
        sender => "$d/run/sender.pid",
        nginx  => "$d/nginx/logs/nginx.pid",
    }->{$c} // die "unknown component $c";
}

sub pid {
    my ($self, $c) = @_;
    open my $fh, '<', $self->pidfile($c) or return undef;
    my $p = <$fh>;
    return undef unless defined $p && $p =~ /(\d+)/;
    return $1;
}

sub pid_alive {
    my ($p) = @_;
    return 0 unless kill 0, $p;
    # a zombie (exited, not reaped yet) is not alive
    if (open my $fh, '<', "/proc/$p/stat") {
        my $st = <$fh> // '';
        return 0 if $st =~ /^\d+ \(.*\) Z/s;
    }
    return 1;
}

sub alive {
    my ($self, $c) = @_;
    my $p = $self->pid($c) or return 0;
    return pid_alive($p);
}

# kill -SIG by pid file: $t->signal(STOP => 'mysql')
sub signal {
    my ($self, $sig, $c) = @_;
    my $p = $self->pid($c) or die "no pid for $c";
    kill($sig, $p) or die "kill -$sig $c ($p): $!";
    return $p;
}

sub kill9 {
    my ($self, $c) = @_;
    my $p = $self->signal(KILL => $c);
    wait_until(sub { !pid_alive($p) }, 10) or die "$c ($p) survived SIGKILL";
    return 1;
}

# ------------------------------------------------------------------ HTTP

# percent-encodes all but RFC 3986's unreserved characters (as URI::Escape)
sub uri_escape {
    my $s = defined $_[0] ? $_[0] : '';
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

sub form_encode {
    my ($p) = @_;
    my @pairs = ref $p eq 'HASH' ? map { ($_, $p->{$_}) } sort keys %$p : @$p;
    my @out;
    while (my ($k, $v) = splice @pairs, 0, 2) {
        push @out, join '=', map { uri_escape($_) } $k, $v;
    }
    return join '&', @out;
}

# $t->http(METHOD, path, json => $ref | body => $raw | form => \%h,
#          headers => {}, key => $api_key, token => $bearer, ua => $ua)
# returns {status, headers, content, json, reason}
sub http {
    my ($self, $method, $path, %o) = @_;
    my %h = %{ $o{headers} || {} };
    my $body;
    if (exists $o{json}) {
        $body = json_encode($o{json});
        $h{'Content-Type'} //= 'application/json';
    } elsif (exists $o{form}) {
        $body = form_encode($o{form});
        $h{'Content-Type'} //= 'application/x-www-form-urlencoded';
    } elsif (exists $o{body}) {
        $body = $o{body};
        $h{'Content-Type'} //= 'application/json';
    }
    delete $h{'Content-Type'} if $o{no_content_type};
    $h{'X-API-Key'} = $o{key} if defined $o{key};
    $h{'Authorization'} = "Bearer $o{token}" if defined $o{token};
    my $url = $path =~ m{^https?://} ? $path : $self->base_url . $path;
    my $ua = $o{ua} || $self->{ua};
    my $res = $ua->request($method, $url,
        { headers => \%h, defined $body ? (content => $body) : () });
    $res->{json} = json_decode($res->{content})
        if defined $res->{content} && length $res->{content};
    # credentials handed out, for the check that no log holds one
    if (ref $res->{json} eq 'HASH') {
        for my $f (qw(api_key token)) {
            my $v = $res->{json}{$f};
            $self->{handed_out}{$v} = 1 if defined $v && !ref $v && length $v >= 16;
        }
    }
    return $res;
}

# the first line of a file in the stack's secrets/, or undef
sub secret {
    my ($self, $name) = @_;
    open my $fh, '<', "$self->{dir}/secrets/$name" or return undef;
    my $v = <$fh>;
    chomp $v if defined $v;
    return $v;
}

# redis-cli as another ACL user: $t->redis_as([$user, $password], @cmd),
# [undef, undef] for an unauthenticated client; the raw output
sub redis_as {
    my ($self, $who, @cmd) = @_;
    return $self->_redis_cli('--raw', $who, @cmd);
}

# every secret of the stack: the files in secrets/ (provider tokens, keys,
# database passwords, the admin password) and the credentials handed out
sub secrets {
    my ($self) = @_;
    my @s = keys %{ $self->{handed_out} || {} };
    for my $f (glob "$self->{dir}/secrets/*") {
        open my $fh, '<', $f or next;
        my $v = <$fh> // '';
        chomp $v;
        push @s, $v if length $v >= 8;
    }
    return @s;
}

# no log of ours (nginx's, the sender's, the tools', the backends') holds a
# secret; the simulator's log is the providers' side and is left out
sub check_logs_for_secrets {
    my ($self) = @_;
    logs_hold_no_secret($self->{dir}, $self->secrets);
}

# the same check over any stack directory (BC::Cluster's too): every
# nginx*/logs/*.log and log/*.log but the simulator's
sub logs_hold_no_secret {
    my ($dir, @secrets) = @_;
    my @logs = grep { !m{/sim\.log$} } (glob("$dir/nginx*/logs/*.log"), glob("$dir/log/*.log"));
    my @leaks;
    for my $f (@logs) {
        open my $fh, '<', $f or next;
        my $c = do { local $/; <$fh> } // '';
        for my $v (@secrets) {
            push @leaks, sprintf('%s holds %s...', $f, substr($v, 0, 6)) if index($c, $v) >= 0;
        }
    }
    Test::More::ok(!@leaks, sprintf('no secret (%d) in any log (%d files)', scalar @secrets, scalar @logs))
        or Test::More::diag(join "\n", @leaks);
}

# the last n lines of each log that is not empty, as diagnostics
sub diag_log_tails {
    my ($n, @paths) = @_;
    for my $p (@paths) {
        next unless -s $p;
        open my $fh, '<', $p or next;
        my @l = <$fh>;
        splice @l, 0, @l - $n if @l > $n;
        Test::More::diag("--- $p:\n" . join '', @l);
    }
}

sub get  { my ($self, $p, %o) = @_; $self->http(GET => $p, %o) }
sub post { my ($self, $p, %o) = @_; $self->http(POST => $p, %o) }

sub admin_credentials {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/admin.credentials" or die "admin.credentials: $!";
    my $l = <$fh>;
    chomp $l;
    my ($u, $p) = split /:/, $l, 2;
    return ($u, $p);
}

sub login {
    my ($self, $user, $pass) = @_;
    ($user, $pass) = $self->admin_credentials unless defined $user;
    my $r = $self->post('/api/login', json => { username => $user, password => $pass });
    return $r unless wantarray || $r->{status} == 200;
    die "login failed: $r->{status} $r->{content}" unless $r->{status} == 200;
    $self->{token} = $r->{json}{token};
    return $self->{token};
}

sub token { $_[0]{token} // $_[0]->login }

# returns the raw key (and the whole response in list context)
sub create_key {
    my ($self, $scope, $name) = @_;
    my $r = $self->post('/api/keys', token => $self->token,
        json => { name => $name // "test-$scope", scope => $scope });
    die "create_key($scope): $r->{status} $r->{content}"
        unless $r->{status} == 200 || $r->{status} == 201;
    return wantarray ? ($r->{json}{api_key}, $r) : $r->{json}{api_key};
}

sub send_key { $_[0]{send_key} //= $_[0]->create_key('send') }

# $t->send_sms(to => [...] | '+1...', message => '...', key => ..., %extra)
sub send_sms {
    my ($self, %a) = @_;
    my $key = delete $a{key} // $self->send_key;
    my $headers = delete $a{headers};
    my $to = delete $a{to};
    my %body = (recipients => ref $to ? $to : [$to],
                message => delete $a{message} // 'hello', %a);
    return $self->post('/api/send/sms', key => $key, json => \%body,
        $headers ? (headers => $headers) : ());
}

sub status_of {
    my ($self, $id, $key) = @_;
    my $r = $self->get("/api/status/$id", key => $key // $self->send_key);
    return $r->{status} == 200 ? $r->{json} : undef;
}

# the status word of a message, '' when GET /api/status does not answer 200
sub message_status {
    my ($self, $id, $key) = @_;
    return ($self->status_of($id, $key) || {})->{status} // '';
}

# ------------------------------------------------------------------ sync

sub wait_until {
    my ($cb, $timeout, $interval) = @_;
    $timeout //= 30;
    $interval //= 0.05;
    my $deadline = time + $timeout;
    while (1) {
        my $v = $cb->();
        return $v if $v;
        return 0 if time > $deadline;
        sleep $interval;
    }
}

sub elapsed { my ($t0) = @_; time - $t0 }

# ------------------------------------------------------------------ backends

# redis-cli's whole output in mode --raw or --no-raw, without its last
# newline (not chomp: under "local $/" it removes nothing); undef if none
sub _redis_cli {
    my ($self, $mode, @cmd) = @_;
    # as the stack's admin ACL user (the product's user may not do all the
    # tests need); a user => [name, password] option picks another one
    my ($user, $pass) = ('admin', $self->secret('redis_admin.password'));
    ($user, $pass) = @{ shift @cmd } if ref $cmd[0] eq 'ARRAY';
    local $ENV{REDISCLI_AUTH} = $pass if defined $pass;
    open my $fh, '-|', 'redis-cli', '--no-auth-warning',
        (defined $user ? ('--user', $user) : ()),
        '-h', '127.0.0.1', '-p', $self->{redis_port},
        $mode, @cmd or die "redis-cli: $!";
    my $out = do { local $/; <$fh> };
    close $fh;
    $out =~ s/\n\z// if defined $out;
    return $out;
}

sub redis {
    my ($self, @cmd) = @_;
    my $out = $self->_redis_cli('--no-raw', @cmd) // '';
    # plain values: strip (integer) / quotes for single-line replies
    if ($out !~ /\n/) {
        $out =~ s/^\(integer\) //;
        $out =~ s/^"(.*)"$/$1/s;
        $out = undef if $out eq '(nil)';
    }
    return $out;
}

sub redis_raw {
    my ($self, @cmd) = @_;
    return $self->_redis_cli('--raw', @cmd);
}

# entries ever added to a stream (XINFO STREAM entries-added): what was
# queued, unlike XLEN, which the sender's trimming lowers
sub stream_added {
    my ($self, $stream) = @_;
    my $info = $self->redis_raw('XINFO', 'STREAM', $stream // 'bc:{ev}:stream:events') // '';
    return $info =~ /^entries-added\n(\d+)$/m ? 0 + $1 : 0;
}

sub dbh {
    my ($self) = @_;
    require DBI;
    return $self->{dbh} if $self->{dbh} && eval { $self->{dbh}->ping };
    my $sock = "$self->{dir}/mysql/mysql.sock";
    my $user = getpwuid($>) // 'root';
    $self->{dbh} = DBI->connect(
        "DBI:MariaDB:database=broadcast;mariadb_socket=$sock", $user, '',
        { RaiseError => 1, PrintError => 0, AutoCommit => 1,
          mariadb_connect_timeout => 5, mariadb_read_timeout => 10 });
    return $self->{dbh};
}

# rows as hashrefs
sub mysql {
    my ($self, $sql, @bind) = @_;
    my $dbh = $self->dbh;
    return $dbh->selectall_arrayref($sql, { Slice => {} }, @bind);
}

sub mysql_value {
    my ($self, $sql, @bind) = @_;
    my ($v) = $self->dbh->selectrow_array($sql, undef, @bind);
    return $v;
}

sub drop_dbh { delete $_[0]{dbh} }

# a stored value opened with the stack's key file (README "Privacy"):
# bodies, subjects, payloads are sealed at rest; plaintext passes; undef
# stays undef (broadcastctl unseal, no shell)
sub unseal {
    my ($self, $v) = @_;
    return undef unless defined $v;
    my $keys = "$self->{dir}/secrets/encryption.keys";
    return $v unless $v =~ /^\$bce1\$/ && -s $keys;
    my $ctl = ($ENV{BC_BUILD} // "$REPO/build") . '/bin/broadcastctl';
    open my $fh, '-|', $ctl, 'unseal', '--key-file', $keys, $v or die "broadcastctl: $!";
    my $out = do { local $/; <$fh> };
    close $fh;
    $out =~ s/\n\z// if defined $out;
    # characters, as DBD::MariaDB gives a plaintext column
    require Encode;
    return defined $out ? Encode::decode_utf8($out) : undef;
}

# mysql_value, its value opened
sub mysql_open {
    my ($self, $sql, @bind) = @_;
    return $self->unseal($self->mysql_value($sql, @bind));
}

# audit rows (message_events) recorded for one of our messages
sub event_count {
    my ($self, $id) = @_;
    return $self->mysql_value('SELECT COUNT(*) FROM message_events WHERE message_id = ?', $id);
}

# inbound rows stored for a provider's message id
sub inbound_count {
    my ($self, $sid) = @_;
    return $self->mysql_value(q{SELECT COUNT(*) FROM messages WHERE direction = 'inbound' AND provider_message_id = ?}, $sid);
}

sub sim_messages {
    my ($self) = @_;
    my $r = $self->{ua}->get($self->sim_url . '/sim/messages');
    die "GET /sim/messages: $r->{status}" unless $r->{success};
    return json_decode($r->{content})->{messages} || [];
}

sub sim_config {
    my ($self, %c) = @_;
    my $r = $self->{ua}->request(POST => $self->sim_url . '/sim/config',
        { headers => { 'Content-Type' => 'application/json' },
          content => json_encode(\%c) });
    die "POST /sim/config: $r->{status} $r->{content}" unless $r->{success};
    return 1;
}

sub sim_reset {
    my ($self) = @_;
    $self->{ua}->request(POST => $self->sim_url . '/sim/reset');
}

# Twilio's signature: base64(HMAC-SHA1(token, url . sorted(k . v))), padded
sub twilio_sign {
    my ($token, $url, $params) = @_;
    my @pairs = ref $params eq 'HASH'
        ? map { [$_, $params->{$_}] } keys %$params
        : do { my @p = @$params; my @o; push @o, [splice @p, 0, 2] while @p; @o };
    my $data = $url;
    $data .= $_->[0] . $_->[1]
        for sort { $a->[0] cmp $b->[0] || $a->[1] cmp $b->[1] } @pairs;
    my $sig = hmac_sha1_base64($data, $token);
    $sig .= '=' while length($sig) % 4;
    return $sig;
}

# POSTs a signed Twilio status callback for one of our messages
#   $t->callback(mid => $id, sid => 'SM..', status => 'delivered', %extra)
sub callback {
    my ($self, %a) = @_;
    my $mid = delete $a{mid};
    my $sig_url = delete $a{sig_url};
    my $sig = delete $a{signature};
    my $nosig = delete $a{no_signature};
    my $sid = delete $a{sid} // 'SM' . hex32();
    my $status = delete $a{status} // 'delivered';
    my %p = (
        AccountSid => $self->account_sid,
        ApiVersion => '2010-04-01',
        From => $self->sms_from,
        To => '+14155552671',
        MessageSid => $sid, SmsSid => $sid,
        MessageStatus => $status, SmsStatus => $status,
        %a,
    );
    delete $p{$_} for grep { !defined $p{$_} } keys %p;
    my $path = '/webhooks/twilio/sms/status' . (defined $mid ? "?mid=$mid" : '');
    $sig_url //= $self->public_url . $path;
    $sig //= twilio_sign($self->auth_token, $sig_url, \%p);
    return $self->post($path, form => \%p,
        headers => $nosig ? {} : { 'X-Twilio-Signature' => $sig });
}


# ------------------------------------------------------------------ channels

# POST /api/send/whatsapp: $t->send_whatsapp(to => [...], body => '...', ...)
sub send_whatsapp {
    my ($self, %a) = @_;
    my $key = delete $a{key} // $self->send_key;
    my $to = delete $a{to};
    my %body = (recipients => ref $to ? $to : [$to], %a);
    return $self->post('/api/send/whatsapp', key => $key, json => \%body);
}

# POST /api/send/email: $t->send_email(to => [...], subject => '...', text => '...')
sub send_email {
    my ($self, %a) = @_;
    my $key = delete $a{key} // $self->send_key;
    my $to = delete $a{to};
    my %body = (recipients => ref $to ? $to : [$to],
                subject => delete $a{subject} // 'hello',
                %a);
    $body{text} //= 'hello' unless exists $body{html};
    return $self->post('/api/send/email', key => $key, json => \%body);
}

# POST /sim/inbound (JSON args as documented by the simulator)
sub sim_inbound {
    my ($self, %a) = @_;
    my $r = $self->{ua}->request(POST => $self->sim_url . '/sim/inbound',
        { headers => { 'Content-Type' => 'application/json' },
          content => json_encode(\%a) });
    die "POST /sim/inbound: $r->{status} $r->{content}" unless $r->{success};
    return json_decode($r->{content});
}

# a signed Twilio form POST to any /webhooks/twilio/... path;
# $params is a hash or a flat list; returns the response
sub twilio_post {
    my ($self, $path, $params, %o) = @_;
    my $sig_url = $o{sig_url} // $self->public_url . $path;
    my $sig = $o{signature} // twilio_sign($o{token} // $self->auth_token, $sig_url, $params);
    return $self->post($path, form => $params,
        headers => $o{no_signature} ? {} : { 'X-Twilio-Signature' => $sig });
}

# the form Twilio posts for an inbound SMS from $from to our SMS number
sub inbound_sms_params {
    my ($self, $from, $body, $sid) = @_;
    return { AccountSid => $self->account_sid, ApiVersion => '2010-04-01', Body => $body,
             From => $from, To => $self->sms_from, MessageSid => $sid, SmsMessageSid => $sid,
             SmsSid => $sid, SmsStatus => 'received', NumMedia => '0', NumSegments => '1' };
}

# a fresh unique inbound SMS (from +14155550499), waited for: the recorder
# applies the events stream in order, so every webhook event accepted
# before it has been applied once it is stored (two tests)
sub barrier {
    my ($self) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $sid = 'SM' . hex32();
    my $n = ++$self->{barriers};
    my $r = $self->twilio_post('/webhooks/twilio/sms/inbound',
        $self->inbound_sms_params('+14155550499', "barrier $n", $sid));
    Test::More::is($r->{status}, 200, "barrier $n: inbound SMS 200");
    Test::More::ok(wait_until(sub { $self->inbound_count($sid) }, 30, 0.1), "barrier $n: applied");
}

# Meta: X-Hub-Signature-256 = "sha256=" . hex HMAC-SHA256(app secret, body)
sub meta_sign {
    my ($secret, $body) = @_;
    return 'sha256=' . hmac_sha256_hex($body, $secret);
}

# POSTs a raw (or JSON-encoded) body to /webhooks/meta, signed unless told
sub meta_post {
    my ($self, $body, %o) = @_;
    $body = json_encode($body) if ref $body;
    my $sig = $o{signature} // meta_sign($o{secret} // $self->meta_app_secret, $body);
    return $self->post($o{path} // '/webhooks/meta', body => $body,
        headers => { 'Content-Type' => 'application/json',
                     $o{no_signature} ? () : ('X-Hub-Signature-256' => $sig) });
}

# a Meta notification envelope around one "value"
sub meta_envelope {
    my ($self, %v) = @_;
    return {
        object => 'whatsapp_business_account',
        entry => [{
            id => $self->cred('META_WABA_ID'),
            changes => [{ field => 'messages', value => {
                messaging_product => 'whatsapp',
                metadata => {
                    display_phone_number => $self->cred('META_DISPLAY_PHONE_NUMBER'),
                    phone_number_id => $self->cred('META_PHONE_NUMBER_ID'),
                },
                %v,
            } }],
        }],
    };
}

# a Meta status notification for one of our wamids
sub meta_status_body {
    my ($self, $wamid, $status, $wa_id, %x) = @_;
    my %st = (id => $wamid, status => $status, timestamp => '' . int(time),
              recipient_id => $wa_id, %x);
    return $self->meta_envelope(statuses => [\%st]);
}

my %SG_PEM;    # private key base64 -> temp PEM path

# SendGrid: base64(DER ECDSA-SHA256(private key, timestamp . body)), signed
# by `openssl dgst` with the simulator's PKCS#8 key from providers.env
sub sendgrid_sign {
    my ($priv_b64, $ts, $body, $dir) = @_;
    $dir //= File::Spec->tmpdir;
    my $pem = $SG_PEM{$priv_b64} //= do {
        my $p = File::Temp->new(DIR => $dir, SUFFIX => '.pem', UNLINK => 1);
        my $b = $priv_b64;
        $b =~ s/\s+//g;
        print $p "-----BEGIN PRIVATE KEY-----\n";
        print $p "$1\n" while $b =~ /(.{1,64})/g;
        print $p "-----END PRIVATE KEY-----\n";
        close $p;
        $p;
    };
    my $data = File::Temp->new(DIR => $dir, UNLINK => 1);
    binmode $data;
    print $data $ts . $body;
    close $data;
    open my $fh, '-|', 'openssl', 'dgst', '-sha256', '-sign', "$pem", "$data"
        or die "openssl: $!";
    binmode $fh;
    local $/;
    my $sig = <$fh>;
    close $fh or die "openssl dgst -sign failed";
    return encode_base64($sig, '');
}

sub sendgrid_private_key { $_[0]{creds}{SENDGRID_WEBHOOK_PRIVATE_KEY} }

# POSTs an Event Webhook batch (array ref or raw JSON) to /webhooks/sendgrid;
# ts => epoch seconds (default now), signature => override, no_signature => 1
sub sendgrid_post {
    my ($self, $events, %o) = @_;
    my $body = ref $events ? json_encode($events) . "\r\n" : $events;
    my $ts = $o{ts} // int(time);
    my $sig = $o{signature}
        // sendgrid_sign($self->sendgrid_private_key, $ts, $body, $self->{dir});
    return $self->post($o{path} // '/webhooks/sendgrid', body => $body,
        headers => { 'Content-Type' => 'application/json',
            'X-Twilio-Email-Event-Webhook-Timestamp' => $ts,
            $o{no_signature} ? () : ('X-Twilio-Email-Event-Webhook-Signature' => $sig) });
}

# messages rows (all columns) for a condition
sub message_rows {
    my ($self, $where, @bind) = @_;
    return $self->mysql("SELECT * FROM messages WHERE $where ORDER BY id", @bind);
}

# waits until every id has one of the statuses (regex); returns hash id => json
sub wait_status {
    my ($self, $ids, $re, $timeout, $key) = @_;
    my %done;
    wait_until(sub {
        for my $id (@$ids) {
            next if $done{$id};
            my $s = $self->status_of($id, $key) or next;
            $done{$id} = $s if ($s->{status} // '') =~ $re;
        }
        keys %done == @$ids;
    }, $timeout // 30, 0.1);
    return \%done;
}

sub metrics {
    my ($self) = @_;
    my $r = $self->get('/metrics');
    return $r->{content} // '';
}

# sum of a metric's samples matching an optional label regex
sub metric {
    my ($self, $name, $label_re, $text) = @_;
    $text //= $self->metrics;
    my $sum;
    for my $l (split /\n/, $text) {
        next if $l =~ /^#/;
        next unless $l =~ /^\Q$name\E(\{[^}]*\})?\s+([-+0-9.eE]+)/;
        my ($labels, $v) = ($1 // '', $2);
        next if defined $label_re && $labels !~ $label_re;
        $sum += $v;
    }
    return $sum;
}

sub error_log {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/nginx/logs/error.log" or return '';
    local $/;
    return <$fh> // '';
}

sub dump_logs {
    my ($self) = @_;
    diag_log_tails(30, map { "$self->{dir}/$_" } "nginx/logs/error.log", "log/sender.log",
                   "log/sim.log", "log/mysqld.log", "log/broadcastctl.log");
}

# stops the stack; fails the test if nginx logged alert/crit/emerg
sub teardown {
    my ($self, $died) = @_;
    return if $self->{down}++;
    @LIVE = grep { $_ != $self } @LIVE;
    # resume anything a test left stopped so it can exit
    for my $c (qw(mysql redis sender sim nginx)) {
        my $p = $self->pid($c);
        kill 'CONT', $p if $p;
    }
    $self->{dbh}->disconnect if $self->{dbh};
    delete $self->{dbh};
    $self->stack('stop');
    my $log = $self->error_log;
    my @bad = grep { /\[(alert|crit|emerg)\]/ } split /\n/, $log;
    Test::More::ok(!@bad, 'nginx error.log has no [alert], [crit] or [emerg]')
        or Test::More::diag(join "\n", @bad[0 .. ($#bad < 19 ? $#bad : 19)]);
    $self->check_logs_for_secrets;
    my $passing = !$died && Test::More->builder->is_passing;
    $self->dump_logs unless $passing;
    return if $ENV{TEST_LEAVE};
    if ($passing) {
        rmtree($self->{dir});
    } else {
        rmtree("$self->{dir}/mysql/data");
    }
}

sub done {
    my ($self) = @_;
    $self->teardown;
    Test::More::done_testing();
}

END {
    my $died = $?;    # the file died before done(): keep its logs
    for my $s (@LIVE) {
        local $?;
        eval { $s->teardown($died) };
    }
}

1;
