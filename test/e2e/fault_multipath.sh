#!/bin/bash
# fault_multipath.sh - two tgtd gateways export the same VDI (bsopts
# lock=shared on both, minisheep --lock), each through its own sheep node
# (as on a real cluster, where a second shared lock through the same node
# is refused), and write at the same time:
# gateway 1 over 4 KiB blocks [0, 3072), gateway 2 over [2048, 5120) of a
# fresh VDI, so objects 0-1 and 3-4 are written by one gateway, object 2
# by both, and every object gets its first write under the load.  The
# image read straight from the sheep (sdctl vdi read) must match a
# linearizable model of both write logs: each block holds a write no
# acknowledged write submitted after its completion supersedes.  Reads
# through each gateway must agree with the same model.
source "$(dirname "$0")/fault_common.sh"

fault_setup multipath --lock "$(node_arg 2)" "$(node_arg 3)"
VDI=$(vdi_name multipath)
make_vdi "$VDI" $((32 * 1024 * 1024))
fault_two_gateways "$VDI" "$(sheep_node 2)"
# sdctl, the third party, talks to a third node: its refresh-sized inode
# read at open would validate a gateway's node (gateway_read_obj())
SHEEP=$(sheep_node 3)

LOG1=$T_TMP/gw1.log
LOG2=$T_TMP/gw2.log
run_load L1 "$IV" "$URL1" 4 --qd 8 --seed 1 --first-block 0 --blocks 3072 \
	--log "$LOG1"
run_load L2 "$IV" "$URL2" 4 --qd 8 --seed 2 --first-block 2048 --blocks 3072 \
	--log "$LOG2"
bg_check "gw1-writes" L1
bg_check "gw2-writes" L2
both=$(awk '$1 == "W" && $4 >= 2048 && $4 < 3072 { print $4 }' "$LOG1" "$LOG2" |
	sort -u | wc -l)
echo "blocks of the shared object written: $both"

verify_image "image-matches-model" "$VDI" $((5120 * 4096)) "$LOG1" "$LOG2"
verify_logs "$URL1" "gw1-reads-model" "$LOG1" "$LOG2"
verify_logs "$URL2" "gw2-reads-model" "$LOG1" "$LOG2"
check "gw2-alive" tgtd_alive
check "gw1-alive" kill -0 "${GW1[0]}"
