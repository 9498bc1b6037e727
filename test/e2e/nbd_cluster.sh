#!/bin/bash
# nbd_cluster.sh - issue 15 (g), the cluster changes of fault_cluster_*.sh
# through the NBD plugin: nbdkit with the plugin (addr= node 1, fallback=
# nodes 2 and 3, timeout=8) in front of a three-node, three-copy
# minisheep (recovery windows of 1.5 s with 50% of the data objects
# answering NO_OBJ, a 100 ms cluster lag), a verified write load
# (build/test/tools/nbd_verify, QD16) in each phase:
#  a. the gateway's node stops cleanly (KILLED for 0.5 s) and returns;
#  b. node 2 (where the plugin went) is killed and returns, then node 3;
#  c. two nodes (3, where the plugin went, and 1) are killed at once and
#     return together: one copy remains;
#  d. a second nbdkit with node 1 and one fallback, node 2: node 1 is
#     killed, returns with its old epoch (WAIT_FOR_JOIN for 2.5 s), node 2
#     is killed so only node 1 is left to the plugin, then node 1 joins.
# No write may fail, and every acknowledged write must be read back over
# NBD, in sdctl's image and in the store's files.
source "$(dirname "$0")/fault_common.sh"

cl_nbd_setup nbd_cluster --recovery 1500:50 --cluster-lag 100
S1=$T_TMP/nbd1.sock
S2=$T_TMP/nbd2.sock
cl_nbd_serve "$S1" "$CL_N1" "$CL_N2" "$CL_N3"

echo "--- a: clean stop of the gateway's node"
cl_nbd_load "$S1" 6 1
cl_at 1500 node 1 shutdown 500
cl_at 3500 node 1 start
cl_wait_load

echo "--- b: kills, one node at a time"
cl_nbd_load "$S1" 6 2
cl_at 1000 node 2 kill
cl_at 2500 node 2 start
cl_at 3500 node 3 kill
cl_at 5000 node 3 start
cl_wait_load

echo "--- c: two nodes at once"
cl_nbd_load "$S1" 6 3
cl_at 1500 node 3 kill
cl_at 1500 node 1 kill
cl_at 3500 node 3 start
cl_at 3500 node 1 start
cl_wait_load
stop_nbds

echo "--- d: a node returns with an old epoch"
cl_nbd_serve "$S2" "$CL_N1" "$CL_N2"
cl_nbd_load "$S2" 8 4
cl_at 1000 node 1 kill
cl_at 1800 node 1 start 2500
cl_at 2300 node 2 kill
cl_at 6500 node 2 start
cl_finish "$S2" KILLED NO_OBJ WAIT_FOR_JOIN held
