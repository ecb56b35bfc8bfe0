#!/usr/bin/env bash
# The inbound pipeline on the embedded default: a local SQLite state file and
# the bundled sample deliveries (real provider payloads). `make run` runs it.
#
#   cx-ingest store  (as cx-ingest serve would, for each delivery)
#   cx-ingest drain --consumer demo | cx-parse | cx-dedupe | cx-ingest ack --consumer demo
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PATH="$(cd "$here/../../.." && pwd)/bin:$PATH"
work=${CX_RUN_DIR:-$PWD/build/run}
rm -rf "$work"
mkdir -p "$work"
export CX_DB="$work/cx.db" CX_LOG=text CX_LOG_LEVEL=warn

n=0
for f in "$here"/deliveries/*.json; do
	provider=$(basename "$f" | cut -d- -f1)
	cx-ingest store --provider "$provider" < "$f" > /dev/null
	n=$((n + 1))
done
# The provider did not see our 200 and delivered the same batch again.
cx-ingest store --provider whatsapp < "$here/deliveries/whatsapp-batch.json" > /dev/null
n=$((n + 1))
echo "state file   $CX_DB"
echo "stored       $n deliveries (one of them a provider's retry)"
echo

cx-ingest drain --consumer demo | cx-parse | cx-dedupe | cx-ingest ack --consumer demo \
	> "$work/events.ndjson"

echo "events, after dedupe:"
# A table whose first four columns are padded to their widest value.
jq -rs 'map([.occurred_at // "-", .type, .channel, .tenant,
	(.data.text // .data.status // .data.reaction.value // .data.leadgen_id
	 // (.data.attachments[0].type | select(.) | "[\(.)]") // "" | tostring)]) as $rows
	| [range(4) as $i | $rows | map(.[$i] | length) | max] as $width
	| $rows[] | [range(4) as $i | .[$i] + " " * ($width[$i] - (.[$i] | length))] + [.[4]]
	| "  " + join("  ")' "$work/events.ndjson"
echo
echo "by type:"
jq -r .type "$work/events.ndjson" | sort | uniq -c | sed 's/^ */  /'
echo
echo "counters (cx metrics):"
cx metrics | grep -v '^#' | sed 's/^/  /'
echo
again=$(cx-ingest drain --consumer demo | wc -l)
echo "a second drain for consumer demo finds $again deliveries: everything was acked."
