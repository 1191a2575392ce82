#!/bin/sh
# test_minbill.sh - drives the built `minbill` tool against a real minbilld:
# output, exit codes (0 ok, 1 refused, 2 usage, 3 cannot connect), one-line
# stderr messages, the environment, and that an API key is never printed.
#
# The helpers, the temporary directory and the daemon: lib.sh.
set -eu

. "$(dirname "$0")/lib.sh"

# --- without a server: help and usage errors -----------------------------

run "$MINBILL" --help
expect_rc "--help" 0
expect_out_has "--help" \
    "usage: minbill [--server HOST:PORT] [--api-key KEY] [--json] [--timeout S] COMMAND"
expect_out_has "--help lists health" "  health "
expect_err "--help" ""
run "$MINBILL" -h
expect_rc "-h" 0
run "$MINBILL" help
expect_rc "help" 0
run "$MINBILL" health --help
expect_rc "health --help" 0
expect_out_has "health --help" "usage: minbill [GLOBAL FLAGS] health [--service NAME]"
expect_out_has "health --help" "--service NAME"
health_help=$out
run "$MINBILL" help health
expect_rc "help health" 0
expect_out "help health = health --help" "$health_help"

run "$MINBILL"
expect_usage "no command" "minbill: no command given (see minbill --help)"
run "$MINBILL" --bogus health
expect_usage "bad global flag" "minbill: unknown flag '--bogus' (see minbill --help)"
run "$MINBILL" health --bogus
expect_usage "bad health flag" "minbill: health: unknown flag '--bogus' (see minbill health --help)"
run "$MINBILL" frobnicate
expect_usage "unknown command" "minbill: unknown command 'frobnicate' (see minbill --help)"
run "$MINBILL" health extra
expect_usage "extra argument" "minbill: health: unexpected argument 'extra'"
run "$MINBILL" help frobnicate
expect_usage "help unknown command" "unknown command 'frobnicate'"
run "$MINBILL" --server
expect_usage "--server without value" "--server needs a value"
for t in abc 0 -1 0.0 '' 1e3 inf; do
    run "$MINBILL" --timeout "$t" health
    expect_usage "--timeout '$t'" "minbill: --timeout: "
done
run "$MINBILL" health --json=yes
expect_usage "--json=yes" "--json takes no value"

# A group of commands has help too; a malformed address is a usage error,
# not "cannot connect" (the daemon's --listen likewise).
run "$MINBILL" help account
expect_rc "help account" 0
expect_out_has "help account" "usage: minbill [GLOBAL FLAGS] account show ACCOUNT_ID"
run "$MINBILL" usage --help
expect_rc "usage --help" 0
expect_out_has "usage --help" "usage: minbill [GLOBAL FLAGS] usage import"
for s in 'not a server' 127.0.0.1:99999 127.0.0.1:0 127.0.0.1: :50051 host:5x ::1:50051 '[::1'; do
    run "$MINBILL" --server "$s" --timeout 1 health
    expect_usage "--server '$s'" "minbill: --server: "
done
run env MINBILL_SERVER=localhost "$MINBILL" --timeout 1 health
expect_usage "MINBILL_SERVER=localhost" "minbill: --server: must be HOST:PORT"
for l in 127.0.0.1:99999 127.0.0.1:65536 127.0.0.1 localhost:http '[::1]50051'; do
    run "$MINBILLD" serve --listen "$l" --db "$dir/never.db" --key-file "$dir/never.key"
    expect_rc "minbilld --listen '$l'" 2
    expect_err_has "minbilld --listen '$l'" "minbilld: --listen: "
done
if [ ! -e "$dir/never.db" ]; then pass; else fail "a refused --listen created the database"; fi

# Output that cannot be written is a failure, not silent success.
run sh -c '"$0" --help >/dev/full' "$MINBILL"
expect_rc "--help >/dev/full" 1
expect_err_has "--help >/dev/full" "minbill: cannot write the output"

# --- against a real server -----------------------------------------------

start_daemon
key=$(create_key support)

run "$MINBILL" --server "$server" health
expect_rc "health" 0
expect_out "health" "SERVING"
expect_err "health" ""

run "$MINBILL" --server "$server" --json health
expect_rc "health --json" 0
expect_out "health --json" '{"status":"SERVING"}'
run "$MINBILL" health --json --server "$server" --timeout 0.5
expect_rc "global flags after the command" 0
expect_out "global flags after the command" '{"status":"SERVING"}'

