#!/bin/bash
# nbd_cluster_halt.sh - issue 15 (g, e): the cluster halts for less than
# the plugin's timeout (8 s) under a verified write load through nbdkit
# and the NBD plugin (addr= node 1, fallback= nodes 2 and 3).  Three
# nodes, three copies, strict (minisheep --strict, as dog cluster format
# -t): HALT to every write while a node is missing.  Node 3 is killed and
# returns after 2.5 s; node 2 stops cleanly and returns after 2 s.  No
# write may fail; every acknowledged write must be read back over NBD, in
# sdctl's image and in the store's files.
source "$(dirname "$0")/fault_common.sh"

cl_nbd_setup nbd_cluster_halt --strict
S1=$T_TMP/nbd1.sock
cl_nbd_serve "$S1" "$CL_N1" "$CL_N2" "$CL_N3"
cl_nbd_load "$S1" 9
cl_at 1500 node 3 kill
cl_at 4000 node 3 start
cl_at 5500 node 2 shutdown 300
cl_at 7500 node 2 start
cl_finish "$S1" HALT
