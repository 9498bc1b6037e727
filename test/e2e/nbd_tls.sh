#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# nbd_tls.sh - the sheepdog plugin behind nbdkit --tls=require with a
# pre-shared key made at run time by psktool.  Without TLS nbdinfo and
# qemu-io are refused before they see the export; with a key of another
# value, or another user, the TLS handshake fails; with the key nbdinfo
# reads the size, nbdcopy the data written with sdctl, and qemu-io (a
# tls-creds-psk object) writes what sdctl then reads.  Over a unix socket
# (-U) and over TCP on loopback (-i 127.0.0.1 -p PORT), the way
# nbdkit-sheepdog@.service runs it.
source "$(dirname "$0")/../lib.sh"

PLUGIN=${NBD_PLUGIN:-$TOP/build/lib/nbdkit-sheepdog-plugin.so}
MIB=1048576
SIZE=$((16 * MIB))

for tool in nbdkit nbdinfo nbdcopy qemu-io psktool; do
	command -v "$tool" >/dev/null && continue
	skip nbd_tls "$tool missing (apt-get install nbdkit libnbd-bin qemu-utils gnutls-bin)"
	exit 0
done
if ! nbdkit --dump-config | grep -qx 'tls=yes'; then
	skip nbd_tls "this nbdkit is built without TLS"
	exit 0
fi
if [[ ! -f $PLUGIN || ! -x $SDCTL ]]; then
	fail nbd_tls "build first: $PLUGIN and $SDCTL are needed"
	exit 1
fi
sheep_addr || { fail nbd_tls "cannot start minisheep"; exit 1; }
sdctl() { "$SDCTL" -a "$SHEEP" "$@"; }

V=$(vdi_name tls)
if ! sdctl vdi create "$V" "$SIZE" >"$T_TMP/sdctl.out" 2>&1; then
	fail nbd_tls_create "$(cat "$T_TMP/sdctl.out")"
	exit 1
fi
head -c 65536 /dev/urandom >"$T_TMP/data"
sdctl vdi write "$V" "$MIB" 65536 <"$T_TMP/data"

# the keys: psktool draws them from the system's random source.  qemu
# wants the client's key file as DIR/keys.psk.
USER1=tls$$
KEYS=$T_TMP/keys
mkdir -p "$KEYS" "$T_TMP/wrong" "$T_TMP/stranger"
make_keys() {
	psktool -u "$USER1" -p "$KEYS/keys.psk" &&
		psktool -u "$USER1" -p "$T_TMP/wrong/keys.psk" &&
		psktool -u other$$ -p "$T_TMP/stranger/keys.psk" &&
		! cmp -s "$KEYS/keys.psk" "$T_TMP/wrong/keys.psk"
}
check "psktool-keys" make_keys >/dev/null || exit 1
PSK=$KEYS/keys.psk

NBD_SOCK=$T_TMP/nbd.sock
on_exit nbdkit_stop
check "nbdkit-tls-require" nbdkit_start "$NBD_SOCK" --tls=require \
	--tls-psk="$PSK" "$PLUGIN" addr="$SHEEP" vdi="$V" || exit 1
PLAIN="nbd+unix:///?socket=$NBD_SOCK"
# tls_uri KEYFILE [USER]: the export over TLS with that key
tls_uri() { echo "nbds+unix://${2:-$USER1}@/?socket=$NBD_SOCK&tls-psk-file=$1"; }

check "plain-nbdinfo-refused" fails_saying "server requires TLS" \
	nbdinfo --size "$PLAIN"
check "plain-qemu-refused" fails_saying "TLS negotiation required" \
	qemu-io -f raw -r -c "read 0 512" "$PLAIN"
# the server drops the handshake ("An illegal parameter has been
# received" in its log); the client sees the connection end
HS_FAILED="gnutls_handshake: The TLS connection was non-properly terminated"
check "wrong-key-refused" fails_saying "$HS_FAILED" \
	nbdinfo --size "$(tls_uri "$T_TMP/wrong/keys.psk")"
check "unknown-user-refused" fails_saying "$HS_FAILED" \
	nbdinfo --size "$(tls_uri "$T_TMP/stranger/keys.psk" other$$)"
check "wrong-key-qemu-refused" fails_saying "TLS handshake failed" \
	qemu-io --object \
	"tls-creds-psk,id=tls0,endpoint=client,dir=$T_TMP/wrong,username=$USER1" \
	--image-opts -c "read 0 512" \
	"driver=nbd,server.type=unix,server.path=$NBD_SOCK,tls-creds=tls0"

size=$(nbdinfo --size "$(tls_uri "$PSK")" 2>"$T_TMP/nbdinfo.err")
check "tls-nbdinfo-size" want "$size" == "$SIZE" \
	"size '$size', expected $SIZE: $(head -2 "$T_TMP/nbdinfo.err")"
reads_data() {
	nbdcopy "$(tls_uri "$PSK")" "$T_TMP/disk" &&
		cmp <(tail -c +$((MIB + 1)) "$T_TMP/disk" | head -c 65536) \
			"$T_TMP/data"
}
check "tls-nbdcopy-reads-vdi-data" reads_data

# qemu-io with a tls-creds-psk object: writes land in the VDI
QEMU_TLS=(--object "tls-creds-psk,id=tls0,endpoint=client,dir=$KEYS,username=$USER1")
qemu_tls() {
	local out
	out=$(qemu-io "${QEMU_TLS[@]}" --image-opts "$@" \
		"driver=nbd,server.type=unix,server.path=$NBD_SOCK,tls-creds=tls0" 2>&1) &&
		! grep -qiE 'fail|error' <<<"$out" && return 0
	head -n 2 <<<"$out"
	return 1
}
check "tls-qemu-write-read" qemu_tls -c "write -P 0x6b $((2 * MIB)) 64k" \
	-c "read -P 0x6b $((2 * MIB)) 64k"
sheep_has() {
	cmp -s <(sdctl vdi read "$V" $((2 * MIB)) 65536) \
		<(head -c 65536 /dev/zero | tr '\0' '\153') && return 0
	echo "sdctl does not read the 0x6b qemu-io wrote"
	return 1
}
check "tls-write-on-sheep" sheep_has
nbdkit_stop

# ---- TCP on loopback, as the unit's NBDKIT_ARGS would give it
PORT=$(free_port)
out=$("${T_PRELOAD_ENV[@]}" nbdkit -i 127.0.0.1 -p "$PORT" --tls=require \
	--tls-psk="$PSK" "$PLUGIN" addr="$SHEEP" vdi="$V" \
	--run "env -u LD_PRELOAD nbdinfo --size 'nbd://127.0.0.1:$PORT/' 2>&1;
	       env -u LD_PRELOAD nbdinfo --size 'nbds://$USER1@127.0.0.1:$PORT/?tls-psk-file=$PSK'" 2>&1)
tcp_refused_then_served() {
	grep -q "server requires TLS" <<<"$out" && grep -qx "$SIZE" <<<"$out" &&
		return 0
	head -n 3 <<<"$out"
	return 1
}
check "tls-tcp-loopback" tcp_refused_then_served
exit $T_FAILED
