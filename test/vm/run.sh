#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run.sh - `make check-vm`: a real Linux kernel as the iSCSI initiator.
# Builds (or reuses) the kernel and initramfs in build/vm with
# test/vm/fetch-and-build.sh, starts minisheep with a VDI holding a host
# pattern and a snapshot of it, starts the stock tgtd with our module on a
# free loopback port (target 1 LUN 1: the VDI; target 2 LUN 1: the
# snapshot), and two more tgtds (gateways 1 and 2 of a multipath set: LUN
# 1 of one target on a second VDI, bsopts lock=shared, each through its own
# sheep node of a minisheep formatted with locking), and boots qemu with
# user networking restricted to one guestfwd per portal.  The guest
# (test/vm/init) reports on its second serial port; this script prints its
# PASS/FAIL lines, does the host half of each check (checksums, sdctl
# read-back, allocation before and after discard, growing the VDI with
# sdctl vdi resize while the guest is logged in; killing, restarting and
# killing the multipath gateways while the guest writes to its
# dm-multipath device, stalling gateway 1's sheep node while it reads),
# and ends with "N passed, N failed".  KVM is used when a probe boot under
# it reaches the kernel's panic without a root file system in time,
# otherwise TCG.  Everything started here is stopped by pid; a wall-clock
# limit (VM_TIMEOUT, default 300 s with TCG, 150 s with KVM) bounds the
# guest.  Logs of the last run stay in build/vm/last-run/.
#
#   test/vm/run.sh            (VM_ACCEL=kvm|tcg forces the accelerator)
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_tgt.sh"

BUILD=${VM_BUILD:-$TOP/build/vm}
LAST=$BUILD/last-run
MIB=1048576
VDI_SIZE=$((256 * MIB))
HOST_OFF=$((64 * MIB)) HOST_LEN=$((2 * MIB))	# host writes, guest reads
GUEST_OFF=$((80 * MIB)) GUEST_LEN=$((2 * MIB))	# guest writes, host reads
DISC_OFF=$((128 * MIB)) DISC_LEN=$((8 * MIB))	# two 4 MiB objects
GROWN=$((320 * MIB))				# sdctl vdi resize, online
GROWN_OFF=$((288 * MIB)) GROWN_LEN=$((2 * MIB))	# guest writes, host reads
SNAP_TAG=vmsnap
MP_SIZE=$((64 * MIB))				# the multipath VDI:
MP_FSLEN=$((32 * MIB))				# ext2 at its start,
MP_OFF=$((40 * MIB)) MP_LEN=$((16 * MIB))	# the guest's O_DIRECT pattern
PASSED=0 FAILED=0
INIT_IQN=iqn.2026-11.org.sheepdog:vm-guest
QEMU_PID=

