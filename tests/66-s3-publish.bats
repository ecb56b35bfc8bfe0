#!/usr/bin/env bats
# cx-publish, channel s3 (cx-publish(1) ENDPOINTS): a file backed up to a
# bucket of the S3 mock (tests/mock/s3.py, which re-signs every request
# with botocore, checks each body's SHA-256 and each part's checksum, and
# records what it got): one PUT or a multipart upload, verified by a HEAD;
# skipped when the object is already there; resumed after a kill -9
# without sending finished parts again; refused for good on a wrong secret
# or a part whose checksum does not match.

load helpers

eval "helpers_$(declare -f setup)"

KEY=AKIDEXAMPLE66
SECRET='wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLE66'
MIB=1048576

setup_file() {
	mkdir "$BATS_FILE_TMPDIR/store"
	mock_start s3 s3.py --dir "$BATS_FILE_TMPDIR/store" --bucket bkt --access-key "$KEY" \
		--secret-key "$SECRET" --lifetime 600
	S3=$(mock_url s3)
	export S3
}

teardown_file() {
	mock_stop s3
}

setup() {
	helpers_setup
	mock_record "$S3"
	export CX_S3_ENDPOINT=$S3 CX_S3_ACCESS_KEY_ID=$KEY CX_S3_SECRET_ACCESS_KEY=$SECRET \
		CX_S3_PART_SIZE=$((5 * MIB)) CX_HTTP_TIMEOUT_SECONDS=10
	# one part at a time, so the requests come in an order the tests can
	# name; the tests of parts in flight at once set it themselves
	export CX_S3_CONCURRENCY=1
	unset CX_S3_REGION CX_S3_PATH_STYLE
}

# control JSON: programs the mock.
control() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$1" "$S3/_control" > /dev/null
}

# line KEY FILE [EXTRA-JQ]: an s3 command line for object KEY of bucket bkt.
line() {
	jq -cn --arg k "$1" --arg f "$2" '{channel:"s3",workspace:"acme",bucket:"bkt",key:$k,
		file:$f}'"${3:+ + $3}"
}

sha256() {
	sha256sum "$1" | cut -c1-64
}

