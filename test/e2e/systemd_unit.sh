#!/bin/bash
# systemd_unit.sh - the templated unit pkg/systemd/nbdkit-sheepdog@.service:
# systemd-analyze verify accepts it without a warning (when available), and
# its ExecStart line, expanded by hand the way systemd would (%i, %t,
# Environment= then EnvironmentFile= variables, $VAR split into words,
# ${VAR} inside a word), starts nbdkit against a minisheep: nbdkit forks
# (Type=forking) and writes the PIDFile, and nbdinfo/nbdcopy see the VDI.
# The installed plugin name "sheepdog" is replaced by the built plugin.
# Its ExecStartPre, run with sh as systemd would ($$ unescaped, lines
# joined), lets nbdkit listen on a unix socket, on loopback or with
# --tls=require, and refuses any other address unless ALLOW_PLAINTEXT=yes;
# the shipped pkg/examples/nbdkit-sheepdog.conf and its TLS line pass.
source "$(dirname "$0")/../lib.sh"

UNIT=$TOP/pkg/systemd/nbdkit-sheepdog@.service
PLUGIN=$TOP/build/lib/nbdkit-sheepdog-plugin.so

if ! command -v nbdkit >/dev/null || ! command -v nbdinfo >/dev/null ||
   ! command -v nbdcopy >/dev/null; then
	skip systemd-unit "nbdkit, nbdinfo or nbdcopy missing (apt-get install nbdkit libnbd-bin)"
	exit 0
fi
if [[ ! -f $PLUGIN ]]; then
	fail systemd-unit "build/lib/nbdkit-sheepdog-plugin.so is not built"
	exit 1
fi

# ---- static checks
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T_TMP/units"
	cp "$UNIT" "$T_TMP/units/nbdkit-sheepdog@vol0.service"
	# it says nothing
	verify_silent() {
		(cd "$T_TMP/units" && systemd-analyze verify --man=no \
			nbdkit-sheepdog@vol0.service) >"$T_TMP/verify.out" 2>&1 &&
			! grep -q . "$T_TMP/verify.out" && return 0
		head -3 "$T_TMP/verify.out"
		return 1
	}
	check "unit-verify" verify_silent
else
	skip "unit-verify" "systemd-analyze not installed"
fi

# the value of KEY= in the [Service] section (last one wins)
unit_key() {
	awk -v k="$1" '/^\[/ { s = ($0 == "[Service]") }
		s && index($0, k "=") == 1 { v = substr($0, length(k) + 2) }
		END { print v }' "$UNIT"
}
pidfile_tpl=$(unit_key PIDFile)
exec_tpl=$(unit_key ExecStart)
envfile_tpl=$(unit_key EnvironmentFile)
unit_shape() {
	[[ $(unit_key Type) == forking && -n $pidfile_tpl &&
	   $exec_tpl == *"--pidfile $pidfile_tpl "* &&
	   $envfile_tpl == /etc/nbdkit-sheepdog/%i.conf ]] && return 0
	echo "Type=forking, PIDFile= matching --pidfile and EnvironmentFile=/etc/nbdkit-sheepdog/%i.conf expected"
	return 1
}
check "unit-shape" unit_shape

# ---- a minisheep and a VDI whose name has a '-' (kept as is by %i)
if ! sheep_addr; then
	fail systemd-unit "cannot start minisheep"
	exit 1
fi
VDI=$(vdi_name nbd-unit)
SIZE=$((32 * 1024 * 1024))
if ! "$SDCTL" -a "$SHEEP" vdi create "$VDI" "$SIZE" >"$T_TMP/sdctl.out" 2>&1
then
	fail "vdi-create" "$(cat "$T_TMP/sdctl.out")"
	exit 1
fi
head -c 65536 /dev/urandom >"$T_TMP/data"
"$SDCTL" -a "$SHEEP" vdi write "$VDI" 1M <"$T_TMP/data"

# the environment file an operator would write
NBD_SOCK=$T_TMP/nbd.sock
cat >"$T_TMP/$VDI.conf" <<EOF
# /etc/nbdkit-sheepdog/$VDI.conf
SHEEP_ADDR=$SHEEP
NBDKIT_ARGS=-U $NBD_SOCK
PLUGIN_ARGS=timeout=10 connections=2 lock=normal
EOF

