#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# scripts/export-vdi.sh - write a bs_sheepdog descriptor file for one VDI (or
# one snapshot of it) and print the targets.conf stanza that exports it with
# the stock tgt-admin.  tgt-admin only hands a backing store to tgtadm when it
# exists as a file, so the stanza names the descriptor file, which the module
# reads in bs_open (see "DESCRIPTOR FILES" in bs_sheepdog(8)).  The stanza
# admits only initiators that log in with CHAP and pass an ACL (see
# tgt-sheepdog-export(8), section ACCESS).
#
#   export-vdi.sh [-a ADDR] [-s TAG|SNAPID] [-b BSOPTS] [-d DIR | -f FILE]
#                 [-t IQN] [-l LUN] [-u USER] [-p FILE] [-m FILE]
#                 [-i NAME]... [-A ADDRESS]... [-o CONF] [-F] [-n] NAME
#
#   -a ADDR    sheep address (default $SHEEP_ADDR, else tcp:127.0.0.1:7000)
#   -s SNAP    export that snapshot (read-only) instead of the working VDI
#   -b BSOPTS  bsopts line for the descriptor, e.g. 'timeout=10;lock=shared'
#   -d DIR     descriptor directory (default /etc/tgt/sheepdog)
#   -f FILE    descriptor path (default DIR/NAME.conf or DIR/NAME@SNAP.conf)
#   -t IQN     target name (default iqn.2026-11.org.sheepdog:NAME)
#   -l LUN     LUN number in the stanza (default 1)
#   -u USER    CHAP user of the initiators (default: IQN after its last ':')
#   -p FILE    CHAP secret: first line of FILE; '-' reads standard input,
#              prompting twice on a terminal (default: a random secret)
#   -m FILE    mutual CHAP: the target's own secret, read like -p; the
#              target answers as USER-target
#   -i NAME    admit the initiator named NAME (repeatable)
#   -A ADDRESS admit initiators from ADDRESS or PREFIX/LEN (repeatable;
#              default 127.0.0.1, this host only)
#   -o CONF    append the stanza to CONF (created mode 0600); when CONF
#              already has the target, append the LUN alone
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
user= secret_src= mutual_src= conf= names=() addrs=()
while getopts ':a:s:b:d:f:t:l:u:p:m:i:A:o:Fnh' opt; do
	case $opt in
	a) addr=$OPTARG ;;
	s) snap=$OPTARG ;;
	b) bsopts=$OPTARG ;;
	d) dir=$OPTARG ;;
	f) file=$OPTARG ;;
	t) iqn=$OPTARG ;;
	l) lun=$OPTARG ;;
	u) user=$OPTARG ;;
	p) secret_src=$OPTARG ;;
	m) mutual_src=$OPTARG ;;
	i) names+=("$OPTARG") ;;
	A) addrs+=("$OPTARG") ;;
	o) conf=$OPTARG ;;
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

