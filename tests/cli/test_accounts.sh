#!/bin/sh
# test_accounts.sh - `minbill account show` and `minbill payment-methods list`
# against a real minbilld: what support, privacy and the platform each get
# to see, the --json form, exit codes, and that no clear e-mail, phone, PAN
# or IBAN (nor an API key) shows up where it must not.
#
# CTest also sets SEED_ACCOUNTS to the seed_accounts helper, which stores the
# account "acc-cli" (one contact, a card and a SEPA mandate) as the platform
# would. The helpers, the temporary directory and the daemon: lib.sh.
set -eu

. "$(dirname "$0")/lib.sh"
: "${SEED_ACCOUNTS:?set SEED_ACCOUNTS to the seed_accounts helper}"

pan=4242424242424242
iban=DE89370400440532013000
email=jane.doe@example.de
phone=+4915112345667

# json_has NAME TEXT: stdout is one JSON document containing TEXT as
# python3's json.tool prints it ("key": value); without python3, TEXT as
# minbill writes it (no spaces).
have_python=
if command -v python3 >/dev/null 2>&1; then have_python=1; fi
json_has() {
    if [ -n "$have_python" ]; then
        if pretty=$(printf '%s' "$out" | python3 -m json.tool 2>&1); then
            pass
        else
            fail "$1: not JSON: $pretty"
            return
        fi
        case $pretty in *"$2"*) pass ;; *) fail "$1: JSON lacks '$2'" ;; esac
    else
        compact=$(printf '%s' "$2" | sed 's/": /":/g')
        expect_out_has "$1" "$compact"
    fi
}

# --- without a server ----------------------------------------------------

run "$MINBILL" --help
expect_out_has "--help lists account show" "  account show "
expect_out_has "--help lists payment-methods list" "  payment-methods list "
run "$MINBILL" account show --help
expect_rc "account show --help" 0
expect_out_has "account show --help" \
    "usage: minbill [GLOBAL FLAGS] account show ACCOUNT_ID [--reveal]"
run "$MINBILL" payment-methods list --help
expect_rc "payment-methods list --help" 0
expect_out_has "payment-methods list --help" "payment-methods list ACCOUNT_ID"

run "$MINBILL" account show
expect_usage "account show without ACCOUNT_ID" "minbill: account show: missing argument"
run "$MINBILL" payment-methods list
expect_usage "payment-methods list without ACCOUNT_ID" \
    "minbill: payment-methods list: missing argument"
run "$MINBILL" account show a b
expect_usage "account show, two ids" "unexpected argument 'b'"
run "$MINBILL" account show acc-cli --reveal=yes
expect_usage "--reveal takes no value" "--reveal takes no value"
run "$MINBILL" account
expect_usage "account without subcommand" "'account' needs a subcommand"

# --- against a real server -----------------------------------------------

start_seeded_daemon

# account show, support: masked contacts, no address.
run env MINBILL_API_KEY="$support" "$MINBILL" --server "$server" account show acc-cli
expect_rc "account show (support)" 0
expect_err "account show (support)" ""
for want in "account id       acc-cli" "legal name       Autohaus Example GmbH" \
    "state            active" "currency         EUR" "personal data    masked" \
    "ID  ROLE     NAME   E-MAIL        PHONE" "c1  billing  J. D.  j***@e***.de  +49 *** *** 67"; do
    expect_out_has "account show (support)" "$want"
done
for secret in "$email" "$phone" "Jane Doe" "Hauptstrasse" "$support"; do
    expect_err_lacks "account show (support)" "$secret"
done

run "$MINBILL" --server "$server" --api-key "$support" --json account show acc-cli
expect_rc "account show --json" 0
json_has "account show --json" '"email": "j***@e***.de"'
json_has "account show --json" '"phone": "+49 *** *** 67"'
json_has "account show --json" '"legal_name": "Autohaus Example GmbH"'
json_has "account show --json" '"state": "ACCOUNT_STATE_ACTIVE"'
json_has "account show --json" '"role": "CONTACT_ROLE_BILLING"'
json_has "account show --json" '"billing_address": null'
json_has "account show --json" '"default_payment_method": "pm_'
for secret in "$email" "$phone" "Jane Doe"; do
    expect_err_lacks "account show --json" "$secret"
done

# --reveal: masked for support (as the contract says), full for privacy.
run "$MINBILL" --server "$server" --api-key "$support" account show acc-cli --reveal
expect_rc "--reveal (support)" 0
expect_err "--reveal (support)" ""
expect_out_has "--reveal (support)" "personal data    masked"
expect_out_has "--reveal (support)" "j***@e***.de"
for secret in "$email" "$phone" "Jane Doe" "Hauptstrasse" "$support"; do
    expect_err_lacks "--reveal (support)" "$secret"
done

