# SPDX-License-Identifier: MIT
# one read path: no cluster, no mount.
# The command line: help, unknown commands, keys and credentials (made,
# refused when there, bad names, added to a credentials file), and the
# cluster commands' refusals when there is nothing to act on, and `zcfs up`
# when a chunk server cannot start.
. "$(dirname "$0")/../lib.sh"

out() { "$ZCFS" "$@" 2>&1; echo "exit $?"; }
has() { grep -q -- "$1" <<< "$2" || { echo "expected '$1' in: $2"; return 1; }; }

o=$(out help)
check "help lists the subcommands" has "keygen" "$o"
check "help exits 0" has "exit 0" "$o"
o=$(out)
check "no command: the list, exit 2" has "exit 2" "$o"
o=$(out --help)
check "--help: the list, exit 0" has "exit 0" "$o"
o=$(out frobnicate)
check "an unknown command is named" has "unknown command 'frobnicate'" "$o"
check "and exits 2" has "exit 2" "$o"

mkdir -p "$T/k"
check "keygen cluster" "$ZCFS" keygen cluster "$T/k/cluster.key"
expect "the key file is 0600" 600 "$(stat -c %a "$T/k/cluster.key")"
expect "the key is 64 hex digits" 1 "$(grep -c '^[0-9a-f]\{64\}$' "$T/k/cluster.key")"
check_fails "keygen cluster over an existing file" "$ZCFS" keygen cluster "$T/k/cluster.key"
check_fails "a bad credential name" "$ZCFS" keygen client "bad/name" "$T/k/x.cred"
check "keygen client, added to a credentials file" \
	"$ZCFS" keygen client node1 "$T/k/node1.cred" --add-to "$T/k/credentials"
expect "the credentials file names it" node1 "$(cut -d' ' -f1 "$T/k/credentials")"
check "a second one" "$ZCFS" keygen client node2 "$T/k/node2.cred" --add-to "$T/k/credentials"
expect "two lines" 2 "$(wc -l < "$T/k/credentials")"
check_fails "the same name again" \
	"$ZCFS" keygen client node1 "$T/k/node1b.cred" --add-to "$T/k/credentials"
expect "still two lines" 2 "$(wc -l < "$T/k/credentials")"
chmod 644 "$T/k/credentials"
check_fails "a credentials file others may read" \
	"$ZCFS" keygen client node3 "$T/k/node3.cred" --add-to "$T/k/credentials"
check_fails "keygen client over an existing file" "$ZCFS" keygen client node4 "$T/k/node1.cred"
o=$(out keygen)
check "keygen without arguments: its usage, exit 2" has "exit 2" "$o"
o=$(out keygen client)
check "keygen client without a file: exit 2" has "exit 2" "$o"

# Nothing runs in $T/none.
o=$(out status --dir "$T/none")
check_fails "status of no cluster fails" has "exit 0" "$o"
o=$(out down --dir "$T/none")
echo "$o"
o=$(out getattr /)
check_fails "getattr of a file outside zcfs fails" has "exit 0" "$o"
o=$(out getattr)
check "getattr without a path: exit 2" has "exit 2" "$o"
o=$(out setattr /)
check_fails "setattr without --replicas fails" has "exit 0" "$o"
for c in up mds cs mount status setattr; do
	o=$(out $c --help)
	check "$c --help prints its usage" has "usage: zcfs $c" "$o"
done
o=$(out mds --dir "$T/m" --replicas 99)
check "mds: a replica count above the limit is refused" has "exit 2" "$o"
o=$(out cs --dir "$T/c")
check "cs without --mds is refused" has "exit 2" "$o"

# A chunk server that cannot start: `zcfs up` starts it again twice on
# new ports, says what it last logged, and stops what it started.
mkdir -p "$D"
touch "$D/cs1"	# where its folder goes: not a folder
o=$(out up --dir "$D" --mount "$M" --cs 1 --replicas 1)
echo "$o"
check "up fails" has "exit 1" "$o"
check "it starts the chunk server again, twice" \
	[ "$(grep -c 'starting it again on a new port' <<< "$o")" = 2 ]
check "and names what it said last" has "cannot lock $D/cs1: Not a directory" "$o"
check_fails "nothing of it runs" pgrep -f -- "--dir $D/mds"
finish
