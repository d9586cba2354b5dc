#!/bin/bash
# Apply the mlmkit role to a real systemd: Debian bookworm (debootstrap minbase, cached) booted
# with systemd-nspawn --boot, the playbook run inside it through nsenter. Checks that the
# server answers /health/ready, that a job runs through its timer and through its service
# unit, that the sandbox holds under the real service manager, and that a second apply
# changes nothing. Nothing on the host changes but the cache (MLMKIT_DEPLOY_CACHE, default
# ~/.cache/mlmkit-deploy) and a scratch copy of the root there, deleted at the end.
#
#   make deploy-test        (root; debootstrap and systemd-container installed)
#
# The container has a private network (loopback only): the role installs from a wheel of the
# working tree and a wheelhouse of its dependencies, both built on the host beforehand, and
# the Debian packages the role would apt-install are already in the cached root.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${MLMKIT_DEPLOY_CACHE:-$HOME/.cache/mlmkit-deploy}
PY=${PY:-$REPO/.venv/bin/python}
SUITE=bookworm
PACKAGES=systemd,systemd-sysv,dbus,python3,python3-venv,python3-packaging,python3-apt,logrotate,cron,util-linux
BASE=$CACHE/$SUITE
PORT=9108
started=$(date +%s)

say() { printf '[%4ss] %s\n' "$(( $(date +%s) - started ))" "$*"; }
need() { command -v "$1" >/dev/null || { echo "real_systemd.sh: $1 is missing ($2)" >&2; exit 77; }; }

[ "$(id -u)" = 0 ] || { echo "real_systemd.sh: needs root" >&2; exit 77; }
need debootstrap "apt-get install debootstrap"
need systemd-nspawn "apt-get install systemd-container"
need nsenter "util-linux"
mkdir -p "$CACHE"

# 1. the root file system, cached: debootstrap only when the package list changed
if [ "$(cat "$BASE/.mlmkit-packages" 2>/dev/null)" != "$PACKAGES" ]; then
    say "debootstrap --variant=minbase $SUITE (cached in $BASE)"
    rm -rf "$BASE" "$BASE.tmp"
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$BASE.tmp" \
        "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" > "$CACHE/debootstrap.log"
    echo "$PACKAGES" > "$BASE.tmp/.mlmkit-packages"
    mv "$BASE.tmp" "$BASE"
else
    say "root file system from the cache: $BASE"
fi