# ---- who may log in (the stanza's access lines)
# CHAP names and secrets go through tgt-admin into a shell command line
# and through its config parser ('#' starts a comment): a plain alphabet
user_re='^[A-Za-z0-9._@:-]{1,64}$'
secret_re='^[A-Za-z0-9._+/=-]{12,128}$'
# the target already in CONF: its first stanza holds the access lines, and
# tgt-admin fails on a user or address bound twice, so add the LUN alone
lun_only=0
if [[ -n $conf ]]; then
	[[ $conf == /* && ! -d $conf ]] ||
		bad "stanza file '$conf' must be an absolute path, not a directory"
	if [[ -f $conf ]] && grep -qFx "<target $iqn>" "$conf"; then
		lun_only=1
		[[ -z $user$secret_src$mutual_src && ${#names[@]} == 0 &&
		   ${#addrs[@]} == 0 ]] ||
			bad "$conf already says who may log in to $iqn: drop -u, -p, -m, -i and -A"
	fi
fi
if ((!lun_only)); then
	[[ -n $user ]] || user=${iqn##*:}
	[[ $user =~ $user_re ]] ||
		bad "CHAP user '$user' must be 1..64 letters, digits or . _ @ : - (-u)"
	for n in "${names[@]}"; do
		[[ $n =~ ^(iqn\.|eui\.|naa\.)[A-Za-z0-9.:_-]+$ ]] ||
			bad "initiator name '$n' must start with iqn., eui. or naa. (letters, digits, . : _ -)"
	done
	for a in "${addrs[@]}"; do
		[[ $a != ALL ]] ||
			bad "-A ALL admits every address: edit the stanza's commented line instead"
		[[ $a =~ ^[0-9A-Fa-f.:]+(/[0-9]{1,3})?$ ]] ||
			bad "initiator address '$a' must be an IPv4 or IPv6 address or PREFIX/LEN"
	done
	if ((${#addrs[@]} == 0)); then
		addrs=(127.0.0.1)
		echo "$prog: no -A: initiator-address 127.0.0.1 admits this host only" >&2
	fi
	[[ $secret_src != - || $mutual_src != - ]] ||
		bad "-p - and -m - cannot both read standard input"
fi

# read_secret SOURCE WHAT: print the secret of SOURCE ('-': standard input,
# prompting twice without echo on a terminal; else the first line of a file)
read_secret() {
	local src=$1 what=$2 s= again=
	if [[ $src == - && -t 0 ]]; then
		read -rs -p "$what: " s || true
		echo >&2
		read -rs -p "$what (again): " again || true
		echo >&2
		[[ $s == "$again" ]] || die "the two $what entries differ"
	elif [[ $src == - ]]; then
		IFS= read -r s || [[ -n $s ]] || die "no $what on standard input"
	else
		[[ -f $src && -r $src ]] || die "cannot read $what file '$src'"
		{ IFS= read -r s || [[ -n $s ]]; } <"$src" ||
			die "$what file '$src' is empty"
	fi
	[[ $s =~ $secret_re ]] ||
		die "$what must be 12..128 letters, digits or . _ + / = -"
	printf '%s' "$s"
}
secret= mutual= generated=0
if ((!lun_only)); then
	if [[ -n $secret_src ]]; then
		secret=$(read_secret "$secret_src" "CHAP secret of $user") || exit 1
	else
		# 144 random bits; base64 of 18 bytes is 24 characters, no '='
		secret=$(head -c 18 /dev/urandom | base64 | tr '+/' '._')
		generated=1
	fi
	if [[ -n $mutual_src ]]; then
		mutual=$(read_secret "$mutual_src" "mutual CHAP secret of $user-target") ||
			exit 1
		[[ $mutual != "$secret" ]] ||
			die "the mutual CHAP secret must differ from the initiator's"
	fi
fi

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
stanza() {
	echo "<target $iqn>"
	echo "    <backing-store $file>"
	echo "        bs-type sheepdog"
	echo "        lun $lun"
	echo "    </backing-store>"
	((lun_only)) && { echo "</target>"; return; }
	echo "    # CHAP: initiators log in as $user with this secret"
	echo "    incominguser $user $secret"
	[[ -z $mutual ]] || {
		echo "    # mutual CHAP: the target proves itself with this one"
		echo "    outgoinguser $user-target $mutual"
	}
	echo "    # tgtd admits an initiator whose address or name is listed;"
	echo "    # tgt-admin admits every address when no initiator-address"
	echo "    # line is given, so keep one.  To admit any initiator that"
	echo "    # knows the secret, replace the initiator lines with:"
	echo "    #   initiator-address ALL"
	printf '    initiator-address %s\n' "${addrs[@]}"
	((${#names[@]} == 0)) || printf '    initiator-name %s\n' "${names[@]}"
	echo "</target>"
}
((!generated)) ||
	echo "$prog: generated the CHAP secret of user $user (see incominguser)" >&2
if [[ -z $conf ]]; then
	stanza
	exit 0
fi
# the stanza holds secrets: a new file is private to root
(umask 077 && stanza >>"$conf") || die "cannot append to $conf"
if ((lun_only)); then
	echo "$prog: added LUN $lun to $iqn in $conf" >&2
else
	echo "$prog: appended $iqn to $conf" >&2
fi
