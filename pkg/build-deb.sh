#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# pkg/build-deb.sh - build the binary packages with plain dpkg-deb from the
# already built tree (make deb runs it after make all):
#
#   tgt-sheepdog            bs_sheepdog.so in /usr/lib/tgt/backing-store,
#                           tgt-sheepdog-export (scripts/export-vdi.sh),
#                           bs_sheepdog(8), tgt-sheepdog-export(8), docs
#   nbdkit-plugin-sheepdog  the plugin in nbdkit's plugindir, its man page,
#                           nbdkit-sheepdog@.service
#   sheepdog-sdctl          /usr/bin/sdctl and sdctl(8)
#
#   pkg/build-deb.sh OUTDIR VERSION
#
# Files are owned by root (dpkg-deb --root-owner-group), binaries stripped,
# man pages and changelogs compressed with gzip -9n, md5sums included.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:?usage: build-deb.sh OUTDIR VERSION}
VERSION=${2:?usage: build-deb.sh OUTDIR VERSION}
MAINTAINER=${DEB_MAINTAINER:-bs_sheepdog maintainers <bs-sheepdog@example.org>}
ARCH=$(dpkg --print-architecture)
BSDIR=/usr/lib/tgt/backing-store
UNITDIR=/lib/systemd/system

die() { echo "build-deb: $*" >&2; exit 1; }

[[ $VERSION =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || die "bad version '$VERSION'"
for f in build/lib/bs_sheepdog.so build/lib/nbdkit-sheepdog-plugin.so build/bin/sdctl; do
	[[ -f $TOP/$f ]] || die "$f is not built (run make first)"
done
# nbdkit's plugin directory, from nbdkit itself when it is installed
PLUGINDIR=$(nbdkit --dump-config 2>/dev/null | sed -n 's/^plugindir=//p')
[[ -n $PLUGINDIR ]] ||
	PLUGINDIR=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null ||
			     echo x86_64-linux-gnu)/nbdkit/plugins

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/build-deb.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$OUT"

# the newest GLIBC_x.y symbol version a binary needs
libc_dep() {
	local v
	v=$(objdump -T "$@" | grep -o 'GLIBC_[0-9][0-9.]*' |
	    sed 's/GLIBC_//' | sort -uV | tail -n 1)
	echo "libc6 (>= ${v:-2.34})"
}

inst() {	# inst MODE SRC DEST(relative to the package root)
	install -D -m "$1" "$2" "$root/$3"
}
inst_bin() {	# stripped like dh_strip does
	inst "$1" "$2" "$3"
	strip --strip-unneeded --remove-section=.comment \
		--remove-section=.note "$root/$3"
}
inst_man() {	# inst_man SRC SECTION NAME
	install -d "$root/usr/share/man/man$2"
	gzip -9n -c "$1" >"$root/usr/share/man/man$2/$3.$2.gz"
	chmod 0644 "$root/usr/share/man/man$2/$3.$2.gz"
}
inst_doc() {	# copyright and changelog of package $pkg
	local d=$root/usr/share/doc/$pkg
	install -D -m 0644 "$TOP/pkg/copyright" "$d/copyright"
	sed "s/@VERSION@/$VERSION/" "$TOP/pkg/changelog" | gzip -9n >"$d/changelog.gz"
	chmod 0644 "$d/changelog.gz"
}

finish() {	# finish DEPENDS-LIBC: control file, md5sums, dpkg-deb
	local size deb
	install -d "$root/DEBIAN"
	size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
	sed -e "s/@VERSION@/$VERSION/g" -e "s/@ARCH@/$ARCH/g" \
	    -e "s/@MAINTAINER@/$MAINTAINER/g" -e "s/@SIZE@/$size/g" \
	    -e "s/@LIBC@/$1/g" "$TOP/pkg/$pkg.control" >"$root/DEBIAN/control"
	if [[ -f $TOP/pkg/$pkg.conffiles ]]; then
		install -m 0644 "$TOP/pkg/$pkg.conffiles" "$root/DEBIAN/conffiles"
	fi
	(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' |
		LC_ALL=C sort -z | xargs -0r md5sum >DEBIAN/md5sums)
	chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
	find "$root" -type d -exec chmod 0755 {} +
	deb=$OUT/${pkg}_${VERSION}_$ARCH.deb
	dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
	echo "$deb"
}

# ---- tgt-sheepdog
pkg=tgt-sheepdog root=$STAGE/$pkg
inst_bin 0644 "$TOP/build/lib/bs_sheepdog.so" "$BSDIR/bs_sheepdog.so"
inst 0755 "$TOP/scripts/export-vdi.sh" usr/sbin/tgt-sheepdog-export
inst_man "$TOP/doc/bs_sheepdog.8" 8 bs_sheepdog
inst_man "$TOP/doc/tgt-sheepdog-export.8" 8 tgt-sheepdog-export
inst_doc
inst 0644 "$TOP/README" "usr/share/doc/$pkg/README"
inst 0644 "$TOP/doc/setup-guide.md" "usr/share/doc/$pkg/setup-guide.md"
inst 0644 "$TOP/pkg/examples/vol0.conf" "usr/share/doc/$pkg/examples/vol0.conf"
inst 0644 "$TOP/pkg/examples/targets.conf" "usr/share/doc/$pkg/examples/targets.conf"
finish "$(libc_dep "$TOP/build/lib/bs_sheepdog.so")"

# ---- nbdkit-plugin-sheepdog
pkg=nbdkit-plugin-sheepdog root=$STAGE/$pkg
inst_bin 0644 "$TOP/build/lib/nbdkit-sheepdog-plugin.so" "${PLUGINDIR#/}/nbdkit-sheepdog-plugin.so"
inst_man "$TOP/doc/nbdkit-sheepdog-plugin.1" 1 nbdkit-sheepdog-plugin
inst 0644 "$TOP/pkg/systemd/nbdkit-sheepdog@.service" "${UNITDIR#/}/nbdkit-sheepdog@.service"
inst_doc
inst 0644 "$TOP/pkg/examples/nbdkit-sheepdog.conf" "usr/share/doc/$pkg/examples/vol0.conf"
finish "$(libc_dep "$TOP/build/lib/nbdkit-sheepdog-plugin.so")"

# ---- sheepdog-sdctl
pkg=sheepdog-sdctl root=$STAGE/$pkg
inst_bin 0755 "$TOP/build/bin/sdctl" usr/bin/sdctl
inst_man "$TOP/doc/sdctl.8" 8 sdctl
inst_doc
finish "$(libc_dep "$TOP/build/bin/sdctl")"
