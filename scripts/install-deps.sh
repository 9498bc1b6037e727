#!/bin/bash
# Install the Debian 12 packages that building, testing and the demo need.
# Idempotent: installs only what is missing.  Needs root when something is
# missing.
#   scripts/install-deps.sh [build|demo|test|all]   (default all)
#
# Installing Debian's tgt package would start the system tgtd on port 3260;
# while this script installs packages, a policy-rc.d keeps package scripts
# from starting services (unless the machine already has its own policy).
set -euo pipefail

build_pkgs=(make gcc libc6-dev nbdkit-plugin-dev)
demo_pkgs=(tgt libiscsi-bin qemu-utils qemu-block-extra util-linux mount
	   procps)
test_pkgs=("${demo_pkgs[@]}" libiscsi-dev nbdkit libnbd-bin qemu-system-x86
	   libnbd-dev	# build/test/tools/nbd_load, the benchmark's NBD client
	   jq gnuplot-nox
	   gnutls-bin	# psktool: the TLS pre-shared keys of test/e2e/nbd_tls.sh
	   prometheus	# promtool: sdctl gateway status --prometheus (tgt_status.sh)
	   cpio lintian
	   # make check-vm copies these host libraries into the guest for
	   # iscsid (test/vm/fetch-and-build.sh, copy_libs)
	   libssl3 libkmod2)

case ${1:-all} in
build) pkgs=("${build_pkgs[@]}") ;;
demo) pkgs=("${build_pkgs[@]}" "${demo_pkgs[@]}") ;;
test|all) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
*) echo "usage: $0 [build|demo|test|all]" >&2; exit 2 ;;
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

policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	own_policy=1
	trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
((own_policy)) && rm -f "$policy"
exit 0
