#!/bin/bash
# tgt_admin_conf.sh - targets.conf with the stock tgt-admin.  tgt-admin skips
# a `bs-type sheepdog` backing store given as ADDR:VDI (it only accepts
# files, rbd and glfs), so scripts/export-vdi.sh writes a descriptor file
# and the stanza names it.  Checks: the stock skip; `tgt-admin -e` and
# `--update ALL` (with -C, tgt-admin's own control-port option, against a
# private tgtd) create a working LUN and a read-only snapshot LUN from
# descriptors; the descriptor's bsopts apply unless the stanza's bsopts
# (--bsopts) are given; a malformed descriptor fails with one log line.
# The stanzas export-vdi.sh writes admit only CHAP logins (its secret from
# a file, or generated) from the initiators of its ACL: tgt-admin loads
# them and libiscsi without credentials, with a wrong secret, or with
# another initiator name is refused.
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

EXPORT=$TOP/scripts/export-vdi.sh
TGT_ADMIN=${TGT_ADMIN:-/usr/sbin/tgt-admin}

tgt_require tgt-admin-conf
if [[ ! -x $TGT_ADMIN ]] || ! command -v perl >/dev/null; then
	skip tgt-admin-conf "tgt-admin (perl) not installed"
	exit 0
fi
if ! own_sheep; then
	skip tgt-admin-conf "needs minisheep's stats (SHEEP_ADDR is set)"
	exit 0
fi
if ! start_minisheep; then
	fail tgt-admin-conf "cannot start minisheep"
	exit 1
fi
if ! tgt_start; then
	fail tgt-admin-conf "cannot start tgtd"
	exit 1
fi

M=$((1024 * 1024))
VDI=$(vdi_name adm)
VDI2=$(vdi_name adm2)
IQN=iqn.2026-11.org.sheepdog:t$$-admin
IQN2=iqn.2026-11.org.sheepdog:t$$-admin2
DESC=$T_TMP/desc
CONF=$T_TMP/targets.conf
make_vdi "$VDI" $((16 * M))
make_vdi "$VDI2" $((16 * M))
printf 'a%.0s' $(seq 1 4096) | "$SDCTL" -a "$SHEEP" vdi write "$VDI" 0 4096
"$SDCTL" -a "$SHEEP" vdi snapshot -s snap1 "$VDI" >/dev/null
printf 'b%.0s' $(seq 1 4096) | "$SDCTL" -a "$SHEEP" vdi write "$VDI" 0 4096

# tgt-admin's own control-port option; it runs `tgtadm -C N` from $PATH
admin() { "$TGT_ADMIN" -C "$TGT_CTL" "$@" >"$T_TMP/admin.out" 2>&1; }
# admin_ok ARGS...: admin succeeds, else prints its and tgtd's last lines
admin_ok() {
	admin "$@" && return 0
	tail -5 "$T_TMP/admin.out"
	tail -3 "$TGT_LOG"
	return 1
}
show() { tgtadm_c --lld iscsi --mode target --op show; }
# the "LUN: N" block of the show output
lun_block() {
	show | awk -v l="LUN: $1" '$0 ~ "^ +LUN: " { on = ($0 ~ l "$") } on'
}
stats_conns() {
	"$MINISHEEP" --ctl "$SHEEP_CTL" stats |
		sed -n 's/.* connections=\([0-9]*\).*/\1/p'
}
# conns_grew N [NOTE]: minisheep accepted N connections from $before to
# $after
conns_grew() {
	[[ -n $before && -n $after ]] && ((after - before == $1)) && return 0
	echo "connections $before -> $after, expected +$1 ${2:-}"
	return 1
}
# the module's default number of connections (an LU without connections=)
DEF_CONNS=$(sed -n 's/^#define SD_DEFAULT_CONNS[[:space:]]*\([0-9]*\).*/\1/p' \
	"$TOP/usr/lib/include/sheepdog.h")
[[ $DEF_CONNS =~ ^[0-9]+$ ]] ||
	{ fail default-connections "SD_DEFAULT_CONNS not found in sheepdog.h"; exit 1; }
# the stock behaviour this works around (upstream sheepdog issue #176)
cat >"$CONF" <<EOF
<target $IQN>
    bs-type sheepdog
    backing-store $SHEEP:$VDI
</target>
EOF
admin -c "$CONF" -p -e
if grep -q "Skipping device: $SHEEP:$VDI" "$T_TMP/admin.out"; then
	pass "stock-tgt-admin-skips-plain-string"