# checksum FILE [SKIP-MIB COUNT-MIB]: the base64 SHA-256 of FILE, or of
# that slice of it.
checksum() {
	if [ $# -eq 3 ]; then
		tail -c +$(($2 * MIB + 1)) "$1" | head -c $(($3 * MIB))
	else
		cat "$1"
	fi | sha256sum | cut -c1-64 | xxd -r -p | base64
}

# ops [JQ-FILTER]: the operations the mock recorded, one JSON array.
ops() {
	jq -sc "map(${1:-.operation})" "$REC"
}

# object KEY: the stored object, fetched with curl --aws-sigv4 into ./got.
object() {
	curl -sf -o got --aws-sigv4 "aws:amz:us-east-1:s3" --user "$KEY:$SECRET" \
		-H "x-amz-content-sha256: $(printf '' | sha256sum | cut -c1-64)" "$S3/bkt/$1"
}

@test "a 20 MiB file goes multipart, every part with its SHA-256, checked by a HEAD; the line carries sha256, size and etag" {
	head -c $((20 * MIB)) /dev/urandom > pkg.bin
	run -0 --separate-stderr cx-publish < <(line backups/pkg.bin "$PWD/pkg.bin" '{metadata:{tenant:"acme"}}')
	echo "$output" > ev.json
	[ "$(ops)" = '["HeadObject","CreateMultipartUpload","UploadPart","UploadPart","UploadPart","UploadPart","CompleteMultipartUpload","HeadObject"]' ]
	[ "$(ops '[.signature, .status]' | jq -c unique)" = '[["ok",200],["ok",404]]' ]
	[ "$(jq -r 'select(.operation == "CreateMultipartUpload") | .headers["x-amz-checksum-algorithm"]' "$REC")" = SHA256 ]
	for n in 1 2 3 4; do
		part=$(jq -c --arg n "$n" 'select(.query.partNumber == $n) | [.headers["x-amz-checksum-sha256"], .checksum, .body_size, .headers["x-amz-content-sha256"] == .body_sha256]' "$REC")
		c=$(checksum pkg.bin $((n * 5 - 5)) 5)
		[ "$part" = "[\"$c\",\"$c\",$((5 * MIB)),true]" ]
	done
	etag=$(jq -r 'select(.operation == "CompleteMultipartUpload") | .etag' "$REC")
	jq -e --arg s "$(sha256 pkg.bin)" --arg e "$etag" '.type == "post.published" and
		.data.provider_ref == "s3://bkt/backups/pkg.bin" and .data.sha256 == $s and
		.data.size == 20971520 and .data.etag == $e and .data.parts == 4 and
		.data.skipped == false' ev.json
	[ "$(jq -r 'select(.operation == "HeadObject" and .status == 200) | .headers["x-amz-checksum-mode"]' "$REC")" = ENABLED ]
	object backups/pkg.bin
	cmp got pkg.bin
	[ "$(sql 'select count(*) from s3_uploads')" -eq 0 ]
	# the ledger keeps them too
	[ "$(sql "select json_extract(result, '\$.sha256') || ' ' || json_extract(result, '\$.size') || ' ' || json_extract(result, '\$.etag') from publish_commands")" = "$(sha256 pkg.bin) 20971520 $etag" ]
	cx audit --json | jq -se --arg s "$(sha256 pkg.bin)" 'map(select(.action == "post_published"))
		| length == 1 and .[0].detail.sha256 == $s and .[0].detail.size == 20971520'
}

@test "the same line again: the object is there with the same SHA-256, skipped after one HEAD" {
	head -c $((6 * MIB)) /dev/urandom > pkg.bin
	run -0 --separate-stderr cx-publish < <(line again.bin "$PWD/pkg.bin")
	: > "$REC"
	run -0 --separate-stderr cx-publish < <(line again.bin "$PWD/pkg.bin")
	echo "$output" | jq -e --arg s "$(sha256 pkg.bin)" '.type == "post.published" and
		.data.skipped == true and .data.sha256 == $s and .data.size == 6291456 and
		(.data | has("parts") | not)'
	[ "$(ops)" = '["HeadObject"]' ]
}

@test "an object there with other bytes of the same size is replaced, not skipped" {
	head -c $((6 * MIB)) /dev/urandom > old.bin
	head -c $((6 * MIB)) /dev/urandom > new.bin
	run -0 --separate-stderr cx-publish < <(line replaced.bin "$PWD/old.bin")
	: > "$REC"
	run -0 --separate-stderr cx-publish < <(line replaced.bin "$PWD/new.bin")
	echo "$output" | jq -e --arg s "$(sha256 new.bin)" '.data.skipped == false and .data.sha256 == $s'
	[ "$(ops)" = '["HeadObject","CreateMultipartUpload","UploadPart","UploadPart","CompleteMultipartUpload","HeadObject"]' ]
	object replaced.bin
	cmp got new.bin
}

@test "a file within the part size goes in one PUT with its checksum, content type and metadata, bucket in the host name" {
	printf 'backup 66\n' > small.txt
	export CX_S3_ENDPOINT=http://localhost:${S3##*:} CX_S3_PATH_STYLE=off
	run -0 --separate-stderr cx-publish < <(line 'dir/small file.txt' "$PWD/small.txt" \
		'{content_type:"text/plain",metadata:{"Ticket-Id":"T-7"}}')
	echo "$output" | jq -e '.data.etag == "\"'"$(md5sum small.txt | cut -c1-32)"'\"" and
		.data.size == 10 and .data.skipped == false and .data.key == "dir/small file.txt"'
	[ "$(ops)" = '["HeadObject","PutObject","HeadObject"]' ]
	run jq -c 'select(.operation == "PutObject") | [.headers.host, .path, .headers["content-type"], .headers["x-amz-checksum-sha256"], .signed_headers]' "$REC"
	[ "$output" = "[\"bkt.localhost:${S3##*:}\",\"/dir/small%20file.txt\",\"text/plain\",\"$(checksum small.txt)\",[\"content-type\",\"host\",\"x-amz-checksum-sha256\",\"x-amz-content-sha256\",\"x-amz-date\",\"x-amz-meta-sha256\",\"x-amz-meta-ticket-id\"]]" ]
	meta=$(jq -c .meta "$BATS_FILE_TMPDIR/store/bkt/objects/$(printf 'dir/small file.txt' | sha256sum | cut -c1-64).json")
	[ "$meta" = "{\"x-amz-meta-sha256\":\"$(sha256 small.txt)\",\"x-amz-meta-ticket-id\":\"T-7\"}" ]
}

@test "an empty file is stored as an empty object of the default type" {
	: > empty.txt
	run -0 --separate-stderr cx-publish < <(line empty.txt "$PWD/empty.txt")
	echo "$output" | jq -e '.data.size == 0 and .data.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"'
	run jq -c 'select(.operation == "PutObject") | [.body_size, .headers["content-type"], .headers["x-amz-checksum-sha256"]]' "$REC"
	[ "$output" = '[0,"application/octet-stream","47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]' ]
}

@test "killed mid-upload (kill -9): the next run resumes the upload and sends only the parts not there" {
	head -c $((20 * MIB)) /dev/urandom > pkg.bin
	control '{"script": {"UploadPart 3": [{"hang_ms": 120000}]}}'
	cx-publish < <(line resumed.bin "$PWD/pkg.bin" '{idempotency_key:"pkg-1"}') > out 2> err 3>&- &
	pid=$!
	for _ in $(seq 600); do grep -q '"hung"' "$REC" && break; sleep 0.05; done
	kill -9 "$pid"
	wait "$pid" || true
	[ "$(ops '[.operation, .query.partNumber]')" = '[["HeadObject",null],["CreateMultipartUpload",null],["UploadPart","1"],["UploadPart","2"],["UploadPart","3"]]' ]
	[ "$(sql "select object_key || ' ' || sha256 || ' ' || part_size from s3_uploads")" = "resumed.bin $(sha256 pkg.bin) $((5 * MIB))" ]
	upload=$(sql 'select upload_id from s3_uploads')
	: > "$REC"
	# the same line again, at once: the killed run's process is gone, so its
	# lease ends now; the item is reconciled (not there: S3 needs no grace)
	# and sent again, resuming the upload
	run -0 --separate-stderr cx-publish < <(line resumed.bin "$PWD/pkg.bin" '{idempotency_key:"pkg-1"}')
	echo "$output" | jq -e --arg s "$(sha256 pkg.bin)" '.type == "post.published" and
		.data.idempotency_key == "pkg-1" and .data.sha256 == $s and .data.parts == 4'
	[ "$(ops '[.operation, .query.partNumber]')" = '[["HeadObject",null],["HeadObject",null],["ListParts",null],["UploadPart","3"],["UploadPart","4"],["CompleteMultipartUpload",null],["HeadObject",null]]' ]
	[ "$(jq -r 'select(.operation != "HeadObject") | .query.uploadId' "$REC" | sort -u)" = "$upload" ]
	object resumed.bin
	cmp got pkg.bin
	[ "$(sql 'select count(*) from s3_uploads')" -eq 0 ]
}

@test "killed mid-upload, the object then there after all: reconciled as published, the upload left is aborted" {
	head -c $((11 * MIB)) /dev/urandom > pkg.bin
	control '{"script": {"UploadPart 2": [{"hang_ms": 120000}]}}'
	cx-publish < <(line there.bin "$PWD/pkg.bin" '{idempotency_key:"pkg-2"}') > out 2> err 3>&- &
	pid=$!
	for _ in $(seq 600); do grep -q '"hung"' "$REC" && break; sleep 0.05; done
	kill -9 "$pid"
	wait "$pid" || true
	upload=$(sql 'select upload_id from s3_uploads')
	[ -n "$upload" ]
	curl -sf -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$KEY:$SECRET" -T pkg.bin \
		-H "x-amz-content-sha256: $(sha256 pkg.bin)" -H "x-amz-checksum-sha256: $(checksum pkg.bin)" \
		"$S3/bkt/there.bin"
	: > "$REC"
	run -0 --separate-stderr cx-publish < /dev/null
	echo "$output" | jq -e '.type == "post.published" and .data.provider_ref == "s3://bkt/there.bin"'
	[ "$(ops '[.operation, .query.uploadId]')" = "[[\"HeadObject\",null],[\"AbortMultipartUpload\",\"$upload\"]]" ]
	[ "$(sql 'select count(*) from s3_uploads')" -eq 0 ]
}

@test "a 256 MiB file in parts of 64 MiB, four in flight at once, is streamed: cx-publish stays under 64 MiB of memory" {
	head -c $((256 * MIB)) /dev/urandom > big.bin
	export CX_S3_PART_SIZE=$((64 * MIB)) CX_S3_CONCURRENCY=4
	# part 1 is read whole by the mock, then left unanswered; the other three
	# go out beside it: by then every byte of the file has gone out, and
	# cx-publish is still there
	control '{"script": {"UploadPart 1": [{"hang_ms": 120000}]}}'
	cx-publish < <(line big.bin "$PWD/big.bin") > out 2> err 3>&- &
	pid=$!
	for _ in $(seq 1200); do
		[ "$(jq -s 'map(select(.operation == "UploadPart")) | length' "$REC")" -eq 4 ] && break
		sleep 0.05
	done
	peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
	kill -9 "$pid"
	wait "$pid" || true
	[ "$(ops '[.query.partNumber, .body_size, (.status // .code)]' | jq -c 'map(select(.[0])) | sort')" = "[[\"1\",$((64 * MIB)),\"hung\"],[\"2\",$((64 * MIB)),200],[\"3\",$((64 * MIB)),200],[\"4\",$((64 * MIB)),200]]" ]
	[ "$peak" -lt $((64 * 1024)) ]
}

@test "a wrong secret fails the item with AUTH_FAILED after one request, and it is not retried" {
	printf 'secret\n' > small.txt
	export CX_S3_SECRET_ACCESS_KEY=wrong-secret
	run -1 --separate-stderr cx-publish < <(line nope.txt "$PWD/small.txt")
	echo "$output" | jq -e '.type == "post.failed" and .data.error_code == "AUTH_FAILED"'
	[ "$(ops '[.method, .status, .code, .signature]')" = '[["HEAD",403,"SignatureDoesNotMatch","mismatch"]]' ]
	[[ $stderr != *wrong-secret* ]]
	run -0 --separate-stderr cx-publish < /dev/null
	[ "$(jq -s length "$REC")" -eq 1 ]
}

@test "a part whose checksum S3 refuses: the item fails, the upload is aborted and never completed" {
	head -c $((11 * MIB)) /dev/urandom > pkg.bin
	control '{"script": {"UploadPart 2": [{"s3_error": "BadDigest", "message": "The SHA256 you specified did not match the calculated checksum."}]}}'
	run -1 --separate-stderr cx-publish < <(line refused.bin "$PWD/pkg.bin")
	echo "$output" | jq -e '.type == "post.failed" and .data.error_code == "VALIDATION_FAILED"'
	[ "$(ops '[.operation, .status]')" = '[["HeadObject",404],["CreateMultipartUpload",200],["UploadPart",200],["UploadPart",400],["AbortMultipartUpload",204]]' ]
	id=$(jq -r 'select(.operation == "AbortMultipartUpload") | .query.uploadId' "$REC")
	[ -n "$id" ] && [ ! -e "$BATS_FILE_TMPDIR/store/bkt/uploads/$id" ]
	[ "$(sql 'select count(*) from s3_uploads')" -eq 0 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -I --aws-sigv4 "aws:amz:us-east-1:s3" --user "$KEY:$SECRET" \
		-H "x-amz-content-sha256: $(printf '' | sha256sum | cut -c1-64)" "$S3/bkt/refused.bin")" = 404 ]
}

@test "a line whose file is missing, relative or a directory, or whose key has a '..' segment, is refused and nothing is sent" {
	printf 'x\n' > small.txt
	for bad in "$(line a.txt "$PWD/none.txt")" "$(line a.txt small.txt)" "$(line a.txt "$PWD")" \
		"$(line a/../b.txt "$PWD/small.txt")" "$(line a.txt "$PWD/small.txt" '{metadata:{n:1}}')"; do
		run -65 --separate-stderr cx-publish <<< "$bad"
		[ -z "$output" ]
	done
	[ "$(jq -s length "$REC")" -eq 0 ]
	[ "$(sql 'select count(*) from publish_commands')" -eq 0 ]
}

@test "an item that ends dead mid-upload has its upload aborted and forgotten" {
	head -c $((11 * MIB)) /dev/urandom > pkg.bin
	control '{"script": {"UploadPart 2": [{"s3_error": "InternalError"}]}}'
	run -1 --separate-stderr cx-publish --max-attempts 1 < <(line dead.bin "$PWD/pkg.bin")
	echo "$output" | jq -e '.type == "post.dead" and .data.error_code == "UPSTREAM_ERROR"'
	[ "$(ops '[.operation, .status]')" = '[["HeadObject",404],["CreateMultipartUpload",200],["UploadPart",200],["UploadPart",500],["AbortMultipartUpload",204]]' ]
	[ "$(jq -r 'select(.operation == "AbortMultipartUpload") | .query.uploadId' "$REC")" = \
		"$(jq -r 'select(.operation == "UploadPart") | .query.uploadId' "$REC" | sort -u)" ]
	id=$(jq -r 'select(.operation == "AbortMultipartUpload") | .query.uploadId' "$REC")
	[ -n "$id" ] && [ ! -e "$BATS_FILE_TMPDIR/store/bkt/uploads/$id" ]
	[ "$(sql 'select count(*) from s3_uploads')" -eq 0 ]
}
