#!/bin/bash
# deb_install.sh - the Debian packages of `make deb`: every man page of doc/
# renders with `man -l` without warnings; the packages build, pass lintian
# without errors or warnings (when lintian is installed), install with
# dpkg -i, and the INSTALLED pieces work: our own tgtd -f (free port,
# private -C control port, no mount namespace) loads bs_sheepdog.so from
# /usr/lib/tgt/backing-store and serves a VDI created with the installed
# sdctl through a descriptor written by the installed tgt-sheepdog-export;
# nbdkit finds the installed plugin by name.  Then dpkg -r / -P leave
# nothing behind.  Skips (touching nothing) when not root, without dpkg or
# tgtd, or when one of the packages is already installed.  The system tgt
# service is never started or restarted.
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

PKGS=(tgt-sheepdog nbdkit-plugin-sheepdog sheepdog-sdctl)

# ---- man pages of the tree (needs only man-db)
# renders PAGE: man -l shows it (NAME, more than 10 lines) without warnings
renders() {
	local out
	out=$(MANWIDTH=80 man -l --warnings "$1" 2>"$T_TMP/man.err")
	[[ ! -s $T_TMP/man.err ]] && grep -q '^NAME' <<<"$out" &&
		(($(grep -c . <<<"$out") > 10)) && return 0
	head -3 "$T_TMP/man.err"
	return 1
}
if command -v man >/dev/null; then
	for page in "$TOP"/doc/*.[1-8]; do
		name=man-render-$(basename "$page")
		check "$name" renders "$page"
	done
else
	skip man-render "man is not installed"
fi

if ((EUID != 0)); then
	skip deb-install "needs root (dpkg -i)"
	exit $T_FAILED
fi
for c in dpkg dpkg-deb dpkg-query objdump "$TGTD" "$TGTADM" qemu-io; do
	if ! command -v "$c" >/dev/null; then
		skip deb-install "$c is not installed"
		exit $T_FAILED
	fi
done
pkg_state() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null; }
for p in "${PKGS[@]}"; do
	st=$(pkg_state "$p")
	if [[ -n $st && $st != not-installed ]]; then
		skip deb-install "$p is already on this system ($st); not touching it"
		exit $T_FAILED
	fi
done
WANT=(tgt-sheepdog sheepdog-sdctl)
if [[ $(pkg_state nbdkit) == installed ]]; then
	WANT+=(nbdkit-plugin-sheepdog)
else
	skip deb-nbdkit-plugin "nbdkit is not installed"
fi
[[ -d $TGT_BS_DIR ]] && bsdir_existed=1 || bsdir_existed=0

# ---- build
DEBS=$T_TMP/debs
check "make-deb" make -C "$TOP" -s deb DEB_OUT="$DEBS" || exit 1
files=()
for p in "${WANT[@]}"; do
	f=$(ls "$DEBS/${p}_"*"_$(dpkg --print-architecture).deb" 2>/dev/null)
	files+=("$f")
done
dpkg-deb -c "${files[0]}" >"$T_TMP/contents" 2>&1
deb_contents() {
	[[ ${#files[@]} == "${#WANT[@]}" ]] && ls "$DEBS"/*.deb >/dev/null &&
		grep -q "\./usr/lib/tgt/backing-store/bs_sheepdog.so$" "$T_TMP/contents" &&
		grep -q "\./usr/share/man/man8/bs_sheepdog.8.gz$" "$T_TMP/contents" &&
		dpkg-deb -f "${files[0]}" Depends | grep -q '^tgt,' && return 0
	ls "$DEBS"
	return 1
}
check "deb-contents" deb_contents
if command -v lintian >/dev/null; then
	lintian "$DEBS"/*.deb >"$T_TMP/lintian.out" 2>&1
	check "lintian" not grep -E '^[EW]: ' "$T_TMP/lintian.out"
else
	skip "lintian" "lintian is not installed"
fi

# ---- install (and, whatever happens, purge what we installed)
purge_ours() {
	local p
	for p in "${WANT[@]}"; do
		[[ $(pkg_state "$p") == not-installed || -z $(pkg_state "$p") ]] ||
			dpkg -P "$p" >/dev/null 2>&1
	done
	((bsdir_existed)) && mkdir -p "$TGT_BS_DIR"
	return 0
}
on_exit purge_ours
check "dpkg-install" dpkg -i "${files[@]}" || exit 1
for p in "${WANT[@]}"; do dpkg -L "$p" >"$T_TMP/$p.files"; done
PLUGINDIR=$(nbdkit --dump-config 2>/dev/null | sed -n 's/^plugindir=//p')
expect=("$TGT_BS_DIR/bs_sheepdog.so" /usr/bin/sdctl
	/usr/sbin/tgt-sheepdog-export /usr/share/man/man8/bs_sheepdog.8.gz
	/usr/share/man/man8/sdctl.8.gz
	/usr/share/man/man8/tgt-sheepdog-export.8.gz
	/usr/share/doc/tgt-sheepdog/setup-guide.md)
[[ " ${WANT[*]} " == *" nbdkit-plugin-sheepdog "* ]] &&
	expect+=("$PLUGINDIR/nbdkit-sheepdog-plugin.so"
		 /usr/share/man/man1/nbdkit-sheepdog-plugin.1.gz
		 /lib/systemd/system/nbdkit-sheepdog@.service)
missing=()
for f in "${expect[@]}"; do [[ -f $f ]] || missing+=("$f"); done
check "installed-files" want "${missing[*]}" == "" "missing: ${missing[*]}"
if command -v man >/dev/null; then
	bad=()
	for f in "${expect[@]}"; do
		[[ $f == */man/* ]] || continue
		MANWIDTH=80 man -l --warnings "$f" 2>"$T_TMP/man.err" |
			grep -q '^NAME' && [[ ! -s $T_TMP/man.err ]] || bad+=("$f")
	done
	check "installed-man-pages-render" want "${bad[*]}" == "" "${bad[*]}"
fi

# ---- the demo flow against the installed module: our own tgtd, no
# namespace, so it loads what /usr/lib/tgt/backing-store holds
if ! start_minisheep --lock; then
	fail deb-install "cannot start minisheep"
	exit 1
fi
if ! tgt_start installed 2>/dev/null; then
	fail deb-install "cannot start tgtd: $(tail -3 "$TGT_LOG")"
	exit 1
fi
tgtadm_c --mode system --op show >"$T_TMP/system"
check "tgtd-loads-installed-module" has_lines "$T_TMP/system" \
	'sheepdog \(bsoflags sync\)'

VDI=$(vdi_name deb)
VDI2=$(vdi_name deb2)
create_both() {
	/usr/bin/sdctl -a "$SHEEP" vdi create "$VDI" 64M &&
		/usr/bin/sdctl -a "$SHEEP" vdi create "$VDI2" 16M
}
check "installed-sdctl-create" create_both || exit 1
IQN=iqn.2026-11.org.sheepdog:t$$-deb
DESC=$T_TMP/sheepdog
export_tool() {
	SDCTL=/usr/bin/sdctl /usr/sbin/tgt-sheepdog-export -a "$SHEEP" -d "$DESC" \
		-t "$IQN" "$VDI" >"$T_TMP/stanza" && [[ -f $DESC/$VDI.conf ]]
}
check "installed-export-tool" export_tool
target_and_lu() {
	tgt_target 1 "$IQN" && tgt_lu 1 1 "$DESC/$VDI.conf" && return 0
	cat "$TGT_OUT"
	tail -2 "$TGT_LOG"
	return 1
}
check "installed-module-lu" target_and_lu
URL=$(tgt_url "$IQN" 1)
# through the LU, then read back with the installed sdctl
round_trip() {
	qio "$URL" "write -P 0xd5 1M 64k" "read -P 0xd5 1M 64k" &&
		[[ $(/usr/bin/sdctl -a "$SHEEP" vdi read "$VDI" 1M 64k |
		     od -An -v -tx1 | tr -s ' \n' '\n\n' | sort -u | grep .) == d5 ]]
}
check "installed-module-round-trip" round_trip
tgt_stop
if [[ " ${WANT[*]} " == *" nbdkit-plugin-sheepdog "* ]]; then
	# by name: nbdkit looks the plugin up in its plugindir
	size=$(nbdkit -U - sheepdog vdi="$VDI2" addr="$SHEEP" \
		--run 'nbdinfo --size "$uri"' 2>"$T_TMP/nbdkit.err")
	check "installed-nbdkit-plugin" want "$?:$size" == "0:$((16 * 1024 * 1024))" \
		"size '${size:-}': $(head -2 "$T_TMP/nbdkit.err")"
fi

# ---- remove, purge, and nothing left behind
remove_purge() { dpkg -r "${WANT[@]}" && dpkg -P "${WANT[@]}"; }
check "dpkg-remove-purge" remove_purge
left=()
for p in "${WANT[@]}"; do
	st=$(pkg_state "$p")
	[[ -z $st || $st == not-installed ]] || left+=("$p:$st")
	while IFS= read -r f; do
		[[ -e $f && ! -d $f ]] && left+=("$f")
		# a directory may stay only if another package owns it
		if [[ -d $f ]] && ! dpkg -S "$f" >/dev/null 2>&1 &&
		   [[ $f != "$TGT_BS_DIR" ]]; then
			[[ -n $(find "$f" -maxdepth 0 -empty) ]] && left+=("$f/")
		fi
	done <"$T_TMP/$p.files"
done
check "nothing-left-behind" want "${left[*]}" == "" "${left[*]}"
exit $T_FAILED
