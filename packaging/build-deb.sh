#!/usr/bin/env bash
# Builds the Debian packages (debian/) from a copy of the checkout, so that
# the checkout itself stays clean: `make deb`.
#
#   packaging/build-deb.sh OUT_DIR
#
# The copy holds the files git tracks plus new ones it does not ignore, as
# they are in the work tree (uncommitted edits included). Missing build
# dependencies are installed first with apt (only when dpkg-checkbuilddeps
# finds some, as `make deps` does). The .deb, .buildinfo and .changes files
# land in OUT_DIR; the copy is in OUT_DIR/src.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:?usage: build-deb.sh OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SRC=$OUT/src

# nginx's build generator breaks on a module path holding ".c" or ".S"
# (scripts/module-dir.sh) and the nginx_mod build system hands nginx the
# physical path, so no symlink helps: under such a checkout (a mktemp
# /tmp/tmp.cXXXX, say) the copy is built in a directory of our own under
# /tmp (mktemp's random part is letters and digits) and the packages are
# moved to OUT_DIR
WORK=
case "$SRC" in
    *.[cS]*) WORK=$(mktemp -d /tmp/bc-deb-XXXXXXXX)
             trap 'rm -rf "$WORK"' EXIT
             SRC=$WORK/src ;;
esac

install_build_deps() {
    dpkg-checkbuilddeps "$SRC/debian/control" 2>/dev/null && return 0
    echo "build-deb: installing the build dependencies"
    local sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    # the distribution's services must not start on install
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
        $sudo chmod 755 /usr/sbin/policy-rc.d
        trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # resolves dh-sequence-nginx and nginx-abi-* to the packages providing them
    $sudo apt-get build-dep -y -qq --no-install-recommends "$SRC"
}

rm -rf "$SRC"
rm -f "$OUT"/*.deb "$OUT"/*.buildinfo "$OUT"/*.changes
mkdir -p "$SRC"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
    | tar --null -T - -cf -) | tar -xf - -C "$SRC"

install_build_deps
cd "$SRC"
dpkg-buildpackage -b -uc -us -j"$(nproc)"
[ -z "$WORK" ] || mv "$WORK"/*.deb "$WORK"/*.buildinfo "$WORK"/*.changes "$OUT"/
ls -1 "$OUT"/*.deb
