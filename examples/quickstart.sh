#!/usr/bin/env bash
# Sets up a fresh Debian machine with Node >= 20 for working on tbuild: installs the OS
# packages tbuild, its build from source and its tests use, builds it, and builds the
# example image into the local store (~/.local/share/tbuild, or $TBUILD_ROOT). Needs no
# daemon; root only for apt-get, through sudo when not already root.
set -euo pipefail
cd "$(dirname "$0")/.."

# run time: newuidmap/newgidmap for rootless RUN (unshare and mount are in every Debian)
runtime=(uidmap)
# building from source: the static C helpers (src/native/*.c) for this machine's CPU
build=(gcc libc6-dev)
# packing (npm pack, and the test that packs): the helpers for the other CPU the package ships
case "$(dpkg --print-architecture)" in
  arm64) pack=(gcc-x86-64-linux-gnu libc6-dev-amd64-cross) ;;
  *) pack=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross) ;;
esac
# the example and looking at its result
example=(busybox-static skopeo umoci)
# the tests: the reference registry with TLS and htpasswd, xattr and compression tools,
# the unprivileged CI container test/ci-container/ runs tbuild in (runc, setcap), and a
# real Debian base image made by debootstrap (test/builder/debian-base.test.ts)
tests=(docker-registry openssl apache2-utils attr pigz zstd xz-utils ca-certificates runc libcap2-bin debootstrap)
packages=("${runtime[@]}" "${build[@]}" "${pack[@]}" "${example[@]}" "${tests[@]}")
# `npm test` asks for the list (scripts/check-os-packages.mjs), so there is one list.
if [ "${1:-}" = --packages ]; then echo "${packages[@]}"; exit 0; fi

missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

npm ci --no-audit --no-fund
npm run build

# The example's only input besides its Dockerfile: the static busybox binary.
cp /bin/busybox examples/hello/busybox
node dist/cli/main.js build -t hello examples/hello --build-arg WHO=tbuild
node dist/cli/main.js images
skopeo inspect "oci:${TBUILD_ROOT:-${XDG_DATA_HOME:-$HOME/.local/share}/tbuild}:docker.io/library/hello:latest" | head -n 12
