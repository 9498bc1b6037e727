#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# scripts/export-vdi.sh - write a bs_sheepdog descriptor file for one VDI (or
# one snapshot of it) and print the targets.conf stanza that exports it with
# the stock tgt-admin.  tgt-admin only hands a backing store to tgtadm when it
# exists as a file, so the stanza names the descriptor file, which the module
# reads in bs_open (see "DESCRIPTOR FILES" in bs_sheepdog(8)).
#
#   export-vdi.sh [-a ADDR] [-s TAG|SNAPID] [-b BSOPTS] [-d DIR | -f FILE]
#                 [-t IQN] [-l LUN] [-F] [-n] NAME
#
#   -a ADDR    sheep address (default $SHEEP_ADDR, else tcp:127.0.0.1:7000)
#   -s SNAP    export that snapshot (read-only) instead of the working VDI
#   -b BSOPTS  bsopts line for the descriptor, e.g. 'timeout=10;lock=shared'
#   -d DIR     descriptor directory (default /etc/tgt/sheepdog)
#   -f FILE    descriptor path (default DIR/NAME.conf or DIR/NAME@SNAP.conf)
#   -t IQN     target name (default iqn.2026-11.org.sheepdog:NAME)
#   -l LUN     LUN number in the stanza (default 1)
#   -F         overwrite a descriptor that exists with other contents
#   -n         do not check with sdctl that the VDI/snapshot exists
#
# Exit status: 0 done, 1 runtime error (VDI missing, cannot write), 2 usage.
# Installed by the tgt-sheepdog package as /usr/sbin/tgt-sheepdog-export.
set -euo pipefail

prog=$(basename "$0")
TOP=$(cd "$(dirname "$0")/.." && pwd)

usage() {
	sed -n '/^#   export-vdi.sh \[/,/^#   -n /s/^#   //p' "$0" |
		sed "s/^export-vdi.sh/$prog/"
	exit 0
}
die() { echo "$prog: $*" >&2; exit 1; }
bad() { echo "$prog: $* (-h for help)" >&2; exit 2; }

addr=${SHEEP_ADDR:-}
[[ -n $addr ]] || addr=tcp:127.0.0.1:7000
snap= bsopts= dir=/etc/tgt/sheepdog file= iqn= lun=1 force=0 check=1
while getopts ':a:s:b:d:f:t:l:Fnh' opt; do
	case $opt in
	a) addr=$OPTARG ;;
	s) snap=$OPTARG ;;
	b) bsopts=$OPTARG ;;
	d) dir=$OPTARG ;;
	f) file=$OPTARG ;;
	t) iqn=$OPTARG ;;
	l) lun=$OPTARG ;;
	F) force=1 ;;
	n) check=0 ;;
	h) usage ;;
	:) bad "option -$OPTARG needs a value" ;;
	*) bad "unknown option -$OPTARG" ;;
	esac
