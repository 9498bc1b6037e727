#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# io_patterns.sh - data patterns across object boundaries (unaligned writes
# straddling two and three objects, single bytes, multi-iovec async I/O, the
# last bytes of the VDI) for the default 4 MiB objects and for
# block_size_shift 20 and 23, read back through the library (before and
# after a reopen) and through `sdctl vdi read`.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/itest.bash"

it_bin io_patterns io_patterns
sheep_addr || { fail "io_patterns: sheep" "cannot start minisheep"; exit 1; }

# sdctl_compare SHIFT VDI DIR: each dumped region read with sdctl
sdctl_compare() {
	local shift=$1 vdi=$2 dir=$3 n off len what bad=0 why=""
	if [[ ! -x $SDCTL ]]; then
		skip "patterns[shift $shift]: sdctl vdi read" "build/bin/sdctl not built"
		return
	fi
	while read -r n off len what; do
		if ! "$SDCTL" -a "$SHEEP" vdi read "$vdi" "$off" "$len" \
			>"$dir/$n.got" 2>"$dir/$n.err"; then
			bad=1 why="sdctl vdi read $vdi $off $len failed: $(head -c 200 "$dir/$n.err")"
			break
		fi
		if ! cmp -s "$dir/$n.bin" "$dir/$n.got"; then
			bad=1 why="region '$what' ($off+$len): $(cmp "$dir/$n.bin" "$dir/$n.got" 2>&1 | head -1)"
			break
		fi
	done <"$dir/list"
	if ((bad)); then
		fail "patterns[shift $shift]: sdctl vdi read equals library writes" "$why"
	else
		pass "patterns[shift $shift]: sdctl vdi read equals library writes"
	fi
}

# shift 0 = cluster default (22); 20 = 1 MiB objects; 23 = 8 MiB objects
for spec in "0 64" "20 64" "23 128"; do
	set -- $spec
	shift_arg=$1 size=$2
	label=$shift_arg
	((shift_arg == 0)) && label=22
	vdi=$(vdi_name "pat$label")
	dir=$T_TMP/pat$label
	mkdir -p "$dir"
	if ! it_run "patterns[shift $label]" "$BIN" "$SHEEP" "$vdi" \
		"$shift_arg" "$size" "$dir"; then
		skip "patterns[shift $label]: sdctl vdi read" "library part failed"
		continue
	fi
	sdctl_compare "$label" "$vdi" "$dir"
done
exit $T_FAILED
