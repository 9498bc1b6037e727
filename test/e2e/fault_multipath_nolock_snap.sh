#!/bin/bash
# fault_multipath_nolock_snap.sh - issue 14, case "without -l, snapshot
# mid-load": two gateways (bsopts lock=shared) through nodes 1 and 2 of a
# sheep cluster without VDI locking write overlapping ranges of a fresh VDI
# at once while a third party (sdctl through node 3) takes snapshots.
# Every acknowledged write must then be readable, not stale, through both
# gateways and in an image read with sdctl.  See mp_race in
# fault_common.sh.
source "$(dirname "$0")/fault_common.sh"

mp_race multipath_nolock_snap nolock two snap
