#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# fetch-and-build.sh - prepares what the VM test boots: downloads Debian's
# kernel (the package linux-image-amd64 depends on), busybox-static,
# open-iscsi, libopeniscsiusr and libisns0 (iscsistart, iscsid), dmsetup and
# libdevmapper1.02.1 (the multipath device) and e2fsck-static with
# `apt-get download` into build/vm/debs, extracts them, and builds
# build/vm/initramfs.gz by hand (cpio -H newc + gzip): busybox and its
# applet links, iscsistart, iscsid and dmsetup with the shared libraries ldd
# finds for them, e2fsck.static, the kernel modules the guest needs with
# their dependencies and a modules.dep made by busybox depmod, and
# test/vm/init as /init.  Everything is cached; a second run only rebuilds
# the initramfs when test/vm/init or this script changed.  Prints the
# kernel path last.
#
#   test/vm/fetch-and-build.sh BUILD_DIR
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: $0 BUILD_DIR}
mkdir -p "$OUT/debs"
OUT=$(cd "$OUT" && pwd)
DEBS=$OUT/debs
EXTRACT=$OUT/extract
STAGE=$OUT/initramfs
INITRD=$OUT/initramfs.gz

# Modules the guest loads (modprobe pulls in the rest from modules.dep):
# virtio-net on PCI, crc32c (needed before iscsi_tcp logs in), the iSCSI
# initiator, SCSI disks, ext4 (this kernel has no ext2 module:
# CONFIG_EXT4_USE_FOR_EXT2 serves ext2 from ext4), and dm-multipath with
# its round-robin path selector.
MODULES=(virtio_pci virtio_net crc32c_generic iscsi_tcp sd_mod ext4
	 dm_multipath dm_round_robin)
# Debian packages besides the kernel's
PACKAGES=(busybox-static open-iscsi libopeniscsiusr libisns0 dmsetup
	  libdevmapper1.02.1 e2fsck-static)

log() { echo "vm-build: $*" >&2; }
die() { echo "vm-build: error: $*" >&2; exit 1; }

