#!/usr/bin/perl
# The OpenAPI 3.1 document (html/openapi.json), served by nginx at
# GET /api/openapi.json: it parses, it documents exactly the route table
# of src/ngx_http_broadcast_api.c (BC::Routes) with its need levels, every
# operation is complete (operationId, summary, tags, an Error 4xx), every
# $ref resolves, every path parameter is declared, and the documented
# schemas and error codes hold for real answers of a running stack (most
# GET routes, a few creates and errors).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use B ();
use BC::Test qw(:all);
use BC::Routes qw(api_routes);

# Documented operations whose route another branch is adding: allowed to
# be missing from the route table only while listed here. Empty it once
# those routes are merged; then the document must match the table exactly.
my %PENDING = map { $_ => 1 } (
);

my @METHODS = qw(get put post delete options head patch trace);
my %NEEDS = map { $_ => 1 } qw(none read send manage session admin);

my $t = BC::Test->new;
my $PLAIN = JSON::PP->new->utf8;

# ------------------------------------------------------------ served
my $r = $t->get('/api/openapi.json');
is($r->{status}, 200, 'GET /api/openapi.json without credentials: 200')
    or diag $r->{content};
like($r->{headers}{'content-type'} // '', qr{^application/json\b}, 'Content-Type application/json');
is($r->{headers}{'x-content-type-options'}, 'nosniff', 'nosniff');
is($r->{headers}{'x-frame-options'}, 'DENY', 'X-Frame-Options DENY');
like($r->{headers}{'content-security-policy'} // '', qr/default-src 'none'/, 'a Content-Security-Policy');
is($r->{headers}{'cache-control'}, 'no-cache', 'revalidated on each fetch');
ok(defined $r->{headers}{etag}, 'an ETag to revalidate with');

my $file = do {
    open my $fh, '<:raw', "$FindBin::Bin/../html/openapi.json" or die "html/openapi.json: $!";
    local $/;
    <$fh>;
};
ok($r->{content} eq $file, 'the served document is html/openapi.json');

my $again = $t->get('/api/openapi.json', headers => { 'If-None-Match' => $r->{headers}{etag} // '' });
is($again->{status}, 304, 'revalidation with the ETag: 304');

my $gz = $t->get('/api/openapi.json', headers => { 'Accept-Encoding' => 'gzip' });
is($gz->{headers}{'content-encoding'}, 'gzip', 'compressed when the client accepts gzip');
ok(length($gz->{content} // '') < length($file) / 4, 'to less than a quarter');

my $console = $t->get('/openapi.json');
is($console->{status}, 200, 'the console location still serves html/ (/openapi.json)');
ok(($console->{content} // '') eq $file, 'the same bytes under the console');

is_error($t->post('/api/openapi.json', json => {}), 405, 'method_not_allowed',
    'POST /api/openapi.json');

my $doc = eval { $PLAIN->decode($r->{content}) };
ok(ref $doc eq 'HASH', 'the document parses as a JSON object') or BAIL_OUT("unparsable: $@");
is($doc->{openapi}, '3.1.0', 'openapi 3.1.0');
ok(defined $doc->{info}{title} && defined $doc->{info}{version}, 'info has title and version');

# ------------------------------------------------------------ $ref
# every "$ref" of the document, with where it is
sub refs_in {
    my ($node, $where, $out) = @_;
    if (ref $node eq 'HASH') {
        push @$out, [$node->{'$ref'}, $where] if exists $node->{'$ref'};
        refs_in($node->{$_}, "$where/$_", $out) for sort keys %$node;
    } elsif (ref $node eq 'ARRAY') {
        refs_in($node->[$_], "$where/$_", $out) for 0 .. $#$node;
    }
    return $out;
}

# the node a local "#/a/b" reference names, or undef
sub deref {
    my ($ref) = @_;
    return undef unless defined $ref && $ref =~ m{^#/(.*)$};
    my $node = $doc;
    for my $seg (split m{/}, $1) {
        $seg =~ s/~1/\//g;
        $seg =~ s/~0/~/g;
        return undef unless ref $node eq 'HASH' && exists $node->{$seg};
        $node = $node->{$seg};
    }
    return $node;
}

# a node with its $ref chain followed
sub resolve {
    my ($node) = @_;
    my $hops = 0;
    while (ref $node eq 'HASH' && exists $node->{'$ref'} && $hops++ < 16) {
        $node = deref($node->{'$ref'});
    }
    return $node;
}

my @refs = @{ refs_in($doc, '#', []) };
my @broken = grep { !defined deref($_->[0]) } @refs;
ok(@refs > 100, scalar(@refs) . ' references');
is_deeply([map { "$_->[1] -> $_->[0]" } @broken], [], 'every $ref resolves');

# ------------------------------------------------------------ structure
# Debian 12 packages no OpenAPI validator: the object rules of the 3.1
# specification that a hand edit can break, checked here (allowed fields,
# required ones, a parameter's schema, status keys, schema keywords).
my %FIELDS = (
    operation => [qw(tags summary description externalDocs operationId parameters
                     requestBody responses callbacks deprecated security servers)],
    parameter => [qw(name in description required deprecated allowEmptyValue schema
                     content style explode allowReserved example examples)],
    body      => [qw(description content required)],
    response  => [qw(description headers content links)],
    media     => [qw(schema encoding example examples)],
    reference => [qw($ref summary description)],
);
my %JSON_TYPES = map { $_ => 1 } qw(null boolean object array number string integer);

sub unknown_fields {
    my ($node, $kind, $where) = @_;
    return ("$where: not an object") unless ref $node eq 'HASH';
    $kind = 'reference' if exists $node->{'$ref'};
    my %ok = map { $_ => 1 } @{ $FIELDS{$kind} };
    return map { "$where: unknown field $_" } grep { !$ok{$_} && !/^x-/ } sort keys %$node;
}

# schema keywords a typo breaks: type names, required lists, nested shapes
sub schema_problems {
    my ($s, $where) = @_;
    return () if !ref $s || ref $s ne 'HASH';
    my @p;
    for my $t (ref $s->{type} ? @{ $s->{type} } : defined $s->{type} ? ($s->{type}) : ()) {
        push @p, "$where: type $t" unless $JSON_TYPES{$t};
    }
    push @p, "$where: required is not a list of names"
        if exists $s->{required} && (ref $s->{required} ne 'ARRAY' || grep { ref } @{ $s->{required} });
    push @p, schema_problems($s->{properties}{$_}, "$where.$_") for sort keys %{ $s->{properties} || {} };
    push @p, schema_problems($s->{items}, "$where\[]") if ref $s->{items};
    push @p, schema_problems($s->{additionalProperties}, "$where\{}") if ref $s->{additionalProperties};
    for my $k (qw(allOf oneOf anyOf)) {
        push @p, schema_problems($s->{$k}[$_], "$where/$k/$_") for 0 .. $#{ $s->{$k} || [] };
    }
    return @p;
}

sub content_problems {
    my ($content, $where) = @_;
    return map { (unknown_fields($content->{$_}, 'media', "$where $_"),
                  schema_problems($content->{$_}{schema}, "$where $_")) } sort keys %{ $content || {} };
}

sub response_problems {
    my ($r, $where) = @_;
    my @p = unknown_fields($r, 'response', $where);
    return @p if exists $r->{'$ref'};
    push @p, "$where: no description" unless defined $r->{description};
    return (@p, content_problems($r->{content}, $where));
}

my @structure;
for my $path (sort keys %{ $doc->{paths} }) {
    push @structure, "$path: a path starts with /" unless $path =~ m{^/};
    for my $m (grep { $doc->{paths}{$path}{$_} } @METHODS) {
        my $op = $doc->{paths}{$path}{$m};
        my $w = uc($m) . " $path";
        push @structure, unknown_fields($op, 'operation', $w);
        for my $p (@{ $op->{parameters} || [] }) {
            my $pw = "$w parameter " . ($p->{name} // '?');
            push @structure, unknown_fields($p, 'parameter', $pw);
            push @structure, "$pw: in " . ($p->{in} // 'missing')
                unless ($p->{in} // '') =~ /^(query|header|path|cookie)$/;
            push @structure, "$pw: needs a schema or a content, not both"
                unless exists($p->{schema}) xor exists($p->{content});
            push @structure, schema_problems($p->{schema}, $pw);
        }
        if (my $b = $op->{requestBody}) {
            push @structure, unknown_fields($b, 'body', "$w body");
            push @structure, "$w body: no content" unless ref $b->{content} eq 'HASH';
            push @structure, content_problems($b->{content}, "$w body");
        }
        for my $status (sort keys %{ $op->{responses} || {} }) {
            push @structure, "$w: response key $status"
                unless $status =~ /^(default|[1-5](\d\d|XX)|x-.*)$/;
            push @structure, response_problems($op->{responses}{$status}, "$w $status");
        }
    }
}
for my $kind (sort keys %{ $doc->{components} }) {
    push @structure, "components/$kind/$_: name" for grep { !/^[a-zA-Z0-9._-]+$/ } keys %{ $doc->{components}{$kind} };
}
push @structure, response_problems($doc->{components}{responses}{$_}, "components/responses/$_")
    for sort keys %{ $doc->{components}{responses} || {} };
push @structure, schema_problems($doc->{components}{schemas}{$_}, $_)
    for sort keys %{ $doc->{components}{schemas} || {} };
for my $name (sort keys %{ $doc->{components}{securitySchemes} || {} }) {
    my $s = $doc->{components}{securitySchemes}{$name};
    my $ok = ($s->{type} // '') eq 'http' ? defined $s->{scheme}
           : ($s->{type} // '') eq 'apiKey' ? defined $s->{name} && ($s->{in} // '') =~ /^(query|header|cookie)$/
           : 0;
    push @structure, "security scheme $name" unless $ok;
}
is_deeply(\@structure, [], 'the objects follow the OpenAPI 3.1 rules (fields, parameters, responses, schemas)');

# ------------------------------------------------------------ route table
my %table;
for my $route (api_routes()) {
    $table{"$route->{method} $route->{path}"} = lc $route->{need};
}
ok(keys %table > 100, scalar(keys %table) . ' operations in the route table');

my %documented;
for my $path (sort keys %{ $doc->{paths} }) {
    for my $m (@METHODS) {
        my $op = $doc->{paths}{$path}{$m} or next;
        $documented{uc($m) . " $path"} = $op;
    }
}

my (@undocumented, @wrong_need, @unrouted, @unlocated);
for my $k (sort keys %table) {
    my $op = $documented{$k};
    if (!$op) {
        push @undocumented, $k;
    } elsif (($op->{'x-need'} // '') ne $table{$k}) {
        push @wrong_need, "$k: table $table{$k}, document " . ($op->{'x-need'} // 'none given');
    }
}

my $conf = do {
    open my $fh, '<', "$FindBin::Bin/../conf.example" or die "conf.example: $!";
    local $/;
    <$fh>;
};
for my $k (sort keys %documented) {
    my $op = $documented{$k};
    if (my $loc = $op->{'x-nginx-location'}) {
        # served by nginx itself: the location must exist in conf.example
        push @unlocated, "$k ($loc)" unless index($conf, "$loc {") >= 0;
        next;
    }
    next if $table{$k};
    if ($PENDING{$k}) {
        note("$k: documented, pending its route");
        next;
    }
    push @unrouted, $k;
}
is_deeply(\@undocumented, [], 'every route of the table is documented');
is_deeply(\@wrong_need, [], 'x-need is the route table\'s need for every route');
is_deeply(\@unrouted, [], 'every documented /api/ operation is a route (or %PENDING)');
is_deeply(\@unlocated, [], 'every x-nginx-location is a location of conf.example');
for my $k (sort keys %PENDING) {
    ok($documented{$k}, "pending $k is documented");
    note("$k is routed now: empty %PENDING") if $table{$k};
}

# ------------------------------------------------------------ operations
my %tags = map { $_->{name} => 1 } @{ $doc->{tags} || [] };
my %schemes = %{ $doc->{components}{securitySchemes} || {} };
my (%ids, @incomplete);
for my $k (sort keys %documented) {
    my $op = $documented{$k};
    my @why;
    my $id = $op->{operationId} // '';
    push @why, 'no operationId' unless length $id;
    push @why, "operationId $id also at $ids{$id}" if length $id && $ids{$id};
    $ids{$id} //= $k;
    push @why, 'no summary' unless length($op->{summary} // '');
    push @why, 'no tags' unless ref $op->{tags} eq 'ARRAY' && @{ $op->{tags} };
    push @why, "undeclared tag $_" for grep { !$tags{$_} } @{ $op->{tags} || [] };
    push @why, 'x-need ' . ($op->{'x-need'} // 'missing') unless $NEEDS{ $op->{'x-need'} // '' };
    push @why, 'no security' unless ref $op->{security} eq 'ARRAY';
    for my $req (@{ $op->{security} || [] }) {
        push @why, "unknown security scheme $_" for grep { !$schemes{$_} } keys %$req;
    }
    push @why, 'need none but a credential required'
        if ($op->{'x-need'} // '') eq 'none' && @{ $op->{security} || [] }
        && !grep { $_ eq 'parseBasicAuth' } map { keys %$_ } @{ $op->{security} };

    my $responses = $op->{responses} || {};
    my $error_4xx = 0;
    for my $status (sort keys %$responses) {
        next unless $status =~ /^[45]\d\d$/;
        # a 5xx may answer a body of its own (503 /health); an error does not
        next if $status =~ /^5/ && !resolve($responses->{$status})->{'x-error-codes'};
        my $schema = resolve(resolve($responses->{$status})->{content}{'application/json'}{schema});
        if ($schema && $schema == $doc->{components}{schemas}{Error}) {
            $error_4xx++ if $status =~ /^4/;
        } else {
            push @why, "$status does not answer the Error schema";
        }
    }
    push @why, 'no 4xx answering Error' unless $error_4xx;
    # only a route that always refuses (422 not_supported) has no 2xx
    push @why, 'no 2xx response' unless (grep { /^2/ } keys %$responses)
                                        || ($op->{summary} // '') =~ /^Not supported/;
    push @incomplete, "$k: " . join('; ', @why) if @why;
}
is_deeply(\@incomplete, [], 'every operation: unique operationId, summary, declared tags, '
    . 'x-need, security, an Error 4xx, every error answering Error');

# ------------------------------------------------------------ path parameters
my @param_problems;
for my $k (sort keys %documented) {
    my ($method, $path) = split / /, $k, 2;
    my @declared = map { resolve($_) } @{ $doc->{paths}{$path}{parameters} || [] },
                                       @{ $documented{$k}{parameters} || [] };
    my %in_path = map { $_->{name} => $_ } grep { ($_->{in} // '') eq 'path' } @declared;
    for my $name ($path =~ /\{([^}]+)\}/g) {
        my $p = delete $in_path{$name};
        if (!$p) {
            push @param_problems, "$k: {$name} not declared";
        } elsif (!$p->{required}) {
            push @param_problems, "$k: {$name} not required";
        }
    }
    push @param_problems, "$k: path parameter $_ not in the path" for sort keys %in_path;
}
is_deeply(\@param_problems, [], 'every {parameter} of a path is declared, required, and no other');

# ------------------------------------------------------------ live answers
# $value against a (small subset of) JSON Schema: type, required,
# properties, items, const, enum, allOf, oneOf; the problems found
sub json_type {
    my ($v) = @_;
    return 'null' unless defined $v;
    return 'boolean' if JSON::PP::is_bool($v);
    return 'object' if ref $v eq 'HASH';
    return 'array' if ref $v eq 'ARRAY';
    my $flags = B::svref_2object(\$v)->FLAGS;
    return 'string' if $flags & B::SVf_POK;
    return $flags & B::SVf_IOK ? 'integer' : 'number';
}

sub check {
    my ($schema, $v, $where) = @_;
    $schema = resolve($schema);
    return () unless ref $schema eq 'HASH';
    my @p;
    push @p, check($_, $v, $where) for @{ $schema->{allOf} || [] };
    if (my $one = $schema->{oneOf}) {
        push @p, "$where: matches no oneOf" unless grep { !check($_, $v, $where) } @$one;
    }
    if (defined(my $type = $schema->{type})) {
        my $got = json_type($v);
        my %ok = map { $_ => 1 } ref $type ? @$type : ($type);
        $ok{integer} = 1 if $ok{number};
        return (@p, "$where: $got, documented " . join('|', sort keys %ok)) unless $ok{$got};
    }
    push @p, "$where: not the documented const" if exists $schema->{const}
        && json_type($v) ne 'null' && $v ne $schema->{const};
    push @p, "$where: $v not in the enum" if $schema->{enum} && defined $v
        && !ref $v && !grep { defined $_ && $_ eq $v } @{ $schema->{enum} };
    if (ref $v eq 'HASH') {
        push @p, "$where: no $_" for grep { !exists $v->{$_} } @{ $schema->{required} || [] };
        for my $name (sort keys %{ $schema->{properties} || {} }) {
            push @p, check($schema->{properties}{$name}, $v->{$name}, "$where.$name")
                if exists $v->{$name};
        }
    }
    if (ref $v eq 'ARRAY' && $schema->{items}) {
        push @p, check($schema->{items}, $v->[$_], "$where\[$_]") for 0 .. $#$v;
    }
    return @p;
}

# a real answer of "$method $path" against the document's schema of its
# status there; $want: the status it must have
sub answers_as_documented {
    my ($method, $path, $res, $want, $name) = @_;
    my ($template) = grep { my $re = $_; $re =~ s/\{[^}]+\}/[^\/]+/g; $path =~ m{^$re$} }
                     sort keys %{ $doc->{paths} };
    is($res->{status}, $want, "$name: HTTP $want") or diag $res->{content};
    my $op = $template && $doc->{paths}{$template}{ lc $method };
    my $doc_res = $op && resolve($op->{responses}{ $res->{status} });
    my $schema = $doc_res && $doc_res->{content}{'application/json'}{schema};
    ok($schema, "$name: HTTP $res->{status} is documented for $method " . ($template // $path))
        or return;
    my $value = eval { $PLAIN->decode($res->{content}) };
    is_deeply([check($schema, $value, 'answer')], [], "$name: the answer holds the documented schema");
    if ($res->{status} >= 400) {
        my @codes = @{ $doc_res->{'x-error-codes'} || [] };
        my $code = $value->{error}{code} // '';
        ok((grep { $_ eq $code } @codes), "$name: $code is a documented code of $res->{status}");
    }
}

my $manage = $t->create_key('manage');
my $c = $t->post('/api/contacts', key => $manage, json => {
    name => 'Ada', phone => '+14155550100', email => 'ada@example.com',
    tags => ['vip'], attributes => { city => 'Oslo' }, timezone => 'Europe/Oslo' });
my $cid = $c->{json}{id} // 0;
my $g = $t->post('/api/groups', key => $manage, json => { name => 'openapi' });
my $gid = $g->{json}{id} // 0;
$t->post("/api/groups/$gid/members", key => $manage, json => { contact_ids => [$cid] });
my $tpl = $t->post('/api/templates', key => $manage, json => {
    channel => 'sms', name => 'hello', body => 'Hello {{name}}' });
my $tid = $tpl->{json}{id} // 0;
my $camp = $t->post('/api/campaigns', key => $manage, json => {
    name => 'openapi', channel => 'sms', template_id => $tid, audience => { group_ids => [$gid] } });
my $campid = $camp->{json}{id} // 0;
my %wrote = (
    'POST /api/opt-outs' => [201, $t->post('/api/opt-outs', key => $manage,
                                  json => { address => '+14155550111', channel => 'sms' })],
    'POST /api/blacklist' => [201, $t->post('/api/blacklist', key => $manage,
                                   json => { address => '+14155550112' })],
    'POST /api/keyword-rules' => [201, $t->post('/api/keyword-rules', key => $manage,
                                       json => { keyword => 'hours', response_text => '9-5' })],
    'POST /api/customers' => [201, $t->post('/api/customers', key => $manage,
                                   json => { name => 'Bo', mobile => '+14155550114', tags => ['x'] })],
    'POST /api/sms/contacts' => [201, $t->post('/api/sms/contacts', key => $manage,
                                      json => { phone => '+14155550115', name => 'Cy' })],
    'POST /api/sms/templates' => [201, $t->post('/api/sms/templates', key => $manage,
                                       json => { name => 'old', body => 'Hi {{name}}' })],
    'POST /api/keys' => [200, $t->post('/api/keys', token => $t->token,
                              json => { name => 'openapi', scope => 'read' })],
);
my $sent = $t->post('/api/send/sms', key => $manage, json => { recipients => ['+14155550113'], message => 'hi' });
my $mid = $sent->{json}{messages}[0]{id} // 'none';

for my $path ('/api/contacts', "/api/contacts/$cid", '/api/groups', "/api/groups/$gid",
              "/api/groups/$gid/members", '/api/templates', "/api/templates/$tid", '/api/contacts/tags',
              '/api/campaigns', "/api/campaigns/$campid", "/api/campaigns/$campid/recipients",
              "/api/templates/$tid/history", '/api/opt-outs', '/api/blacklist', '/api/keyword-rules',
              "/api/status/$mid", "/api/messages/$mid", "/api/batch/$mid", '/api/messages',
              '/api/chat/users', '/api/stats', '/api/webhook-events', '/api/email/senders',
              '/api/whatsapp/senders', '/api/customers', "/api/customers/$cid", '/api/customers/tags',
              '/api/customers/groups', "/api/customers/groups/$gid/members", '/api/sms/contacts',
              '/api/sms/groups', '/api/message-templates', '/api/sms/templates', '/api/sms/keyword-rules',
              '/api/sms/opt-outs', '/api/sms/blacklist', '/api/sms/stats', '/api/sms/campaigns',
              "/api/sms/campaigns/$campid", "/api/sms/campaigns/$campid/stats", '/api/email/campaigns',
              '/api/marketing/campaigns', "/api/marketing/campaigns/$campid",
              "/api/marketing/campaigns/$campid/steps", "/api/marketing/campaigns/$campid/executions",
              "/api/marketing/campaigns/$campid/customers/progress")
{
    answers_as_documented(GET => $path, $t->get($path, key => $manage), 200, "GET $path");
}
answers_as_documented(GET => '/api/keys', $t->get('/api/keys', token => $t->token), 200, 'GET /api/keys');
answers_as_documented(GET => '/health', $t->get('/health'), 200, 'GET /health');
answers_as_documented(POST => '/api/contacts', $c, 201, 'POST /api/contacts');
answers_as_documented(POST => '/api/groups', $g, 201, 'POST /api/groups');
answers_as_documented(POST => '/api/templates', $tpl, 201, 'POST /api/templates');
answers_as_documented(POST => '/api/campaigns', $camp, 201, 'POST /api/campaigns');
answers_as_documented(POST => '/api/send/sms', $sent, 202, 'POST /api/send/sms');
for my $k (sort keys %wrote) {
    my ($method, $path) = split / /, $k;
    answers_as_documented($method => $path, $wrote{$k}[1], $wrote{$k}[0], $k);
}
my $rule = $wrote{'POST /api/keyword-rules'}[1]{json}{id} // 0;
answers_as_documented(PATCH => "/api/groups/$gid", $t->http(PATCH => "/api/groups/$gid", key => $manage,
    json => { description => 'documented' }), 200, 'PATCH /api/groups/{id}');
answers_as_documented(POST => "/api/templates/$tid/preview", $t->post("/api/templates/$tid/preview",
    key => $manage, json => { contact_id => $cid }), 200, 'POST /api/templates/{id}/preview');
answers_as_documented(POST => '/api/campaigns/check-duplicates', $t->post('/api/campaigns/check-duplicates',
    key => $manage, json => { template_id => $tid, contact_ids => [$cid] }), 200, 'check-duplicates');
answers_as_documented(DELETE => "/api/keyword-rules/$rule", $t->http(DELETE => "/api/keyword-rules/$rule",
    key => $manage), 200, 'DELETE /api/keyword-rules/{id}');

# errors: the codes the document names for them
answers_as_documented(GET => '/api/groups/999999', $t->get('/api/groups/999999', key => $manage), 404,
    'an unknown group');
answers_as_documented(GET => '/api/contacts', $t->get('/api/contacts'), 401, 'no credential');
answers_as_documented(GET => '/api/groups', $t->get('/api/groups?limit=0', key => $manage), 400, 'a bad limit');
answers_as_documented(POST => '/api/groups', $t->post('/api/groups', key => $manage, json => { name => 'openapi' }),
    409, 'a taken group name');
answers_as_documented(POST => '/api/campaigns/{id}/pause', $t->post("/api/campaigns/$campid/pause", key => $manage),
    409, 'pausing a draft');

$t->done;
