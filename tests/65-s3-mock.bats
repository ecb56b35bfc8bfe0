#!/usr/bin/env bats
# The S3 mock cx-publish's s3 channel is tested against (tests/mock/s3.py),
# proved with curl --aws-sigv4 and with botocore (tests/lib/s3_multipart.py):
# it checks SigV4 by signing again with botocore, keeps objects on disk,
# checks SHA-256 checksums of objects and parts, and answers multipart
# uploads as S3 does, composite checksum and ETag included.

load helpers

eval "helpers_$(declare -f setup)"

KEY=AKIDEXAMPLE65
SECRET='wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLE65'
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
	export AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET
}

# control JSON: programs the mock.
control() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$1" "$S3/_control" > /dev/null
}

# s3 PATH PAYLOAD_SHA256 [CURL ARGS...]: a request to PATH signed with curl's
# SigV4 (service s3, us-east-1) by $USERPASS (default the right key); the
# answer's headers in ./h, its body in ./b, the status on stdout.
s3() {
	local path=$1 payload=$2
	shift 2
	curl -s -o b -D h -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "${USERPASS:-$KEY:$SECRET}" -H "x-amz-content-sha256: $payload" "$@" "$S3$path"
}

# put FILE PATH [CURL ARGS...]: s3 PUT of FILE with its SHA-256 as payload hash.
put() {
	local file=$1 path=$2
	shift 2
	s3 "$path" "$(sha256 "$file")" -T "$file" "$@"
}

# get PATH [CURL ARGS...]: s3 with an empty payload.
get() {
	local path=$1
	shift
	s3 "$path" "$(printf '' | sha256sum | cut -c1-64)" "$@"
}

sha256() {
	sha256sum "$1" | cut -c1-64
}

# checksum FILE: its x-amz-checksum-sha256 (base64 of the binary SHA-256).
checksum() {
	sha256sum "$1" | cut -c1-64 | xxd -r -p | base64
}

# header NAME: the value of header NAME in ./h.
header() {
	grep -i "^$1:" h | cut -d' ' -f2- | tr -d '\r'
}

# tag NAME: the text of every <NAME> in ./b, one a line.
tag() {
	grep -o "<$1>[^<]*</$1>" b | sed -e "s|^<$1>||" -e "s|</$1>\$||"
}

last() {
	tail -n 1 "$REC" | jq -c "$@"
}

# upload_id KEY: the UploadId of a new SHA256 multipart upload of /bkt/KEY.
# (curl 7.88 signs the query as written: write it canonical, sorted, "=" in
# every parameter, as botocore and S3 compute it.)
upload_id() {
	[ "$(get "/bkt/$1?uploads=" -X POST -H 'x-amz-checksum-algorithm: SHA256')" = 200 ]
	tag UploadId
}

@test "S3: a signed PUT is stored with the MD5 ETag and its SHA-256 checksum, HEAD and GET answer it" {
	printf 'backup 65\n' > obj
	run put obj /bkt/pkg/one.txt -H "x-amz-checksum-sha256: $(checksum obj)" \
		-H 'Content-Type: text/plain' -H 'x-amz-meta-tenant: acme'
	[ "$output" = 200 ]
	[ "$(header ETag)" = "\"$(md5sum obj | cut -c1-32)\"" ]
	[ "$(header x-amz-checksum-sha256)" = "$(checksum obj)" ]
	run last '[.operation, .signature, .bucket, .key, .body_size, .body_sha256 == $s, .signed_headers]' --arg s "$(sha256 obj)"
	[ "$output" = '["PutObject","ok","bkt","pkg/one.txt",10,true,["content-type","host","x-amz-checksum-sha256","x-amz-content-sha256","x-amz-date","x-amz-meta-tenant"]]' ]
	run get /bkt/pkg/one.txt -I
	[ "$output" = 200 ]
	[ "$(header Content-Length)" = 10 ]
	[ "$(header Content-Type)" = text/plain ]
	[ "$(header x-amz-meta-tenant)" = acme ]
	[ -z "$(header x-amz-checksum-sha256)" ]
	run get /bkt/pkg/one.txt -I -H 'x-amz-checksum-mode: ENABLED'
	[ "$(header x-amz-checksum-sha256)" = "$(checksum obj)" ]
	run get /bkt/pkg/one.txt
	[ "$output" = 200 ]
	cmp b obj
}