done
shift $((OPTIND - 1))
(($# == 1)) || bad "expected one VDI name"
name=$1

# ---- check the arguments (the module checks again, strictly)
ctl_chars='[[:cntrl:]]'
[[ -n $name && ${#name} -le 255 ]] || bad "VDI name must be 1..255 bytes"
[[ ! $name =~ $ctl_chars ]] || bad "control character in the VDI name"
[[ $addr == unix:* || $addr == tcp:* ]] ||
	bad "address '$addr' must start with unix: or tcp:"
[[ ! $addr =~ $ctl_chars ]] || bad "control character in the address"
if [[ -n $snap ]]; then
	[[ ${#snap} -le 255 && ! $snap =~ $ctl_chars ]] ||
		bad "snapshot must be 1..255 bytes without control characters"
fi
[[ ! $bsopts =~ $ctl_chars ]] || bad "control character in the bsopts"
[[ $lun =~ ^[0-9]+$ ]] && ((lun >= 1 && lun <= 255)) ||
	bad "LUN '$lun' must be 1..255"

target=$addr:$name${snap:+:$snap}

if [[ -z $file ]]; then
	base=$name${snap:+@$snap}
	[[ $base =~ ^[A-Za-z0-9_+@-][A-Za-z0-9._+@-]*$ ]] ||
		bad "'$base' is not a safe file name; choose one with -f FILE"
	file=$dir/$base.conf
fi
[[ $file == /* ]] || bad "descriptor path '$file' must be absolute"
# tgt-admin's config syntax and tgtadm's comma-separated request
[[ ! $file =~ [[:space:],\<\>\#\"] ]] ||
	bad "descriptor path '$file' must not contain blanks, ',', '<', '>', '#' or quotes"

if [[ -z $iqn ]]; then
	suffix=$(printf '%s' "$name${snap:+-$snap}" | tr 'A-Z' 'a-z' |
		 tr -c 'a-z0-9.:-' '-')
	iqn=iqn.2026-11.org.sheepdog:$suffix
fi
[[ $iqn =~ ^(iqn\.|eui\.|naa\.)[^[:space:]\<\>]+$ ]] ||
	bad "target name '$iqn' must start with iqn., eui. or naa. and have no blanks"

# ---- does the VDI (snapshot) exist?
find_sdctl() {
	if [[ -n ${SDCTL:-} ]]; then echo "$SDCTL"
	elif [[ -x $TOP/build/bin/sdctl ]]; then echo "$TOP/build/bin/sdctl"
	else command -v sdctl || true
	fi
}
if ((check)); then
	sdctl=$(find_sdctl)
	[[ -n $sdctl ]] || die "sdctl not found (install it, set SDCTL, or use -n)"
	list=$("$sdctl" -a "$addr" vdi list -r) || die "cannot list the VDIs at $addr"
	# fields: "NAME" ID SIZE USED SHARED CTIME VID "TAG" SHIFT
	found=$(NAME=$name SNAP=$snap awk '
		# undo the quoting of sdctl: \" \\ \n \t \xHH
		function unq(s,    out, i, c, d) {
			s = substr(s, 2, length(s) - 2)
			out = ""
			for (i = 1; i <= length(s); i++) {
				c = substr(s, i, 1)
				if (c != "\\") { out = out c; continue }
				d = substr(s, ++i, 1)
				if (d == "n") out = out "\n"
				else if (d == "t") out = out "\t"
				else if (d == "x") { out = out "?"; i += 2 }
				else out = out d
			}
			return out
		}
		{
			# NAME and TAG are quoted and may hold blanks
			if (!match($0, /^"([^"\\]|\\.)*" /)) next
			n = unq(substr($0, 1, RLENGTH - 1))
			rest = substr($0, RLENGTH + 1)
			split(rest, f, " ")
			if (!match(rest, /"([^"\\]|\\.)*" [0-9]+$/)) next
			q = substr(rest, RSTART, RLENGTH)
			match(q, / [0-9]+$/)
			t = unq(substr(q, 1, RSTART - 1))
			if (n != ENVIRON["NAME"]) next
			s = ENVIRON["SNAP"]
			if (s == "" && f[1] == 0) { print "yes"; exit }
			if (s != "" && f[1] != 0 && (s == f[1] || s == t)) {
				print "yes"; exit
			}
		}' <<<"$list")
	if [[ $found != yes ]]; then
		if [[ -n $snap ]]; then
			die "no snapshot '$snap' of VDI '$name' at $addr"
		fi
		die "no VDI '$name' at $addr"
	fi
fi

# ---- write the descriptor (atomically; never clobber other contents)
content="# bs_sheepdog descriptor written by $prog; see bs_sheepdog(8)
backing-store = $target
${bsopts:+bsopts = $bsopts
}"
if [[ -e $file ]]; then
	[[ -f $file ]] || die "$file exists and is not a regular file"
	if [[ $(cat "$file"; echo x) != "$content"x ]] && ((!force)); then
		die "$file exists with other contents (-F to overwrite)"
	fi
fi
mkdir -p "$(dirname "$file")" || die "cannot create $(dirname "$file")"
tmp=$(mktemp "$file.XXXXXX") || die "cannot write in $(dirname "$file")"
trap 'rm -f "$tmp"' EXIT
printf '%s' "$content" >"$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" "$file" ||
	die "cannot write $file"
trap - EXIT
echo "$prog: wrote $file" >&2

# ---- the stanza
cat <<STANZA
<target $iqn>
    <backing-store $file>
        bs-type sheepdog
        lun $lun
    </backing-store>
</target>
STANZA
