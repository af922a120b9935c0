#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs, only those missing.
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail

PKGS=(
    build-essential pkg-config perl
    nginx nginx-dev
    libhiredis-dev libjansson-dev libyajl-dev libcurl4-openssl-dev libssl-dev
    libmariadb-dev libargon2-dev libmicrohttpd-dev libphonenumber-dev
    libjemalloc-dev libpcre2-dev
    libcmocka-dev libcsv-dev
    redis-server redis-tools mariadb-server mariadb-client
    curl jq wrk valgrind openssl
    # make fuzz / fuzz-ci: clang-14 with libFuzzer and the sanitizer
    # runtimes (libclang-rt-14-dev), llvm-symbolizer for crash stacks
    clang-14 libclang-rt-14-dev llvm-14
    libdbd-mariadb-perl liburi-perl
    chromium
    # promtool for t/35 (checks deploy/prometheus and a live scrape):
    # 19 MB, about 10 s; its service is not needed and not started here
    prometheus
)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing+=("$p")
    fi
done

# The browser test drives Debian's Chromium with playwright-core, pinned by
# t/browser/package-lock.json (npm registry). Node comes with the machine
# image; Debian's nodejs is the fallback.
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)

browser_deps() {
    if [ ! -d "$REPO/t/browser/node_modules/playwright-core" ]; then
        (cd "$REPO/t/browser" && npm ci --silent --no-audit --no-fund)
    fi
}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ ${#missing[@]} -eq 0 ]; then
    browser_deps
    exit 0
fi

echo "installing: ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
# The distribution's services must not start on install: we run private
# instances only. policy-rc.d tells invoke-rc.d to leave them alone.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
browser_deps
