#!/bin/bash
# scripts/demo.sh - show bs_sheepdog.so in the stock Debian 12 tgtd.
#
#   scripts/demo.sh          (make demo) install missing packages, build,
#                            start minisheep, create VDI demo0 (1 GiB), start
#                            tgtd with the module on 127.0.0.1:${PORT:-3260}
#                            in a private mount namespace, export
#                            iqn.2026-11.org.sheepdog:demo LUN 1, do a
#                            qemu-io round trip and print how to connect
#   SHEEP_ADDR=ADDR VDI=NAME scripts/demo.sh
#                            export an existing VDI of a running sheep
#                            instead (no minisheep, nothing created)
#   scripts/demo.sh stop     (make demo-stop) stop only what the demo
#                            started, using its pid files
#
# State (pid files, logs, minisheep data) lives in $DEMO_DIR
# (default /var/tmp/bs_sheepdog-demo).  Needs root.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
DEMO_DIR=${DEMO_DIR:-/var/tmp/bs_sheepdog-demo}
PORT=${PORT:-3260}
IQN=iqn.2026-11.org.sheepdog:demo
BS_DIR=/usr/lib/tgt/backing-store

die() { echo "demo: $*" >&2; exit 1; }
say() { echo "demo: $*"; }

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

ctl_port() { cat "$DEMO_DIR/tgtd.ctl" 2>/dev/null || echo 0; }

# wait up to 5 s for pid $1 to exit, then kill -9 it; say that $2 stopped
reap() {
	local pid=$1 i
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	say "$2 (pid $pid) stopped"
}

stop_demo() {
	local pid ctl
	if pid_alive "$DEMO_DIR/tgtd.pid"; then
		pid=$(cat "$DEMO_DIR/tgtd.pid")
		ctl=$(ctl_port)
		# tgtd ignores SIGTERM: remove the target, then ask it to exit
		tgtadm -C "$ctl" --lld iscsi --mode target --op delete --force \
			--tid 1 >/dev/null 2>&1 || true
		tgtadm -C "$ctl" --mode system --op delete >/dev/null 2>&1 || true
		reap "$pid" tgtd
	fi
	rm -f "$DEMO_DIR/tgtd.pid"
	if pid_alive "$DEMO_DIR/minisheep.pid"; then
		pid=$(cat "$DEMO_DIR/minisheep.pid")
		kill "$pid" 2>/dev/null || true
		reap "$pid" minisheep
	fi
	rm -f "$DEMO_DIR/minisheep.pid"
}

if [[ ${1:-} == stop ]]; then
	stop_demo
	exit 0
fi
[[ -z ${1:-} ]] || die "usage: $0 [stop]"
((EUID == 0)) || die "run as root (tgtd, mount namespace, apt-get)"

# ---- packages and build
bash "$TOP/scripts/install-deps.sh" demo || die "cannot install the packages"
make -C "$TOP" -s build/lib/bs_sheepdog.so build/bin/sdctl build/bin/minisheep
mkdir -p "$DEMO_DIR" "$BS_DIR"
pid_alive "$DEMO_DIR/tgtd.pid" && die "already running (scripts/demo.sh stop first)"

# ---- sheep
if [[ -n ${SHEEP_ADDR:-} ]]; then
	[[ -n ${VDI:-} ]] || die "SHEEP_ADDR needs VDI=name of an existing VDI"
	SHEEP=$SHEEP_ADDR
	say "using the sheep at $SHEEP, VDI $VDI"
else
	VDI=${VDI:-demo0}
	mkdir -p "$DEMO_DIR/sheep"
	SHEEP=unix:$DEMO_DIR/sheep/sock
	"$TOP/build/bin/minisheep" --dir "$DEMO_DIR/sheep" \
		--listen "$SHEEP" --control "$DEMO_DIR/sheep/ctl" --lock \
		>>"$DEMO_DIR/minisheep.log" 2>&1 &
	echo $! >"$DEMO_DIR/minisheep.pid"
	for ((i = 0; i < 100; i++)); do
		[[ -S $DEMO_DIR/sheep/sock ]] && break
		sleep 0.05
	done
	[[ -S $DEMO_DIR/sheep/sock ]] || die "minisheep did not start (see $DEMO_DIR/minisheep.log)"
	say "minisheep (pid $(cat "$DEMO_DIR/minisheep.pid")) listening on $SHEEP"
	if "$TOP/build/bin/sdctl" -a "$SHEEP" vdi create "$VDI" 1G 2>"$DEMO_DIR/sdctl.err"
	then
		say "created VDI $VDI (1 GiB)"
	else
		say "VDI $VDI not created: $(cat "$DEMO_DIR/sdctl.err") (reusing it)"
	fi
