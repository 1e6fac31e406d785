#!/usr/bin/env bash
# Install the Debian packages edgebert builds and tests with (needs root or sudo).
set -euo pipefail
PKGS="build-essential libopenblas-dev libcjson-dev libutf8proc-dev libcmocka-dev
      python3 python3-numpy python3-torch sentencepiece python3-sentencepiece
      clang libclang-rt-14-dev libomp-14-dev valgrind pkg-config cppcheck"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
[ -z "$missing" ] && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
