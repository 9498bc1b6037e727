#!/bin/bash
# fault_cluster_shutdown.sh - issue 15 (a): nodes of a three-node,
# three-copy cluster stop cleanly (minisheep `node N shutdown`, as SIGTERM
# or `dog node kill` of a sheep) under a verified write load through
# tgtd + the module, LU on node 1 with fallbacks to nodes 2 and 3.  The
# gateway's own node stops first: requests it already runs are answered,
# every request it reads meanwhile is answered KILLED for 0.5 s, then its
# connections close; it comes back and is recovered (copies missing on it
# for up to 1.5 s, 50% of the data objects answering NO_OBJ meanwhile).
# Then another node stops and comes back the same way.  The initiator
# must see no error, and every acknowledged write must be in the VDI
# (through the gateway, sdctl and the store's files).  See cl_* in
# fault_common.sh.
source "$(dirname "$0")/fault_common.sh"

cl_setup cluster_shutdown --recovery 1500:50
cl_lu "$CL_N1" "$CL_N2" "$CL_N3"
cl_load 11
cl_at 2000 node 1 shutdown 500
cl_at 4500 node 1 start
cl_at 7000 node 3 shutdown 500
cl_at 8500 node 3 start
cl_finish "$URL" KILLED NO_OBJ held
check "tgtd-alive" tgtd_alive