else
	skip "stock-tgt-admin-skips-plain-string" "this tgt-admin accepts it: $(head -c 200 "$T_TMP/admin.out")"
fi

# ---- export-vdi.sh writes descriptors and stanzas: the working VDI's
# stanza with CHAP (the secret from a file), then the snapshot's LUN
# appended to the same target in the same file
# a CHAP secret: 24 hex digits from /dev/urandom
new_secret() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
SECRET=$(new_secret)
echo "$SECRET" >"$T_TMP/secret"
CHAP_USER=${IQN##*:}
rm -f "$CONF"	# the stock check's stanza: export-vdi.sh starts it afresh
export_both() {
	"$EXPORT" -a "$SHEEP" -d "$DESC" -t "$IQN" -b 'connections=3' \
		-p "$T_TMP/secret" -o "$CONF" "$VDI" &&
		"$EXPORT" -a "$SHEEP" -d "$DESC" -t "$IQN" -s snap1 -l 2 \
			-o "$CONF" "$VDI"
}
check "export-vdi" export_both || exit 1
# the descriptors hold exactly these lines, the stanza names the snapshot's;
# the access lines are there once, ALL only in a comment; mode 0600
export_files() {
	grep -qx "backing-store = $SHEEP:$VDI" "$DESC/$VDI.conf" &&
		grep -qx "bsopts = connections=3" "$DESC/$VDI.conf" &&
		grep -qx "backing-store = $SHEEP:$VDI:snap1" "$DESC/$VDI@snap1.conf" &&
		grep -q "<backing-store $DESC/$VDI@snap1.conf>" "$CONF" &&
		[[ $(grep -cx " *incominguser $CHAP_USER $SECRET" "$CONF") == 1 &&
		   $(grep -cx " *initiator-address 127.0.0.1" "$CONF") == 1 &&
		   $(grep -c "^ *initiator-address ALL" "$CONF") == 0 &&
		   $(grep -c "^ *# *initiator-address ALL" "$CONF") == 1 &&
		   $(stat -c %a "$CONF") == 600 ]] && return 0
	cat "$DESC"/* "$CONF"
	stat -c %a "$CONF"
	return 1
}
check "export-vdi-files" export_files
missing_snapshot_refused() {
	fails_saying "no snapshot 'nosuch'" \
		"$EXPORT" -a "$SHEEP" -d "$DESC" -s nosuch "$VDI" || return 1
	[[ ! -e $DESC/$VDI@nosuch.conf ]] && return 0
	echo "wrote $DESC/$VDI@nosuch.conf"
	return 1
}
check "export-vdi-missing-snapshot" missing_snapshot_refused

# ---- tgt-admin -e: two stanzas of one target (tgt-admin merges them)
before=$(stats_conns)
check "tgt-admin-execute" admin_ok -c "$CONF" -e || exit 1
TGT_TIDS+=(1)
luns_shown() {
	lun_block 1 >"$T_TMP/lun1"
	lun_block 2 >"$T_TMP/lun2"
	has_lines "$T_TMP/lun1" "Backing store path: $DESC/$VDI.conf" \
		"Backing store type: sheepdog" "Readonly: No" &&
		has_lines "$T_TMP/lun2" \
			"Backing store path: $DESC/$VDI@snap1.conf" "Readonly: Yes"
}
check "tgt-admin-luns" luns_shown
# bsopts of the descriptor: 3 connections (+ the snapshot LUN's default);
# minisheep's stats count every connection accepted
after=$(stats_conns)
check "descriptor-bsopts-applied" conns_grew $((3 + DEF_CONNS)) \
	"(3 + $DEF_CONNS)"

# the LUN's iscsi:// URL logging in as USER with SECRET: chap_url USER
# SECRET IQN LUN
chap_url() { echo "iscsi://$1%$2@127.0.0.1:$TGT_PORT/$3/$4"; }
URL1=$(chap_url "$CHAP_USER" "$SECRET" "$IQN" 1)
URL2=$(chap_url "$CHAP_USER" "$SECRET" "$IQN" 2)
check "descriptor-lun-io" qio "$URL1" "read -P 0x62 0 4k" "write -P 0x63 8k 4k"
check "descriptor-lun-write-landed" sd_holds "$VDI" 8192 4096 0x63
check "descriptor-snapshot-lun" qio_ro "$URL2" "read -P 0x61 0 4k"
# the stanza's CHAP holds for every LUN of the target
AUTH_FAILED='Authentication failure\(513\)'
check "stanza-chap-no-credentials-refused" fails_saying "$AUTH_FAILED" \
	qemu-io -f raw -c "read 0 4k" "$(tgt_url "$IQN" 1)"
check "stanza-chap-wrong-secret-refused" fails_saying "$AUTH_FAILED" \
	qemu-io -f raw -r -c "read 0 4k" \
	"$(chap_url "$CHAP_USER" "$(new_secret)" "$IQN" 2)"

# ---- a stanza with bsopts (tgt-admin passes --bsopts): they win over the
# descriptor's as a whole.  -e adds the new target, leaves target 1 alone.
# Its CHAP secret is the one export-vdi.sh generated.
"$EXPORT" -a "$SHEEP" -d "$DESC" -t "$IQN2" -b 'connections=4' "$VDI2" \
	>"$T_TMP/stanza3" 2>/dev/null
SECRET2=$(awk '$1 == "incominguser" { print $3 }' "$T_TMP/stanza3")
check "export-vdi-generated-secret" want "${#SECRET2}" -ge 16 \
	"no generated secret in: $(cat "$T_TMP/stanza3")"
sed 's|^\( *\)bs-type sheepdog|&\n\1bsopts timeout=20|' "$T_TMP/stanza3" \
	>>"$CONF"
before=$(stats_conns)
second_target() { admin_ok -c "$CONF" -e && show | grep -q "Target 2: $IQN2"; }
check "tgt-admin-execute-second" second_target
TGT_TIDS+=(2)
after=$(stats_conns)
check "bsopts-option-beats-descriptor" conns_grew "$DEF_CONNS" \
	"(default), not +4"

# ---- --update ALL: re-creates the idle targets from the config (the
# descriptors are read again) and keeps them working
updated() {
	admin_ok -c "$CONF" --update ALL && show | grep -q "Target 1: $IQN$" &&
		show | grep -q "Target 2: $IQN2$" &&
		[[ $(show | grep -c "Backing store path: $DESC/") == 3 ]] &&
		return 0
	show | grep -E 'Target|path'
	return 1
}
check "tgt-admin-update-all" updated
update_io() {
	qio "$(chap_url "${IQN2##*:}" "$SECRET2" "$IQN2" 1)" \
		"write -P 0x64 0 4k" "read -P 0x64 0 4k" &&
		qio "$URL1" "read -P 0x63 8k 4k"
}
check "update-all-lun-io" update_io

# ---- a malformed descriptor: tgtadm fails, one precise log line
printf 'backing-store = %s:%s\nbsopt = timeout=5\n' "$SHEEP" "$VDI2" \
	>"$DESC/bad.conf"
cat >"$T_TMP/bad.conf" <<EOF
<target $IQN-bad>
    <backing-store $DESC/bad.conf>
        bs-type sheepdog
        lun 1
    </backing-store>
</target>
EOF
n0=$(tgt_module_lines)
check "bad-descriptor-refused" not admin -c "$T_TMP/bad.conf" -e
TGT_TIDS+=(3)
lines=$(grep 'bs_sheepdog:' "$TGT_LOG" | tail -n +$((n0 + 1)))
one_precise_line() {
	[[ $(grep -c . <<<"$lines") == 1 ]] &&
		grep -q "bad descriptor $DESC/bad.conf: line 2: unknown key 'bsopt'" \
			<<<"$lines" && return 0
	echo "log: $lines"
	return 1
}
check "bad-descriptor-one-line" one_precise_line
grep "bs_sheepdog:" "$TGT_LOG" | tail -n 1

# ---- an initiator-name ACL through tgt-admin: tgtd admits an initiator
# whose address OR name is listed, so the stanza's address (-A) is one no
# initiator here has, and only the name (-i) lets this host in.  With
# mutual CHAP (-m): the target proves itself as USER-target.
VDI3=$(vdi_name adm3)
IQN3=iqn.2026-11.org.sheepdog:t$$-admin3
GOOD=iqn.2026-12.org.sheepdog.test:good$$
OTHER=iqn.2026-12.org.sheepdog.test:other$$
make_vdi "$VDI3" $((16 * M))
TSECRET=$(new_secret)
echo "$TSECRET" >"$T_TMP/tsecret"
name_acl_loaded() {
	"$EXPORT" -a "$SHEEP" -d "$DESC" -t "$IQN3" -u acl$$ -p "$T_TMP/secret" \
		-m "$T_TMP/tsecret" -A 192.0.2.1 -i "$GOOD" \
		-o "$T_TMP/acl.conf" "$VDI3" 2>/dev/null &&
		admin_ok -c "$T_TMP/acl.conf" -e
}
check "stanza-name-acl-loaded" name_acl_loaded
tid3=$(show | sed -n "s/^Target \([0-9]*\): $IQN3\$/\1/p")
[[ -n $tid3 ]] && TGT_TIDS+=("$tid3")
URL3=$(chap_url "acl$$" "$SECRET" "$IQN3" 1)
check "stanza-acl-other-name-refused" fails_saying 'Target not found\(515\)' \
	iscsi-inq -i "$OTHER" "$URL3"
check "stanza-acl-name-admitted" iscsi-readcapacity16 -i "$GOOD" "$URL3"
check "stanza-acl-name-needs-chap" fails_saying "$AUTH_FAILED" \
	iscsi-inq -i "$GOOD" "$(tgt_url "$IQN3" 1)"
check "stanza-mutual-chap" iscsi-readcapacity16 -i "$GOOD" \
	"$URL3?target_user=acl$$-target&target_password=$TSECRET"
check "stanza-mutual-chap-wrong-target-secret" \
	fails_saying 'Invalid CHAP_R response from the target' iscsi-inq \
	-i "$GOOD" "$URL3?target_user=acl$$-target&target_password=$(new_secret)"

# ---- the shipped pkg/examples/targets.conf, its paths, target and
# initiator name made this test's; the CHAP file made by the commands its
# comment shows
EX=$T_TMP/example
IQN4=iqn.2026-11.org.sheepdog:t$$-admin4
VDI4=$(vdi_name adm4)
mkdir -p "$EX"
make_vdi "$VDI4" $((16 * M))
"$SDCTL" -a "$SHEEP" vdi snapshot -s monday "$VDI4" >/dev/null
printf 'backing-store = %s\n' "$SHEEP:$VDI4" >"$EX/vol0.conf"
printf 'backing-store = %s\n' "$SHEEP:$VDI4:monday" >"$EX/vol0@monday.conf"
sed -e "s|/etc/tgt/sheepdog/|$EX/|g" \
	-e "s|iqn.2026-11.org.sheepdog:vol0|$IQN4|" \
	-e "s|iqn.1993-08.org.debian:01:0123456789ab|$GOOD|" \
	"$TOP/pkg/examples/targets.conf" >"$EX/targets.conf"
# tgt-admin stops at the missing include, before it creates anything
no_chap_file_refused() {
	if admin -c "$EX/targets.conf" -e; then
		echo "tgt-admin loaded the example without its CHAP file"
		return 1
	fi
	grep -q "$EX/vol0.chap" "$T_TMP/admin.out" &&
		! show | grep -q "$IQN4" && return 0
	head -3 "$T_TMP/admin.out"
	return 1
}
check "example-without-chap-file-refused" no_chap_file_refused
example_chap_file() {
	sed -n '/^#   umask 077$/,/vol0\.chap$/s/^#   //p' "$EX/targets.conf" \
		>"$EX/make-chap.sh"
	bash "$EX/make-chap.sh" && [[ $(stat -c %a "$EX/vol0.chap") == 600 ]] &&
		grep -qE '^incominguser vol0 [A-Za-z0-9+/=]{24}$' "$EX/vol0.chap" &&
		return 0
	cat "$EX/make-chap.sh"
	return 1
}
check "example-chap-file-made" example_chap_file
check "example-loaded" admin_ok -c "$EX/targets.conf" -e
tid4=$(show | sed -n "s/^Target \([0-9]*\): $IQN4\$/\1/p")
[[ -n $tid4 ]] && TGT_TIDS+=("$tid4")
# libiscsi takes the CHAP user and secret from its environment too (the
# setup guide's way of keeping a secret off the command line)
EX_SECRET=$(awk '{ print $3 }' "$EX/vol0.chap")
as_vol0() {
	LIBISCSI_CHAP_USERNAME=vol0 LIBISCSI_CHAP_PASSWORD=$EX_SECRET "$@"
}
check "example-no-credentials-refused" fails_saying "$AUTH_FAILED" \
	iscsi-inq -i "$GOOD" "$(tgt_url "$IQN4" 1)"
check "example-other-name-refused" fails_saying 'Target not found\(515\)' \
	as_vol0 iscsi-inq -i "$OTHER" "$(tgt_url "$IQN4" 1)"
example_luns() {
	as_vol0 iscsi-readcapacity16 -i "$GOOD" "$(tgt_url "$IQN4" 1)" &&
		as_vol0 iscsi-readcapacity16 -i "$GOOD" "$(tgt_url "$IQN4" 2)"
}
check "example-both-luns-admitted" example_luns
check "tgtd-alive" tgtd_alive
exit $T_FAILED
