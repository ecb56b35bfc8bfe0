# parse.bash: helpers of the cx-parse tests (20-cx-parse.bats, 22-email-parse.bats):
# deliveries as webhook.received lines, parse errors as the goldens hold
# them, and every fixture of a provider against its goldens.

# webhook PROVIDER [INBOX_ID] < body: the body as one webhook.received line
# with the golden files' constants.
webhook() {
	jq -c --arg p "$1" --argjson id "${2:-1}" '{v: 1, type: "webhook.received",
		inbox_id: $id, provider: $p, correlation_id: "c-fixture",
		received_at: "2026-11-23T10:00:00Z", body: .}'
}

# parse_errors < stderr: the {error, path} of each parse.error log line, as
# in the <case>.errors.ndjson goldens.
parse_errors() {
	jq -c 'select(.msg | startswith("parse.error")) | {error: .reason, path}'
}

# check_fixtures PROVIDER: every body named in its INPUTS, wrapped as a
# webhook.received line, gives exactly the golden events, the golden errors,
# a marker with their counts, and exit 65 iff there are errors.
check_fixtures() {
	local p=$1 dir=$FIXTURES/$1 f c rc want_rc events errors cases=0 failed=0

	while read -r f; do
		[ -n "$f" ] || continue
		c=${f%.json}
		c=${c%.body}
		cases=$((cases + 1))
		webhook "$p" < "$dir/$f" > in.ndjson
		rc=0
		cx-parse < in.ndjson > out.ndjson 2> err.ndjson || rc=$?
		grep -v '"type":"delivery.done"' out.ndjson > events.ndjson || true
		parse_errors < err.ndjson > errors.ndjson
		events=$(wc -l < "$dir/$c.expected.ndjson")
		errors=$(wc -l < "$dir/$c.errors.ndjson")
		want_rc=0
		[ "$errors" -eq 0 ] || want_rc=65
		if ! diff -u "$dir/$c.expected.ndjson" events.ndjson; then
			echo "$p/$c: events differ from the golden"; failed=1
		fi
		if ! diff -u "$dir/$c.errors.ndjson" errors.ndjson; then
			echo "$p/$c: parse errors differ from the golden"; failed=1
		fi
		if [ "$(tail -n 1 out.ndjson)" != "{\"v\":1,\"type\":\"delivery.done\",\"provider\":\"$p\",\"correlation_id\":\"c-fixture\",\"source\":{\"inbox_id\":1},\"data\":{\"events\":$events,\"errors\":$errors}}" ]; then
			echo "$p/$c: wrong marker: $(tail -n 1 out.ndjson)"; failed=1
		fi
		if [ "$rc" -ne "$want_rc" ]; then
			echo "$p/$c: exit $rc, wanted $want_rc"; failed=1
		fi
	done < "$dir/INPUTS"
	[ "$cases" -gt 0 ] || { echo "$p: INPUTS names no body"; failed=1; }
	return $failed
}

# share_copy: a private copy of share/cx in ./share, for broken parsers.
share_copy() {
	cp -R "$CX_ROOT/share/cx" share
	export CX_SHARE_DIR=$PWD/share
}