# 2. the wheel of the working tree and a wheelhouse of its dependencies
WORK=$(mktemp -d "$CACHE/run.XXXXXX")
ROOT=$WORK/root
NSPAWN_PID=
cleanup() {
    if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
        kill -TERM "$NSPAWN_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$NSPAWN_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
say "building the wheel of $REPO"
mkdir -p "$WORK/src" "$WORK/dist"
cp -r "$REPO/pyproject.toml" "$REPO/README.md" "$REPO/mlmkit" "$WORK/src/"
(cd "$WORK/src" && "$PY" -m pip wheel -q --no-deps -w "$WORK/dist" . 2>/dev/null)
WHEEL=$(ls "$WORK"/dist/mlmkit-*.whl)
WHEELHOUSE=$CACHE/wheelhouse
"$PY" -m pip download -q --dest "$WHEELHOUSE" "$WHEEL[server,ops]" 2>/dev/null
rm -f "$WHEELHOUSE"/mlmkit-*.whl

# 3. a scratch copy of the root, booted
say "copying the root and booting it (systemd-nspawn --boot)"
cp -a "$BASE" "$ROOT"
echo "mlmkit-test" > "$ROOT/etc/hostname"
cat > "$WORK/vars.yml" <<VARS
mlmkit_install_source: wheel
mlmkit_wheel: $WHEEL
mlmkit_pip_extra_args: "--no-index --find-links $WHEELHOUSE"
mlmkit_install_system_packages: false
mlmkit_server_port: $PORT
VARS
cat > "$WORK/hosts.yml" <<HOSTS
mlmkit:
  hosts:
    container:
      ansible_connection: local
      ansible_python_interpreter: /usr/bin/python3
HOSTS
# the host's venv (the Ansible controller) and the inputs, read-only at the same paths
PYHOME=$(readlink -f "$PY" | sed 's#/bin/python[0-9.]*$##')
systemd-nspawn --quiet --boot --register=no --keep-unit --private-network --console=passive \
    --directory="$ROOT" --machine="mlmkit-test-$$" \
    --bind-ro="$REPO" --bind-ro="$PYHOME" --bind-ro="$WORK/dist" --bind-ro="$WHEELHOUSE" \
    --bind-ro="$WORK/vars.yml" --bind-ro="$WORK/hosts.yml" \
    > "$WORK/nspawn.log" 2>&1 &
NSPAWN_PID=$!
LEADER=
for _ in $(seq 100); do
    for child in $(pgrep -P "$NSPAWN_PID" || true); do
        if [ "$(cat /proc/"$child"/comm 2>/dev/null)" = systemd ]; then LEADER=$child; fi
    done
    [ -n "$LEADER" ] && break
    sleep 0.1
done
[ -n "$LEADER" ] || { cat "$WORK/nspawn.log"; echo "no container init" >&2; exit 1; }
inside() {
    nsenter --target "$LEADER" --all env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        sh -c 'cd / && exec "$@"' sh "$@"
}
for _ in $(seq 100); do inside test -S /run/systemd/private && break; sleep 0.1; done
state=$(inside systemctl is-system-running --wait || true)
say "container systemd (PID $LEADER on the host) is up: $state ($(inside systemctl --version | head -1))"

apply() {
    inside env ANSIBLE_CONFIG="$REPO/deploy/ansible/ansible.cfg" \
        ANSIBLE_ROLES_PATH="$REPO/deploy/ansible/roles" ANSIBLE_NOCOLOR=1 \
        ANSIBLE_LOCAL_TEMP=/root/.ansible/tmp \
        "$REPO/.venv/bin/ansible-playbook" -i "$WORK/hosts.yml" -e "@$WORK/vars.yml" \
        "$REPO/deploy/ansible/site.yml" > "$WORK/apply-$1.log" 2>&1 || {
            tail -40 "$WORK/apply-$1.log"
            inside systemctl status --no-pager --lines=0 'mlmkit*' || true
            inside journalctl --no-pager -u mlmkit-server -n 60 || true
            echo "apply $1 failed" >&2; exit 1; }
    grep -E '^container +:' "$WORK/apply-$1.log"
}

# 4. first apply: installs, starts, and waits for /health/ready itself
say "first apply"
apply 1 | sed 's/^/       /'
say "the server: $(inside systemctl is-active mlmkit-server.service), /health/ready:"
inside python3 -c "import urllib.request as u; print('       ', u.urlopen('http://127.0.0.1:$PORT/health/ready', timeout=5).read().decode())"
say "security exposure under the real manager: $(inside systemd-analyze security mlmkit-server.service | tail -1)"
inside systemctl list-timers --all --no-pager 'mlmkit-job-*' | sed 's/^/       /'

# 5. a job through its timer (alert-delivery fires every minute) and one through its service unit
say "waiting for the timer mlmkit-job-alert-delivery.timer to run its job (at most 75 s)"
for _ in $(seq 75); do
    result=$(inside systemctl show mlmkit-job@alert-delivery.service -P Result)
    runs=$(inside systemctl show mlmkit-job@alert-delivery.service -P ExecMainExitTimestampMonotonic)
    [ "$runs" != 0 ] && [ -n "$runs" ] && break
    sleep 1
done
[ "$runs" != 0 ] || { inside journalctl -u 'mlmkit-job@*' --no-pager | tail -20; exit 1; }
say "timer run: Result=$result, exit status $(inside systemctl show mlmkit-job@alert-delivery.service -P ExecMainStatus)"
[ "$result" = success ]
inside systemctl start mlmkit-job@retention.service
say "systemctl start mlmkit-job@retention.service: Result=$(inside systemctl show mlmkit-job@retention.service -P Result)"
[ "$(inside systemctl show mlmkit-job@retention.service -P Result)" = success ]
inside runuser -u mlmkit -- /opt/mlmkit/venv/bin/mlmkit jobs history --db /var/lib/mlmkit/mlm.duckdb --limit 5 \
    | sed 's/^/       /' || true
say "log files: $(inside ls /var/log/mlmkit | tr '\n' ' ')"
inside test -s /var/log/mlmkit/job-retention.log
inside logrotate --debug /etc/logrotate.d/mlmkit > "$WORK/logrotate.log" 2>&1 \
    || { cat "$WORK/logrotate.log"; exit 1; }
say "logrotate --debug /etc/logrotate.d/mlmkit: ok"

# 6. second apply: nothing changes
say "second apply"
apply 2 | sed 's/^/       /'
grep -Eq '^container +:.* changed=0 ' "$WORK/apply-2.log" || {
    grep -E '^changed:' -B3 "$WORK/apply-2.log"; echo "second apply changed something" >&2; exit 1; }
failed=$(inside systemctl list-units --failed --no-legend --plain 'mlmkit*' | wc -l)
[ "$failed" = 0 ] || { inside systemctl list-units --failed --no-pager; exit 1; }
say "PASS: applied, ready, jobs ran by timer and by unit, second apply changed=0, no failed units"
