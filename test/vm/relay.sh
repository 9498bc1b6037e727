#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# relay.sh - qemu's guestfwd command for a multipath gateway of the VM test
# (test/vm/run.sh): connects the guest's connection (standard input and
# output, and standard error too, so nothing else may be written there) to
# the gateway at 127.0.0.1:PORT, PORT read from PORTFILE when the guest
# connects.  slirp accepts the guest's connection before it runs this, so
# a gateway that is down (killed, not yet restarted) cannot refuse it;
# closing it at once makes iscsid's reconnect fail in a way it does not
# always recover from.  So this waits up to 20 s for the gateway instead,
# probing it once per 0.2 s, as a gateway behind a slow network would
# look, and iscsid's login timeout retries the connection meanwhile.  It
# gives up at once when qemu (its parent) or PORTFILE is gone: the test
# has ended.
#
#   relay.sh PORTFILE BUSYBOX
portfile=$1 busybox=$2

for ((i = 0; i < 100; i++)); do
	kill -0 "$PPID" 2>/dev/null && port=$(cat "$portfile" 2>/dev/null) ||
		exit 1
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		exec "$busybox" nc 127.0.0.1 "$port" 2>/dev/null
	fi
	sleep 0.2
done
exit 1
