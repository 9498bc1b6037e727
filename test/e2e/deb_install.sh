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
if command -v man >/dev/null; then
	for page in "$TOP"/doc/*.[1-8]; do
		name=man-render-$(basename "$page")
		out=$(MANWIDTH=80 man -l --warnings "$page" 2>"$T_TMP/man.err")
		if [[ ! -s $T_TMP/man.err ]] && grep -q '^NAME' <<<"$out" &&
		   (($(grep -c . <<<"$out") > 10)); then
			pass "$name"
		else
			fail "$name" "$(head -3 "$T_TMP/man.err")"
		fi
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
if make -C "$TOP" -s deb DEB_OUT="$DEBS" >"$T_TMP/make.out" 2>&1; then
	pass "make-deb"
else
	fail "make-deb" "$(tail -3 "$T_TMP/make.out")"
	exit 1
fi
files=()
for p in "${WANT[@]}"; do
	f=$(ls "$DEBS/${p}_"*"_$(dpkg --print-architecture).deb" 2>/dev/null)
	files+=("$f")
done
dpkg-deb -c "${files[0]}" >"$T_TMP/contents" 2>&1
if [[ ${#files[@]} == "${#WANT[@]}" ]] && ls "$DEBS"/*.deb >/dev/null &&
   grep -q "\./usr/lib/tgt/backing-store/bs_sheepdog.so$" "$T_TMP/contents" &&
   grep -q "\./usr/share/man/man8/bs_sheepdog.8.gz$" "$T_TMP/contents" &&
   dpkg-deb -f "${files[0]}" Depends | grep -q '^tgt,'; then
	pass "deb-contents"
else
	fail "deb-contents" "$(ls "$DEBS")"
fi
if command -v lintian >/dev/null; then
	lintian "$DEBS"/*.deb >"$T_TMP/lintian.out" 2>&1
	if grep -E '^[EW]: ' "$T_TMP/lintian.out" >"$T_TMP/lintian.bad"; then
		fail "lintian" "$(head -3 "$T_TMP/lintian.bad")"
	else
		pass "lintian"
	fi
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
if dpkg -i "${files[@]}" >"$T_TMP/dpkg.out" 2>&1; then
	pass "dpkg-install"
else
	fail "dpkg-install" "$(tail -3 "$T_TMP/dpkg.out")"
	exit 1
fi
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
if ((${#missing[@]} == 0)); then
	pass "installed-files"
else
	fail "installed-files" "missing: ${missing[*]}"
fi
if command -v man >/dev/null; then
	bad=()
	for f in "${expect[@]}"; do
		[[ $f == */man/* ]] || continue
		MANWIDTH=80 man -l --warnings "$f" 2>"$T_TMP/man.err" |
			grep -q '^NAME' && [[ ! -s $T_TMP/man.err ]] || bad+=("$f")
	done
	if ((${#bad[@]} == 0)); then
		pass "installed-man-pages-render"
	else
		fail "installed-man-pages-render" "${bad[*]}"
	fi
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
if tgtadm_c --mode system --op show | grep -q 'sheepdog (bsoflags sync)'; then
	pass "tgtd-loads-installed-module"
else
	fail "tgtd-loads-installed-module" "$(tgtadm_c --mode system --op show | grep -A8 'Backing stores')"
fi

VDI=$(vdi_name deb)
VDI2=$(vdi_name deb2)
if /usr/bin/sdctl -a "$SHEEP" vdi create "$VDI" 64M >"$T_TMP/sdctl.out" 2>&1 &&
   /usr/bin/sdctl -a "$SHEEP" vdi create "$VDI2" 16M >>"$T_TMP/sdctl.out" 2>&1
then
	pass "installed-sdctl-create"
else
	fail "installed-sdctl-create" "$(cat "$T_TMP/sdctl.out")"
	exit 1
fi
IQN=iqn.2026-11.org.sheepdog:t$$-deb
DESC=$T_TMP/sheepdog
if SDCTL=/usr/bin/sdctl /usr/sbin/tgt-sheepdog-export -a "$SHEEP" -d "$DESC" \
	-t "$IQN" "$VDI" >"$T_TMP/stanza" 2>"$T_TMP/export.err" &&
   [[ -f $DESC/$VDI.conf ]]; then
	pass "installed-export-tool"
else
	fail "installed-export-tool" "$(cat "$T_TMP/export.err")"
fi
if tgt_target 1 "$IQN" && tgt_lu 1 1 "$DESC/$VDI.conf"; then
	pass "installed-module-lu"
else
	fail "installed-module-lu" "$(cat "$TGT_OUT"; tail -2 "$TGT_LOG")"
fi
URL=$(tgt_url "$IQN" 1)
if qio "$URL" "write -P 0xd5 1M 64k" "read -P 0xd5 1M 64k" &&
   [[ $(/usr/bin/sdctl -a "$SHEEP" vdi read "$VDI" 1M 64k | od -An -v -tx1 |
	tr -s ' \n' '\n\n' | sort -u | grep .) == d5 ]]; then
	pass "installed-module-round-trip"
else
	fail "installed-module-round-trip" "$(head -2 "$QIO_OUT")"
fi
tgt_stop
if [[ " ${WANT[*]} " == *" nbdkit-plugin-sheepdog "* ]]; then
	# by name: nbdkit looks the plugin up in its plugindir
	if size=$(nbdkit -U - sheepdog vdi="$VDI2" addr="$SHEEP" \
		--run 'nbdinfo --size "$uri"' 2>"$T_TMP/nbdkit.err") &&
	   [[ $size == $((16 * 1024 * 1024)) ]]; then
		pass "installed-nbdkit-plugin"
	else
		fail "installed-nbdkit-plugin" "size '${size:-}': $(head -2 "$T_TMP/nbdkit.err")"
	fi
fi

# ---- remove, purge, and nothing left behind
if dpkg -r "${WANT[@]}" >"$T_TMP/dpkg-r.out" 2>&1 &&
   dpkg -P "${WANT[@]}" >"$T_TMP/dpkg-p.out" 2>&1; then
	pass "dpkg-remove-purge"
else
	fail "dpkg-remove-purge" "$(tail -3 "$T_TMP/dpkg-r.out" "$T_TMP/dpkg-p.out")"
fi
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
if ((${#left[@]} == 0)); then
	pass "nothing-left-behind"
else
	fail "nothing-left-behind" "${left[*]}"
fi
exit $T_FAILED
