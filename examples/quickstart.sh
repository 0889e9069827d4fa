#!/usr/bin/env bash
# Sets up a fresh Debian machine with Node >= 20 and builds the example image into
# the local store (~/.local/share/tbuild, or $TBUILD_ROOT). Needs no daemon; root
# only for apt-get, through sudo when not already root.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(uidmap busybox-static skopeo umoci gcc libc6-dev runc libcap2-bin)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

npm ci --no-audit --no-fund
npm run build

# The example's only input besides its Dockerfile: the static busybox binary.
cp /bin/busybox examples/hello/busybox
node dist/cli/main.js build -t hello examples/hello --build-arg WHO=tbuild
node dist/cli/main.js images
skopeo inspect "oci:${TBUILD_ROOT:-${XDG_DATA_HOME:-$HOME/.local/share}/tbuild}:docker.io/library/hello:latest" | head -n 12