apt_lists_empty() {
	! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

# ---- download ---------------------------------------------------------------
fetch_debs() {
	local kpkg pkgs=() p
	if apt_lists_empty; then
		log "apt lists are empty: apt-get update"
		apt-get update -qq || die "apt-get update failed"
	fi
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[[ -n $kpkg ]] || die "cannot resolve the kernel package of linux-image-amd64"
	# a kernel ABI bump: drop the cached packages of older kernels
	find "$DEBS" -name 'linux-image-*.deb' ! -name "${kpkg}_*" -delete
	for p in "$kpkg" "${PACKAGES[@]}"; do
		compgen -G "$DEBS/${p}_*.deb" >/dev/null || pkgs+=("$p")
	done
	((${#pkgs[@]} == 0)) && return 0
	log "apt-get download ${pkgs[*]}"
	# _apt cannot write into our tree: download as root (the warning is
	# harmless) into the cache directory
	(cd "$DEBS" && apt-get download -q "${pkgs[@]}" 2>&1 |
		grep -v -e '^W: Download is performed unsandboxed' -e '^Get:' >&2) || true
	for p in "$kpkg" "${PACKAGES[@]}"; do
		compgen -G "$DEBS/${p}_*.deb" >/dev/null ||
			die "apt-get download $p failed"
	done
}

extract_debs() {
	local d stamp=$EXTRACT/.stamp debs
	# apt keeps the archive's mtimes: compare the package list instead
	debs=$(cd "$DEBS" && ls -- *.deb)
	[[ -f $stamp && $(cat "$stamp") == "$debs" ]] && return 0
	log "extracting packages"
	rm -rf "$EXTRACT"
	mkdir -p "$EXTRACT"
	for d in "$DEBS"/*.deb; do
		dpkg-deb -x "$d" "$EXTRACT" || die "cannot extract $d"
	done
	echo "$debs" >"$stamp"
}

# ---- initramfs -----------------------------------------------------------------
kver() {
	local k
	k=$(ls "$EXTRACT/lib/modules" | sort -V | tail -n 1)
	[[ -n $k && -f $EXTRACT/boot/vmlinuz-$k ]] || die "no kernel in $EXTRACT"
	echo "$k"
}

# module closure: print the paths (relative to lib/modules/KVER) of NAMES
# and everything they depend on, from a modules.dep
module_closure() {
	local dep=$1 name line path deps
	shift
	declare -A seen=()
	local queue=()
	for name in "$@"; do
		line=$(grep -E "/${name//_/[_-]}\.ko(\.[a-z]+)?:" "$dep" | head -n 1)
		[[ -n $line ]] || die "module $name is not in the kernel package"
		queue+=("${line%%:*}")
	done
	while ((${#queue[@]})); do
		path=${queue[0]}
		queue=("${queue[@]:1}")
		[[ -n ${seen[$path]:-} ]] && continue
		seen[$path]=1
		echo "$path"
		deps=$(grep -F "$path:" "$dep" | head -n 1 | cut -d: -f2)
		# shellcheck disable=SC2206
		queue+=($deps)
	done
}

copy_libs() {
	local bin=$1 lib line missing=
	while read -r line; do
		case $line in
		*"not found"*) missing+=" ${line%% *}" ;;
		*"=> /"*) lib=${line#*=> }; lib=${lib%% (*}
			  cp -L "$lib" "$STAGE/lib/x86_64-linux-gnu/" ;;
		/*) lib=${line%% (*}
		    mkdir -p "$STAGE/$(dirname "$lib")"
		    cp -L "$lib" "$STAGE/$lib" ;;
		esac
	done < <(LD_LIBRARY_PATH=$EXTRACT/usr/lib/x86_64-linux-gnu:$EXTRACT/lib/x86_64-linux-gnu \
		 ldd "$bin")
	[[ -z $missing ]] ||
		die "${bin##*/} needs libraries the host lacks:$missing (install their packages)"
}

build_initramfs() {
	local k m stamp=$OUT/.initramfs.stamp
	k=$(kver)
	if [[ -f $INITRD && -f $stamp && $stamp -nt $HERE/init &&
	      $stamp -nt $HERE/fetch-and-build.sh && $stamp -nt $EXTRACT/.stamp ]]; then
		return 0
	fi
	log "building $INITRD (kernel $k)"
	local bb=$EXTRACT/bin/busybox
	local kmods=$EXTRACT/lib/modules/$k
	[[ -x $bb ]] || die "busybox-static did not extract"
	for m in sbin/iscsistart sbin/iscsid sbin/dmsetup sbin/e2fsck.static; do
		[[ -x $EXTRACT/$m ]] || die "the packages have no $m"
	done
	# the package ships no modules.dep; busybox depmod makes one
	[[ -f $kmods/modules.dep ]] || "$bb" depmod -b "$EXTRACT" "$k" ||
		die "depmod of the extracted kernel failed"

	rm -rf "$STAGE"
	mkdir -p "$STAGE"/{bin,sbin,etc,proc,sys,dev,tmp,run,mnt,var/lock} \
		"$STAGE/lib/x86_64-linux-gnu" "$STAGE/lib/modules/$k" \
		"$STAGE/etc/iscsi"
	cp "$bb" "$STAGE/bin/busybox"
	for m in $("$bb" --list); do
		[[ $m == busybox ]] || ln -s busybox "$STAGE/bin/$m"
	done
	for m in iscsistart iscsid dmsetup; do
		cp "$EXTRACT/sbin/$m" "$STAGE/sbin/"
		copy_libs "$EXTRACT/sbin/$m"
	done
	cp "$EXTRACT/sbin/e2fsck.static" "$STAGE/sbin/e2fsck"
	mkdir -p "$STAGE/lib64"
	[[ -e $STAGE/lib64/ld-linux-x86-64.so.2 ]] ||
		cp -L /lib64/ld-linux-x86-64.so.2 "$STAGE/lib64/"

	for m in $(module_closure "$kmods/modules.dep" "${MODULES[@]}"); do
		mkdir -p "$STAGE/lib/modules/$k/$(dirname "$m")"
		cp "$kmods/$m" "$STAGE/lib/modules/$k/$m"
	done
	"$bb" depmod -b "$STAGE" "$k" || die "depmod of the initramfs failed"
	install -m 0755 "$HERE/init" "$STAGE/init"
	echo "InitiatorName=iqn.2026-11.org.sheepdog:vm-guest" \
		>"$STAGE/etc/iscsi/initiatorname.iscsi"
	# iscsid serves only requests from a user that getpwuid() finds
	echo "root:x:0:0:root:/:/bin/sh" >"$STAGE/etc/passwd"
	echo "root:x:0:" >"$STAGE/etc/group"

	(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort |
		"$bb" cpio -o -H newc 2>/dev/null | gzip -1) >"$INITRD.tmp" ||
		die "cpio/gzip of the initramfs failed"
	mv "$INITRD.tmp" "$INITRD"
	touch "$stamp"
	log "initramfs: $(du -h "$INITRD" | cut -f1)"
}

fetch_debs
extract_debs
build_initramfs
echo "$EXTRACT/boot/vmlinuz-$(kver)"
