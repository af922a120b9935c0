#!/usr/bin/perl
# Template sends: /api/send/sms and /api/send/email with template_id +
# template_variables (rendered before anything is queued; missing
# variables, unknown and wrong-channel templates refused), and the SMS
# opt-out footer (broadcast_sms_opt_out_text + "append_opt_out": true).
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use BC::Test qw(:all);

my $t = BC::Test->new;
my $manage = $t->create_key('manage');
my $send = $t->create_key('send');
my $read = $t->create_key('read');

sub template {
    my $r = $t->post('/api/templates', key => $manage, json => $_[0]);
    die "POST /api/templates: $r->{status} $r->{content}" unless $r->{status} == 201;
    return $r->{json}{id};
}
sub sms   { $t->post('/api/send/sms', key => $_[1] // $send, json => $_[0]) }
sub email { $t->post('/api/send/email', key => $_[1] // $send, json => $_[0]) }
# outbound rows to the number the refused sends name (the sender writes
# a row for every job it takes, so a queued one would show here)
sub queued { $t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE direction = 'outbound' AND peer = '+14155550703'}) }
sub sim_to { my ($to) = @_; [grep { ($_->{to} // '') eq $to } @{ $t->sim_messages }] }
sub delivered_body {
    my ($to) = @_;
    my $m;
    wait_until(sub { $m = sim_to($to)->[0] }, 60, 0.1);
    return $m;
}

my $sms_id = template({ channel => 'sms', name => 'otp',
                        body => 'Hi {{name}}, your code is {{ code }}.' });
my $mail_id = template({ channel => 'email', name => 'welcome',
                         subject => 'Welcome {{name}}', body => 'Hello {{name}}',
                         html => '<p>Hello {{name}}</p>' });
my $wa_id = template({ channel => 'whatsapp', name => 'wa', body => 'Hi {{name}}' });

# ------------------------------------------------------------ SMS success
my $to1 = '+14155550701';
my $r = sms({ recipients => [$to1], template_id => $sms_id,
              template_variables => { name => 'Ada', code => 1234 } });
is($r->{status}, 202, 'SMS template send 202') or diag $r->{content};
my $m = delivered_body($to1);
is($m && $m->{body}, 'Hi Ada, your code is 1234.', 'the simulator got the rendered text (numbers written out)');
my $id1 = $r->{json}{messages}[0]{id} // '';
ok(wait_until(sub { $t->message_status($id1, $send) eq 'delivered' }, 60, 0.1), 'template SMS delivered');

# hostile values are text: sent verbatim, never interpreted
my $to2 = '+14155550702';
my $evil = q{'; DROP TABLE messages; -- <script>alert(1)</script> ☃};
$r = sms({ recipients => [$to2], template_id => $sms_id,
           template_variables => { name => $evil, code => '{{name}}' } });
is($r->{status}, 202, 'hostile variable values accepted') or diag $r->{content};
$m = delivered_body($to2);
is($m && $m->{body}, "Hi $evil, your code is {{name}}.", 'hostile values sent verbatim, a value is not re-rendered');
ok($t->mysql_value('SELECT COUNT(*) FROM message_templates') >= 3, 'tables intact');

# ------------------------------------------------------------ refusals
is(queued(), 0, 'no message to +14155550703 before the refused sends');
$r = sms({ recipients => ['+14155550703'], template_id => $sms_id,
           template_variables => { name => 'Ada' } });
is_error($r, 422, 'missing_variables', 'a variable without a value');
is_deeply($r->{json}{error}{missing}, ['code'], 'error.missing names it');
$r = sms({ recipients => ['+14155550703'], template_id => $sms_id });
is_error($r, 422, 'missing_variables', 'no template_variables at all');
is_deeply($r->{json}{error}{missing}, ['name', 'code'], 'error.missing names both, in order');
$r = sms({ recipients => ['+14155550703'], template_id => $wa_id,
           template_variables => { name => 'Ada' } });
is_error($r, 422, 'invalid_template', 'a WhatsApp template on /api/send/sms');
like($r->{json}{error}{message} // '', qr/whatsapp/, 'the message says which channel the template is');
$r = sms({ recipients => ['+14155550703'], template_id => 999999 });
is_error($r, 422, 'invalid_template', 'an unknown template');
# a control sent after them: once it is delivered, anything queued before
# it has been taken by the sender too
$r = $t->send_sms(key => $send, to => '+14155550708', message => 'control');
ok(delivered_body('+14155550708'), 'a control SMS sent after the refusals delivered');
ok(wait_until(sub { $t->mysql_value(q{SELECT COUNT(*) FROM messages WHERE peer = '+14155550708'}) }, 30, 0.1),
   'the control has its row');
is(queued(), 0, 'nothing queued by the refused sends');
ok(!@{ sim_to('+14155550703') }, 'the simulator got nothing for them');

# the shapes, checked before any lookup
$r = sms({ recipients => ['+14155550703'], template_id => $sms_id, message => 'both' });
is_error($r, 400, 'invalid_request', 'message and template_id');
$r = sms({ recipients => ['+14155550703'], template_id => "1 OR 1=1" });
is_error($r, 400, 'invalid_request', 'template_id a string with SQL');
$r = sms({ recipients => ['+14155550703'], template_id => -1 });
is_error($r, 400, 'invalid_request', 'template_id negative');
$r = sms({ recipients => ['+14155550703'], template_id => $sms_id, template_variables => ['a'] });
is_error($r, 400, 'invalid_request', 'template_variables an array');
$r = sms({ recipients => ['+14155550703'], template_id => $sms_id, template_variables => { name => { x => 1 } } });
is_error($r, 400, 'invalid_request', 'a variable value an object');
$r = sms({ recipients => ['+14155550703'], template_id => $sms_id, template_variables => { ('n' x 65) => 'x' } });
is_error($r, 400, 'invalid_request', 'an over-long variable name');
$r = sms({ recipients => ['+14155550703'], template_id => $sms_id,
           template_variables => { name => 'x' x 1600, code => '1' } });
is_error($r, 422, 'message_too_long', 'a rendering over 1600 characters');
$r = $t->post('/api/send/sms', key => $send,
              body => qq({"recipients":["+14155550703"],"template_id":$sms_id,"template_variables":{"name":"\xff\xfe"}}));
is_error($r, 400, 'invalid_json', 'invalid UTF-8 in a variable');
$t->barrier;
is(queued(), 0, 'still nothing queued');

# ------------------------------------------------------------ auth
$r = $t->post('/api/send/sms', json => { recipients => [$to1], template_id => $sms_id });
is_error($r, 401, 'unauthorized', 'no credential');
$r = sms({ recipients => [$to1], template_id => $sms_id, template_variables => { name => 'a', code => 'b' } }, $read);
is_error($r, 403, 'forbidden', 'a read key');

# ------------------------------------------------------------ e-mail
my $mto = 'grace@example.org';
$r = email({ recipients => [$mto], template_id => $mail_id, template_variables => { name => 'Grace' } });
is($r->{status}, 202, 'e-mail template send 202') or diag $r->{content};
$m = delivered_body($mto);
is($m && $m->{subject}, 'Welcome Grace', 'rendered subject');
is($m && $m->{body}, 'Hello Grace', 'rendered text');
$r = email({ recipients => [$mto], template_id => $mail_id });
is_error($r, 422, 'missing_variables', 'e-mail without its variable');
is_deeply($r->{json}{error}{missing}, ['name'], 'error.missing (subject and bodies share it)');
$r = email({ recipients => [$mto], template_id => $sms_id, template_variables => { name => 'a', code => 'b' } });
is_error($r, 422, 'invalid_template', 'an SMS template on /api/send/email');
$r = email({ recipients => [$mto], template_id => $mail_id, subject => 'x' });
is_error($r, 400, 'invalid_request', 'subject and template_id');

# ------------------------------------------------------------ WhatsApp
sub wa { $t->post('/api/send/whatsapp', key => $send, json => $_[0]) }
my $wa_from = $t->whatsapp_from;
my $HX = 'HXcb6b0828c05d7af4d37391699c9c2ea3';    # the simulator's order_update
my $hx_id = template({ channel => 'whatsapp', name => 'order', content_sid => $HX });
my $meta_id = template({ channel => 'whatsapp', name => 'hello', provider_name => 'hello_world',
                         language => 'en_US' });

# a text template is free text: it needs the 24 h window
my $U = '+14155550711';
$r = wa({ recipients => [$U], template_id => $wa_id, template_variables => { name => 'Una' } });
like(BC::Test::rejection($r, $U) // $r->{content}, qr/outside_24h_window/, 'text template outside the window refused');
my $in = $t->sim_inbound(channel => 'whatsapp', from => $U, body => 'hello');
ok(wait_until(sub { defined $t->redis('GET', "bc:{ev}:wawin:$wa_from:$U") }, 30, 0.1), 'window opened by an inbound message');
$r = wa({ recipients => [$U], template_id => $wa_id, template_variables => { name => 'Una' } });
is($r->{status}, 202, 'WhatsApp text template inside the window 202') or diag $r->{content};
$m = delivered_body("whatsapp:$U");
is($m && $m->{body}, 'Hi Una', 'the simulator got the rendered WhatsApp text');

# a Twilio content template: no window, the variables are its ContentVariables
my $V = '+14155550712';
$r = wa({ recipients => [$V], template_id => $hx_id, template_variables => { 1 => 'Ann', 2 => '12345' } });
is($r->{status}, 202, 'content_sid template 202') or diag $r->{content};
$m = delivered_body("whatsapp:$V");
is($m && $m->{content_sid}, $HX, 'the simulator got the ContentSid');
my $cid = $r->{json}{messages}[0]{id} // '';
my $pj;
ok(wait_until(sub { $pj = json_decode($t->mysql_open('SELECT payload FROM messages WHERE id=?', $cid) // '') }, 30, 0.1),
   'payload stored');
is_deeply(json_decode(($pj || {})->{content_variables} // 'null'), { 1 => 'Ann', 2 => '12345' },
          'content_variables are the template_variables');

# a Meta template: name + language, the variables as body parameters
my $W = '+14155550713';
$r = wa({ recipients => [$W], from_address => $t->meta_from, template_id => $meta_id });
is($r->{status}, 202, 'Meta template 202') or diag $r->{content};
ok(wait_until(sub { grep { ($_->{provider} // '') eq 'meta' && ($_->{template} // '') eq 'hello_world'
                           && ($_->{to} // '') =~ /14155550713$/ } @{ $t->sim_messages } }, 60, 0.1),
   'the simulator got the Meta template hello_world');
sub payload_of {
    my ($r) = @_;
    my $id = $r->{json}{messages}[0]{id} // '';
    my $p;
    wait_until(sub { $p = json_decode($t->mysql_open('SELECT payload FROM messages WHERE id=?', $id) // '') }, 30, 0.1);
    return $p || {};
}
$r = wa({ recipients => [$W], from_address => $t->meta_from, template_id => $meta_id,
          template_variables => { 2 => 'second', 1 => 'first' } });
is($r->{status}, 202, 'Meta template with numbered variables 202') or diag $r->{content};
my $tp = payload_of($r)->{message}{template} || {};
is_deeply($tp->{language}, { code => 'en_US' }, 'payload: the template language');
is_deeply($tp->{components}, [{ type => 'body', parameters => [
              { type => 'text', text => 'first' }, { type => 'text', text => 'second' }] }],
          'payload: "1".."n" as positional body parameters, in number order');
$r = wa({ recipients => [$W], from_address => $t->meta_from, template_id => $meta_id,
          template_variables => { name => 'Ann' } });
is($r->{status}, 202, 'Meta template with a named variable 202') or diag $r->{content};
$tp = payload_of($r)->{message}{template} || {};
is_deeply($tp->{components}, [{ type => 'body', parameters => [
              { type => 'text', parameter_name => 'name', text => 'Ann' }] }],
          'payload: other names as named parameters');
$r = wa({ recipients => [$W], from_address => $t->meta_from, template_id => $hx_id });
is_error($r, 422, 'invalid_template', 'a Twilio content template from a Meta sender');
$r = wa({ recipients => [$W], template_id => $meta_id });
is_error($r, 422, 'invalid_template', 'a Meta template from a Twilio sender');
$r = wa({ recipients => [$W], template_id => $sms_id });
is_error($r, 422, 'invalid_template', 'an SMS template on /api/send/whatsapp');
$r = wa({ recipients => [$W], template_id => $wa_id });
is_error($r, 422, 'missing_variables', 'WhatsApp text template without its variable');
$r = wa({ recipients => [$W], template_id => $wa_id, body => 'x' });
is_error($r, 400, 'invalid_request', 'body and template_id');

# ------------------------------------------------------------ opt-out footer
$r = $t->send_sms(key => $send, to => '+14155550704', message => 'sale', append_opt_out => JSON::PP::true());
is_error($r, 422, 'opt_out_text_not_configured', 'append_opt_out without broadcast_sms_opt_out_text');
$r = $t->send_sms(key => $send, to => '+14155550704', message => 'sale', append_opt_out => 'yes');
is_error($r, 400, 'invalid_request', 'append_opt_out not a boolean');

# configure the footer and reload nginx
my $conf = $t->dir . '/nginx/conf/nginx.conf';
open my $fh, '<', $conf or die "$conf: $!";
my $text = do { local $/; <$fh> };
close $fh;
$text =~ s/^(\s*)(broadcast_sms_from [^\n]*\n)/$1$2$1broadcast_sms_opt_out_text "Reply STOP to opt out";\n/m
    or die "no broadcast_sms_from in $conf";
open $fh, '>', $conf or die "$conf: $!";
print $fh $text;
close $fh;
$t->signal(HUP => 'nginx');

my $to5 = '+14155550705';
ok(wait_until(sub {
    $r = $t->send_sms(key => $send, to => $to5, message => 'sale today', append_opt_out => JSON::PP::true());
    $r->{status} == 202
}, 30, 0.2), 'after the reload append_opt_out is accepted') or diag $r->{content};
$m = delivered_body($to5);
is($m && $m->{body}, "sale today\nReply STOP to opt out", 'the footer follows the body after a newline');

my $to6 = '+14155550706';
$r = $t->send_sms(key => $send, to => $to6, message => 'no footer', append_opt_out => JSON::PP::false());
is($r->{status}, 202, 'append_opt_out false') or diag $r->{content};
$m = delivered_body($to6);
is($m && $m->{body}, 'no footer', 'no footer when not asked for');

my $to7 = '+14155550707';
$r = sms({ recipients => [$to7], template_id => $sms_id, append_opt_out => JSON::PP::true(),
           template_variables => { name => 'Ada', code => '9' } });
is($r->{status}, 202, 'template send with the footer') or diag $r->{content};
$m = delivered_body($to7);
is($m && $m->{body}, "Hi Ada, your code is 9.\nReply STOP to opt out", 'rendered template plus footer');

$r = $t->send_sms(key => $send, to => $to5, message => 'x' x 1590, append_opt_out => JSON::PP::true());
is_error($r, 400, 'invalid_request', 'a body that fits only without the footer');
like($r->{json}{error}{message} // '', qr/opt-out footer/, 'the message says the footer counts');

$t->done;