run "$MINBILL" --server "$server" --api-key "$privacy" account show --reveal acc-cli
expect_rc "--reveal (privacy)" 0
for want in "$email" "$phone" "Jane Doe" "billing address  Hauptstrasse 1" \
    "                 10115 Berlin" "                 DE" "VAT id           -" \
    "personal data    in full"; do
    expect_out_has "--reveal (privacy)" "$want"
done
run "$MINBILL" --server "$server" --api-key "$privacy" --json account show --reveal acc-cli
expect_rc "--reveal --json (privacy)" 0
json_has "--reveal --json (privacy)" "\"email\": \"$email\""
json_has "--reveal --json (privacy)" '"postal_code": "10115"'

# Refusals: unknown account, a role that may not read accounts, no key.
run "$MINBILL" --server "$server" --api-key "$support" account show nope
expect_rc "account show nope" 1
expect_one_err_line "account show nope"
expect_err_has "account show nope" "minbill: account show: NOT_FOUND: "
expect_out "account show nope" ""
run "$MINBILL" --server "$server" --api-key "$platform" account show acc-cli
expect_rc "account show (platform)" 1
expect_err_has "account show (platform)" "PERMISSION_DENIED"
run "$MINBILL" --server "$server" account show acc-cli
expect_rc "account show without a key" 1
expect_err_has "account show without a key" "UNAUTHENTICATED"

# payment-methods list: last four only, the card as default.
run "$MINBILL" --server "$server" --api-key "$support" payment-methods list acc-cli
expect_rc "payment-methods list" 0
expect_err "payment-methods list" ""
for want in "TOKEN" "TYPE" "BRAND" "NUMBER" "EXPIRES" "COUNTRY" "DEFAULT" "CREATED" \
    "•••• 4242" "•••• 3000" "12/2031" "visa" "sepa_debit"; do
    expect_out_has "payment-methods list" "$want"
done
card_line=$(printf '%s\n' "$out" | grep '•••• 4242' || true)
case $card_line in
*"card "*"visa"*"yes"*) pass ;;
*) fail "payment-methods list: card line '$card_line' is not card, visa, default" ;;
esac
sepa_line=$(printf '%s\n' "$out" | grep '•••• 3000' || true)
case $sepa_line in
*"sepa_debit"*" DE "*) pass ;;
*) fail "payment-methods list: SEPA line '$sepa_line' lacks sepa_debit, DE" ;;
esac
if [ "$(printf '%s\n' "$out" | wc -l)" -eq 3 ]; then pass; else fail "list: want 3 lines"; fi
for secret in "$pan" "$iban" "$support"; do
    expect_err_lacks "payment-methods list" "$secret"
done

run "$MINBILL" --server "$server" --api-key "$support" --json payment-methods list acc-cli
expect_rc "payment-methods list --json" 0
json_has "payment-methods list --json" '"last4": "4242"'
json_has "payment-methods list --json" '"type": "PAYMENT_METHOD_TYPE_SEPA_DEBIT"'
json_has "payment-methods list --json" '"exp_year": 2031'
json_has "payment-methods list --json" '"is_default": true'
json_has "payment-methods list --json" '"mandate_reference": "M-1"'
json_has "payment-methods list --json" '"created_at": "20'
if [ -n "$have_python" ]; then
    n=$(printf '%s' "$out" |
        python3 -c 'import json, sys; print(len(json.load(sys.stdin)["payment_methods"]))')
else
    n=$(printf '%s' "$out" | grep -o '"token":' | wc -l)
fi
if [ "$n" -eq 2 ]; then pass; else fail "payment-methods list --json: $n methods, want 2"; fi
for secret in "$pan" "$iban"; do
    expect_err_lacks "payment-methods list --json" "$secret"
done

run "$MINBILL" --server "$server" --api-key "$support" payment-methods list nope
expect_rc "payment-methods list nope" 1
expect_one_err_line "payment-methods list nope"
expect_err_has "payment-methods list nope" "minbill: payment-methods list: NOT_FOUND: "
expect_out "payment-methods list nope" ""
run "$MINBILL" --server "$server" --api-key "$platform" payment-methods list acc-cli
expect_rc "payment-methods list (platform)" 1
expect_one_err_line "payment-methods list (platform)"
expect_err_has "payment-methods list (platform)" \
    "minbill: payment-methods list: PERMISSION_DENIED: "

# --- nothing listening ---------------------------------------------------

stop_daemon
run "$MINBILL" --server "$server" --api-key "$support" --timeout 1 account show acc-cli
expect_rc "account show, nothing listening" 3
expect_err "account show, nothing listening" "minbill: cannot connect to $server"
run "$MINBILL" --server "$server" --api-key "$support" --timeout 1 payment-methods list acc-cli
expect_rc "payment-methods list, nothing listening" 3

finish
