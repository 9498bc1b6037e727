#!/bin/bash
# fault_multipath_nolock_1node.sh - issue 14: two gateways (bsopts lock=shared)
# through the same node 1 of a sheep cluster without VDI locking (with
# locking, a second shared lock through one node is refused) write
# overlapping ranges of a fresh VDI at once.
# Every acknowledged write must then be readable, not stale, through both
# gateways and in an image read with sdctl.  See mp_race in
# fault_common.sh.
source "$(dirname "$0")/fault_common.sh"

mp_race multipath_nolock_1node nolock one nosnap
