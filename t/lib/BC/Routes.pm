package BC::Routes;
# The /api/ route table as data for tests: read from the module's own
# source (src/ngx_http_broadcast_api.c), so a test that walks every route
# (roles, scopes, the OpenAPI document) cannot drift from what is served.
use strict;
use warnings;
use FindBin;
use Exporter 'import';

our @EXPORT_OK = qw(api_routes);

my $SRC = "$FindBin::Bin/../src/ngx_http_broadcast_api.c";

# api_routes() -> list of { method => 'GET', path => '/api/x/{id}',
#                           need => 'READ' }, one per method of each row
sub api_routes {
    my $file = shift // $SRC;
    open my $fh, '<', $file or die "$file: $!";
    local $/;
    my $src = <$fh>;
    close $fh;

    my ($table) = $src =~ /ngx_http_broadcast_api_routes\[\]\s*=\s*\{(.*?)\n\};/s
        or die "no route table in $file";
    $table =~ s{/\*.*?\*/}{}gs;

    my @routes;
    # plain rows: { NGX_HTTP_GET|NGX_HTTP_POST, "/api/x", NGX_HTTP_BROADCAST_NEED_READ, ...
    while ($table =~ /\{\s*([A-Z_|\s]+?),\s*"([^"]+)",\s*NGX_HTTP_BROADCAST_NEED_([A-Z]+)/g) {
        push @routes, _rows($1, $2, $3);
    }
    # macro rows: NGX_HTTP_BROADCAST_<KIND>_ROUTE(NGX_HTTP_GET, "/api/x", READ, VARIANT)
    while ($table =~ /NGX_HTTP_BROADCAST_[A-Z_]+_ROUTE\(\s*([A-Z_|\s]+?),\s*"([^"]+)",\s*([A-Z]+)\s*,/g) {
        push @routes, _rows($1, $2, $3);
    }
    return @routes;
}

sub _rows {
    my ($methods, $path, $need) = @_;
    my @out;
    for my $m (split /\s*\|\s*/, $methods) {
        $m =~ s/^\s*NGX_HTTP_//;
        $m =~ s/\s+$//;
        push @out, { method => $m, path => $path, need => $need };
    }
    return @out;
}

1;
