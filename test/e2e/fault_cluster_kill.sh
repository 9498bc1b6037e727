#!/bin/bash
# fault_cluster_kill.sh - issue 15 (b): nodes of a three-node, three-copy
# cluster are killed (minisheep `node N kill`, as kill -9 of a sheep) under
# a verified write load through tgtd + the module, LU on node 1 with
# fallbacks to nodes 2 and 3: first the gateway's own node (its
# connections close with requests in flight), then another node; each
# comes back after 2 s and is recovered (copies missing on it for up to
# 1.5 s, 50% of the data objects answering NO_OBJ meanwhile; a 100 ms
# cluster lag makes requests wait for the epoch).  The initiator must see
# no error, and every acknowledged write must be in the VDI.
source "$(dirname "$0")/fault_common.sh"

cl_setup cluster_kill --recovery 1500:50 --cluster-lag 100
cl_lu "$CL_N1" "$CL_N2" "$CL_N3"
cl_load 11
cl_at 2000 node 1 kill
cl_at 4000 node 1 start
cl_at 6500 node 3 kill
cl_at 8500 node 3 start
cl_finish "$URL" NO_OBJ held
check "tgtd-alive" tgtd_alive
