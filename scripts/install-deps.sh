#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs every Debian package zcfs needs to build, test and benchmark.
# Does nothing when they are all there.
set -e
PKGS="build-essential pkg-config clang libfuse3-dev fuse3 libisal-dev libsqlite3-dev
      libssl-dev openssl libmicrohttpd-dev fio iproute2 psmisc procps strace util-linux diffutils gcovr"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