# expand a unit line: specifiers, then variables (systemd's rules for
# ExecStart: a word that is exactly $NAME splits into words, ${NAME}
# substitutes inside a word); $1 = instance, $2 = runtime dir
declare -A ENV
expand_specifiers() {
	local s=$1 inst=$2 rt=$3
	s=${s//%%/$'\001'}
	s=${s//%i/$inst}
	s=${s//%t/$rt}
	printf '%s' "${s//$'\001'/%}"
}
load_env() {
	local line k v
	ENV=()
	for line in $(unit_key Environment); do
		line=$(expand_specifiers "$line" "$VDI" "$T_TMP/run")
		ENV[${line%%=*}]=${line#*=}
	done
	while IFS= read -r line; do
		[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
		k=${line%%=*} v=${line#*=}
		ENV[$k]=$v
	done <"$1"
}
CMD=()
expand_exec() {
	local w name v
	for w in $(expand_specifiers "$1" "$VDI" "$T_TMP/run"); do
		if [[ $w =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
			v=${ENV[${BASH_REMATCH[1]}]:-}
			# shellcheck disable=SC2206
			CMD+=($v)
			continue
		fi
		while [[ $w =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\} ]]; do
			name=${BASH_REMATCH[1]}
			w=${w//\$\{$name\}/${ENV[$name]:-}}
		done
		[[ $w == sheepdog ]] && w=$PLUGIN	# the plugin, not yet installed
		CMD+=("$w")
	done
}
load_env "$T_TMP/$VDI.conf"
expand_exec "$exec_tpl"
PIDFILE=$(expand_specifiers "$pidfile_tpl" "$VDI" "$T_TMP/run")
mkdir -p "$(dirname "$PIDFILE")"	# RuntimeDirectory=

expanded() {
	[[ ${CMD[0]} == /usr/bin/nbdkit && " ${CMD[*]} " == *" vdi=$VDI "* &&
	   " ${CMD[*]} " == *" -U $NBD_SOCK "* &&
	   " ${CMD[*]} " == *" timeout=10 connections=2 lock=normal " ]] &&
		return 0
	echo "${CMD[*]}"
	return 1
}
check "execstart-expanded" expanded

# ---- ExecStartPre: no plain NBD on a network address
# its value, continuation lines joined the way systemd joins them (the
# backslash becomes a space)
pre_tpl=$(awk '/^\[/ { s = ($0 == "[Service]") }
	s && !on && index($0, "ExecStartPre=") == 1 { on = 1; v = ""; $0 = substr($0, 14) }
	on { if (sub(/\\$/, "")) { v = v $0 " "; next }
	     print v $0; on = 0 }' "$UNIT")
pre_re="^/bin/sh -c '(.*)' nbdkit-sheepdog-listen \\\$NBDKIT_ARGS\$"
pre_script=
if [[ $pre_tpl =~ $pre_re ]]; then
	pre_script=${BASH_REMATCH[1]}
	pre_script=${pre_script//\$\$/\$}	# systemd's $$ is a $
fi
check "execstartpre-shape" want "${pre_script:+found}" == found \
	"ExecStartPre is not /bin/sh -c '...' nbdkit-sheepdog-listen \$NBDKIT_ARGS: $pre_tpl"
# listen_check ENVFILE: ExecStartPre with that file's environment only
listen_check() {
	local args=() k
	load_env "$1"
	for k in "${!ENV[@]}"; do args+=("$k=${ENV[$k]}"); done
	# shellcheck disable=SC2086
	env -i PATH="$PATH" "${args[@]}" sh -c "$pre_script" \
		nbdkit-sheepdog-listen ${ENV[NBDKIT_ARGS]:-}
}
# listen_with LINE...: listen_check with an environment file of LINEs
listen_with() {
	printf '%s\n' "$@" >"$T_TMP/listen.conf"
	listen_check "$T_TMP/listen.conf"
}
EXAMPLE=$TOP/pkg/examples/nbdkit-sheepdog.conf
check "listen-example" listen_check "$EXAMPLE"
# the example's commented TLS line, uncommented
grep '^# *NBDKIT_ARGS=.*--tls=require' "$EXAMPLE" | sed 's/^# *//' \
	>"$T_TMP/example-tls.conf"
check "listen-example-tls" listen_check "$T_TMP/example-tls.conf"
check "listen-example-tls-network" not grep -q -- '--ipaddr 127' \
	"$T_TMP/example-tls.conf"
check "listen-unix-socket" listen_with "NBDKIT_ARGS=-U /run/nbd.sock"
check "listen-unix-socket-joined" listen_with "NBDKIT_ARGS=--unix=/run/nbd.sock"
check "listen-loopback-v4" listen_with "NBDKIT_ARGS=-p 10810 -i 127.0.0.1"
check "listen-loopback-v6" listen_with "NBDKIT_ARGS=--ipaddr=::1 -p 10810"
check "listen-tls-require" listen_with \
	"NBDKIT_ARGS=-i 10.0.0.5 --tls=require --tls-psk=/etc/nbd.psk"
check "listen-tls-require-two-words" listen_with \
	"NBDKIT_ARGS=--tls require --tls-psk=/etc/nbd.psk --port 10810"
check "listen-every-address-refused" \
	fails_saying "refusing plain NBD on every address" \
	listen_with "NBDKIT_ARGS=--port 10810"
check "listen-network-refused" fails_saying "refusing plain NBD on 10.0.0.5" \
	listen_with "NBDKIT_ARGS=--ipaddr 10.0.0.5 --port 10810"
check "listen-network-joined-refused" \
	fails_saying "refusing plain NBD on 10.0.0.5" \
	listen_with "NBDKIT_ARGS=-i10.0.0.5"
check "listen-tls-on-refused" fails_saying "refusing plain NBD on 10.0.0.5" \
	listen_with "NBDKIT_ARGS=-i 10.0.0.5 --tls=on --tls-psk=/etc/nbd.psk"
check "listen-allow-plaintext" listen_with "NBDKIT_ARGS=-i 10.0.0.5" \
	"ALLOW_PLAINTEXT=yes"
check "listen-allow-plaintext-only-yes" fails_saying "ALLOW_PLAINTEXT=yes" \
	listen_with "NBDKIT_ARGS=-i 10.0.0.5" "ALLOW_PLAINTEXT=1"
# the operator's file of this test passes too (-U)
check "listen-test-instance" listen_check "$T_TMP/$VDI.conf"
load_env "$T_TMP/$VDI.conf"
[[ -x ${CMD[0]} ]] || CMD[0]=$(command -v nbdkit)

# run it with the unit's environment, as systemd would (Type=forking)
env_args=()
for k in "${!ENV[@]}"; do env_args+=("$k=${ENV[$k]}"); done
# the forked nbdkit writes the pid file after its parent has exited
wait_pidfile() {
	local i
	for ((i = 0; i < 50; i++)); do
		[[ -s $PIDFILE ]] && return 0
		sleep 0.1
	done
	return 1
}
if env "${env_args[@]}" "${CMD[@]}" >"$T_TMP/nbdkit.out" 2>&1 &&
   wait_pidfile; then
	NBD_PID=$(cat "$PIDFILE")
	on_exit stop_pid "$NBD_PID"
	pass "execstart-runs"
else
	fail "execstart-runs" "$(head -3 "$T_TMP/nbdkit.out")"
	# a daemon that wrote its pid file late is still ours to stop
	[[ -s $PIDFILE ]] && on_exit stop_pid "$(cat "$PIDFILE")"
	exit 1
fi
URI="nbd+unix:///?socket=$NBD_SOCK"
size=$(nbdinfo --size "$URI" 2>"$T_TMP/nbdinfo.err")
check "nbdinfo-size" want "$size" == "$SIZE" \
	"size '$size', expected $SIZE: $(head -2 "$T_TMP/nbdinfo.err")"
reads_data() {
	nbdcopy "$URI" "$T_TMP/disk" &&
		cmp <(tail -c +$((1024 * 1024 + 1)) "$T_TMP/disk" | head -c 65536) \
			"$T_TMP/data"
}
check "nbd-reads-vdi-data" reads_data

# an instance whose VDI does not exist fails before nbdkit forks: no
# PIDFile, a non-zero exit and an error naming the VDI (the unit fails)
ENV[VDI]=no-such-vdi-$$
CMD=()
expand_exec "$exec_tpl"
CMD[0]=$(command -v nbdkit)
rm -f "$PIDFILE.2"
for ((i = 0; i < ${#CMD[@]}; i++)); do
	[[ ${CMD[i]} == "$PIDFILE" ]] && CMD[i]=$PIDFILE.2
	[[ ${CMD[i]} == "$NBD_SOCK" ]] && CMD[i]=$NBD_SOCK.2
done
fails_start() {
	if env "${env_args[@]}" "${CMD[@]}" >"$T_TMP/nbdkit2.out" 2>&1; then
		[[ -s $PIDFILE.2 ]] && stop_pid "$(cat "$PIDFILE.2")"
		echo "nbdkit started for a missing VDI"
		return 1
	fi
	[[ ! -e $PIDFILE.2 ]] && grep -q "no-such-vdi-$$" "$T_TMP/nbdkit2.out" &&
		return 0
	head -2 "$T_TMP/nbdkit2.out"
	return 1
}
check "missing-vdi-fails-start" fails_start

stop_pid "$NBD_PID"
check "nbdkit-stopped" not kill -0 "$NBD_PID"
exit $T_FAILED
