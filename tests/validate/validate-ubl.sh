#!/bin/sh
# validate-ubl.sh DIR - checks every *.xml in DIR the way an auditor's tool
# would (../shared/reference/validation.md):
#   1. the OASIS UBL 2.1 schema with xmllint (Invoice or CreditNote schema,
#      chosen by the root element);
#   2. the CEN EN 16931 UBL rules: one Saxon run over all files;
#   3. the KoSIT XRechnung 3.0 rules: one Saxon run over the files whose
#      CustomizationID names XRechnung.
# Prints each schema error and each fatal rule per file; exits 0 when there
# is none, 1 otherwise, 77 (CTest: skipped) when the validation data
# ($MINBILL_SHARED_DATA, default <repo>/../shared/data) or xmllint, java or
# Saxon-HE is missing, 2 on usage errors.
set -u

dir=${1:-}
[ -n "$dir" ] && [ -d "$dir" ] || { echo "usage: $0 DIR" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/../.." && pwd)
data=${MINBILL_SHARED_DATA:-$repo/../shared/data}
saxon=${SAXON_JAR:-/usr/share/java/Saxon-HE.jar}
xsd_invoice=$data/ubl-2.1/maindoc/UBL-Invoice-2.1.xsd
xsd_credit=$data/ubl-2.1/maindoc/UBL-CreditNote-2.1.xsd
xsl_en=$data/en16931/EN16931-UBL-validation.xslt
xsl_xr=$data/xrechnung/XRechnung-UBL-validation.xslt
xrechnung_id='urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0'

skip() {
    echo "SKIP: $1" >&2
    exit 77
}
for f in "$xsd_invoice" "$xsd_credit" "$xsl_en" "$xsl_xr"; do
    [ -r "$f" ] || skip "validation data not found: $f (set MINBILL_SHARED_DATA)"
done
command -v xmllint >/dev/null 2>&1 || skip "xmllint not installed (apt-get install libxml2-utils)"
command -v java >/dev/null 2>&1 || skip "java not installed (apt-get install default-jre-headless)"
[ -r "$saxon" ] || skip "Saxon-HE not found at $saxon (apt-get install libsaxonhe-java)"

tmp=$(mktemp -d -t validate-ubl.XXXXXX) || exit 2
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/all" "$tmp/xr" "$tmp/svrl-en" "$tmp/svrl-xr"

failed=0
count=0
for f in "$dir"/*.xml; do
    [ -e "$f" ] || continue
    count=$((count + 1))
    name=$(basename "$f")
    cp "$f" "$tmp/all/$name"
    root=$(xmllint --xpath 'local-name(/*)' "$f" 2>"$tmp/err") || {
        echo "FAIL $name: not well-formed XML"
        cat "$tmp/err"
        failed=1
        continue
    }
    case $root in
    Invoice) xsd=$xsd_invoice ;;
    CreditNote) xsd=$xsd_credit ;;
    *)
        echo "FAIL $name: root element $root is neither Invoice nor CreditNote"
        failed=1
        continue
        ;;
    esac
    if ! xmllint --noout --schema "$xsd" "$f" >"$tmp/err" 2>&1; then
        echo "FAIL $name: UBL 2.1 schema"
        grep -v ' validates$' "$tmp/err"
        failed=1
    fi
    cid=$(xmllint --xpath 'normalize-space(/*/*[local-name()="CustomizationID"])' "$f" 2>/dev/null)
    [ "$cid" = "$xrechnung_id" ] && cp "$f" "$tmp/xr/$name"
done
[ "$count" -gt 0 ] || { echo "no *.xml in $dir" >&2; exit 2; }

# One JVM per rule set: Saxon transforms a whole directory (-s:DIR -o:DIR).
run_rules() { # label xslt indir outdir
    [ -n "$(ls "$3")" ] || return 0
    if ! java -cp "$saxon" net.sf.saxon.Transform -s:"$3" -xsl:"$2" -o:"$4" \
        >"$tmp/saxon.log" 2>&1; then
        echo "FAIL: the $1 run failed:"
        grep -v -e 'SXWN9000' -e '^Warning at function' "$tmp/saxon.log"
        failed=1
        return 0
    fi
    for r in "$4"/*; do
        name=$(basename "$r")
        fatal=$(xmllint --xpath 'count(//*[local-name()="failed-assert"][@flag="fatal"])' "$r")
        i=1
        while [ "$i" -le "$fatal" ]; do
            a="(//*[local-name()=\"failed-assert\"][@flag=\"fatal\"])[$i]"
            id=$(xmllint --xpath "string($a/@id)" "$r")
            text=$(xmllint --xpath "normalize-space($a)" "$r")
            where=$(xmllint --xpath "string($a/@location)" "$r" | sed 's/Q{[^}]*}//g')
            echo "FAIL $name: $1 $id: $text"
            echo "     at $where"
            i=$((i + 1))
        done
        [ "$fatal" -eq 0 ] || failed=1
    done
}
run_rules "EN 16931" "$xsl_en" "$tmp/all" "$tmp/svrl-en"
run_rules "XRechnung" "$xsl_xr" "$tmp/xr" "$tmp/svrl-xr"

nxr=$(ls "$tmp/xr" | wc -l)
if [ "$failed" -ne 0 ]; then
    echo "INVALID: see above ($count documents, $nxr XRechnung)"
    exit 1
fi
echo "OK: $count documents valid against UBL 2.1 and EN 16931, $nxr of them XRechnung 3.0"
exit 0
