#!/bin/bash
# fault_cluster_halt.sh - issue 15 (e): the cluster halts for less than
# the LU's timeout (8 s) under a verified write load through tgtd + the
# module.  Three nodes, three copies, strict (minisheep --strict, as
# `dog cluster format -t`): while a node is missing sheep answers every
# write HALT (sheep/request.c queue_gateway_request(), has_enough_zones()).
# Node 3 is killed and comes back after 2.5 s; later node 2 stops cleanly
# and comes back after 2 s.  LU on node 1 with fallbacks to nodes 2 and
# 3.  The initiator must see no error, and every acknowledged write must
# be in the VDI.
source "$(dirname "$0")/fault_common.sh"

cl_setup cluster_halt --strict
cl_lu "$CL_N1" "$CL_N2" "$CL_N3"
cl_load 11
cl_at 2000 node 3 kill
cl_at 4500 node 3 start
cl_at 6500 node 2 shutdown 300
cl_at 8500 node 2 start
cl_finish "$URL" HALT
check "tgtd-alive" tgtd_alive
