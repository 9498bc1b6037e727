# test/lib_tgt.sh - helpers for the tgtd end-to-end tests (source it
# after test/lib.sh).
#
#   tgt_require NAME          SKIP line and exit 0 unless root, tgtd, tgtadm,
#                             unshare and a private mount namespace work
#   tgt_start [builtin]       start the stock /usr/sbin/tgtd in a private mount
#                             namespace whose /usr/lib/tgt/backing-store holds
#                             only the freshly built build/lib/bs_sheepdog.so (or
#                             nothing with "builtin"; "installed" runs it
#                             as is, loading /usr/lib/tgt/backing-store);
#                             iSCSI portal on
#                             127.0.0.1:$TGT_PORT, control port $TGT_CTL.
#                             Sets TGT_PID, TGT_PORT, TGT_CTL, TGT_LOG.
#   tgtadm_c ARGS...          tgtadm on our control port
#   tgt_target TID IQN        create a target open to every initiator
#   tgt_lu TID LUN PATH [BSTYPE [BSOPTS]]
#                             create an LU; tgtadm's output in $TGT_OUT;
#                             fails if tgtadm fails or tgtd died doing it
#   tgt_url IQN LUN           the iscsi:// URL of a LUN
#   tgt_stop                  delete targets, stop tgtd by pid (SIGKILL if
#                             it does not go); registered with on_exit
#   qio URL CMD...            qemu-io, one -c per CMD; fails if qemu-io fails
#                             or reports a failure (printing its complaint);
#                             output in $QIO_OUT
#   qio_ro URL CMD...         the same, opened read-only
#   sd_holds VDI OFF LEN PAT  the VDI's bytes (sdctl) at OFF are LEN x PAT
#   qio_sd URL VDI PAT OFF LEN  PAT written through URL reads back through
#                             it and with sdctl (for check)
#   tgt_io_setup NAME [ARGS]  tgt_setup, then VDI $VDI of $SIZE (64 MiB;
#                             M, OBJ: MiB, object size)
#   tgtd_alive                tgtd still running
#   builtin_reaches ADDR      tgtd's built-in store can connect to ADDR
#   builtin_require NAME ADDR skip NAME and exit when it cannot
#
# tgtd runs with the preload hook of test/lib.sh (T_PRELOAD_ENV).
TGTD=${TGTD:-/usr/sbin/tgtd}
TGTADM=${TGTADM:-/usr/sbin/tgtadm}
TGT_BS_DIR=/usr/lib/tgt/backing-store
TGT_MODULE=$TOP/build/lib/bs_sheepdog.so
TGT_PID=
TGT_TIDS=()
TGT_OUT=$T_TMP/tgtadm.out
QIO_OUT=$T_TMP/qemu-io.out

tgt_require() {
	local name=$1
	if ((EUID != 0)); then
		skip "$name" "needs root (tgtd, mount namespace)"
		exit 0
	fi
	if [[ ! -x $TGTD || ! -x $TGTADM ]]; then
		skip "$name" "tgtd/tgtadm not installed (apt-get install tgt)"
		exit 0
	fi
	if ! unshare -m --propagation private true 2>/dev/null; then
		skip "$name" "cannot create a mount namespace"
		exit 0
	fi
	if [[ ! -f $TGT_MODULE ]]; then
		fail "$name" "build/lib/bs_sheepdog.so is not built"
		exit 1
	fi
	# Debian's tgt package does not create the module directory
	mkdir -p "$TGT_BS_DIR"
}

tgtadm_c() { "$TGTADM" -C "$TGT_CTL" "$@"; }

tgtd_alive() { [[ -n $TGT_PID ]] && kill -0 "$TGT_PID" 2>/dev/null; }

tgt_start() {
	local mode=${1:-module} moddir=$T_TMP/tgt-modules try i
	if [[ $mode != installed ]]; then
		rm -rf "$moddir"
		mkdir -p "$moddir"
		[[ $mode == builtin ]] || cp "$TGT_MODULE" "$moddir/bs_sheepdog.so"
	fi
	TGT_LOG=$T_TMP/tgtd.log
	for ((try = 0; try < 5; try++)); do
		TGT_PORT=$(free_port)
		TGT_CTL=$((TGT_PORT % 1000 + 100 + try))
		# a control port another tgtd holds: tgtd exits, pick again
		: >"$TGT_LOG"
		if [[ $mode == installed ]]; then
			"${T_PRELOAD_ENV[@]}" "$TGTD" -f -C "$TGT_CTL" \
				--iscsi "portal=127.0.0.1:$TGT_PORT" >>"$TGT_LOG" 2>&1 &
		else
			# sh mounts, then becomes tgtd (same pid: TGT_PID)
			unshare -m --propagation private -- sh -c \
				'mount --bind "$1" "$2" && shift 2 && exec "$@"' \
				sh "$moddir" "$TGT_BS_DIR" "${T_PRELOAD_ENV[@]}" "$TGTD" \
				-f -C "$TGT_CTL" --iscsi "portal=127.0.0.1:$TGT_PORT" \
				>>"$TGT_LOG" 2>&1 &
		fi
		TGT_PID=$!
		for ((i = 0; i < 100; i++)); do
			kill -0 "$TGT_PID" 2>/dev/null || break
			if tgtadm_c --mode system --op show >/dev/null 2>&1; then
				on_exit tgt_stop
				return 0
			fi
			sleep 0.05
		done
		kill -9 "$TGT_PID" 2>/dev/null
		wait "$TGT_PID" 2>/dev/null
		TGT_PID=
	done
	echo "tgtd did not start:" >&2
	cat "$TGT_LOG" >&2
	return 1
}

