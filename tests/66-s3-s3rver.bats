#!/usr/bin/env bats
# cx-publish's s3 channel against an S3-compatible server it was not
# written with: npm's s3rver (tests/peer/s3rver, installed from its lock
# file by `make check`). s3rver keeps no SHA-256 checksums and has no
# ListParts, so the HEAD that skips and verifies falls back on the
# x-amz-meta-sha256 cx sets. It checks access key ids, not V4 signatures:
# the signatures themselves are proved against tests/mock/s3.py
# (66-s3-publish.bats).
#
# What s3rver 3.7.1 does not do, precisely (so what only the mock proves):
#   - SigV4: only the access key id is looked up (another: 403
#     InvalidAccessKeyId); a wrong secret or signature, and a request with
#     no Authorization at all, are accepted. x-amz-content-sha256 must be
#     there, but the body is not hashed against it.
#   - x-amz-checksum-sha256 is not checked (a wrong one is stored), kept or
#     answered (none on HEAD or GET with x-amz-checksum-mode: ENABLED);
#     x-amz-checksum-algorithm is ignored; no ChecksumSHA256 anywhere.
#   - ListParts (GET ?uploadId) and AbortMultipartUpload (DELETE ?uploadId)
#     answer 405 MethodNotAllowed; ListMultipartUploads 501.
#   - CompleteMultipartUpload checks neither the parts' ETags nor the 5 MiB
#     minimum, and naming a part never uploaded crashes the server (an
#     unhandled ENOENT); UploadPart to an unknown upload id answers 200.
#   - A multipart object's ETag is the MD5 of its bytes, not S3's MD5 of
#     the parts' MD5s with "-<parts>".
#   - Node answers "Expect: 100-continue" before anything is checked.

load helpers

eval "helpers_$(declare -f setup)"

PEER=$CX_ROOT/tests/peer/s3rver
MIB=1048576

setup_file() {
	[ -x "$PEER/node_modules/.bin/s3rver" ] ||
		{ echo "s3rver is not installed: make check, or npm ci --prefix tests/peer/s3rver" >&2; return 1; }
	mkdir "$BATS_FILE_TMPDIR/data"
	"$PEER/node_modules/.bin/s3rver" -d "$BATS_FILE_TMPDIR/data" -a 127.0.0.1 -p 0 \
		--configure-bucket bkt > "$BATS_FILE_TMPDIR/s3rver.log" 2>&1 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/s3rver.pid"
	for _ in $(seq 600); do grep -q 'listening on' "$BATS_FILE_TMPDIR/s3rver.log" && break; sleep 0.05; done
	S3RVER=http://$(grep -o 'listening on [0-9.:]*' "$BATS_FILE_TMPDIR/s3rver.log" | cut -d' ' -f3)
	export S3RVER
}

teardown_file() {
	kill "$(cat "$BATS_FILE_TMPDIR/s3rver.pid")" 2> /dev/null || true
}

setup() {
	helpers_setup
	export CX_S3_ENDPOINT=$S3RVER CX_S3_ACCESS_KEY_ID=S3RVER CX_S3_SECRET_ACCESS_KEY=S3RVER \
		CX_S3_PART_SIZE=$((5 * MIB)) CX_HTTP_TIMEOUT_SECONDS=10
	unset CX_S3_REGION CX_S3_PATH_STYLE
	LOG=$BATS_FILE_TMPDIR/s3rver.log
	FROM=$(($(wc -l < "$LOG") + 1))
}

# line KEY FILE: an s3 command line for object KEY of bucket bkt.
line() {
	jq -cn --arg k "$1" --arg f "$2" '{channel:"s3",workspace:"acme",bucket:"bkt",key:$k,file:$f}'
}

# requests: how many requests s3rver logged since the test began.
requests() {
	tail -n +"$FROM" "$LOG" | grep -c ' [0-9][0-9][0-9] [0-9]*ms '
}

@test "s3rver: a 20 MiB file goes multipart and comes back byte for byte; the same line again is skipped" {
	head -c $((20 * MIB)) /dev/urandom > pkg.bin
	run -0 --separate-stderr cx-publish < <(line rv/pkg.bin "$PWD/pkg.bin")
	echo "$output" | jq -e --arg s "$(sha256sum pkg.bin | cut -c1-64)" '.type == "post.published"
		and .data.sha256 == $s and .data.size == 20971520 and .data.parts == 4
		and .data.skipped == false and .data.provider_ref == "s3://bkt/rv/pkg.bin"'
	# HEAD, create, four parts, complete, HEAD
	[ "$(requests)" -eq 8 ]
	curl -sf -o got "$S3RVER/bkt/rv/pkg.bin"
	cmp got pkg.bin
	FROM=$(($(wc -l < "$LOG") + 1))
	run -0 --separate-stderr cx-publish < <(line rv/pkg.bin "$PWD/pkg.bin")
	echo "$output" | jq -e '.data.skipped == true'
	[ "$(requests)" -eq 1 ]
}

@test "s3rver: an access key it does not know fails the item with AUTH_FAILED after one request" {
	printf 'x\n' > small.txt
	export CX_S3_ACCESS_KEY_ID=AKIDUNKNOWN
	run -1 --separate-stderr cx-publish < <(line rv/nope.txt "$PWD/small.txt")
	echo "$output" | jq -e '.type == "post.failed" and .data.error_code == "AUTH_FAILED"'
	[ "$(requests)" -eq 1 ]
}

@test "s3rver: a small file goes in one PUT with its type and metadata; HEAD answers them and its SHA-256; it comes back byte for byte" {
	head -c 300000 /dev/urandom > small.zip
	sha=$(sha256sum small.zip | cut -c1-64)
	run -0 --separate-stderr cx-publish < <(line rv/small.zip "$PWD/small.zip" |
		jq -c '. + {content_type: "application/zip", metadata: {job: "42"}}')
	echo "$output" | jq -e --arg s "$sha" --arg e "\"$(md5sum small.zip | cut -c1-32)\"" '
		.type == "post.published" and .data.sha256 == $s and .data.size == 300000
		and .data.etag == $e and .data.skipped == false and (.data | has("parts") | not)'
	# HEAD, PUT, HEAD
	[ "$(requests)" -eq 3 ]
	curl -sf -I "$S3RVER/bkt/rv/small.zip" | tr -d '\r' > h
	grep -qx 'Content-Length: 300000' h
	grep -qx 'Content-Type: application/zip' h
	grep -qix 'x-amz-meta-job: 42' h
	grep -qix "x-amz-meta-sha256: $sha" h
	curl -sf -o got "$S3RVER/bkt/rv/small.zip"
	cmp got small.zip
}
