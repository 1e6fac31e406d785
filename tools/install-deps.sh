#!/usr/bin/env bash
# Install the Debian packages edgebert builds and tests with (needs root or sudo).
#   tools/install-deps.sh         the native build and tests (OpenMPI for make MPI=1)
#   tools/install-deps.sh --arm   also the aarch64 cross toolchain, qemu-user and the arm64
#                                 -dev packages of the dependencies (multiarch), for
#                                 make cross-test ARCH=aarch64
set -euo pipefail
# libxxhash-dev is used header-only (the bundle checksums): the arm64 and minimal builds
# need no arm64 package for it.  python3-venv, python3-setuptools and python3-wheel: the Python binding's
# install test; python3-xxhash: the checksum test's independent XXH3.  openmpi-bin and
# libopenmpi-dev: make MPI=1 (data-parallel training, build-mpi/); no other build links MPI.
PKGS="build-essential libopenblas-dev libcjson-dev libutf8proc-dev libcmocka-dev
      python3 python3-numpy python3-torch sentencepiece python3-sentencepiece
      clang libclang-rt-14-dev libomp-14-dev valgrind pkg-config cppcheck jq
      libmicrohttpd-dev nginx
      libxxhash-dev python3-xxhash python3-venv python3-setuptools python3-wheel
      openmpi-bin libopenmpi-dev"
ARM_PKGS="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
          libopenblas-dev:arm64 libcjson-dev:arm64 libutf8proc-dev:arm64 libcmocka-dev:arm64
          libmicrohttpd-dev:arm64"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
if [ "${1:-}" = --arm ]; then
  PKGS="$PKGS $ARM_PKGS"
  dpkg --print-foreign-architectures | grep -qx arm64 || { $SUDO dpkg --add-architecture arm64; NEED_UPDATE=1; }
fi
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
[ -z "$missing" ] && [ -z "${NEED_UPDATE:-}" ] && exit 0
$SUDO apt-get update -qq
[ -z "$missing" ] && exit 0
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
