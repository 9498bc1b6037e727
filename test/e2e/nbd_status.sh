#!/bin/bash
# nbd_status.sh - `sdctl gateway status` for the nbdkit plugin: an nbdkit
# serving a VDI (own status directory, BS_SHEEPDOG_RUN_DIR) has its status
# socket from .after_fork (within 5 s of its NBD socket); a scripted qemu-io sequence (8 writes, 5 reads,
# a flush) moves the export's counters by exactly that; JSON and
# Prometheus output name the export, VDI and address; the socket goes
# away when nbdkit stops.
source "$(dirname "$0")/../lib.sh"

PLUGIN=$TOP/build/lib/nbdkit-sheepdog-plugin.so
for tool in nbdkit qemu-io jq; do
	if ! command -v "$tool" >/dev/null; then
		skip nbd_status "missing $tool"
		exit 0
	fi
done
sheep_addr || { fail nbd_status "cannot start minisheep"; exit 1; }
VDI=$(vdi_name nbdst)
"$SDCTL" -a "$SHEEP" vdi create "$VDI" 16M >/dev/null ||
	{ fail nbd_status "cannot create the VDI"; exit 1; }

NBD_SOCK=$T_TMP/nbd.sock
URI="nbd+unix:///?socket=$NBD_SOCK"
on_exit nbdkit_stop
check "nbdkit-start" nbdkit_start "$NBD_SOCK" "$PLUGIN" addr="$SHEEP" \
	vdi="$VDI"
SOCK=$BS_SHEEPDOG_RUN_DIR/nbdkit-$NBD_PID.sock
# nbdkit listens for NBD before .after_fork opens the VDI and the socket
check "status-socket" wait_for_socket "$SOCK"

JSON=$T_TMP/status.json
field() {
	jq -r --argjson pid "$NBD_PID" \
		'.gateways[] | select(.pid == $pid and .process == "nbdkit") |
		 .entries[] | select(.kind == "export") | .'"$1" "$JSON"
}
status_json() { "$SDCTL" gateway status --json >"$JSON"; }
check "status-before" status_json
BASE=$T_TMP/base.json
cp "$JSON" "$BASE"
delta() { echo $(($(field "$1") - $(JSON=$BASE field "$1"))); }

cmds=()
for ((i = 0; i < 8; i++)); do cmds+=(-c "write -P 0x3c $((i * 8192)) 4k"); done
for ((i = 0; i < 5; i++)); do cmds+=(-c "read -P 0x3c $((i * 8192)) 4k"); done
cmds+=(-c flush)
check "qemu-io-sequence" qemu-io -f raw "${cmds[@]}" "$URI"
check "status-after" status_json
check "writes-counted" want "$(delta writes)" -eq 8
check "write-bytes-counted" want "$(delta write_bytes)" -eq $((8 * 4096))
check "reads-counted" want "$(delta reads)" -eq 5
check "read-bytes-counted" want "$(delta read_bytes)" -eq $((5 * 4096))
check "flush-counted" want "$(delta flushes)" -ge 1
check "no-errors" want "$(field errors)" -eq 0
check "export-named" want "$(field export)" = "$VDI"
check "vdi-named" want "$(field vdi)" = "$VDI"
check "address" want "$(field addr)" = "$SHEEP"
prom_has_export() {
	"$SDCTL" gateway status --prometheus >"$T_TMP/st.prom" &&
		grep -q "^sheepdog_gateway_writes_total{process=\"nbdkit\",pid=\"$NBD_PID\",export=\"$VDI\",vdi=\"$VDI\",addr=\"$SHEEP\"} " "$T_TMP/st.prom" ||
		return 1
	if command -v promtool >/dev/null; then
		promtool check metrics <"$T_TMP/st.prom"
	fi
}
check "prometheus-export" prom_has_export
nbdkit_stop
check "socket-gone-after-stop" not test -e "$SOCK"
