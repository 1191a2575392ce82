#!/bin/sh
# test_dsar.sh PART - the `minbill dsar` commands against a real minbilld, the
# way a privacy officer runs data-subject requests from the README.
#
#   requests  the request lifecycle: open (by e-mail, contact, account), show,
#             list and its filters, --overdue, extend, complete, reject, an
#             objection, and erase refusing to run without confirmation
#   data      a whole access request (open by e-mail, show, list --overdue,
#             export to a file that is valid JSON holding the contact's name,
#             complete), export never leaving a half file, an objection shown
#             on the contact, an erasure with --yes after the refusal without
#             it, then a rectification and a restriction of the account
#   readme    the README's "Access requests" section, command by command, as
#             written there, against `minbilld serve --dev`: access (open,
#             export, complete), rectification (replace, --clear, show,
#             complete), restriction, erasure (typed confirmation on a
#             terminal); then the erased account's usage is not invoiced
#
# Every failure is one stderr line that never shows the e-mail or phone that
# was typed. CTest also sets SEED_ACCOUNTS to the seed_accounts helper (the
# account acc-cli with contact c1, Jane Doe). Needs python3 (JSON checks) and
# sqlite3 (to let a month pass); the helpers, the directory and the daemon:
# lib.sh.
set -eu

. "$(dirname "$0")/lib.sh"
part=${1:?usage: test_dsar.sh requests|data|readme}
src=$(cd "$(dirname "$0")/../.." && pwd)

email=jane.doe@example.de
phone=+4915112345667

# field NAME: the top-level field NAME of the JSON document in $out.
field() {
    printf '%s' "$out" | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# Neither stream shows the e-mail or the phone typed.
expect_no_personal_data() {
    expect_err_lacks "$1" "$email"
    expect_err_lacks "$1" "15112345667"
}

# open_request ROLE ARGS...: `dsar open ARGS` as ROLE; sets $id (or stops the
# script: nothing after it means anything without the request).
open_request() {
    role_key=$1
    shift
    run "$MINBILL" --server "$server" --api-key "$role_key" --json dsar open "$@"
    expect_rc "dsar open $*" 0
    if [ "$rc" != 0 ]; then
        finish || true
        exit 1
    fi
    id=$(field request_id)
}

# dsar ARGS...: `minbill dsar ARGS` as the privacy officer.
dsar() {
    run "$MINBILL" --server "$server" --api-key "$privacy" dsar "$@"
}

# make_overdue ID: the request's month has passed (as an operator with the
# database file would see it).
make_overdue() {
    sqlite3 -cmd ".timeout 10000" "$dir/minbill.db" \
        "UPDATE subject_requests SET due_us = 1000000 WHERE request_id = '$1'" >/dev/null
}

# The contact's data is (still) held: the privacy officer sees it in full.
expect_contact_held() {
    run "$MINBILL" --server "$server" --api-key "$privacy" account show acc-cli --reveal
    expect_rc "$1: account show" 0
    expect_out_has "$1: Jane Doe still held" "Jane Doe"
}

# erase_on_terminal ID TYPED: `dsar erase ID` on a terminal (script(1) gives
# it one), TYPED typed at the prompt.
erase_on_terminal() {
    run sh -c 'printf "%s\n" "$3" | script -qec "\"$1\" --server $2 --api-key $4 dsar erase $5" /dev/null' \
        sh "$MINBILL" "$server" "$2" "$privacy" "$1"
}

# expect_export_names WHAT FILE NAME: FILE is one JSON object, and NAME is
# one of its values.
expect_export_names() {
    if python3 - "$2" "$3" <<'EOF'; then pass; else fail "$1: $2 is not JSON naming $3"; fi
import json, sys
def strings(v):
    if isinstance(v, dict):
        for x in v.values():
            yield from strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)
    elif isinstance(v, str):
        yield v
with open(sys.argv[1], encoding="utf-8") as f:
    doc = json.load(f)
sys.exit(0 if isinstance(doc, dict) and sys.argv[2] in strings(doc) else 1)
EOF
}

# readme_commands: the lines of the ```sh blocks of the README's "Access
# requests" section.
readme_commands() {
    awk '/^### Access requests/ { on = 1; next }
         on && /^#/ { exit }
         on && /^```sh/ { code = 1; next }
         on && /^```/ { code = 0; next }
         on && code' "$src/README.md"
}

if [ "$part" = readme ]; then
    start_dev_daemon
else
    start_seeded_daemon
fi