@test "S3: virtual-host-style addressing names the bucket in the Host" {
	printf 'vhost\n' > obj
	port=${S3##*:}
	run curl -s -o b -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$KEY:$SECRET" \
		-H "x-amz-content-sha256: $(sha256 obj)" -T obj \
		--resolve "bkt.localhost:$port:127.0.0.1" "http://bkt.localhost:$port/vhost.txt"
	[ "$output" = 200 ]
	run last '[.operation, .signature, .bucket, .key, .path]'
	[ "$output" = '["PutObject","ok","bkt","vhost.txt","/vhost.txt"]' ]
	run get /bkt/vhost.txt
	cmp b obj
}

@test "S3: a wrong secret gets 403 SignatureDoesNotMatch and stores nothing" {
	printf 'secret\n' > obj
	USERPASS="$KEY:wrong-secret" run put obj /bkt/nope.txt
	[ "$output" = 403 ]
	[ "$(tag Code)" = SignatureDoesNotMatch ]
	[ "$(tag AWSAccessKeyId)" = "$KEY" ]
	grep -q '<CanonicalRequest>PUT$' b
	[ "$(last .signature)" = '"mismatch"' ]
	USERPASS="AKIDOTHER:$SECRET" run put obj /bkt/nope.txt
	[ "$output" = 403 ]
	[ "$(tag Code)" = InvalidAccessKeyId ]
	run put obj /bkt/nope.txt --aws-sigv4 "aws:amz:eu-west-1:s3"
	[ "$output" = 400 ]
	[ "$(tag Code)" = AuthorizationHeaderMalformed ]
	[ "$(tag Region)" = us-east-1 ]
	run get /bkt/nope.txt -I
	[ "$output" = 404 ]
}

@test "S3: a wrong signature on a large upload is refused before its body is sent (no 100 Continue)" {
	head -c $((2 * MIB)) /dev/zero > obj
	USERPASS="$KEY:wrong-secret" run put obj /bkt/large.bin -H 'Expect: 100-continue' -w '%{http_code} %{size_upload}'
	[ "$output" = '403 0' ]
	[ "$(tag Code)" = SignatureDoesNotMatch ]
	run put obj /bkt/large.bin -H 'Expect: 100-continue' -w '%{http_code} %{size_upload}'
	[ "$output" = "200 $((2 * MIB))" ]
}

@test "S3: a 160 MiB object goes to disk and back streamed: the mock's peak RSS stays under 64 MiB" {
	head -c $((160 * MIB)) /dev/urandom > huge
	run put huge /bkt/huge.bin -H "x-amz-checksum-sha256: $(checksum huge)"
	[ "$output" = 200 ]
	run get /bkt/huge.bin
	[ "$output" = 200 ]
	cmp b huge
	rm -f b huge "$BATS_FILE_TMPDIR"/store/bkt/objects/"$(printf huge.bin | sha256sum | cut -c1-64)".data
	peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$(cat "$BATS_FILE_TMPDIR/s3.pid")/status")
	[ "$peak" -lt $((64 * 1024)) ]
}

@test "S3: a body that is not the signed payload hash, an unsigned payload, no bucket or another operation is refused" {
	printf 'payload\n' > obj
	run s3 /bkt/p.txt "$(printf x | sha256sum | cut -c1-64)" -T obj
	[ "$output" = 400 ]
	[ "$(tag Code)" = XAmzContentSHA256Mismatch ]
	[ "$(tag S3ComputedContentSHA256)" = "$(sha256 obj)" ]
	run put obj /nobucket/p.txt
	[ "$output" = 404 ]
	[ "$(tag Code)" = NoSuchBucket ]
	run s3 /bkt/p.txt "$(sha256 obj)" -T - < obj
	[ "$output" = 411 ]
	[ "$(tag Code)" = MissingContentLength ]
	run put obj /bkt/p.txt?acl=
	[ "$output" = 501 ]
	[ "$(tag Code)" = NotImplemented ]
	run s3 /bkt/p.txt UNSIGNED-PAYLOAD -T obj
	[ "$output" = 501 ]
	[ "$(tag Code)" = NotImplemented ]
	run s3 /bkt/p.txt STREAMING-AWS4-HMAC-SHA256-PAYLOAD -T obj
	[ "$output" = 501 ]
	run curl -s -o b -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$KEY:$SECRET" -T obj "$S3/bkt/p.txt"
	[ "$output" = 400 ]
	[ "$(tag Message)" = 'Missing required header for this request: x-amz-content-sha256' ]
	run get /bkt/p.txt -I
	[ "$output" = 404 ]
}

@test "S3: a PUT whose x-amz-checksum-sha256 does not match gets 400 BadDigest and stores nothing" {
	printf 'digest\n' > obj
	printf 'other\n' > other
	run put obj /bkt/d.txt -H "x-amz-checksum-sha256: $(checksum other)"
	[ "$output" = 400 ]
	[ "$(tag Code)" = BadDigest ]
	[ "$(tag Message)" = 'The SHA256 you specified did not match the calculated checksum.' ]
	run get /bkt/d.txt -I
	[ "$output" = 404 ]
	[ -z "$(ls "$BATS_FILE_TMPDIR/store/bkt/objects" | grep '\.part$')" ]
}

@test "S3: curl multipart: a part with a wrong checksum is refused, the parts are listed, complete gives S3's composite checksum and ETag" {
	head -c $((5 * MIB)) /dev/urandom > p1
	head -c 1000 /dev/urandom > p2
	id=$(upload_id mp/curl.bin)
	run put p1 "/bkt/mp/curl.bin?partNumber=1&uploadId=$id" -H "x-amz-checksum-sha256: $(checksum p2)"
	[ "$output" = 400 ]
	[ "$(tag Code)" = BadDigest ]
	run put p1 "/bkt/mp/curl.bin?partNumber=1&uploadId=$id"
	[ "$output" = 400 ]
	[ "$(tag Message)" = 'Checksum Type mismatch occurred, expected checksum Type: sha256, actual checksum Type: null' ]
	run get "/bkt/mp/curl.bin?uploadId=$id"
	[ "$output" = 200 ]
	[ -z "$(tag PartNumber)" ]
	for n in 1 2; do
		run put "p$n" "/bkt/mp/curl.bin?partNumber=$n&uploadId=$id" -H "x-amz-checksum-sha256: $(checksum "p$n")"
		[ "$output" = 200 ]
		[ "$(header ETag)" = "\"$(md5sum "p$n" | cut -c1-32)\"" ]
	done
	run get "/bkt/mp/curl.bin?uploadId=$id"
	[ "$output" = 200 ]
	grep -q '<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' b
	[ "$(tag PartNumber | paste -sd,)" = 1,2 ]
	[ "$(tag Size | paste -sd,)" = "$((5 * MIB)),1000" ]
	[ "$(tag ChecksumSHA256 | paste -sd,)" = "$(checksum p1),$(checksum p2)" ]
	[ "$(tag ChecksumAlgorithm)" = SHA256 ]
	run get "/bkt/mp/curl.bin?max-parts=1&uploadId=$id"
	[ "$(tag PartNumber),$(tag IsTruncated),$(tag NextPartNumberMarker)" = 1,true,1 ]
	run get "/bkt/mp/curl.bin?part-number-marker=1&uploadId=$id"
	[ "$(tag PartNumber),$(tag IsTruncated),$(tag NextPartNumberMarker)" = 2,false,2 ]
	part() { echo "<Part><PartNumber>$1</PartNumber><ETag>\"$(md5sum "p$1" | cut -c1-32)\"</ETag><ChecksumSHA256>$(checksum "p$1")</ChecksumSHA256></Part>"; }
	echo "<CompleteMultipartUpload>$(part 2)$(part 1)</CompleteMultipartUpload>" > bad.xml
	run put bad.xml "/bkt/mp/curl.bin?uploadId=$id" -X POST
	[ "$output" = 400 ]
	[ "$(tag Code)" = InvalidPartOrder ]
	echo "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">$(part 1)$(part 2)</CompleteMultipartUpload>" > done.xml
	run put done.xml "/bkt/mp/curl.bin?uploadId=$id" -X POST
	[ "$output" = 200 ]
	composite="$({ sha256sum p1; sha256sum p2; } | cut -c1-64 | xxd -r -p | sha256sum | cut -c1-64 | xxd -r -p | base64)-2"
	etag="\"$({ md5sum p1; md5sum p2; } | cut -c1-32 | xxd -r -p | md5sum | cut -c1-32)-2\""
	[ "$(tag ChecksumSHA256)" = "$composite" ]
	[ "$(tag ETag)" = "$etag" ]
	run get /bkt/mp/curl.bin -I -H 'x-amz-checksum-mode: ENABLED'
	[ "$(header Content-Length)" = $((5 * MIB + 1000)) ]
	[ "$(header ETag)" = "$etag" ]
	[ "$(header x-amz-checksum-sha256)" = "$composite" ]
	run get /bkt/mp/curl.bin
	cat p1 p2 | cmp - b
	run get "/bkt/mp/curl.bin?uploadId=$id"
	[ "$output" = 404 ]
	[ "$(tag Code)" = NoSuchUpload ]
}

@test "S3: complete refuses a part under 5 MiB that is not the last, and a wrong ETag" {
	head -c 1000 /dev/urandom > p1
	cp p1 p2
	id=$(upload_id mp/small.bin)
	for n in 1 2; do
		run put "p$n" "/bkt/mp/small.bin?partNumber=$n&uploadId=$id" -H "x-amz-checksum-sha256: $(checksum "p$n")"
		[ "$output" = 200 ]
	done
	echo "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"$(md5sum p1 | cut -c1-32)\"</ETag><ChecksumSHA256>$(checksum p1)</ChecksumSHA256></Part><Part><PartNumber>2</PartNumber><ETag>\"$(md5sum p2 | cut -c1-32)\"</ETag><ChecksumSHA256>$(checksum p2)</ChecksumSHA256></Part></CompleteMultipartUpload>" > done.xml
	run put done.xml "/bkt/mp/small.bin?uploadId=$id" -X POST
	[ "$output" = 400 ]
	[ "$(tag Code)" = EntityTooSmall ]
	sed 's/<ETag>"[0-9a-f]*"/<ETag>"0123"/' done.xml > bad.xml
	run put bad.xml "/bkt/mp/small.bin?uploadId=$id" -X POST
	[ "$output" = 400 ]
	[ "$(tag Code)" = InvalidPart ]
}

@test "S3: botocore's multipart upload with SHA-256 checksums completes with the composite botocore computes" {
	head -c $((11 * MIB + 7)) /dev/urandom > big
	run "$PY" "$CX_ROOT/tests/lib/s3_multipart.py" upload "$S3" bkt dir/big.bin big $((5 * MIB))
	[ "$status" -eq 0 ]
	echo "$output" > out.json
	[ "$(jq -r '.completed.ChecksumSHA256 == .composite and .head.ChecksumSHA256 == .composite' out.json)" = true ]
	[ "$(jq -r .composite out.json)" = "$(for o in 0 5 10; do tail -c +$((o * MIB + 1)) big | head -c $((5 * MIB)) | sha256sum; done | cut -c1-64 | xxd -r -p | sha256sum | cut -c1-64 | xxd -r -p | base64)-3" ]
	[ "$(jq -c '[.head.ContentLength, [.listed[].Size], [.listed[].ChecksumSHA256] == [.parts[].ChecksumSHA256], [.listed[].ETag] == [.parts[].ETag]]' out.json)" = "[$((11 * MIB + 7)),[$((5 * MIB)),$((5 * MIB)),$((MIB + 7))],true,true]" ]
	[ "$(jq -r .head.ETag out.json)" = "\"$(jq -r '.parts[].ETag' out.json | tr -d '"' | xxd -r -p | md5sum | cut -c1-32)-3\"" ]
	run get /bkt/dir/big.bin
	cmp b big
	run jq -sc '[.[] | [.operation, .signature, .status]] | unique' "$REC"
	[ "$output" = '[["CompleteMultipartUpload","ok",200],["CreateMultipartUpload","ok",200],["GetObject","ok",200],["HeadObject","ok",200],["ListParts","ok",200],["UploadPart","ok",200]]' ]
}

@test "S3: botocore aborts an upload, whose parts are then gone" {
	run "$PY" "$CX_ROOT/tests/lib/s3_multipart.py" abort "$S3" bkt dir/aborted.bin
	[ "$status" -eq 0 ]
	[ "$(jq -r .list_error <<< "$output")" = NoSuchUpload ]
	[ ! -e "$BATS_FILE_TMPDIR/store/bkt/uploads/$(jq -r .aborted <<< "$output")" ]
	[ "$(jq -sc '[.[] | [.operation, .status]]' "$REC")" = '[["CreateMultipartUpload",200],["UploadPart",200],["AbortMultipartUpload",204],["ListParts",404]]' ]
}

@test "S3: a client gone mid-body leaves the stored object as it was and no partial file" {
	head -c $((2 * MIB)) /dev/urandom > obj
	curl -sv -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$KEY:$SECRET" \
		-H "x-amz-content-sha256: $(sha256 obj)" -H 'Expect:' -T obj "$S3/bkt/cut.bin" 2> trace
	# the same signed request again, its body cut in half, then the end
	{ sed -n 's/^> //p' trace | tr -d '\r' | sed 's/$/\r/'; head -c "$MIB" obj; } > cut.http
	run "$PY" "$CX_ROOT/tests/lib/raw.py" "${S3##*:}" < cut.http
	[ "$output" = closed ]
	run last '[.operation, .signature, .code, .status, .body_size]'
	[ "$output" = "[\"PutObject\",\"ok\",\"client_closed\",null,$MIB]" ]
	run get /bkt/cut.bin -I
	[ "$(header ETag)" = "\"$(md5sum obj | cut -c1-32)\"" ]
	[ -z "$(ls "$BATS_FILE_TMPDIR/store/bkt/objects" | grep '\.part$')" ]
}

@test "S3: a scripted fault fails part 2 once with 500, a drop closes the connection mid-upload" {
	head -c 2000 /dev/urandom > p1
	id=$(upload_id mp/fault.bin)
	control '{"script": {"UploadPart 2": [{"s3_error": "InternalError"}], "PutObject": [{"drop": true}]}}'
	put1() { put p1 "/bkt/mp/fault.bin?partNumber=$1&uploadId=$id" -H "x-amz-checksum-sha256: $(checksum p1)"; }
	run put1 1
	[ "$output" = 200 ]
	run put1 2
	[ "$output" = 500 ]
	[ "$(tag Code)" = InternalError ]
	run put1 2
	[ "$output" = 200 ]
	run get "/bkt/mp/fault.bin?uploadId=$id"
	[ "$(tag PartNumber | paste -sd,)" = 1,2 ]
	run put p1 /bkt/dropped.bin
	# no answer: curl's "Empty reply from server", or a reset if the
	# unread half of the body was still in flight
	[[ $status == 52 || $status == 56 ]]
	run last '[.operation, .code, .status, .body_size]'
	[ "$output" = '["PutObject","dropped",null,1000]' ]
	run put p1 /bkt/dropped.bin
	[ "$output" = 200 ]
}