fi

# ---- tgtd with only our module in its module directory
moddir=$DEMO_DIR/modules
rm -rf "$moddir"
mkdir -p "$moddir"
cp "$TOP/build/lib/bs_sheepdog.so" "$moddir/"
ctl=$((PORT % 1000 + 100))
echo "$ctl" >"$DEMO_DIR/tgtd.ctl"
unshare -m --propagation private -- sh -c \
	'mount --bind "$1" "$2" && exec tgtd -f -C "$3" --iscsi "portal=127.0.0.1:$4"' \
	sh "$moddir" "$BS_DIR" "$ctl" "$PORT" >>"$DEMO_DIR/tgtd.log" 2>&1 &
echo $! >"$DEMO_DIR/tgtd.pid"
for ((i = 0; i < 100; i++)); do
	tgtadm -C "$ctl" --mode system --op show >/dev/null 2>&1 && break
	pid_alive "$DEMO_DIR/tgtd.pid" || break
	sleep 0.05
done
pid_alive "$DEMO_DIR/tgtd.pid" || { stop_demo; die "tgtd did not start (see $DEMO_DIR/tgtd.log)"; }
say "tgtd (pid $(cat "$DEMO_DIR/tgtd.pid")) on 127.0.0.1:$PORT, control port $ctl"

T() { tgtadm -C "$ctl" --lld iscsi "$@"; }
T --mode target --op new --tid 1 --targetname "$IQN"
# the portal is loopback only, and so is the ACL (see the setup guide's
# "Secure the exports" for CHAP and ACLs on a routable address)
T --mode target --op bind --tid 1 --initiator-address 127.0.0.1
if ! T --mode logicalunit --op new --tid 1 --lun 1 --bstype sheepdog \
	--backing-store "$SHEEP:$VDI"; then
	tail -n 3 "$DEMO_DIR/tgtd.log" >&2
	stop_demo
	die "could not create the LU"
fi

URL=iscsi://127.0.0.1:$PORT/$IQN/1
# The data check goes through a real initiator and is confirmed in the store
# with sdctl.  A VDI of a real cluster (SHEEP_ADDR) is only read, never
# written: its first MiB must read the same through iSCSI and through sdctl.
check_fail() { stop_demo; die "data check failed: $1"; }
if [[ -n ${SHEEP_ADDR:-} ]]; then
	say "read-only data check on $URL (existing VDI, nothing written)"
	qemu-img dd -f raw -O raw bs=64k count=16 if="$URL" \
		of="$DEMO_DIR/check.iscsi" >/dev/null || check_fail "iSCSI read"
	"$TOP/build/bin/sdctl" -a "$SHEEP" vdi read "$VDI" 0 1M \
		>"$DEMO_DIR/check.sheep" || check_fail "sdctl read"
else
	say "qemu-io round trip on $URL, checked in the store with sdctl"
	qemu-io -f raw -c "write -P 0xd5 1M 64k" -c "read -P 0xd5 1M 64k" \
		"$URL" >"$DEMO_DIR/check.qemu-io" 2>&1 || check_fail "qemu-io"
	cat "$DEMO_DIR/check.qemu-io"
	! grep -q 'failed' "$DEMO_DIR/check.qemu-io" || check_fail "qemu-io verify"
	head -c 65536 /dev/zero | tr '\0' '\325' >"$DEMO_DIR/check.iscsi"
	"$TOP/build/bin/sdctl" -a "$SHEEP" vdi read "$VDI" 1M 64k \
		>"$DEMO_DIR/check.sheep" || check_fail "sdctl read"
fi
cmp -s "$DEMO_DIR/check.iscsi" "$DEMO_DIR/check.sheep" ||
	check_fail "iSCSI and sheep disagree"
rm -f "$DEMO_DIR"/check.*
say "data check passed: the bytes seen through iSCSI are the bytes in sheep"

echo
tgtadm -C "$ctl" --lld iscsi --mode target --op show
cat <<MSG

Connect:
  iscsiadm -m discovery -t sendtargets -p 127.0.0.1:$PORT
  iscsiadm -m node -T $IQN -p 127.0.0.1:$PORT --login
  iscsi-ls -s iscsi://127.0.0.1:$PORT
  qemu-io -f raw $URL
  qemu-system-x86_64 ... -drive file=$URL,format=raw,if=virtio
Control: tgtadm -C $ctl ...   Logs: $DEMO_DIR/*.log
Stop:    make demo-stop   (or scripts/demo.sh stop)
MSG
