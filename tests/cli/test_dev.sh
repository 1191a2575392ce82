#!/bin/sh
# test_dev.sh - `minbilld serve --dev` as the README's first command runs it:
# every default, from a directory of its own. It makes var/ there, seeds the
# example world, prints the keys, and invoices as the example seller, which it
# reads from dev/seller.conf next to the binary (the build copies it there;
# no code holds the seller's IBAN): the rendered invoice carries that file's
# name and IBAN. A copy of minbilld without the file refuses to start with
# one line naming the path and --seller-config.
#
# The helpers, the temporary directory and the daemon: lib.sh.
set -eu

. "$(dirname "$0")/lib.sh"

src=$(cd "$(dirname "$0")/../.." && pwd)
seller_name=$(sed -n 's/^legal_name = //p' "$src/dev/seller.conf")
seller_iban=$(sed -n 's/^bank\.iban = //p' "$src/dev/seller.conf")

start_dev_daemon
out=$(cat "$dir/dev.out")
err=
rc=0
expect_out_has "serve --dev: welcome" "Seeded an example world"
if [ -s var/master.key ] && [ -s var/minbill.db ]; then pass; else fail "serve --dev: var/"; fi
finance=$(dev_key finance)

last=$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m)
run "$MINBILL" --server "$server" --api-key "$finance" invoices run --period "$last"
expect_rc "invoices run" 0
expect_out_has "invoices run" "4 invoice(s) issued, 0 skipped, 0 failed"
number=INV-$(date -u +%Y)-000001
run "$MINBILL" --server "$server" --api-key "$finance" invoice render "$number" --format ubl \
    --out "$dir/invoice.xml"
expect_rc "invoice render" 0
out=$(cat "$dir/invoice.xml")
expect_out_has "invoice: the example seller" "<cbc:RegistrationName>$seller_name</cbc:RegistrationName>"
expect_out_has "invoice: the example seller's IBAN" "<cbc:ID>$seller_iban</cbc:ID>"
stop_daemon

# Without dev/seller.conf next to the binary: refused, before serving.
mkdir "$dir/bin"
cp "$MINBILLD" "$dir/bin/minbilld"
run "$dir/bin/minbilld" serve --dev --listen 127.0.0.1:0
expect_rc "no dev/seller.conf" 1
expect_err_has "no dev/seller.conf" "cannot read $dir/bin/dev/seller.conf"
expect_err_has "no dev/seller.conf" "--seller-config FILE"
if grep -q "event=serving" "$dir/err"; then fail "no dev/seller.conf: served"; else pass; fi

finish