run env MINBILL_SERVER="$server" "$MINBILL" health
expect_rc "MINBILL_SERVER" 0
expect_out "MINBILL_SERVER" "SERVING"
# A flag beats the environment (and nothing listens on port 9, discard).
run env MINBILL_SERVER=127.0.0.1:9 "$MINBILL" --server "$server" health
expect_rc "--server beats MINBILL_SERVER" 0

run "$MINBILL" --server "$server" health --service minbill.v1.Metering
expect_rc "health --service known" 0
expect_out "health --service known" "SERVING"
run "$MINBILL" --server "$server" health --service no.such.Service
expect_rc "health --service unknown" 1
expect_one_err_line "health --service unknown"
expect_err "health --service unknown" "minbill: health: NOT_FOUND: service: unknown service name"
expect_out "health --service unknown" ""

# API keys: a valid one is accepted, a wrong one refused; none is ever shown.
run "$MINBILL" --server "$server" --api-key "$key" health
expect_rc "valid --api-key" 0
run env MINBILL_API_KEY="$key" "$MINBILL" --server "$server" health
expect_rc "valid MINBILL_API_KEY" 0
wrong_key=$(printf '%s' "$key" | sed 's/.$/x/')
if [ "$wrong_key" = "$key" ]; then wrong_key=$(printf '%s' "$key" | sed 's/.$/y/'); fi
run "$MINBILL" --server "$server" --api-key "$wrong_key" health
expect_rc "unknown API key" 1
expect_one_err_line "unknown API key"
expect_err_has "unknown API key" "minbill: health: UNAUTHENTICATED: "
expect_err_lacks "unknown API key" "$wrong_key"
run env MINBILL_API_KEY=not-a-key-sekrit "$MINBILL" --server "$server" health
expect_rc "malformed API key" 1
expect_err_has "malformed API key" "UNAUTHENTICATED"
expect_err_lacks "malformed API key" "sekrit"
run "$MINBILL" --server "$server" --api-key "$key" health --bogus="$key"
expect_usage "flag value never echoed" "unknown flag '--bogus'"
expect_err_lacks "flag value never echoed" "$key"
run "$MINBILL" --server "$server" --api-key "$key" "$key"
expect_usage "key as command never echoed" "unknown command '(hidden)'"
expect_err_lacks "key as command never echoed" "$key"

run sh -c '"$0" --server "$1" health >/dev/full' "$MINBILL" "$server"
expect_rc "health >/dev/full" 1
expect_one_err_line "health >/dev/full"

# --- nothing listening ---------------------------------------------------

# The daemon's port, once it has stopped: known to be free of it.
stop_daemon
run "$MINBILL" --server "$server" --timeout 1 health
expect_rc "nothing listening" 3
expect_err "nothing listening" "minbill: cannot connect to $server"
if [ "$ms" -lt 5000 ]; then pass; else fail "nothing listening: took $ms ms with --timeout 1"; fi
run "$MINBILL" --server "$server" --timeout 0.5 --json health
expect_rc "nothing listening, --timeout 0.5" 3
expect_out "nothing listening, --timeout 0.5" ""
if [ "$ms" -lt 4000 ]; then pass; else fail "--timeout 0.5: took $ms ms"; fi

# --- TLS that does not match: still one line ------------------------------

# gRPC logs the failed handshake itself; the tool must not let it through.
tls_cert() { # NAME SUBJECT [EXTENSION]: a self-signed P-256 certificate
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -keyout "$dir/$1.key" -out "$dir/$1.pem" -subj "$2" ${3:+-addext "$3"} 2>/dev/null
    chmod 600 "$dir/$1.key"
}
if command -v openssl >/dev/null; then
    tls_cert tls-server /CN=127.0.0.1 subjectAltName=IP:127.0.0.1
    tls_cert tls-other /CN=other
    start_daemon --tls-cert "$dir/tls-server.pem" --tls-key "$dir/tls-server.key"
    run "$MINBILL" --server "$server" --tls-ca "$dir/tls-server.pem" --timeout 5 health
    expect_rc "TLS with the right CA" 0
    run "$MINBILL" --server "$server" --tls-ca "$dir/tls-other.pem" --timeout 2 health
    expect_rc "TLS, wrong CA" 3
    expect_err "TLS, wrong CA" "minbill: cannot connect to $server"
    run "$MINBILL" --server "$server" --timeout 2 health
    expect_rc "plain text to a TLS server" 3
    expect_err "plain text to a TLS server" "minbill: cannot connect to $server"
    stop_daemon
else
    echo "openssl missing: TLS mismatch not tested" >&2
fi

finish
