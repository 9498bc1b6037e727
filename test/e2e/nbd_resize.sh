#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# nbd_resize.sh - a VDI exported by the nbdkit plugin grows (sdctl vdi
# resize) while a client is connected: the connected client (an
# interactive qemu-io) keeps the size of its handshake, as NBD has no way
# to change it; a new connection (nbdinfo, qemu-io) gets the new size,
# the old data is intact and the new space takes writes that the sheep
# then holds.  See nbdkit-sheepdog-plugin(1).
source "$(dirname "$0")/../lib.sh"

PLUGIN=${NBD_PLUGIN:-$TOP/build/lib/nbdkit-sheepdog-plugin.so}
MIB=1048576
OLD=$((16 * MIB))
NEW=$((40 * MIB))

missing=
for tool in nbdkit nbdinfo qemu-io; do
	command -v "$tool" >/dev/null || missing+=" $tool"
done
if [[ -n $missing ]]; then
	skip nbd_resize "missing:$missing"
	exit 0
fi
sheep_addr || { fail nbd_resize "cannot start minisheep"; exit 1; }

VDI=$(vdi_name nbdgrow)
SOCK=$T_TMP/nbd.sock
URI="nbd+unix:///?socket=$SOCK"
check "create" "$SDCTL" -a "$SHEEP" vdi create "$VDI" "$OLD"
head -c 65536 /dev/urandom >"$T_TMP/old"
check "data-at-the-old-end" "$SDCTL" -a "$SHEEP" vdi write "$VDI" \
	$((OLD - 65536)) <"$T_TMP/old"
if ! nbdkit_start "$SOCK" "$PLUGIN" addr="$SHEEP" vdi="$VDI"; then
	fail nbd_resize "cannot start nbdkit"
	exit 1
fi
on_exit nbdkit_stop

# a client connected across the resize: qemu-io reading commands from a
# fifo
mkfifo "$T_TMP/qin"
qemu-io -f raw "$URI" <"$T_TMP/qin" >"$T_TMP/qout" 2>&1 &
QIO_PID=$!
on_exit stop_var_pid QIO_PID
exec 7>"$T_TMP/qin"
echo "length" >&7
# lines of qemu-io's output matching PATTERN, waited for up to 10 s
qout_has() {
	local n=$1 pat=$2 i
	for ((i = 0; i < 200; i++)); do
		(($(grep -cE -- "$pat" "$T_TMP/qout") >= n)) && return 0
		sleep 0.05
	done
	echo "qemu-io said: $(cat "$T_TMP/qout")"
	return 1
}
check "connected-client-sees-the-old-size" qout_has 1 '(^|> )16 MiB$'

check "resize" "$SDCTL" -a "$SHEEP" vdi resize "$VDI" "$NEW"
size_is() {
	local got
	got=$(nbdinfo --size "$URI" 2>&1)
	want "$got" == "$1" "nbdinfo --size says '$got', wanted $1"
}
check "new-connection-gets-the-new-size" size_is "$NEW"

echo "length" >&7
check "connected-client-keeps-its-size" qout_has 2 '(^|> )16 MiB$'
echo "quit" >&7
exec 7>&-
wait "$QIO_PID"
QIO_PID=

new_space() {
	qemu-io -f raw -c "read -P 0 $((OLD + MIB)) 4k" \
		-c "write -P 0x5a $((NEW - 65536)) 65536" \
		-c "read -P 0x5a $((NEW - 65536)) 65536" "$URI" >"$T_TMP/q2" 2>&1 &&
		! grep -qiE 'fail|error|mismatch' "$T_TMP/q2" && return 0
	cat "$T_TMP/q2"
	return 1
}
check "new-space-through-a-new-connection" new_space
sheep_holds() {
	cmp -s <("$SDCTL" -a "$SHEEP" vdi read "$VDI" $((NEW - 65536)) 65536) \
		<(head -c 65536 /dev/zero | tr '\0' '\132') &&
		cmp -s <("$SDCTL" -a "$SHEEP" vdi read "$VDI" $((OLD - 65536)) 65536) \
			"$T_TMP/old"
}
check "sheep-holds-old-and-new-data" sheep_holds
exit $T_FAILED