tgt_target() {
	local tid=$1 iqn=$2
	tgtadm_c --lld iscsi --mode target --op new --tid "$tid" \
		--targetname "$iqn" || return 1
	TGT_TIDS+=("$tid")
	tgtadm_c --lld iscsi --mode target --op bind --tid "$tid" \
		--initiator-address ALL
}

tgt_lu() {
	local tid=$1 lun=$2 path=$3 bstype=${4:-sheepdog} bsopts=${5:-}
	local args=(--lld iscsi --mode logicalunit --op new --tid "$tid"
		--lun "$lun" --bstype "$bstype" --backing-store "$path")
	[[ -n $bsopts ]] && args+=(--bsopts "$bsopts")
	tgtadm_c "${args[@]}" >"$TGT_OUT" 2>&1 || return
	# a tgtd that dies while it creates the LU leaves tgtadm with exit 0
	# and "tgtd closed the socket"; that is a failure too
	! grep -q 'closed the socket' "$TGT_OUT" && tgtd_alive
}

tgt_url() { echo "iscsi://127.0.0.1:$TGT_PORT/$1/$2"; }

# The built-in store keeps only 4 digits of a TCP port (snprintf into 5
# bytes): it cannot reach a sheep on port 10000 and up.
builtin_reaches() { [[ $1 != tcp:* || ${1##*:} -lt 10000 ]]; }
builtin_require() {
	builtin_reaches "$2" && return 0
	skip "$1" "tgtd's built-in store cannot connect to port ${2##*:} (> 9999)"
	exit 0
}

tgt_stop() {
	local tid i
	[[ -n $TGT_PID ]] || return 0
	if tgtd_alive; then
		for tid in "${TGT_TIDS[@]}"; do
			tgtadm_c --lld iscsi --mode target --op delete --force \
				--tid "$tid" >/dev/null 2>&1
		done
		tgtadm_c --mode system --op delete >/dev/null 2>&1
		for ((i = 0; i < 50; i++)); do
			tgtd_alive || break
			sleep 0.1
		done
	fi
	kill -9 "$TGT_PID" 2>/dev/null
	wait "$TGT_PID" 2>/dev/null
	TGT_PID=
	TGT_TIDS=()
	return 0
}

qio() {
	local url=$1 args=() c
	shift
	for c in "$@"; do args+=(-c "$c"); done
	if qemu-io -f raw $QIO_FLAGS "${args[@]}" "$url" >"$QIO_OUT" 2>&1 &&
		! grep -qiE 'fail|error|mismatch' "$QIO_OUT"; then
		return 0
	fi
	grep -iE -m2 'fail|error|mismatch|protected' "$QIO_OUT" ||
		head -n 2 "$QIO_OUT"
	return 1
}
QIO_FLAGS=
# qio on a read-only LUN (qemu refuses to open a write-protected LUN r/w)
qio_ro() { QIO_FLAGS=-r qio "$@"; }

sd_holds() {
	cmp -s <(sd_read "$1" "$2" "$3") <(bytes_of "$4" "$3") && return 0
	echo "sdctl read of $2+$3 differs from pattern $4"
	return 1
}
qio_sd() {
	qio "$1" "write -P $3 $4 $5" "read -P $3 $4 $5" && sd_holds "$2" "$4" "$5" "$3"
}

tgt_io_setup() {
	tgt_setup "$@"
	M=$((1024 * 1024))
	OBJ=$((4 * M))		# default object size (block_size_shift 22)
	SIZE=$((64 * M))
	VDI=$(vdi_name "$1")
	make_vdi "$VDI" "$SIZE"
}

# lines of the tgtd log that our module wrote
tgt_module_lines() { grep -c 'bs_sheepdog:' "$TGT_LOG"; }

# LEN bytes of the byte value PAT (0x.. or decimal) on stdout
bytes_of() {
	local pat=$(($1)) len=$2
	if ((pat == 0)); then
		head -c "$len" /dev/zero
	else
		head -c "$len" /dev/zero | tr '\0' "\\$(printf %03o "$pat")"
	fi
}

# read LEN bytes at OFF of VDI through sdctl (bypassing tgtd)
sd_read() { "$SDCTL" -a "$SHEEP" vdi read "$@"; }

# Common prologue: requirements, sheep, tgtd, one target.  Sets IQN.
tgt_setup() {
	local name=$1
	shift
	tgt_require "$name"
	if ! sheep_addr "$@"; then
		fail "$name" "cannot start minisheep"
		exit 1
	fi
	if ! tgt_start; then
		fail "$name" "cannot start tgtd"
		exit 1
	fi
	IQN=iqn.2026-11.org.sheepdog:t$$-$name
	IQN=${IQN//_/-}
	if ! tgt_target 1 "$IQN"; then
		fail "$name" "cannot create the target"
		exit 1
	fi
}

# create VDI NAME of SIZE bytes (sdctl), failing the test on error
make_vdi() {
	if ! "$SDCTL" -a "$SHEEP" vdi create "$1" "$2" >"$T_TMP/sdctl.out" 2>&1
	then
		fail "vdi-create-$1" "$(cat "$T_TMP/sdctl.out")"
		exit 1
	fi
}
