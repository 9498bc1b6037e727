#!/bin/bash
# tgt_chap.sh - who may log in to a sheepdog LU of the stock tgtd, with
# libiscsi's tools and qemu-io as initiators.  CHAP: without credentials,
# with a wrong secret or an unknown user the login fails with
# "Authentication failure(513)"; with the right ones the LU reads and
# writes, and the writes land in the VDI.  Mutual CHAP: the initiator logs
# in when the target proves itself with the secret it expects, and gives up
# when the target's secret differs.  ACLs: tgtd admits an initiator whose
# address or name is bound to the target (nothing bound: nobody); another
# initiator name, or an address that is not bound, gets "Target not
# found(515)".  Secrets are drawn from /dev/urandom at run time.
source "$(dirname "$0")/../lib.sh"
source "$TOP/test/lib_tgt.sh"

for tool in iscsi-inq iscsi-readcapacity16 qemu-io; do
	if ! command -v "$tool" >/dev/null; then
		skip tgt-chap "$tool missing (apt-get install libiscsi-bin qemu-utils)"
		exit 0
	fi
done
tgt_io_setup chap
check "lu-new" tgt_lu 1 1 "$SHEEP:$VDI" || exit 1

# a CHAP secret: 24 hex digits from /dev/urandom
new_secret() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
USER1=init$$ SECRET=$(new_secret)
TUSER=tgt$$ TSECRET=$(new_secret)
GOOD=iqn.2026-12.org.sheepdog.test:good$$
OTHER=iqn.2026-12.org.sheepdog.test:other$$
HOSTPORT=127.0.0.1:$TGT_PORT
# url CREDENTIALS: the LUN's iscsi:// URL with USER%SECRET@ (or none)
url() { echo "iscsi://${1:+$1@}$HOSTPORT/$IQN/1"; }
acct() { tgtadm_c --lld iscsi --mode account "$@"; }
acl() { tgtadm_c --lld iscsi --mode target --tid 1 "$@"; }
# inquiry ARGS...: iscsi-inq logs in and sees the disk LU
inquiry() {
	local out
	out=$(iscsi-inq "$@" 2>&1) &&
		grep -q '^Peripheral Device Type:DIRECT_ACCESS' <<<"$out" && return 0
	head -n 2 <<<"$out"
	return 1
}

setup_chap() {
	acct --op new --user "$USER1" --password "$SECRET" &&
		acct --op bind --tid 1 --user "$USER1"
}
check "chap-account-bound" setup_chap || exit 1

AUTH_FAILED='Authentication failure\(513\)'
check "no-credentials-refused" fails_saying "$AUTH_FAILED" iscsi-inq "$(url)"
check "wrong-secret-refused" fails_saying "$AUTH_FAILED" \
	iscsi-inq "$(url "$USER1%$(new_secret)")"
check "unknown-user-refused" fails_saying "$AUTH_FAILED" \
	iscsi-inq "$(url "nobody$$%$SECRET")"
check "qemu-wrong-secret-refused" fails_saying "$AUTH_FAILED" \
	qemu-io -f raw -c "read 0 4k" "$(url "$USER1%$(new_secret)")"

GOOD_URL=$(url "$USER1%$SECRET")
check "right-secret-inquiry" inquiry "$GOOD_URL"
capacity() {
	local out
	out=$(iscsi-readcapacity16 "$GOOD_URL" 2>&1) || { echo "$out"; return 1; }
	grep -qx "Total size:$SIZE" <<<"$out" && return 0
	echo "no 'Total size:$SIZE' in: $(tr '\n' ' ' <<<"$out")"
	return 1
}
check "right-secret-capacity" capacity
check "right-secret-read-write" qio_sd "$GOOD_URL" "$VDI" 0x5c $((M + 512)) 65536

# ---- mutual CHAP: the target answers as $TUSER with $TSECRET
setup_mutual() {
	acct --op new --user "$TUSER" --password "$TSECRET" &&
		acct --op bind --tid 1 --user "$TUSER" --outgoing
}
check "mutual-account-bound" setup_mutual
check "mutual-right-target-secret" inquiry \
	"$GOOD_URL?target_user=$TUSER&target_password=$TSECRET"
check "mutual-wrong-target-secret-refused" \
	fails_saying 'Invalid CHAP_R response from the target' iscsi-inq \
	"$GOOD_URL?target_user=$TUSER&target_password=$(new_secret)"

# ---- ACLs (tgt_setup bound ALL): one initiator name only
name_acl() {
	acl --op unbind --initiator-address ALL &&
		acl --op bind --initiator-name "$GOOD"
}
check "acl-name-bound" name_acl
NOT_FOUND='Target not found\(515\)'
check "acl-other-name-refused" fails_saying "$NOT_FOUND" \
	iscsi-inq -i "$OTHER" "$GOOD_URL"
check "acl-name-admitted" inquiry -i "$GOOD" "$GOOD_URL"
check "acl-name-still-needs-chap" fails_saying "$AUTH_FAILED" \
	iscsi-inq -i "$GOOD" "$(url)"
# an address that is not the initiator's: refused; then 127.0.0.1 admits
# every name from this host
address_acl() {
	acl --op unbind --initiator-name "$GOOD" &&
		acl --op bind --initiator-address 192.0.2.1
}
check "acl-address-bound" address_acl
check "acl-other-address-refused" fails_saying "$NOT_FOUND" \
	iscsi-inq -i "$GOOD" "$GOOD_URL"
check "acl-loopback-bound" acl --op bind --initiator-address 127.0.0.1
check "acl-address-admitted" inquiry -i "$OTHER" "$GOOD_URL"

check "tgtd-alive" tgtd_alive
exit $T_FAILED
