#!/usr/bin/perl
# Pacing shared by every sender process (sender/ratelimit*.c): two senders
# on one Meta number limited to 20 messages/s send, between them, 20 a
# second (the simulator's own limit of 20/s never answers 429), each
# holding its own half of the work the whole time; and Twilio's rate counts
# segments, so 2-segment SMS go out at half the rate of 1-segment ones.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time);
use BC::Test qw(:all);

my $META_RATE = 20;       # meta_rate_per_sender, and the simulator's limit
my $SEGMENT_RATE = 10;    # rate_per_sender: Twilio segments/s
my $PER_SENDER = 80;      # Meta messages each sender holds
my $TIER = 6;             # meta_messaging_limits: unique users per 24 h

my $t = BC::Test->new;
my $key = $t->create_key('send');
my $repo = "$FindBin::Bin/..";
my $bin = ($ENV{BC_BUILD} // "$repo/build") . '/bin/broadcast-sender';

# ------------------------------------------------------------ two senders
# The stack's sender is replaced by two of our own on one configuration but
# for the consumer name (stack.sh runs one; a second process is the point).
my %pid;
sub sender_conf {
    my ($name) = @_;
    open my $in, '<', $t->dir . '/sender.conf' or die "sender.conf: $!";
    my @lines = grep { !/^\s*(consumer|rate_per_sender|meta_rate_per_sender|campaigns)\s*=/ } <$in>;
    close $in;
    my $file = $t->dir . "/sender-$name.conf";
    open my $out, '>', $file or die "$file: $!";
    # one dispatcher is enough (the pause below)
    print $out @lines, "consumer = $name\n", "rate_per_sender = $SEGMENT_RATE\n",
        "meta_rate_per_sender = $META_RATE\n",
        "meta_messaging_limits = " . ($t->meta_from =~ s/^meta://r) . ":$TIER, *:unlimited\n",
        'campaigns = ' . ($name eq 'rate-a' ? 'on' : 'off') . "\n";
    close $out;
    chmod 0600, $file;
    return $file;
}
sub start_sender {
    my ($name) = @_;
    my $conf = sender_conf($name);
    my $log = $t->dir . "/log/sender-$name.log";
    my $p = fork // die "fork: $!";
    if ($p == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        exec $bin, '--config', $conf or POSIX::_exit(127);
    }
    $pid{$name} = $p;
}
sub stop_senders {
    kill 'TERM', values %pid;
    for my $name (keys %pid) {
        my $p = delete $pid{$name};
        wait_until(sub { waitpid($p, WNOHANG) != 0 }, 20, 0.05) or do {
            kill 'KILL', $p;
            waitpid $p, 0;
        };
    }
}
END { stop_senders() if %pid }

is($t->stop('sender'), 0, "the stack's sender stopped");
$t->sim_reset;

# ------------------------------------------------------------ Meta, shared
# Each sender is given its half up front: the entries are read into its
# consumer's pending list before it starts (it reads its own pending
# entries first), so both hold work for the whole run and only the shared
# bucket keeps them to 20/s together.
my $from = $t->meta_from;
my $tpl = { name => 'hello_world', language => { code => 'en_US' } };
$t->sim_config(meta_rate => $META_RATE);
my %owner;
for my $name (qw(rate-a rate-b)) {
    my $base = $name eq 'rate-a' ? 3000 : 4000;
    my @to = map { sprintf '+1415556%04d', $base + $_ } 1 .. $PER_SENDER;
    my $r = $t->send_whatsapp(key => $key, to => \@to, from_address => $from, template => $tpl);
    is($r->{status}, 202, "$PER_SENDER Meta messages for $name accepted") or diag $r->{content};
    my $got = $t->redis_raw('XREADGROUP', 'GROUP', 'senders', $name, 'COUNT',
        $PER_SENDER, 'STREAMS', 'bc:{q}:stream:send', '>') // '';
    my $n = () = $got =~ /"channel":"whatsapp"/g;
    is($n, $PER_SENDER, "$name holds its $PER_SENDER entries");
    $owner{$_} = $name for @to;
}
my $t0 = time;
start_sender($_) for qw(rate-a rate-b);

my $total = 2 * $PER_SENDER;
my @meta;
ok(wait_until(sub {
    @meta = sort { $a->{created_ms} <=> $b->{created_ms} }
            grep { ($_->{provider} // '') eq 'meta' } @{ $t->sim_messages };
    @meta >= $total;
}, 60, 0.2), "the simulator received all $total Meta messages") or diag scalar(@meta);
my %seen;
$seen{ $_->{to} }++ for @meta;
is(scalar(grep { $seen{$_} != 1 } keys %seen), 0, 'each exactly once');

# the rate over the run, past the bucket's first burst (a fifth of a second)
my $skip = 10;
my $span = ($meta[-1]{created_ms} - $meta[$skip]{created_ms}) / 1000;
my $rate = $span > 0 ? ($#meta - $skip) / $span : 0;
ok(abs($rate - $META_RATE) <= 0.05 * $META_RATE,
   sprintf('two senders together: %.2f msgs/s (%d within ±5%%)', $rate, $META_RATE));
ok(elapsed($t0) >= ($total - $META_RATE / 5) / $META_RATE - 0.5,
   sprintf('the run took %.1f s, not half of it', elapsed($t0)));
my $throttled = (json_decode($t->{ua}->get($t->sim_url . '/sim/health')->{content}) // {})->{throttled};
is($throttled, 0, "the simulator's own limit of $META_RATE/s answered no 429");

# both worked throughout: each sender's messages are spread over the run
for my $name (qw(rate-a rate-b)) {
    my @idx = grep { ($owner{ '+' . ($meta[$_]{to} =~ s/^\+//r) } // '') eq $name } 0 .. $#meta;
    my $first_q = grep { $_ < $total / 4 } @idx;
    my $last_q = grep { $_ >= 3 * $total / 4 } @idx;
    ok($first_q >= 5 && $last_q >= 5,
       "$name sent in the first quarter ($first_q) and the last ($last_q)");
}
my $failed = $t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE provider='meta' AND status IN ('failed','undelivered')});
is($failed, 0, 'no Meta message failed (held entries were not reclaimed as lost)');

# ------------------------------------------------------------ Twilio segments
# 1-segment, then 2-segment SMS from one sender: the same count of messages
# takes twice as long at 10 segments/s
sub sms_span {
    my ($tag, $body, $n) = @_;
    my @to = map { sprintf '+1415557%04d', ($tag eq 'one' ? 1000 : 2000) + $_ } 1 .. $n;
    my $r = $t->send_sms(key => $key, to => \@to, message => $body);
    is($r->{status}, 202, "$n SMS ($tag segment) accepted") or diag $r->{content};
    my %mine = map { $_ => 1 } @to;
    my @got;
    ok(wait_until(sub {
        @got = sort { $a <=> $b } map { $_->{created_ms} }
               grep { $mine{ $_->{to} // '' } } @{ $t->sim_messages };
        @got >= $n;
    }, 60, 0.2), "all $n ($tag) reached the simulator");
    return ($got[-1] - $got[2]) / 1000 / ($n - 3);    # s per message, past the burst
}
my $n = 30;
my $one = sms_span('one', 'rate one', $n);
my $two = sms_span('two', 'x' x 200, $n);
ok(abs($one - 1 / $SEGMENT_RATE) <= 0.1 / $SEGMENT_RATE,
   sprintf('1-segment SMS every %.0f ms (%d segments/s)', 1000 * $one, $SEGMENT_RATE));
my $ratio = $one > 0 ? $two / $one : 0;
ok($ratio >= 1.8 && $ratio <= 2.2,
   sprintf('2-segment SMS take %.2f times as long each', $ratio));

# ------------------------------------------------------------ pause on a paced lane
# The dispatcher queues a whole campaign at once (no campaign rate), but the
# senders claim only a quarter of a second of the lane's rate each: a pause
# stops the rest within a second instead of after every claimed message.
my $manage = $t->create_key('manage');
my @pr = map { sprintf '+1415558%04d', $_ } 1 .. 40;
for my $i (0 .. $#pr) {
    my $r = $t->post('/api/contacts', key => $manage,
        json => { name => "P$i", phone => $pr[$i], tags => ['paced'] });
    $r->{status} == 201 or diag "contact: $r->{status} $r->{content}";
}
my $c = $t->post('/api/campaigns', key => $manage, json => { name => 'paced', channel => 'sms',
    content => { message => 'paced {{name}}' }, audience => { tags => ['paced'] } });
is($c->{status}, 201, 'campaign created') or diag $c->{content};
my $cid = $c->{json}{id} // 0;
my %is_pr = map { $_ => 1 } @pr;
sub pr_sent { [grep { $is_pr{ $_->{to} // '' } } @{ $t->sim_messages }] }
is($t->post("/api/campaigns/$cid/start", key => $manage)->{status}, 200, 'started');
ok(wait_until(sub { @{ pr_sent() } >= 8 }, 30, 0.05), 'the campaign is sending');
is($t->post("/api/campaigns/$cid/pause", key => $manage)->{status}, 200, 'paused');
my $paused_ms = time * 1000;
sleep 2.5;    # watching for sends that should not happen
my $late = grep { $_->{created_ms} > $paused_ms + 1000 } @{ pr_sent() };
is($late, 0, 'no message reached the simulator more than 1 s after the pause');
my $n_paused = @{ pr_sent() };
ok($n_paused < 30, "the pause held back the rest ($n_paused of 40 sent)");
is($t->post("/api/campaigns/$cid/resume", key => $manage)->{status}, 200, 'resumed');
ok(wait_until(sub { @{ pr_sent() } >= 40 }, 60, 0.1), 'the resumed campaign sent the rest');
my %once;
$once{ $_->{to} }++ for @{ pr_sent() };
is(scalar(grep { ($once{$_} // 0) != 1 } @pr), 0, 'every recipient exactly once');

# ------------------------------------------------------------ Meta's messaging limit
# A Meta template campaign to 10 users on a number limited to 6 unique
# users a day: 6 are sent, the campaign stays running with a hold that
# says why, the rest wait (pending); a second campaign to the 6 already
# reached costs nothing and completes; once the window has moved on (the
# set's entries aged through Redis), the first campaign finishes by itself.
# The direct sends above went out before the limit was counted: the count
# is the campaigns' (DESIGN.md).
my @wa = map { sprintf '+1415559%04d', $_ } 1 .. 10;
for my $i (0 .. $#wa) {
    my $r = $t->post('/api/contacts', key => $manage, json => { name => "W$i",
        phone => $wa[$i], whatsapp => $wa[$i], tags => [$i < $TIER ? 'tier-first' : 'tier-rest', 'tier'] });
    $r->{status} == 201 or diag "contact: $r->{status} $r->{content}";
}
sub tier_campaign {
    my ($tag) = @_;
    my $r = $t->post('/api/campaigns', key => $manage, json => { name => "tier $tag", channel => 'whatsapp',
        from => $from, content => { template => { name => 'hello_world', language => 'en_US' } },
        audience => { tags => [$tag] },
        never_repeat_template => JSON::PP::false });
    is($r->{status}, 201, "Meta campaign to '$tag' created") or diag $r->{content};
    my $id = $r->{json}{id} // 0;
    is($t->post("/api/campaigns/$id/start", key => $manage)->{status}, 200, "'$tag' started");
    return $id;
}
sub camp { $t->get("/api/campaigns/$_[0]", key => $manage)->{json} // {} }
my %is_wa = map { $_ => 1 } @wa;
sub wa_sent { [grep { $is_wa{ '+' . (($_->{to} // '') =~ s/^\D+//r) } } @{ $t->sim_messages }] }
my $ct = tier_campaign('tier');
my $held;
ok(wait_until(sub { $held = camp($ct); $held->{hold} }, 30, 0.1), 'the campaign is held at the limit')
    or diag explain $held;
is($held->{status}, 'running', 'held, still running');
is($held->{hold}{reason}, 'meta_tier_limit', 'the hold says why (meta_tier_limit)');
like($held->{hold}{message} // '', qr/limit of $TIER unique users in 24 hours/, 'in words');
like($held->{hold}{until} // '', qr/^\d{4}-\d\d-\d\dT/, 'and when a slot frees');
ok(wait_until(sub { @{ wa_sent() } >= $TIER }, 30, 0.1), "$TIER users reached");
sleep 1;    # watching for a seventh that must not come
is(scalar @{ wa_sent() }, $TIER, "no more than $TIER unique users were sent to");
is($t->mysql_value(q{SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id=? AND state='pending'}, $ct),
   10 - $TIER, 'the rest wait as pending rows');

my $again = tier_campaign('tier-first');
ok(wait_until(sub { (camp($again)->{status} // '') eq 'completed' }, 30, 0.1),
   'a campaign to users already reached in the window completes (they cost nothing again)');
is(scalar @{ wa_sent() }, 2 * $TIER, 'each of them got the second message');

my $tier_key = 'bc:tier:{meta:' . ($from =~ s/^meta://r) . '}';
is($t->redis_raw('ZCARD', $tier_key), $TIER, "the number's window holds $TIER users");
$t->redis_raw('EVAL', q{local m = redis.call('ZRANGE', KEYS[1], 0, -1)
    for _, x in ipairs(m) do redis.call('ZADD', KEYS[1], 'XX', 1, x) end
    return #m}, 1, $tier_key);
ok(wait_until(sub { (camp($ct)->{status} // '') eq 'completed' }, 30, 0.1),
   'once the window moved on, the held campaign completed by itself');
is(camp($ct)->{hold}, undef, 'and its hold is cleared');
my %wa_n;
$wa_n{ '+' . ($_->{to} =~ s/^\D+//r) }++ for @{ wa_sent() };
is_deeply([map { $wa_n{$_} // 0 } @wa], [(2) x $TIER, (1) x (10 - $TIER)],
    'the first six got two campaigns, the rest one');

stop_senders();
$t->done;
