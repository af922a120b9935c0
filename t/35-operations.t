#!/usr/bin/perl
# Operations: every metric name of the predecessor exporter with its labels
# and values (deduplicated, bounded error codes), the sender's own metrics
# (latency histogram, heartbeat, oldest queued message), a strictly valid
# exposition, and deploy/: alert rules and dashboard only name served
# metrics, promtool accepts the rules and the live scrape, the systemd unit
# is hardened.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $REPO = "$FindBin::Bin/..";
my $t = BC::Test->new;

# the sender calls the simulator; status callbacks are ours alone
$t->sim_config(callback_delay_ms => 3600000);

# ------------------------------------------------------------ traffic

my @to = map { sprintf '+1415555%04d', 3500 + $_ } 1 .. 6;
my $r = $t->send_sms(to => \@to, message => 'operations');
is($r->{status}, 202, 'six SMS accepted') or diag $r->{content};
my @ids = map { $_->{id} } @{ $r->{json}{messages} || [] };
is(scalar @ids, 6, 'six message ids');

# bodies are sealed at rest: the rows are found by their recipients
my $accepted_sql = q{SELECT COUNT(*) FROM messages WHERE to_address BETWEEN '+14155553501'
    AND '+14155553506' AND provider_message_id LIKE 'SM%'};
ok(wait_until(sub { $t->mysql_value($accepted_sql) == 6 }, 30, 0.1),
   'the sender handed all six to Twilio');

my %sid = map { $_ => $t->mysql_value(
    'SELECT provider_message_id FROM messages WHERE id = ?', $_) } @ids;

sub cb {
    my ($i, $status, %extra) = @_;
    my $res = $t->callback(mid => $ids[$i], sid => $sid{ $ids[$i] },
                           status => $status, %extra);
    is($res->{status}, 200, "callback $status for message $i") or diag $res->{content};
}

cb(0, 'sent');
cb(0, 'delivered');
cb(1, 'delivered');
cb(2, 'delivered');
cb(2, 'delivered');                           # Twilio's retry: counted once
cb(3, 'failed', ErrorCode => '30003');
cb(4, 'undelivered', ErrorCode => '30005');
cb(5, 'failed');                              # no ErrorCode: "unknown"

# failures of messages not ours, each with its own code: 12 codes fill the
# label slots (14 after "unknown"; 30003 and 30005 hold two), the rest and
# a code that is no label value are "other"
my @codes = map { 31000 + $_ } 0 .. 19;
for my $code (@codes, 'x y') {
    my $res = $t->callback(status => 'failed', ErrorCode => $code);
    is($res->{status}, 200, "failed callback ErrorCode $code");
}

my $forged = $t->callback(mid => $ids[1], sid => $sid{ $ids[1] },
                          status => 'failed', signature => 'AAAA');
is($forged->{status}, 403, 'a forged status callback is refused');

# calls: A rings, connects, completes (and Twilio retries the last one);
# B fails, C is busy, D is not answered, E is still ringing
sub call_cb {
    my ($sid, $status) = @_;
    my %p = (AccountSid => $t->account_sid, ApiVersion => '2010-04-01',
             CallSid => $sid, CallStatus => $status, Direction => 'outbound-api',
             From => $t->sms_from, To => '+14155550601',
             CallbackSource => 'call-progress-events');
    my $res = $t->twilio_post('/webhooks/twilio/call', \%p);
    is($res->{status}, 200, "call $sid $status") or diag $res->{content};
}
my %call = map { $_ => 'CA' . hex32() } qw(A B C D E);
call_cb($call{A}, $_) for qw(ringing in-progress completed completed);
call_cb($call{B}, 'failed');
call_cb($call{C}, 'busy');
call_cb($call{D}, 'no-answer');
call_cb($call{E}, 'ringing');

# the recorder applies the statuses; the gauge reads them from MySQL
my $final_sql = q{SELECT COUNT(*) FROM messages WHERE to_address BETWEEN '+14155553501'
    AND '+14155553506' AND status IN ('delivered', 'failed', 'undelivered')};
ok(wait_until(sub { $t->mysql_value($final_sql) == 6 }, 30, 0.1),
   'all six messages reached their final status in MySQL');

