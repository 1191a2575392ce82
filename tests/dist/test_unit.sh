#!/bin/sh
# test_unit.sh - dist/: the systemd unit, its users, directories and
# environment file, checked without a running systemd (none runs here):
#   - `systemd-analyze verify` accepts the unit with no warning at all (an
#     unknown or misspelt setting is only a warning there, so any output
#     fails this test);
#   - the hardening the README promises is in it, line for line, and
#     `systemd-analyze security --offline` rates its exposure at most 2.0;
#   - TimeoutStopSec is above the daemon's shutdown grace (read from
#     service/main.c, so raising one without the other fails here);
#   - sysusers + tmpfiles, applied to a private root, make the minbill user
#     and the 0700 directories it owns;
#   - every MINBILL_* name in the environment file is one minbilld reads,
#     and minbilld started from that file (paths moved to a temporary
#     directory) migrates, serves, opens its metrics port and stops on
#     SIGTERM with exit 0.
# Skips (exit 77) when systemd-analyze is not installed.
set -eu
: "${MINBILLD:?set MINBILLD to the minbilld binary}"
case $MINBILLD in /*) ;; *) MINBILLD=$PWD/$MINBILLD ;; esac
src=$(cd "$(dirname "$0")/../.." && pwd)
unit=$src/dist/minbilld.service

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze is not installed (Debian package systemd): skipping" >&2
    exit 77
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/minbill-dist-XXXXXX")
daemon=
cleanup() {
    if [ -n "$daemon" ]; then
        kill -KILL "$daemon" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAILED: $*" >&2; }
check() { # check DESCRIPTION COMMAND...
    what=$1
    shift
    if "$@"; then ok; else bad "$what"; fi
}

# --- verify: the unit as shipped, with ExecStart pointing at this build.
sed "s|/usr/local/bin/minbilld|$MINBILLD|g" "$unit" >"$dir/minbilld.service"
if systemd-analyze verify "$dir/minbilld.service" >"$dir/verify.out" 2>&1 &&
    [ ! -s "$dir/verify.out" ]; then
    ok
else
    bad "systemd-analyze verify:"
    cat "$dir/verify.out" >&2
fi

# --- the settings the README promises.
for line in User=minbill Group=minbill ProtectSystem=strict NoNewPrivileges=yes \
    MemoryDenyWriteExecute=yes PrivateTmp=yes ProtectHome=yes LockPersonality=yes \
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" SystemCallFilter=@system-service \
    LimitCORE=0 UMask=0077 StateDirectory=minbill StateDirectoryMode=0700 \
    KillSignal=SIGTERM CapabilityBoundingSet= ReadOnlyPaths=/etc/minbill \
    EnvironmentFile=/etc/minbill/minbilld.env \
    "ExecStartPre=/usr/local/bin/minbilld migrate" "ExecStart=/usr/local/bin/minbilld serve"; do
    check "$line is not in the unit" grep -qxF "$line" "$unit"
done
check "the unit must not run as root or a dynamic user" \
    sh -c "! grep -qE '^(DynamicUser=yes|User=root)' '$unit'"

# --- the stop timeout leaves room above the daemon's own grace.
grace_ms=$(sed -n 's/^#define SHUTDOWN_GRACE_MS \([0-9]*\)$/\1/p' "$src/service/main.c")
stop_s=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$unit")
check "SHUTDOWN_GRACE_MS not found in service/main.c" [ -n "$grace_ms" ]
room=no
if [ -n "$stop_s" ] && [ $((stop_s * 1000)) -ge $((${grace_ms:-0} + 5000)) ]; then room=yes; fi
check "TimeoutStopSec (${stop_s:-none} s) must exceed the ${grace_ms:-?} ms grace by 5 s" \
    [ "$room" = yes ]

# --- exposure as systemd rates it (1.5 when written; 10 is unprotected).
exposure=$(systemd-analyze security --offline=yes "$dir/minbilld.service" 2>/dev/null |
    sed -n 's/.*Overall exposure level for minbilld.service: \([0-9.]*\).*/\1/p')
check "exposure '${exposure:-none}' must be at most 2.0" \
    awk -v e="${exposure:-99}" 'BEGIN { exit !(e + 0 <= 2.0) }'

# --- user and directories, in a private root.
mkdir -p "$dir/root/etc"
if systemd-sysusers --root="$dir/root" "$src/dist/minbilld.sysusers" >/dev/null 2>&1 &&
    systemd-tmpfiles --root="$dir/root" --create "$src/dist/minbilld.tmpfiles" >/dev/null 2>&1; then
    ok
else
    bad "systemd-sysusers / systemd-tmpfiles refused the files"
fi
uid=$(awk -F: '$1 == "minbill" { print $3 }' "$dir/root/etc/passwd" 2>/dev/null || true)
shell=$(awk -F: '$1 == "minbill" { print $7 }' "$dir/root/etc/passwd" 2>/dev/null || true)
system=no
if [ -n "$uid" ] && [ "$uid" -lt 1000 ] && [ "$shell" = /usr/sbin/nologin ]; then system=yes; fi
check "the minbill user is a system user without a login shell (uid '$uid', shell '$shell')" \
    [ "$system" = yes ]
for d in etc/minbill/keys var/lib/minbill var/backups/minbill; do
    got=$(stat -c '%a %u' "$dir/root/$d" 2>/dev/null || echo missing)
    check "/$d must be 0700 and owned by minbill: $got" [ "$got" = "700 $uid" ]
done

# --- the environment file: names minbilld knows, and a daemon started from it.
for name in $(sed -n 's/^#\{0,1\}\(MINBILL_[A-Z_]*\)=.*/\1/p' "$src/dist/minbilld.env"); do
    check "$name in minbilld.env is not read by minbilld" grep -qF "\"$name\"" "$src/service/main.c"
done
sed -e "s|/var/lib/minbill|$dir/state|; s|/etc/minbill/keys|$dir/keys|" \
    -e 's|^MINBILL_LISTEN=.*|MINBILL_LISTEN=127.0.0.1:0|' \
    -e 's|^MINBILL_METRICS_LISTEN=.*|MINBILL_METRICS_LISTEN=127.0.0.1:0|' \
    "$src/dist/minbilld.env" >"$dir/minbilld.env"
mkdir -m 0700 "$dir/state" "$dir/keys"
(
    set -a
    . "$dir/minbilld.env"
    set +a
    "$MINBILLD" keys init >/dev/null &&
        "$MINBILLD" migrate >/dev/null 2>"$dir/migrate.log" &&
        exec "$MINBILLD" serve 2>"$dir/minbilld.log"
) &
daemon=$!
i=0
while [ $i -lt 300 ] && ! grep -q "event=serving" "$dir/minbilld.log" 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
done
check "minbilld from minbilld.env did not serve" grep -q "event=serving" "$dir/minbilld.log"
check "minbilld from minbilld.env has no metrics endpoint" \
    grep -q "event=metrics_listening" "$dir/minbilld.log"
check "the database is not where minbilld.env puts it" [ -s "$dir/state/minbill.db" ]
kill -TERM "$daemon" 2>/dev/null || true
status=0
wait "$daemon" || status=$?
daemon=
check "minbilld exited $status on SIGTERM" [ "$status" -eq 0 ]
check "minbilld did not log its stop" grep -q "event=stopped" "$dir/minbilld.log"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
