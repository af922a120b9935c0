#!/bin/sh
# Prints the directory to hand to nginx's configure as the module's path.
# nginx's build generator (auto/make) maps sources to objects with unanchored
# regexes, so a path holding ".c" or ".S" anywhere (/srv/my.code/...,
# /tmp/ci.S1D8/...) yields broken object paths; such a checkout is given
# through a dot-free symlink in /tmp instead.
dir=$1
case "$dir" in
    *.[cS]*)
        link=/tmp/ngx-broadcast-$(printf '%s' "$dir" | md5sum | cut -c1-12)
        ln -sfn "$dir" "$link" && echo "$link"
        ;;
    *)
        echo "$dir"
        ;;
esac
