#!/bin/sh
# Run a command as root in a throw-away root: a private mount and network namespace in which
# /etc, /opt and /var are overlays whose upper layers live in a scratch directory that is
# deleted afterwards. The host's /etc, /opt, /var and its ports stay untouched: what the
# command writes there (a user in /etc/passwd, units in /etc/systemd/system, a venv in /opt)
# vanishes with the namespace. Only loopback exists in the network namespace.
#
#   deploy/test/throwaway_root.sh ansible-playbook -i inv.yml site.yml
set -eu
if [ "${MLMKIT_THROWAWAY_SCRATCH:-}" = "" ]; then
    [ "$(id -u)" = 0 ] || { echo "throwaway_root.sh: needs root (unshare, mount)" >&2; exit 77; }
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/mlmkit-throwaway.XXXXXX")
    rc=0
    MLMKIT_THROWAWAY_SCRATCH=$scratch unshare --mount --net --propagation private -- "$0" "$@" || rc=$?
    rm -rf "$scratch"
    exit "$rc"
fi
for dir in etc opt var; do
    mkdir -p "$MLMKIT_THROWAWAY_SCRATCH/$dir.upper" "$MLMKIT_THROWAWAY_SCRATCH/$dir.work"
    mount -t overlay overlay \
        -o "lowerdir=/$dir,upperdir=$MLMKIT_THROWAWAY_SCRATCH/$dir.upper,workdir=$MLMKIT_THROWAWAY_SCRATCH/$dir.work" \
        "/$dir"
done
ip link set lo up
exec "$@"
