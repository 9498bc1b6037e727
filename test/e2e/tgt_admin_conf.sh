#!/bin/bash
# tgt_admin_conf.sh - targets.conf with the stock tgt-admin.  tgt-admin skips
# a `bs-type sheepdog` backing store given as ADDR:VDI (it only accepts
# files, rbd and glfs), so scripts/export-vdi.sh writes a descriptor file
# and the stanza names it.  Checks: the stock skip; `tgt-admin -e` and
# `--update ALL` (with -C, tgt-admin's own control-port option, against a
# private tgtd) create a working LUN and a read-only snapshot LUN from
# descriptors; the descriptor's bsopts apply unless the stanza's bsopts
# (--bsopts) are given; a malformed descriptor fails with one log line.
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
show() { tgtadm_c --lld iscsi --mode target --op show; }
# the "LUN: N" block of the show output
lun_block() {
	show | awk -v l="LUN: $1" '$0 ~ "^ +LUN: " { on = ($0 ~ l "$") } on'
}
stats_conns() {
	"$MINISHEEP" --ctl "$SHEEP_CTL" stats |
		sed -n 's/.* connections=\([0-9]*\).*/\1/p'
}
# the module's default number of connections (an LU without connections=)
DEF_CONNS=$(sed -n 's/^#define SD_DEFAULT_CONNS[[:space:]]*\([0-9]*\).*/\1/p' \
	"$TOP/usr/lib/sd_conn.h")
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

# ---- export-vdi.sh writes descriptors and stanzas
if "$EXPORT" -a "$SHEEP" -d "$DESC" -t "$IQN" -b 'connections=3' "$VDI" \
	>"$T_TMP/stanza1" 2>"$T_TMP/export.err" &&
   "$EXPORT" -a "$SHEEP" -d "$DESC" -t "$IQN" -s snap1 -l 2 "$VDI" \
	>"$T_TMP/stanza2" 2>>"$T_TMP/export.err"; then
	pass "export-vdi"
else
	fail "export-vdi" "$(cat "$T_TMP/export.err")"
	exit 1
fi
if grep -qx "backing-store = $SHEEP:$VDI" "$DESC/$VDI.conf" &&
   grep -qx "bsopts = connections=3" "$DESC/$VDI.conf" &&
   grep -qx "backing-store = $SHEEP:$VDI:snap1" "$DESC/$VDI@snap1.conf" &&
   grep -q "<backing-store $DESC/$VDI@snap1.conf>" "$T_TMP/stanza2"; then
	pass "export-vdi-files"
else
	fail "export-vdi-files" "$(cat "$DESC"/* "$T_TMP/stanza2")"
fi
if "$EXPORT" -a "$SHEEP" -d "$DESC" -s nosuch "$VDI" >/dev/null 2>"$T_TMP/export.err"
then
	fail "export-vdi-missing-snapshot" "accepted a snapshot that does not exist"
elif grep -q "no snapshot 'nosuch'" "$T_TMP/export.err" &&
     [[ ! -e $DESC/$VDI@nosuch.conf ]]; then
	pass "export-vdi-missing-snapshot"
else
	fail "export-vdi-missing-snapshot" "$(cat "$T_TMP/export.err")"
fi

# ---- tgt-admin -e: two stanzas of one target (tgt-admin merges them)
cat "$T_TMP/stanza1" "$T_TMP/stanza2" >"$CONF"
before=$(stats_conns)
if admin -c "$CONF" -e; then
	pass "tgt-admin-execute"
else
	fail "tgt-admin-execute" "$(tail -5 "$T_TMP/admin.out"; tail -3 "$TGT_LOG")"
	exit 1
fi
TGT_TIDS+=(1)
if lun_block 1 | grep -q "Backing store path: $DESC/$VDI.conf" &&
   lun_block 1 | grep -q "Backing store type: sheepdog" &&
   lun_block 1 | grep -q "Readonly: No" &&
   lun_block 2 | grep -q "Backing store path: $DESC/$VDI@snap1.conf" &&
   lun_block 2 | grep -q "Readonly: Yes"; then
	pass "tgt-admin-luns"