if [ "$part" = requests ]; then
    # --- help and usage errors ---------------------------------------------

    run "$MINBILL" --help
    for c in open list show export rectify restrict erase complete reject extend; do
        expect_out_has "--help lists dsar $c" "  dsar $c "
    done
    run "$MINBILL" help dsar
    expect_rc "help dsar" 0
    expect_out_has "help dsar" "usage: minbill [GLOBAL FLAGS] dsar open (--email E | --contact"
    expect_out_has "help dsar" "usage: minbill [GLOBAL FLAGS] dsar extend ID --months 1|2 --reason"

    dsar open --email "$email" --kind nope --verified-by desk
    expect_usage "open --kind nope" "minbill: dsar open: --kind: must be access, rectification"
    expect_no_personal_data "open --kind nope"
    dsar open "$email" --kind access --verified-by desk
    expect_usage "open with the e-mail as an argument" "unexpected argument '(hidden)'"
    expect_no_personal_data "open with the e-mail as an argument"
    dsar open --email "$email" --contact acc-cli/c1 --kind access --verified-by desk
    expect_usage "open with two subjects" "give exactly one of --email, --contact and --account"
    dsar open --kind access --verified-by desk
    expect_usage "open without a subject" "give exactly one of"
    dsar open --email "$email" --kind access
    expect_usage "open without --verified-by" "--verified-by is required"
    dsar list --state done
    expect_usage "list --state done" "--state: must be open, completed or rejected"
    dsar extend sr_x --months 3 --reason busy
    expect_usage "extend --months 3" "--months: must be 1 or 2"
    dsar reject sr_x
    expect_usage "reject without --reason" "--reason is required"
    dsar rectify sr_x --account acc-cli --contact c1 --phone "$phone" --email=
    expect_usage "rectify --email=" "--email: must not be empty"
    expect_no_personal_data "rectify --email="
    dsar rectify sr_x --account acc-cli
    expect_usage "rectify without changes" "nothing to change"
    dsar export sr_x
    expect_usage "export without --out" "--out is required"

    # --- open, show, list ------------------------------------------------------

    # Support may open a request; the e-mail is shown nowhere.
    open_request "$support" --email "$email" --kind access --verified-by "passport, desk 3"
    access=$id
    run "$MINBILL" --server "$server" --api-key "$support" dsar open --email "$email" --kind access \
        --verified-by "passport, desk 3"
    expect_rc "open (support)" 0
    for want in "kind         access" "state        open" "verified by  passport, desk 3" \
        "contacts     acc-cli/c1" "due          20"; do
        expect_out_has "open (support)" "$want"
    done
    expect_no_personal_data "open (support)"

    dsar show "$access"
    expect_rc "show" 0
    expect_err "show" ""
    expect_out_has "show" "request id   $access"
    expect_out_has "show" "contacts     acc-cli/c1"
    expect_no_personal_data "show"
    run "$MINBILL" --server "$server" --api-key "$privacy" --json dsar show "$access"
    expect_rc "show --json" 0
    if [ "$(field kind)" = SUBJECT_REQUEST_KIND_ACCESS ] && [ "$(field overdue)" = False ]; then
        pass
    else
        fail "show --json: kind and overdue"
    fi
    run "$MINBILL" --server "$server" --api-key "$support" dsar show "$access"
    expect_rc "show (support)" 1
    expect_one_err_line "show (support)"
    expect_err_has "show (support)" "minbill: dsar show: PERMISSION_DENIED"
    dsar show sr_000000000000000000000000
    expect_rc "show unknown" 1
    expect_one_err_line "show unknown"
    expect_err_has "show unknown" "minbill: dsar show: NOT_FOUND"

    open_request "$privacy" --email nobody@example.org --kind access --verified-by desk
    nobody=$id
    dsar show "$nobody"
    expect_out_has "open by an unknown e-mail" "subject      nothing matched"
    open_request "$privacy" --account acc-cli --kind portability --verified-by desk
    portability=$id
    dsar show "$portability"
    expect_out_has "open by account" "accounts     acc-cli"

    dsar list --overdue
    expect_rc "list --overdue (none yet)" 0
    expect_out "list --overdue (none yet)" "no requests"
    dsar list
    expect_rc "list" 0
    expect_out_has "list" "ID                           KIND         STATE  RECEIVED    DUE         SUBJECT"
    for r in "$access" "$nobody" "$portability"; do expect_out_has "list" "$r"; done
    expect_out_has "list" "nothing matched"
    expect_out_has "list" "account acc-cli"
    dsar list --kind portability
    expect_out_has "list --kind portability" "$portability"
    case $out in *"$access"*) fail "list --kind portability shows an access request" ;; *) pass ;; esac

    # A month passes for the first request: overdue, and too late to extend.
    make_overdue "$access"
    dsar list --overdue
    expect_rc "list --overdue" 0
    expect_out_has "list --overdue" "$access"
    expect_out_has "list --overdue" "open, overdue"
    case $out in *"$nobody"*) fail "list --overdue shows a request not due" ;; *) pass ;; esac
    run "$MINBILL" --server "$server" --api-key "$privacy" --json dsar list --overdue
    n=$(printf '%s' "$out" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["requests"]))')
    if [ "$n" = 1 ]; then pass; else fail "list --overdue --json: $n requests, want 1"; fi
    dsar show "$access"
    expect_out_has "show overdue" "(overdue)"
    dsar extend "$access" --months 1 --reason "many archives to search"
    expect_rc "extend overdue" 1
    expect_one_err_line "extend overdue"
    expect_err_has "extend overdue" "minbill: dsar extend: FAILED_PRECONDITION"

    # --- extend, complete, reject, objection -----------------------------------

    dsar extend "$nobody" --months 2 --reason "many archives to search"
    expect_rc "extend" 0
    expect_out_has "extend" "extended from"
    expect_out_has "extend" "extension reason  many archives to search"
    dsar extend "$nobody" --months 1 --reason again
    expect_rc "extend twice" 1
    expect_err_has "extend twice" "FAILED_PRECONDITION"

    dsar complete "$access" --reason "export sent by letter"
    expect_rc "complete" 0
    expect_out_has "complete" "state        completed"
    expect_out_has "complete" "reason       export sent by letter"
    dsar list --state completed --kind access
    expect_out_has "list --state completed" "$access"
    dsar complete "$access"
    expect_rc "complete twice" 1
    expect_err_has "complete twice" "FAILED_PRECONDITION"

    dsar reject "$portability" --reason "identity not confirmed"
    expect_rc "reject" 0
    expect_out_has "reject" "state        rejected"
    dsar reject "$nobody" --reason "write to $email"
    expect_rc "reject, reason with an e-mail" 1
    expect_one_err_line "reject, reason with an e-mail"
    expect_err_has "reject, reason with an e-mail" "INVALID_ARGUMENT"
    expect_no_personal_data "reject, reason with an e-mail"

    open_request "$privacy" --contact acc-cli/c1 --kind objection --verified-by phone-call
    dsar show "$id"
    expect_out_has "objection completes when opened" "state        completed"

    # --- list pages through everything -----------------------------------------

    # 150 requests more than a page of the tool's (100) hold.
    sqlite3 -cmd ".timeout 10000" "$dir/minbill.db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL
        SELECT i + 1 FROM n WHERE i < 150) INSERT INTO subject_requests(request_id, kind, state,
        subject_type, verified_by, received_us, due_us) SELECT printf('sr_bulk%03d', i),
        'restriction', 'rejected', 'account', 'desk', 1000000 + i, 2000000 + i FROM n" >/dev/null
    run "$MINBILL" --server "$server" --api-key "$privacy" --json dsar list --kind restriction
    expect_rc "list over pages --json" 0
    n=$(printf '%s' "$out" | python3 -c '
import json, sys
ids = [r["request_id"] for r in json.load(sys.stdin)["requests"]]
print(len(set(ids)) if ids == sorted(ids) else "unordered")')
    if [ "$n" = 150 ]; then pass; else fail "list over pages --json: $n distinct requests, want 150"; fi
    dsar list --kind restriction --state rejected
    expect_rc "list over pages" 0
    if [ "$(printf '%s\n' "$out" | grep -c '^sr_bulk')" = 150 ]; then
        pass
    else
        fail "list over pages: want 150 rows"
    fi

    # --- erase asks first ------------------------------------------------------

    open_request "$privacy" --contact acc-cli/c1 --kind erasure --verified-by desk
    erasure=$id
    dsar erase "$erasure" </dev/null
    expect_usage "erase without --yes off a terminal" \
        "stdin is not a terminal: give --yes to erase without confirmation"
    expect_contact_held "erase without --yes"
    erase_on_terminal "$erasure" "sr_wrong"
    expect_rc "erase, wrong id typed" 1
    expect_out_has "erase shows what it covers" "contact acc-cli/c1"
    expect_out_has "erase asks" "Type the request id to confirm:"
    expect_out_has "erase, wrong id typed" "minbill: dsar erase: not confirmed; nothing was erased"
    expect_contact_held "erase, wrong id typed"
fi

if [ "$part" = data ]; then
    # --- a whole access request, as in the README ------------------------------

    open_request "$privacy" --email "$email" --kind access --verified-by "passport, desk 3"
    access=$id
    dsar show "$access"
    expect_rc "show" 0
    expect_out_has "show" "contacts     acc-cli/c1"
    make_overdue "$access"
    dsar list --overdue
    expect_out_has "list --overdue" "$access"

    dsar export "$access" --out "$dir/export.json"
    expect_rc "export" 0
    expect_err "export: no progress off a terminal" ""
    expect_out_has "export" "bytes to $dir/export.json"
    if [ "$(stat -c %a "$dir/export.json" 2>/dev/null)" = 600 ]; then
        pass
    else
        fail "export: file mode is not 600"
    fi
    expect_export_names "export" "$dir/export.json" "Jane Doe"
    cp "$dir/export.json" "$dir/export.first" || true
    dsar export "$access" --out "$dir/export.json"
    expect_rc "export onto an existing file" 1
    expect_one_err_line "export onto an existing file"
    expect_err_has "export onto an existing file" "exists; give a new file"
    if cmp -s "$dir/export.json" "$dir/export.first"; then pass; else fail "export overwrote"; fi

    # A refused export leaves no file, not even a temporary one.
    before=$(ls -a "$dir" | wc -l)
    dsar export sr_000000000000000000000000 --out "$dir/refused.json"
    expect_rc "export refused" 1
    expect_one_err_line "export refused"
    expect_err_has "export refused" "minbill: dsar export: NOT_FOUND"
    if [ ! -e "$dir/refused.json" ] && [ "$(ls -a "$dir" | wc -l)" = "$before" ]; then
        pass
    else
        fail "export refused: a file was left: $(ls -a "$dir")"
    fi

    # On a terminal, progress in bytes on stderr.
    run script -qec "\"$MINBILL\" --server $server --api-key $privacy dsar export $access --out \"$dir/tty.json\"" /dev/null
    expect_rc "export on a terminal" 0
    expect_out_has "export on a terminal" "exported "
    expect_export_names "export on a terminal" "$dir/tty.json" "Jane Doe"

    dsar complete "$access" --reason "export sent by letter"
    expect_rc "complete" 0
    expect_out_has "complete" "state        completed"

    # --- an objection shows on the contact --------------------------------------

    open_request "$privacy" --contact acc-cli/c1 --kind objection --verified-by phone-call
    run "$MINBILL" --server "$server" --api-key "$privacy" account show acc-cli --reveal
    expect_out_has "objection shows on the contact" "no marketing"

    # --- erasure: refused without --yes, done with it ---------------------------

    open_request "$privacy" --contact acc-cli/c1 --kind erasure --verified-by desk
    erasure=$id
    dsar erase "$erasure" </dev/null
    expect_usage "erase without --yes" "give --yes to erase without confirmation"
    expect_contact_held "erase without --yes"
    dsar erase "$erasure" --yes </dev/null
    expect_rc "erase --yes" 0
    expect_err "erase --yes" ""
    expect_out_has "erase --yes" "request $erasure: erased"
    expect_out_has "erase --yes" "CATEGORY"
    expect_out_has "erase --yes" "contact"
    run "$MINBILL" --server "$server" --api-key "$privacy" account show acc-cli --reveal
    expect_err_lacks "erase --yes: the contact is gone" "Jane Doe"
    expect_err_lacks "erase --yes: the e-mail is gone" "$email"
    open_request "$privacy" --email "$email" --kind access --verified-by desk
    dsar show "$id"
    expect_out_has "after erasure the e-mail matches nothing" "nothing matched"

    # --- rectification and restriction of the account's own fields --------------

    open_request "$privacy" --account acc-cli --kind rectification --verified-by desk
    rectification=$id
    dsar rectify "$rectification" --account acc-cli --legal-name "Jane Doe e.K." \
        --postal-code 50667 --city Köln
    expect_rc "rectify" 0
    expect_out_has "rectify" "legal name       Jane Doe e.K."
    expect_out_has "rectify" "                 50667 Köln"
    expect_out_has "rectify: Art. 19 recipients" "RECIPIENTS TO NOTIFY (Art. 19)"
    dsar rectify "$rectification" --contact acc-cli/c1 --phone "$phone"
    expect_rc "rectify an erased contact" 1
    expect_one_err_line "rectify an erased contact"
    expect_no_personal_data "rectify an erased contact"
    dsar show "$rectification"
    expect_out_has "rectify records the recipients on the request" "notify (Art. 19)"

    open_request "$privacy" --account acc-cli --kind restriction --verified-by desk
    dsar restrict "$id"
    expect_rc "restrict" 0
    expect_out_has "restrict" "request $id: completed"
    expect_out_has "restrict" "account         acc-cli"
fi

if [ "$part" = readme ]; then
    # --- the README's "Access requests", as written there ----------------------

    readme_commands >"$dir/readme.txt"
    id=
    verbs=
    while IFS= read -r line; do
        case $line in
        "export MINBILL_SERVER=127.0.0.1:50051 MINBILL_API_KEY=<the privacy key it printed>")
            # The same, with the port this daemon chose.
            MINBILL_SERVER=$server
            MINBILL_API_KEY=$(dev_key privacy)
            export MINBILL_SERVER MINBILL_API_KEY
            continue
            ;;
        "build/client/minbill dsar "*) ;;
        *)
            fail "README: not a minbill dsar command: $line"
            continue
            ;;
        esac
        args=${line#build/client/minbill }
        case $args in *[\$\`\\\;\|\&\<\>]*)
            fail "README: more than a command: $line"
            continue
            ;;
        esac
        [ -z "$id" ] || args=$(printf '%s' "$args" | sed "s/sr_\.\.\./$id/g")
        verb=$(printf '%s' "$args" | cut -d ' ' -f 2)
        verbs="$verbs $verb"
        if [ "$verb" = erase ]; then
            # On a terminal, typing the request id when asked.
            run sh -c 'printf "%s\n" "$1" | script -qec "\"$MINBILL\" $2" /dev/null' sh "$id" "$args"
        else
            eval "run \"\$MINBILL\" $args" </dev/null
        fi
        expect_rc "README: $args" 0
        case $verb in
        open)
            id=$(printf '%s\n' "$out" | sed -n 's/^request id *\(sr_[0-9a-f]*\)$/\1/p')
            if [ -n "$id" ]; then pass; else fail "README: $args: no request id"; fi
            ;;
        export) expect_export_names "README: $args" "$dir/work/jean-martin.json" "Jean Martin" ;;
        rectify)
            expect_out_has "README: $args" "RECIPIENTS TO NOTIFY (Art. 19)"
            case $args in
            *--address-line1*) expect_out_has "README: $args" "8 quai Perrache" ;;
            *"--clear phone"*) expect_err_lacks "README: $args: the phone is gone" "+33478123456" ;;
            esac
            ;;
        show) expect_out_has "README: $args" "notify (Art. 19)" ;;
        complete)
            if printf '%s\n' "$out" | grep -q '^state  *completed$'; then
                pass
            else
                fail "README: $args: not completed"
            fi
            ;;
        restrict) expect_out_has "README: $args" "request $id: completed" ;;
        erase)
            expect_out_has "README: $args" "Type the request id to confirm:"
            expect_out_has "README: $args" "request $id: erased"
            ;;
        esac
    done <"$dir/readme.txt"
    for verb in open export complete rectify show restrict erase; do
        case "$verbs " in *" $verb "*) pass ;; *) fail "README: no dsar $verb step" ;; esac
    done

    # The account's own fields and its contact are gone; the requests stay.
    run "$MINBILL" account show jean-martin-auto --reveal
    expect_rc "after the README: account show" 0
    expect_err_lacks "after the README: the name is gone" "Jean Martin"
    run "$MINBILL" dsar list
    if [ "$(printf '%s\n' "$out" | grep -c ' completed ')" = 4 ]; then
        pass
    else
        fail "after the README: want 4 completed requests"
    fi
    # Its usage of last month is not invoiced, and the run says why.
    last=$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m)
    run "$MINBILL" --api-key "$(dev_key finance)" invoices run --period "$last"
    expect_rc "invoices run after the erasure" 0
    expect_err_has "invoices run after the erasure" \
        "minbill: invoices run: jean-martin-auto: not invoiced: the account's personal data was erased"
    expect_out_has "invoices run after the erasure" "3 invoice(s) issued, 0 skipped, 0 failed"
    expect_out_has "invoices run after the erasure" "1 account(s) not invoiced"
    expect_err_lacks "invoices run after the erasure" "Jean Martin"
fi

finish
