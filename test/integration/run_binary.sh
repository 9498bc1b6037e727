#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run_binary.sh BIN - run one integration program (build/test/integration/
# NAME, built from test/integration/NAME.c) against a sheep, for
# test/run-tests.sh: $SHEEP_ADDR when set, else an own minisheep.
#
# The program runs as "BIN ADDR t<pid>-NAME" under it_run's time limit
# (see itest.bash); every VDI it creates is named t<pid>-NAME or starts
# with "t<pid>-NAME-", so test/lib.sh deletes them at exit on an external
# sheep.  What a program needs beyond that is data, one line in its
# source:
#   /* itest: WORD... */
# where each WORD is
#   --OPTION      an option of the own minisheep (e.g. --lock)
#   node2         the own minisheep also listens as node 2; its address
#                 goes to the program in IT_SHEEP_NODE2
#   locksheep     a second, private minisheep started with --lock (also
#                 with SHEEP_ADDR); its address goes in IT_LOCK_SHEEP
#   driven        not run here: a test/integration/*.sh test drives it
# With an own minisheep its control socket goes in IT_SHEEP_CTL.  A
# program that needs what is missing (SHEEP_ADDR set) prints SKIP lines.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/itest.bash"

BIN=$1
NAME=$(basename "$BIN")
read -ra words <<<"$(it_words "$NAME")"
sheep_args=() env_args=() node2=0 locksheep=0
for w in "${words[@]}"; do
	case $w in
	--*) sheep_args+=("$w") ;;
	node2) node2=1 sheep_args+=("$(node_arg 2)") ;;
	locksheep) locksheep=1 ;;
	*) fail "$NAME: itest words" "unknown word '$w'"; exit 1 ;;
	esac
done

sheep_addr "${sheep_args[@]}" || { fail "$NAME: sheep" "cannot start minisheep"; exit 1; }
if own_sheep; then
	env_args+=("IT_SHEEP_CTL=$SHEEP_CTL")
	((node2)) && env_args+=("IT_SHEEP_NODE2=$(sheep_node 2)")
fi
if ((locksheep)); then
	# its own directory; SHEEP stays the test's sheep (deleted from at exit)
	main=$SHEEP
	if SHEEP_DIR=$T_TMP/locksheep start_minisheep --lock; then
		env_args+=("IT_LOCK_SHEEP=$SHEEP")
	else
		fail "$NAME: minisheep --lock starts" "see $T_TMP/minisheep.log"
	fi
	SHEEP=$main
fi
it_run "$NAME" env "${env_args[@]}" "$BIN" "$SHEEP" "$(vdi_name "$NAME")"
exit $T_FAILED