# the sender flushes its counters once per turn
my $text;
ok(wait_until(sub {
    $text = $t->metrics;
    ($t->metric('broadcast_provider_latency_seconds_count',
                qr/provider="twilio"/, $text) // 0) == 6;
}, 20, 0.1), 'six Twilio calls in the latency histogram') or diag $text;

sub mv { $t->metric($_[0], $_[1], $text) // 'absent' }

# ------------------------------------------------------------ the exporter's names

is(mv('twilio_messages_delivered_total'), 3, 'twilio_messages_delivered_total: 3, the retry not counted');
is(mv('twilio_message_callback_total', qr/status="delivered"/), 3, 'twilio_message_callback_total{status="delivered"} 3');
is(mv('twilio_message_callback_total', qr/status="sent"/), 1, 'twilio_message_callback_total{status="sent"} 1');
is(mv('twilio_message_callback_total', qr/status="failed"/), 23, 'twilio_message_callback_total{status="failed"} 23');
is(mv('twilio_message_callback_total', qr/status="undelivered"/), 1, 'twilio_message_callback_total{status="undelivered"} 1');

is(mv('twilio_messages_failed_total', qr/error_code="30003"/), 1, 'failed{error_code="30003"} 1');
is(mv('twilio_messages_failed_total', qr/error_code="30005"/), 1, 'failed{error_code="30005"} 1 (undelivered counts)');
is(mv('twilio_messages_failed_total', qr/error_code="unknown"/), 1, 'failed{error_code="unknown"} 1 (no ErrorCode)');
is(mv('twilio_messages_failed_total', qr/error_code="$_"/), 1, "failed{error_code=\"$_\"} 1")
    for @codes[0 .. 11];
is(mv('twilio_messages_failed_total', qr/error_code="$_"/), 'absent', "error_code=\"$_\" has no series of its own")
    for @codes[12 .. 19];
is(mv('twilio_messages_failed_total', qr/error_code="other"/), 9, 'failed{error_code="other"} 9: the codes past the cap and an odd one');
my @series = $text =~ /^twilio_messages_failed_total\{/mg;
is(scalar @series, 16, 'twilio_messages_failed_total has at most 16 series');
is(mv('twilio_messages_failed_total'), 24, 'every failed or undelivered callback counted once');

# the gauge is MySQL's view: the Twilio messages of the last day by status
my %db = map { $_->[0] => $_->[1] } @{ $t->dbh->selectall_arrayref(
    q{SELECT status, COUNT(*) FROM messages WHERE provider = 'twilio'
      AND created_at >= UTC_TIMESTAMP(3) - INTERVAL 1 DAY GROUP BY status}) };
is(mv('twilio_message_status_gauge', qr/status="delivered"/), $db{delivered}, "status gauge delivered = MySQL ($db{delivered})");
is(mv('twilio_message_status_gauge', qr/status="failed"/), $db{failed}, "status gauge failed = MySQL ($db{failed})");
is(mv('twilio_message_status_gauge', qr/status="undelivered"/), $db{undelivered}, 'status gauge undelivered = MySQL');
is(mv('twilio_message_status_gauge'), 6, 'status gauge: six Twilio messages today');

is(mv('twilio_call_callback_total', qr/status="completed"/), 1, 'call completed counted once (the retry deduplicated)');
is(mv('twilio_call_callback_total', qr/status="ringing"/), 2, 'call ringing 2');
is(mv('twilio_call_callback_total', qr/status="in-progress"/), 1, 'call in-progress 1');
is(mv('twilio_calls_completed_total'), 1, 'twilio_calls_completed_total 1');
is(mv('twilio_calls_failed_total', qr/disconnect_reason="$_"/), 1, "twilio_calls_failed_total{disconnect_reason=\"$_\"} 1")
    for qw(failed busy no-answer);
is(mv('twilio_call_status_gauge', qr/status="ringing"/), 1, 'call status gauge: one call still ringing');
is(mv('twilio_call_status_gauge', qr/status="in-progress"/), 0, 'call status gauge: the connected call moved on');
is(mv('twilio_call_status_gauge', qr/status="$_"/), 1, "call status gauge: $_ 1")
    for qw(completed failed busy no-answer);
is(mv('broadcast_campaigns_running'), $t->mysql_value(q{SELECT COUNT(*) FROM campaigns WHERE status = 'running'}),
   'broadcast_campaigns_running = MySQL');
is(mv('broadcast_campaign_recipients_pending'), 0, 'broadcast_campaign_recipients_pending 0: no campaign');
is(mv('broadcast_signature_failures_total', qr/provider="twilio"/), 1, 'the forged callback counted as a signature failure');

# ------------------------------------------------------------ the sender's metrics

my @le = qw(0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 +Inf);
my @buckets = map { mv('broadcast_provider_latency_seconds_bucket', qr/provider="twilio",le="\Q$_\E"/) } @le;
is(scalar(grep { $_ eq 'absent' } @buckets), 0, 'every latency bucket is served') or diag "@buckets";
ok(!grep({ $buckets[$_] < $buckets[$_ - 1] } 1 .. $#buckets), 'buckets are cumulative') or diag "@buckets";
is($buckets[-1], 6, 'the +Inf bucket is the count');
ok(mv('broadcast_provider_latency_seconds_sum', qr/provider="twilio"/) > 0, 'latency sum > 0');
is(mv('broadcast_provider_calls_total', qr/provider="twilio"/), 6, 'provider calls: six, as many as latencies');
my $hb = mv('broadcast_sender_heartbeat_timestamp_seconds');
ok($hb ne 'absent' && abs(time - $hb) <= 30, "sender heartbeat is recent ($hb)");
is(mv('broadcast_queue_oldest_age_seconds', qr/queue="send"/), 0, 'send queue: nothing waiting');

# a message waits while the sender is down: the oldest age grows
is($t->stop('sender'), 0, 'sender stopped');
$r = $t->send_sms(to => '+14155553600', message => 'waiting');
is($r->{status}, 202, 'an SMS accepted while the sender is down');
ok(wait_until(sub {
    ($t->metric('broadcast_queue_oldest_age_seconds', qr/queue="send"/) // 0) >= 1
}, 10, 0.1), 'its age shows in broadcast_queue_oldest_age_seconds{queue="send"}');
is($t->start('sender'), 0, 'sender started');
ok(wait_until(sub {
    $t->metric('broadcast_queue_oldest_age_seconds', qr/queue="send"/) == 0
}, 20, 0.1), 'the age is back to 0 once it is sent');

# ------------------------------------------------------------ a strict exposition

$text = $t->metrics;
my (%type, %seen, @errors, $family);
my %served;
for my $l (split /\n/, $text) {
    if ($l =~ /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S/) {
        push @errors, "HELP $1 twice" if $type{$1} || $seen{"help $1"}++;
        next;
    }
    if ($l =~ /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/) {
        push @errors, "TYPE $1 twice" if $type{$1};
        $type{$1} = $2;
        $family = $1;
        next;
    }
    if ($l =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,(?!\}))?)*\})? (-?[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?|\+Inf|NaN)$/) {
        my ($name, $labels) = ($1, $2 // '');
        # a histogram's series carry suffixes of its family's name
        (my $stem = $name) =~ s/_(?:bucket|sum|count)$//;
        my $base = ($type{$stem} // '') eq 'histogram' ? $stem : $name;
        push @errors, "$name outside its family ($family)" unless defined $family && $base eq $family;
        push @errors, "$name$labels twice" if $seen{"$name$labels"}++;
        $served{$name} = 1;
        next;
    }
    push @errors, "not exposition: $l";
}
is_deeply(\@errors, [], 'the scrape is valid text format 0.0.4: families contiguous, no duplicate series');

my %exporter = (
    twilio_message_callback_total => 'status', twilio_message_status_gauge => 'status',
    twilio_call_callback_total => 'status', twilio_call_status_gauge => 'status',
    twilio_messages_delivered_total => undef, twilio_messages_failed_total => 'error_code',
    twilio_calls_completed_total => undef, twilio_calls_failed_total => 'disconnect_reason',
);
for my $m (sort keys %exporter) {
    my $want = $exporter{$m};
    my @lines = $text =~ /^(\Q$m\E(?:\{[^}]*\})?) /mg;
    ok(@lines, "$m is served");
    my @bad = grep { defined $want ? !/^\Q$m\E\{\Q$want\E="[^"]*"\}$/ : /\{/ } @lines;
    is_deeply(\@bad, [], "$m labels: " . ($want // 'none'));
    like($type{$m} // '', $m =~ /gauge$/ ? qr/^gauge$/ : qr/^counter$/, "$m TYPE");
}
is($type{broadcast_provider_latency_seconds}, 'histogram', 'the latency is a histogram');

# ------------------------------------------------------------ deploy/

sub slurp { open my $fh, '<', $_[0] or die "$_[0]: $!"; local $/; <$fh> }

# every metric name in an expression (ours are twilio_* and broadcast_*)
sub names_in { my %n = map { $_ => 1 } $_[0] =~ /\b((?:twilio|broadcast)_[a-z0-9_]+)\b/g; keys %n }

my $alerts = slurp("$REPO/deploy/prometheus/alerts.yml");
my @exprs = $alerts =~ /^\s+expr:\s*(\|\n(?:\s{10,}.*\n)+|.*\n)/mg;
ok(@exprs >= 9, scalar(@exprs) . ' alert expressions');
for my $alert (qw(LowMessageDeliveryRate MessageSendingFailures HighCallFailureRate
                  QueueStale SenderDown WebhookSignatureFailures)) {
    like($alerts, qr/^\s+- alert: $alert$/m, "alert $alert");
}
my @missing = grep { !$served{$_} } map { names_in($_) } @exprs;
is_deeply(\@missing, [], 'every metric the alerts name is served by /metrics');

my $dash = json_decode(slurp("$REPO/deploy/grafana/broadcast.json"));
ok($dash && @{ $dash->{panels} || [] } >= 10, 'the dashboard parses, ' . scalar(@{ $dash->{panels} || [] }) . ' panels');
my @dexprs = map { map { $_->{expr} } @{ $_->{targets} || [] } } @{ $dash->{panels} || [] };
@missing = grep { !$served{$_} } map { names_in($_) } @dexprs;
is_deeply(\@missing, [], 'every metric the dashboard names is served by /metrics');
my %dnames = map { $_ => 1 } map { names_in($_) } @dexprs;
ok($dnames{$_}, "the dashboard shows $_") for sort keys %exporter;

SKIP: {
    my $promtool = `command -v promtool 2>/dev/null`;
    chomp $promtool;
    skip 'promtool is not installed (make deps installs it)', 2 unless $promtool;
    my $out = `$promtool check rules $REPO/deploy/prometheus/alerts.yml 2>&1`;
    is($?, 0, 'promtool check rules deploy/prometheus/alerts.yml') or diag $out;
    my $file = $t->dir . '/scrape.txt';
    open my $fh, '>', $file or die $!;
    print $fh $text;
    close $fh;
    $out = `$promtool check metrics < $file 2>&1`;
    # its only lint: the exporter's gauge names, kept for compatibility
    my @findings = grep { !/^twilio_(?:call|message)_status_gauge metric name should not include type 'gauge'$/ }
                   split /\n/, $out;
    is_deeply(\@findings, [], 'promtool check metrics: the live scrape parses, no lint but the exporter names');
}

my $unit = slurp("$REPO/deploy/systemd/broadcast-sender.service");
like($unit, qr/^$_$/m, "unit: $_")
    for 'Restart=always', 'User=broadcast', 'NoNewPrivileges=yes', 'ProtectSystem=strict',
        'PrivateTmp=yes', 'ProtectHome=yes', 'CapabilityBoundingSet=',
        'ExecStart=/usr/local/bin/broadcast-sender --config /etc/broadcast/sender.conf';
SKIP: {
    my $sa = `command -v systemd-analyze 2>/dev/null`;
    chomp $sa;
    skip 'no systemd-analyze', 1 unless $sa;
    # verify wants the binary: point a copy at the one just built
    my $copy = $t->dir . '/broadcast-sender.service';
    (my $u = $unit) =~ s{/usr/local/bin/broadcast-sender}{$REPO/build/bin/broadcast-sender};
    open my $fh, '>', $copy or die $!;
    print $fh $u;
    close $fh;
    my $out = `$sa verify $copy 2>&1`;
    is($?, 0, 'systemd-analyze verify accepts the unit') or diag $out;
}

$t->done;
