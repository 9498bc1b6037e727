#!/bin/bash
# fault_shared.sh - two LUNs of one tgtd on the same VDI, both opened with
# bsopts lock=shared on a sheep with VDI locking (minisheep --lock), each
# LUN through its own sheep node (a shared lock is taken per node; a second
# one through the same node is refused), both open before any data is
# written.  Objects first written through LUN 1
# (fresh objects: their index entries appear after LUN 2 loaded the inode)
# must read back through LUN 2, not as zeros from a stale index; then LUN 2
# overwrites the same range and both LUNs and the sheep itself must hold
# the last acknowledged write of every block.  Needs the library's
# shared-mode coherence (a hole is re-checked against the sheep).
source "$(dirname "$0")/fault_common.sh"

fault_setup shared --lock "$(node_arg 2)"
VDI=$(vdi_name shared)
BLOCKS=8192			# 8 objects of 4 MiB, all fresh
make_vdi "$VDI" $((64 * 1024 * 1024))
check "lun1-shared" tgt_lu 1 1 "$SHEEP:$VDI" sheepdog "lock=shared"
check "lun2-shared" tgt_lu 1 2 "$(sheep_node 2):$VDI" sheepdog "lock=shared"
URL1=$(tgt_url "$IQN" 1)
URL2=$(tgt_url "$IQN" 2)
LOG1=$T_TMP/lun1.log
LOG2=$T_TMP/lun2.log


# LUN 2 does I/O before anything is written: its index has only holes
check "lun2-reads-before-any-write" iv "$URL2" --one read 0

check "write-through-lun1" iv "$URL1" --write-load 2 --qd 8 --seed 1 \
	--blocks $BLOCKS --log "$LOG1"
verify_logs "$URL1" "lun1-reads-own-writes" "$LOG1"
verify_logs "$URL2" "lun2-reads-lun1-first-writes" "$LOG1"

check "write-through-lun2" iv "$URL2" --write-load 2 --qd 8 --seed 2 \
	--blocks $BLOCKS --log "$LOG2"
verify_logs "$URL1" "lun1-reads-lun2-overwrites" "$LOG1" "$LOG2"
verify_logs "$URL2" "lun2-reads-both" "$LOG1" "$LOG2"
verify_image "sheep-holds-model" "$VDI" $((BLOCKS * 4096)) "$LOG1" "$LOG2"
check "tgtd-alive" tgtd_alive
