#!/bin/bash
# Install the Debian 12 packages that building, testing and the demo need.
# Idempotent: installs only what is missing.  Needs root.
#   scripts/install-deps.sh [build|test|all]   (default all)
set -euo pipefail

build_pkgs=(make gcc libc6-dev nbdkit-plugin-dev)
test_pkgs=(tgt libiscsi-bin qemu-utils qemu-block-extra nbdkit libnbd-bin
	   qemu-system-x86 cpio lintian
	   util-linux mount procps)

case ${1:-all} in
build) pkgs=("${build_pkgs[@]}") ;;
test) pkgs=("${test_pkgs[@]}") ;;
all) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
*) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

if ((EUID != 0)); then
	echo "install-deps: missing packages: ${missing[*]} (run as root)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
