#!/bin/bash
# fault_cluster_two.sh - issue 15 (c): two of three nodes (the gateway's
# own node and another) are killed at once under a verified write load
# through tgtd + the module (three copies: one copy remains on node 3),
# LU on node 1 with fallbacks to nodes 2 and 3, as in the issue's real
# 3-node run that gave a MEDIUM ERROR.  After 3 s both come back and are
# recovered together (copies missing on them for up to 2 s, 50% of the
# data objects answering NO_OBJ meanwhile).  The initiator must see no
# error, and every acknowledged write must be in the VDI.
source "$(dirname "$0")/fault_common.sh"

cl_setup cluster_two --recovery 2000:50
cl_lu "$CL_N1" "$CL_N2" "$CL_N3"
cl_load 10
cl_at 2000 node 1 kill
cl_at 2000 node 2 kill
cl_at 5000 node 1 start
cl_at 5000 node 2 start
cl_finish "$URL" NO_OBJ held
check "tgtd-alive" tgtd_alive
