#!/bin/bash
# fault_cluster_oldepoch.sh - issue 15 (d): a node returns with an old
# epoch under a verified write load through tgtd + the module.  LU on node
# 1 with one fallback, node 2 (node 3 is not in the LU's list and keeps
# the cluster up).  Node 1 is killed (the gateway moves to node 2), then
# started with a 2.5 s join delay: it listens at once but answers
# WAIT_FOR_JOIN with the epoch it went down with, as a sheep does until
# the cluster accepts it.  Node 2 is then killed, so the gateway has only
# the returning node 1: WAIT_FOR_JOIN for about 2 s, then node 1 joins
# (epoch up) and is recovered (copies missing on it for up to 1.5 s, 50%
# of the data objects answering NO_OBJ meanwhile; a 150 ms cluster lag).
# Node 2 comes back last.  The initiator must see no error, and every
# acknowledged write must be in the VDI.
source "$(dirname "$0")/fault_common.sh"

cl_setup cluster_oldepoch --recovery 1500:50 --cluster-lag 150
cl_lu "$CL_N1" "$CL_N2"
cl_load 11
cl_at 1500 node 1 kill
cl_at 2500 node 1 start 2500
cl_at 3000 node 2 kill
cl_at 8000 node 2 start
cl_finish "$URL" WAIT_FOR_JOIN NO_OBJ held
check "tgtd-alive" tgtd_alive
