#!/usr/bin/env bats
# The S3 scenario against a second server: s3rver (npm, tests/peer/s3rver,
# installed from its lock file by `make check`), an S3-compatible server on
# the local file system, signed with curl --aws-sigv4 as s3rver's own
# account (S3RVER / S3RVER).
#
# s3rver 3.7.1 checks less than S3 and tests/mock/s3.py do, so these tests
# prove the requests and the bytes, not the checks:
#   - SigV4 is not verified: only the access key id is looked up (another
#     key: 403 InvalidAccessKeyId); a wrong secret, a wrong signature and an
#     unsigned request are all accepted. x-amz-content-sha256 must be
#     present but the body is not hashed against it.
#   - x-amz-checksum-sha256 is neither checked (a wrong one is stored) nor
#     kept nor answered (HEAD and GET with x-amz-checksum-mode: ENABLED
#     send none); x-amz-checksum-algorithm on CreateMultipartUpload is
#     ignored, and no ChecksumSHA256 comes back from any operation.
#   - ListParts (GET ?uploadId) answers 405 MethodNotAllowed, and so does
#     AbortMultipartUpload (DELETE ?uploadId); ListMultipartUploads 501.
#   - CompleteMultipartUpload checks neither the parts' ETags nor the 5 MiB
#     minimum; naming a part never uploaded crashes the server (an
#     unhandled ENOENT). UploadPart to an unknown upload id answers 200.
#   - The ETag of a multipart object is the MD5 of its bytes, not S3's
#     MD5 of the parts' MD5s with "-<parts>".
#   - Node answers "Expect: 100-continue" before any check is made.

load helpers

eval "helpers_$(declare -f setup)"

PEER=$CX_ROOT/tests/peer/s3rver
MIB=1048576
EMPTY=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

setup_file() {
	[ -f "$PEER/node_modules/s3rver/package.json" ] ||
		{ echo "s3rver is not installed: make check, or npm ci --prefix tests/peer/s3rver" >&2; return 1; }
	node "$PEER/server.mjs" "$BATS_FILE_TMPDIR/store" bkt > "$BATS_FILE_TMPDIR/s3rver.port" \
		2> "$BATS_FILE_TMPDIR/s3rver.err" 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/s3rver.pid"
	for _ in $(seq 600); do [ -s "$BATS_FILE_TMPDIR/s3rver.port" ] && break; sleep 0.05; done
	[ -s "$BATS_FILE_TMPDIR/s3rver.port" ] || { cat "$BATS_FILE_TMPDIR/s3rver.err" >&2; return 1; }
	export S3=http://127.0.0.1:$(head -n 1 "$BATS_FILE_TMPDIR/s3rver.port")
}

teardown_file() {
	kill "$(cat "$BATS_FILE_TMPDIR/s3rver.pid")" 2> /dev/null || true
}

# s3 PATH PAYLOAD_SHA256 [CURL ARGS...]: a request to PATH signed with
# curl's SigV4 (service s3, us-east-1); the answer's headers in ./h, its
# body in ./b, the status on stdout.
s3() {
	local path=$1 payload=$2
	shift 2
	curl -s -o b -D h -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user S3RVER:S3RVER -H "x-amz-content-sha256: $payload" "$@" "$S3$path"
}

sha256() {
	sha256sum "$1" | cut -c1-64
}

# checksum FILE: its x-amz-checksum-sha256 (base64 of the binary SHA-256).
checksum() {
	sha256 "$1" | xxd -r -p | base64
}

# header NAME: the value of header NAME in ./h.
header() {
	grep -i "^$1:" h | cut -d' ' -f2- | tr -d '\r'
}

# tag NAME: the text of the first <NAME> in ./b.
tag() {
	grep -o "<$1>[^<]*</$1>" b | head -n 1 | sed -e "s|^<$1>||" -e "s|</$1>\$||"
}

# read_back KEY: the object's bytes, read with a signed GET, in ./b.
read_back() {
	[ "$(s3 "/bkt/$1" "$EMPTY")" = 200 ]
}

@test "s3rver: a single PUT with its checksum and metadata; HEAD gives size, type, ETag and metadata; the bytes read back are the file's" {
	head -c 300000 /dev/urandom > small.bin
	run s3 /bkt/pkg/small.bin "$(sha256 small.bin)" -T small.bin \
		-H "x-amz-checksum-sha256: $(checksum small.bin)" \
		-H 'Content-Type: application/zip' -H 'x-amz-meta-tenant: acme'
	[ "$output" = 200 ]
	etag="\"$(md5sum small.bin | cut -c1-32)\""
	[ "$(header ETag)" = "$etag" ]
	run s3 /bkt/pkg/small.bin "$EMPTY" -I -H 'x-amz-checksum-mode: ENABLED'
	[ "$output" = 200 ]
	[ "$(header Content-Length)" = 300000 ]
	[ "$(header Content-Type)" = application/zip ]
	[ "$(header ETag)" = "$etag" ]
	[ "$(header x-amz-meta-tenant)" = acme ]
	read_back pkg/small.bin
	[ "$(sha256 b)" = "$(sha256 small.bin)" ]
}

@test "s3rver: a 20 MiB file in three 8 MiB-bounded parts completes; HEAD gives its size; the bytes read back are the file's" {
	head -c $((20 * MIB)) /dev/urandom > big.bin
	run s3 '/bkt/pkg/big.bin?uploads=' "$EMPTY" -X POST -H 'x-amz-checksum-algorithm: SHA256' \
		-H 'x-amz-meta-tenant: acme'
	[ "$output" = 200 ]
	id=$(tag UploadId)
	[ -n "$id" ]
	: > done.xml
	for n in 1 2 3; do
		dd if=big.bin of="p$n" bs=$MIB skip=$(((n - 1) * 8)) count=8 status=none
		run s3 "/bkt/pkg/big.bin?partNumber=$n&uploadId=$id" "$(sha256 "p$n")" -T "p$n" \
			-H "x-amz-checksum-sha256: $(checksum "p$n")"
		[ "$output" = 200 ]
		[ "$(header ETag)" = "\"$(md5sum "p$n" | cut -c1-32)\"" ]
		echo "<Part><PartNumber>$n</PartNumber><ETag>$(header ETag)</ETag><ChecksumSHA256>$(checksum "p$n")</ChecksumSHA256></Part>" >> done.xml
	done
	[ "$(stat -c %s p3)" = $((4 * MIB)) ]
	echo "<CompleteMultipartUpload>$(tr -d '\n' < done.xml)</CompleteMultipartUpload>" > complete.xml
	run s3 "/bkt/pkg/big.bin?uploadId=$id" "$(sha256 complete.xml)" -X POST --data-binary @complete.xml
	[ "$output" = 200 ]
	[ "$(tag Key)" = pkg/big.bin ]
	run s3 /bkt/pkg/big.bin "$EMPTY" -I
	[ "$output" = 200 ]
	[ "$(header Content-Length)" = $((20 * MIB)) ]
	[ "$(header x-amz-meta-tenant)" = acme ]
	read_back pkg/big.bin
	[ "$(sha256 b)" = "$(sha256 big.bin)" ]
}