say() { echo "vm: $*" >&2; }
vpass() { pass "$1"; PASSED=$((PASSED + 1)); }
vfail() { fail "$1" "$2"; FAILED=$((FAILED + 1)); }
summary() { echo "$PASSED passed, $FAILED failed"; }
console_tail() {
	[[ -f $T_TMP/console.log ]] || return 0
	echo "---- guest console (last 40 lines) ----" >&2
	tr -d '\r' <"$T_TMP/console.log" | tail -n 40 >&2
	echo "---- end of guest console ----" >&2
}
# abort NAME WHY: a setup step failed; nothing after it can run
abort() {
	vfail "$1" "$2"
	summary
	exit 1
}
keep_logs() {
	rm -rf "$LAST"
	mkdir -p "$LAST"
	cp "$T_TMP"/*.log "$LAST/" 2>/dev/null || true
}
on_exit keep_logs

if ((EUID != 0)); then
	abort vm-setup "needs root (tgtd in a mount namespace, apt-get)"
fi
start_time=$SECONDS

# ---- host tools ------------------------------------------------------------------
if ! command -v qemu-system-x86_64 >/dev/null; then
	say "installing qemu-system-x86"
	if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
		apt-get update -qq >&2
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends qemu-system-x86 >"$T_TMP/apt.log" 2>&1 ||
		abort vm-setup "apt-get install qemu-system-x86 failed: $(tail -n 2 "$T_TMP/apt.log")"
fi
for tool in "$TGTD" "$TGTADM" unshare sha256sum; do
	command -v "$tool" >/dev/null || abort vm-setup "missing $tool"
done
[[ -f $TGT_MODULE && -x $SDCTL && -x $MINISHEEP ]] ||
	abort vm-setup "build first (make): module, sdctl and minisheep are needed"
mkdir -p "$TGT_BS_DIR"

# ---- kernel and initramfs ---------------------------------------------------------
t0=$SECONDS
KERNEL=$(bash "$TOP/test/vm/fetch-and-build.sh" "$BUILD") ||
	abort vm-build "cannot fetch or build the kernel and initramfs"
INITRD=$BUILD/initramfs.gz
BUSYBOX=$BUILD/extract/bin/busybox
say "kernel and initramfs ready in $((SECONDS - t0)) s"

# ---- sheep, VDI, pattern, snapshot --------------------------------------------------
sdctl() { "$SDCTL" -a "$SHEEP" "$@"; }
# formatted with locking, node 2 for multipath gateway 2
start_minisheep --lock "$(node_arg 2)" || abort vm-setup "cannot start minisheep"
VDI=$(vdi_name vm)
sdctl vdi create "$VDI" "$VDI_SIZE" >"$T_TMP/sdctl.log" 2>&1 ||
	abort vm-setup "sdctl vdi create: $(cat "$T_TMP/sdctl.log")"
head -c "$HOST_LEN" /dev/urandom >"$T_TMP/host.pat"
HOST_SUM=$(sha256sum <"$T_TMP/host.pat" | cut -d' ' -f1)
sdctl vdi write "$VDI" "$HOST_OFF" <"$T_TMP/host.pat" >>"$T_TMP/sdctl.log" 2>&1 ||
	abort vm-setup "sdctl vdi write: $(tail -n 1 "$T_TMP/sdctl.log")"
# the snapshot is taken before any LU opens the VDI
sdctl vdi snapshot -s "$SNAP_TAG" "$VDI" >>"$T_TMP/sdctl.log" 2>&1 ||
	abort vm-setup "sdctl vdi snapshot: $(tail -n 1 "$T_TMP/sdctl.log")"

# ---- tgtd ---------------------------------------------------------------------------
tgt_start 2>"$T_TMP/tgt-start.log" ||
	abort vm-setup "cannot start tgtd: $(tail -n 3 "$T_TMP/tgt-start.log")"
IQN=iqn.2026-11.org.sheepdog:vm$$
SNAP_IQN=iqn.2026-11.org.sheepdog:vm$$-snap
tgt_target 1 "$IQN" || abort vm-setup "cannot create target 1"
tgt_lu 1 1 "$SHEEP:$VDI" || abort vm-setup "LU of $VDI: $(cat "$TGT_OUT")"
tgt_target 2 "$SNAP_IQN" || abort vm-setup "cannot create target 2"
tgt_lu 2 1 "$SHEEP:$VDI:$SNAP_TAG" ||
	abort vm-setup "LU of the snapshot: $(cat "$TGT_OUT")"
say "tgtd pid $TGT_PID on 127.0.0.1:$TGT_PORT: $IQN (LUN 1), $SNAP_IQN (LUN 1, snapshot)"

# ---- multipath gateways ----------------------------------------------------------
# Gateway N (1 or 2) is a tgtd of its own exporting LUN 1 of MP_IQN on
# MP_VDI with MP_BSOPTS (lock=shared) through sheep node N (sheep counts
# one shared participation per node).  The guest reaches it at 10.0.2.10N:3260
# through a guestfwd (test/vm/relay.sh) that connects to the port written
# in $T_TMP/mpN.port, so a restarted gateway is found on its new port.  MP_GW<N> holds its
# pid, port, control port and tids, as lib_tgt.sh's TGT_* variables do
# for the tgtd in use.
MP_IQN=iqn.2026-11.org.sheepdog:vm$$-mpath
MP_VDI=$(vdi_name vm-mpath)
# timeout=2: a gateway whose sheep stalls answers ABORTED COMMAND after
# 2 s, and Linux fails its path after 6 of them
MP_BSOPTS="lock=shared;timeout=2"
MP_GW1=() MP_GW2=()
tgt_save() { local -n to=$1; to=("$TGT_PID" "$TGT_PORT" "$TGT_CTL" "${TGT_TIDS[@]}"); }
tgt_use() {
	local -n from=$1
	TGT_PID=${from[0]} TGT_PORT=${from[1]} TGT_CTL=${from[2]}
	TGT_TIDS=("${from[@]:3}")
}
mp_node() { if (($1 == 1)); then echo "$SHEEP"; else sheep_node "$1"; fi; }
mp_gateway_start() {
	local n=$1 main rc=0
	tgt_save main
	TGT_PID='' TGT_TIDS=()
	# the same SCSI identity on both, as doc/setup-guide.md says
	if tgt_start 2>>"$T_TMP/tgt-start.log" && tgt_target 1 "$MP_IQN" &&
	   tgt_lu 1 1 "$(mp_node "$n"):$MP_VDI" sheepdog "$MP_BSOPTS" &&
	   tgtadm_c --lld iscsi --mode logicalunit --op update --tid 1 --lun 1 \
		--params "scsi_id=$MP_VDI,scsi_sn=$MP_VDI" >"$TGT_OUT" 2>&1; then
		echo "$TGT_PORT" >"$T_TMP/mp$n.port"
	else
		rc=1
	fi
	tgt_save "MP_GW$n"
	tgt_use main
	return $rc
}
mp_gateway_stop() {
	local main
	tgt_save main
	tgt_use "MP_GW$1"
	tgt_stop
	tgt_save "MP_GW$1"
	tgt_use main
}
mp_gateway_kill() {
	local -n gw=MP_GW$1
	[[ -n ${gw[0]} ]] && kill -9 "${gw[0]}" 2>/dev/null || return 1
	wait "${gw[0]}" 2>/dev/null
	gw[0]=
}
mp_gateway_alive() { local -n gw=MP_GW$1; [[ -n ${gw[0]} ]] && kill -0 "${gw[0]}" 2>/dev/null; }

sdctl vdi create "$MP_VDI" "$MP_SIZE" >>"$T_TMP/sdctl.log" 2>&1 ||
	abort vm-setup "sdctl vdi create $MP_VDI: $(tail -n 1 "$T_TMP/sdctl.log")"
for n in 1 2; do
	on_exit mp_gateway_stop "$n"
	mp_gateway_start "$n" ||
		abort vm-setup "multipath gateway $n: $(cat "$TGT_OUT" "$T_TMP/tgt-start.log")"
done
say "multipath gateways: tgtd pids ${MP_GW1[0]}, ${MP_GW2[0]} on ports ${MP_GW1[1]}, ${MP_GW2[1]}: $MP_IQN LUN 1 through $(mp_node 1), $(mp_node 2)"

# ---- accelerator ---------------------------------------------------------------------
QEMU_BASE=(qemu-system-x86_64 -nodefaults -display none -no-reboot -m 512 -smp 1)

# KVM only when a probe boot under it gets as far as mounting a root file
# system (it has none, so the kernel panics and qemu exits) within 20 s
kvm_works() {
	local log=$T_TMP/kvm-probe.log pid i
	[[ -r /dev/kvm && -w /dev/kvm ]] || return 1
	: >"$log"
	"${QEMU_BASE[@]}" -machine q35,accel=kvm -cpu host -kernel "$KERNEL" \
		-append "console=ttyS0 panic=-1" -serial "file:$log" \
		>"$T_TMP/kvm-probe-qemu.log" 2>&1 &
	pid=$!
	for ((i = 0; i < 200; i++)); do
		if grep -q -e 'Kernel panic' -e 'VFS: ' "$log" 2>/dev/null; then
			stop_pid "$pid"
			grep -q 'Linux version' "$log"
			return
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	stop_pid "$pid"
	return 1
}

case ${VM_ACCEL:-auto} in
kvm) ACCEL=kvm ;;
tcg) ACCEL=tcg ;;
*)	t0=$SECONDS
	if kvm_works 2>/dev/null; then ACCEL=kvm; else ACCEL=tcg; fi
	say "KVM probe: $ACCEL ($((SECONDS - t0)) s)" ;;
esac
if [[ $ACCEL == kvm ]]; then
	ACCEL_ARGS=(-machine q35,accel=kvm -cpu host)
	LIMIT=${VM_TIMEOUT:-150}
else
	ACCEL_ARGS=(-machine q35,accel=tcg)
	LIMIT=${VM_TIMEOUT:-300}
fi

# ---- host halves of the checks -------------------------------------------------------
declare -A INFO=()
used_of_vdi() {
	sdctl vdi list -r | awk -v n="\"$VDI\"" '$1 == n && $2 == 0 { print $4 }'
}
zeros_at() {	# OFF LEN: the VDI reads as zeros there
	cmp -s <(sdctl vdi read "$VDI" "$1" "$2") <(head -c "$2" /dev/zero)
}
USED_BEFORE=
host_check() {
	local used
	case $1 in
	discard-before)
		USED_BEFORE=$(used_of_vdi)
		if [[ -n $USED_BEFORE ]] && ! zeros_at "$DISC_OFF" $((2 * DISC_LEN)); then
			vpass host-sees-discard-fill
		else
			vfail host-sees-discard-fill "used '$USED_BEFORE', or the filled range reads as zeros"
		fi ;;
	discard-after)
		used=$(used_of_vdi)
		if [[ -n $used && -n $USED_BEFORE ]] &&
		   ((USED_BEFORE - used == DISC_LEN)); then
			vpass host-sees-objects-deallocated
		else
			vfail host-sees-objects-deallocated "used went from '$USED_BEFORE' to '$used' bytes, expected a drop of $DISC_LEN"
		fi
		if zeros_at "$DISC_OFF" "$DISC_LEN" &&
		   ! zeros_at $((DISC_OFF + DISC_LEN)) "$DISC_LEN"; then
			vpass host-reads-discarded-zeros
		else
			vfail host-reads-discarded-zeros "sdctl vdi read: discarded range not zero or the rest lost"
		fi ;;
	resize-vdi)
		if sdctl vdi resize "$VDI" "$GROWN" >"$TGT_OUT" 2>&1; then
			vpass host-resize-vdi
		else
			vfail host-resize-vdi "sdctl vdi resize: $(cat "$TGT_OUT")"
			return 1
		fi ;;
	mpath-kill-gw[12])
		if mp_gateway_kill "${1#mpath-kill-gw}"; then
			vpass "host-$1"
		else
			vfail "host-$1" "gateway ${1#mpath-kill-gw} was not running"
			return 1
		fi ;;
	mpath-stall-node1 | mpath-unstall-node1)
		local onoff=on
		[[ $1 == mpath-unstall-* ]] && onoff=off
		if "$MINISHEEP" --ctl "$SHEEP_CTL" node 1 stall "$onoff" >"$TGT_OUT" 2>&1
		then
			vpass "host-$1"
		else
			vfail "host-$1" "minisheep node 1 stall $onoff: $(cat "$TGT_OUT")"
			return 1
		fi ;;
	mpath-restart-gw1)
		# the killed gateway's shared participation is taken over
		if mp_gateway_start 1; then
			vpass "host-$1"
		else
			vfail "host-$1" "$(cat "$TGT_OUT")"
			return 1
		fi ;;
	*) vfail "host-check-$1" "unknown check" ;;
	esac
}

# ---- boot ---------------------------------------------------------------------------------
mkfifo "$T_TMP/results.in" "$T_TMP/results.out"
exec {RFD}<>"$T_TMP/results.out" {WFD}<>"$T_TMP/results.in"
close_results() { exec {RFD}<&- {WFD}>&-; }
on_exit close_results
: >"$T_TMP/console.log"
APPEND="console=ttyS0,115200 panic=-1 loglevel=6"
APPEND+=" vmt.initiator=$INIT_IQN vmt.target=$IQN vmt.snaptarget=$SNAP_IQN"
APPEND+=" vmt.portal=10.0.2.100 vmt.port=3260 vmt.size=$VDI_SIZE"
APPEND+=" vmt.hostoff=$HOST_OFF vmt.hostlen=$HOST_LEN"
APPEND+=" vmt.guestoff=$GUEST_OFF vmt.guestlen=$GUEST_LEN"
APPEND+=" vmt.discoff=$DISC_OFF vmt.disclen=$DISC_LEN"
APPEND+=" vmt.grown=$GROWN vmt.grownoff=$GROWN_OFF vmt.grownlen=$GROWN_LEN"
APPEND+=" vmt.mptarget=$MP_IQN vmt.mpportal1=10.0.2.101 vmt.mpportal2=10.0.2.102"
APPEND+=" vmt.mpsize=$MP_SIZE vmt.mpfslen=$MP_FSLEN vmt.mpoff=$MP_OFF vmt.mplen=$MP_LEN"
# restrict=on: the guest reaches nothing but the guestfwds, which run one
# busybox nc to a tgtd portal per guest connection; test/vm/relay.sh does
# that for the multipath gateways, which come and go
NETDEV="user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:3260-cmd:$BUSYBOX nc 127.0.0.1 $TGT_PORT"
for n in 1 2; do
	NETDEV+=",guestfwd=tcp:10.0.2.10$n:3260-cmd:bash $TOP/test/vm/relay.sh $T_TMP/mp$n.port $BUSYBOX"
done
"${QEMU_BASE[@]}" "${ACCEL_ARGS[@]}" \
	-kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND" \
	-serial "file:$T_TMP/console.log" \
	-chardev "pipe,id=results,path=$T_TMP/results" -serial chardev:results \
	-netdev "$NETDEV" -device virtio-net-pci,netdev=n0 \
	>"$T_TMP/qemu.log" 2>&1 &
QEMU_PID=$!
on_exit stop_var_pid QEMU_PID
say "qemu pid $QEMU_PID ($ACCEL), limit $LIMIT s"

boot_start=$SECONDS
deadline=$((SECONDS + LIMIT))
FINAL= partial= line=
: >"$T_TMP/results.log"
while :; do
	if ((SECONDS >= deadline)); then
		vfail vm-finished "the guest did not finish within $LIMIT s (wall-clock limit, VM_TIMEOUT)"
		break
	fi
	if IFS= read -r -t 1 -u "$RFD" line; then
		line=${partial}${line%$'\r'}
		partial=
	else
		partial+=$line
		line=
		if ! kill -0 "$QEMU_PID" 2>/dev/null; then
			vfail vm-finished "qemu exited before the guest reported its result: $(tail -n 2 "$T_TMP/qemu.log" | tr '\n' ' ')"
			break
		fi
		continue
	fi
	echo "$line" >>"$T_TMP/results.log"
	case $line in
	"PASS: "*) vpass "guest-${line#PASS: }" ;;
	"FAIL: "*) line=${line#FAIL: }; vfail "guest-${line%%: *}" "${line#*: }" ;;
	"INFO: "*) line=${line#INFO: }; INFO[${line%% *}]=${line#* } ;;
	"WAIT: "*)
		if host_check "${line#WAIT: }"; then
			echo GO >&"$WFD"
		else
			echo STOP >&"$WFD"
		fi ;;
	PASS | FAIL) FINAL=$line; break ;;
	esac
done
# after its last line the guest powers off: give it 5 s, then stop qemu
# whatever it does
for ((i = 0; i < 50 && ${#FINAL}; i++)); do
	kill -0 "$QEMU_PID" 2>/dev/null || break
	sleep 0.1
done
stop_pid "$QEMU_PID"
boot_time=$((SECONDS - boot_start))

# ---- checks that need the guest's reports -----------------------------------------------
compare() {	# NAME WHAT GOT WANT
	if [[ -z $3 ]]; then
		vfail "$1" "the guest reported no $2"
	elif [[ $3 == "$4" ]]; then
		vpass "$1"
	else
		vfail "$1" "$2 differs: guest $3, host $4"
	fi
}
if [[ -n $FINAL ]]; then
	compare guest-read-host-pattern "sha256 of the host's pattern" \
		"${INFO[host-pattern-sha256]:-}" "$HOST_SUM"
	compare host-reads-guest-pattern "sha256 of the guest's O_DIRECT write" \
		"$(sdctl vdi read "$VDI" "$GUEST_OFF" "$GUEST_LEN" | sha256sum | cut -d' ' -f1)" \
		"${INFO[guest-pattern-sha256]:-}"
	compare host-reads-pattern-past-the-old-end "sha256 of the guest's write in the grown space" \
		"$(sdctl vdi read "$VDI" "$GROWN_OFF" "$GROWN_LEN" | sha256sum | cut -d' ' -f1)" \
		"${INFO[grown-pattern-sha256]:-}"
	compare guest-read-snapshot "sha256 of the snapshot's pattern" \
		"${INFO[snapshot-sha256]:-}" "$HOST_SUM"
	if cmp -s <(sdctl vdi read -s "$SNAP_TAG" "$VDI" "$HOST_OFF" "$HOST_LEN") \
		"$T_TMP/host.pat"; then
		vpass host-snapshot-unchanged
	else
		vfail host-snapshot-unchanged "sdctl vdi read -s $SNAP_TAG differs from the pattern"
	fi
	compare host-reads-mpath-pattern "sha256 of the guest's pattern on the multipath device" \
		"$(sdctl vdi read "$MP_VDI" "$MP_OFF" "$MP_LEN" | sha256sum | cut -d' ' -f1)" \
		"${INFO[mpath-pattern-sha256]:-}"
	[[ $FINAL == PASS ]] || ((FAILED)) ||
		vfail guest-result "the guest reported FAIL"
fi
if tgtd_alive; then
	vpass tgtd-alive
else
	vfail tgtd-alive "tgtd died: $(tail -n 3 "$TGT_LOG")"
fi
# gateway 1 was restarted, gateway 2 killed for good
if mp_gateway_alive 1; then
	vpass host-mpath-gw1-alive
else
	vfail host-mpath-gw1-alive "restarted multipath gateway 1 is not running: $(tail -n 3 "$TGT_LOG")"
fi

say "accelerator $ACCEL; guest ran $boot_time s; total $((SECONDS - start_time)) s"
((FAILED)) && console_tail
summary
((FAILED == 0))