else
	fail "tgt-admin-luns" "$(show | grep -E 'LUN|path|Readonly' | tr '\n' ' ')"
fi
# bsopts of the descriptor: 3 connections (+ the snapshot LUN's default);
# minisheep's stats count every connection accepted
after=$(stats_conns)
if [[ -n $before && -n $after ]] && ((after - before == 3 + DEF_CONNS)); then
	pass "descriptor-bsopts-applied"
else
	fail "descriptor-bsopts-applied" "connections $before -> $after, expected +3 +$DEF_CONNS"
fi

URL1=$(tgt_url "$IQN" 1)
URL2=$(tgt_url "$IQN" 2)
if qio "$URL1" "read -P 0x62 0 4k" "write -P 0x63 8k 4k"; then
	pass "descriptor-lun-io"
else
	fail "descriptor-lun-io" "$(head -2 "$QIO_OUT")"
fi
if [[ $(sd_read "$VDI" 8192 4096 | tr -d 'c' | wc -c) == 0 ]]; then
	pass "descriptor-lun-write-landed"
else
	fail "descriptor-lun-write-landed" "sdctl does not read the written bytes"
fi
if qio_ro "$URL2" "read -P 0x61 0 4k"; then
	pass "descriptor-snapshot-lun"
else
	fail "descriptor-snapshot-lun" "$(head -2 "$QIO_OUT")"
fi

# ---- a stanza with bsopts (tgt-admin passes --bsopts): they win over the
# descriptor's as a whole.  -e adds the new target, leaves target 1 alone.
"$EXPORT" -a "$SHEEP" -d "$DESC" -t "$IQN2" -b 'connections=4' "$VDI2" \
	>"$T_TMP/stanza3" 2>/dev/null
sed 's|^\( *\)bs-type sheepdog|&\n\1bsopts timeout=20|' "$T_TMP/stanza3" \
	>>"$CONF"
before=$(stats_conns)
if admin -c "$CONF" -e && show | grep -q "Target 2: $IQN2"; then
	pass "tgt-admin-execute-second"
else
	fail "tgt-admin-execute-second" "$(tail -5 "$T_TMP/admin.out"; tail -3 "$TGT_LOG")"
fi
TGT_TIDS+=(2)
after=$(stats_conns)
if [[ -n $before && -n $after ]] && ((after - before == DEF_CONNS)); then
	pass "bsopts-option-beats-descriptor"
else
	fail "bsopts-option-beats-descriptor" "connections $before -> $after, expected +$DEF_CONNS (default), not +4"
fi

# ---- --update ALL: re-creates the idle targets from the config (the
# descriptors are read again) and keeps them working
if admin -c "$CONF" --update ALL && show | grep -q "Target 1: $IQN$" &&
   show | grep -q "Target 2: $IQN2$" &&
   [[ $(show | grep -c "Backing store path: $DESC/") == 3 ]]; then
	pass "tgt-admin-update-all"
else
	fail "tgt-admin-update-all" "$(tail -5 "$T_TMP/admin.out"; show | grep -E 'Target|path')"
fi
if qio "$(tgt_url "$IQN2" 1)" "write -P 0x64 0 4k" "read -P 0x64 0 4k" &&
   qio "$URL1" "read -P 0x63 8k 4k"; then
	pass "update-all-lun-io"
else
	fail "update-all-lun-io" "$(head -2 "$QIO_OUT")"
fi

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
if admin -c "$T_TMP/bad.conf" -e; then
	fail "bad-descriptor-refused" "tgt-admin succeeded"
else
	pass "bad-descriptor-refused"
fi
TGT_TIDS+=(3)
lines=$(grep 'bs_sheepdog:' "$TGT_LOG" | tail -n +$((n0 + 1)))
if [[ $(grep -c . <<<"$lines") == 1 ]] &&
   grep -q "bad descriptor $DESC/bad.conf: line 2: unknown key 'bsopt'" <<<"$lines"
then
	pass "bad-descriptor-one-line"
else
	fail "bad-descriptor-one-line" "log: $lines"
fi
grep "bs_sheepdog:" "$TGT_LOG" | tail -n 1
check "tgtd-alive" tgtd_alive
exit $T_FAILED
