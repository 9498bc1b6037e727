# SPDX-License-Identifier: GPL-2.0-or-later
#
# vm.mk - `make check-vm`: boots Debian's kernel in qemu with a hand-made
# initramfs and uses the kernel's iSCSI initiator against the stock tgtd
# with our module (test/vm/run.sh).  Downloads its packages with apt-get
# into build/vm (cached); ends with "N passed, N failed".
#   VM_ACCEL=kvm|tcg   force the accelerator (default: probe KVM)
#   VM_TIMEOUT=SECONDS wall-clock limit of the guest

check-vm: $(SDCTL) $(MINISHEEP) $(MODULE) $(B)/test/tools/freeport
	@bash test/vm/run.sh

.PHONY: check-vm
