# lib.sh - what the tests/cli shell tests share: a private temporary
# directory, run/expect helpers that count passes and failures, and a real
# minbilld on a port it picks itself. Sourced (after `set -eu`) by
# test_minbill.sh, test_accounts.sh, test_dev.sh and test_dsar.sh.
#
# Sets $dir and an EXIT trap that stops the daemon and removes $dir (set
# MINBILL_KEEP_TEST_DIR=1 to keep it, with minbilld.log). CTest sets
# MINBILLD and MINBILL to the binaries.
#
# shellcheck shell=sh disable=SC2034 # $ms, $server, ... are for the sourcing test

: "${MINBILLD:?set MINBILLD to the minbilld binary}"
: "${MINBILL:?set MINBILL to the minbill binary}"

dir=$(mktemp -d "${TMPDIR:-/tmp}/minbill-cli-XXXXXX")
daemon=
stop_daemon() {
    if [ -n "$daemon" ]; then
        kill "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
        daemon=
    fi
}
cleanup() {
    stop_daemon
    if [ -z "${MINBILL_KEEP_TEST_DIR:-}" ]; then
        rm -rf "$dir"
    else
        echo "kept $dir" >&2
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The tests' own settings come from flags only.
unset MINBILL_SERVER MINBILL_API_KEY

passed=0
failed=0

# run CMD...: runs it without stopping the script; leaves its exit code in
# $rc, its stdout in $out, its stderr in $err, its duration in $ms.
run() {
    t0=$(date +%s%3N)
    rc=0
    "$@" >"$dir/out" 2>"$dir/err" || rc=$?
    ms=$(($(date +%s%3N) - t0))
    out=$(cat "$dir/out")
    err=$(cat "$dir/err")
}

pass() { passed=$((passed + 1)); }
fail() {
    failed=$((failed + 1))
    printf 'FAILED: %s\n  exit %s\n  stdout: %s\n  stderr: %s\n' "$1" "$rc" "$out" "$err" >&2
}

expect_rc() { if [ "$rc" = "$2" ]; then pass; else fail "$1: exit code, want $2"; fi; }
expect_out() { if [ "$out" = "$2" ]; then pass; else fail "$1: stdout, want '$2'"; fi; }
expect_err() { if [ "$err" = "$2" ]; then pass; else fail "$1: stderr, want '$2'"; fi; }
expect_out_has() {
    case $out in *"$2"*) pass ;; *) fail "$1: stdout lacks '$2'" ;; esac
}
expect_err_has() {
    case $err in *"$2"*) pass ;; *) fail "$1: stderr lacks '$2'" ;; esac
}
# Neither stream shows $2.
expect_err_lacks() {
    case $err$out in *"$2"*) fail "$1: output shows '$2'" ;; *) pass ;; esac
}
# Every failure explains itself in exactly one line.
expect_one_err_line() {
    n=$(wc -l <"$dir/err")
    if [ "$n" -eq 1 ]; then pass; else fail "$1: $n stderr lines, want 1"; fi
}
# A usage error: exit 2, one line, message and hint.
expect_usage() {
    expect_rc "$1" 2
    expect_one_err_line "$1"
    expect_err_has "$1" "$2"
}

# start_daemon [SERVE FLAGS...]: a master key (made on the first start) and a
# database in $dir, minbilld serving on 127.0.0.1 at a port of its choosing;
# sets $daemon, $port and $server.
start_daemon() {
    [ -e "$dir/master.key" ] || "$MINBILLD" keys init --key-file "$dir/master.key" >/dev/null
    : >"$dir/minbilld.log"
    "$MINBILLD" serve --listen 127.0.0.1:0 --db "$dir/minbill.db" --key-file "$dir/master.key" \
        "$@" 2>"$dir/minbilld.log" &
    daemon=$!
    wait_serving
}

# wait_serving: waits for the minbilld of $daemon, logging to
# $dir/minbilld.log, to serve; sets $port and $server.
wait_serving() {
    port=
    i=0
    while [ $i -lt 1200 ]; do # up to 120 s: sanitizer builds start slowly
        port=$(sed -n 's/.*event=serving .*port=\([0-9][0-9]*\).*/\1/p' "$dir/minbilld.log" |
            head -n 1)
        [ -n "$port" ] && break
        if ! kill -0 "$daemon" 2>/dev/null; then
            echo "minbilld exited before serving:" >&2
            cat "$dir/minbilld.log" >&2
            exit 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
    if [ -z "$port" ]; then
        echo "minbilld did not serve within 120 s" >&2
        exit 1
    fi
    server=127.0.0.1:$port
}

# start_dev_daemon: `minbilld serve --dev` as the README runs it, with every
# default, from $dir/work (its var/ is made there; the caller is left in
# it) on a port of its choosing; returns once the example world is seeded.
# Its welcome, with the keys, is in $dir/dev.out.
start_dev_daemon() {
    mkdir -p "$dir/work"
    cd "$dir/work"
    : >"$dir/minbilld.log"
    "$MINBILLD" serve --dev --listen 127.0.0.1:0 >"$dir/dev.out" 2>"$dir/minbilld.log" &
    daemon=$!
    wait_serving
    i=0
    while ! grep -q '^Stop with Ctrl-C' "$dir/dev.out" && [ $i -lt 1200 ]; do
        sleep 0.1
        i=$((i + 1))
    done
}

# dev_key ROLE: the API key of ROLE that start_dev_daemon's welcome printed.
dev_key() {
    sed -n "s/^ *$1: .*MINBILL_API_KEY=\([^ ]*\)\$/\1/p" "$dir/dev.out"
}

# create_key ROLE: prints a new API key of that role for the running daemon.
create_key() {
    "$MINBILLD" keys create-api-key --db "$dir/minbill.db" --key-file "$dir/master.key" \
        --role "$1" --name "cli-test-$1"
}

# start_seeded_daemon: start_daemon, keys of the platform, support and
# privacy roles in $platform, $support and $privacy, and the account acc-cli
# stored by $SEED_ACCOUNTS (the seed_accounts helper); stops the script if
# that fails, as nothing after it would mean anything.
start_seeded_daemon() {
    : "${SEED_ACCOUNTS:?set SEED_ACCOUNTS to the seed_accounts helper}"
    start_daemon
    platform=$(create_key platform)
    support=$(create_key support)
    privacy=$(create_key privacy)
    run env MINBILL_API_KEY="$platform" "$SEED_ACCOUNTS" "$server"
    expect_rc "seed acc-cli" 0
    [ "$rc" = 0 ] || { finish || true; exit 1; }
}

# finish: the closing line CTest logs; fails the script on any failure.
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
