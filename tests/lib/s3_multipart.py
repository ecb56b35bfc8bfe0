#!/usr/bin/env python3
"""A botocore S3 client for the S3 mock's tests.

    s3_multipart.py upload ENDPOINT BUCKET KEY FILE PART_SIZE
    s3_multipart.py abort ENDPOINT BUCKET KEY

The credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
the region is us-east-1, addressing path style. upload sends FILE as a
multipart upload with SHA-256 checksums (botocore computes each part's),
one part of PART_SIZE bytes at a time, lists the parts, completes and
heads the object; it prints one JSON object: upload_id, parts (PartNumber,
ETag, ChecksumSHA256 as botocore sent them), composite (the checksum S3
gives such an upload, computed here from botocore's part checksums:
base64 of the SHA-256 of the binary checksums, "-", their number),
listed (ListParts' Parts), completed (ETag, ChecksumSHA256) and head
(ContentLength, ETag, ChecksumSHA256). abort creates an upload, sends one
part, aborts it and prints {aborted, list_error} (the error code of
ListParts after the abort)."""
import base64
import hashlib
import json
import os
import sys

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.httpchecksum import Sha256Checksum


def client(endpoint):
    session = botocore.session.get_session()
    return session.create_client(
        "s3", region_name="us-east-1", endpoint_url=endpoint,
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def upload(s3, bucket, key, path, part_size):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")
    uid, parts, sums = up["UploadId"], [], b""
    with open(path, "rb") as f:
        while True:
            data = f.read(part_size)
            if not data and parts:
                break
            check = Sha256Checksum()
            check.update(data)
            sums += check.digest()
            r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=len(parts) + 1,
                               Body=data, ChecksumAlgorithm="SHA256")
            if r["ChecksumSHA256"] != check.b64digest():
                sys.exit("part %d: the mock answered checksum %s, botocore sent %s"
                         % (len(parts) + 1, r["ChecksumSHA256"], check.b64digest()))
            parts.append({"PartNumber": len(parts) + 1, "ETag": r["ETag"],
                          "ChecksumSHA256": check.b64digest()})
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)["Parts"]
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                        MultipartUpload={"Parts": parts})
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    composite = "%s-%d" % (base64.b64encode(hashlib.sha256(sums).digest()).decode(),
                           len(parts))
    return {"upload_id": uid, "parts": parts, "composite": composite,
            "listed": [{k: p[k] for k in ("PartNumber", "ETag", "Size", "ChecksumSHA256")}
                       for p in listed],
            "completed": {k: done.get(k) for k in ("ETag", "ChecksumSHA256")},
            "head": {k: head.get(k) for k in ("ContentLength", "ETag", "ChecksumSHA256")}}


def abort(s3, bucket, key):
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key,
                                     ChecksumAlgorithm="SHA256")["UploadId"]
    s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"x" * 1024,
                   ChecksumAlgorithm="SHA256")
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)
    try:
        s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)
        code = None
    except ClientError as e:
        code = e.response["Error"]["Code"]
    return {"aborted": uid, "list_error": code}


def main(argv):
    if len(argv) == 7 and argv[1] == "upload":
        out = upload(client(argv[2]), argv[3], argv[4], argv[5], int(argv[6]))
    elif len(argv) == 5 and argv[1] == "abort":
        out = abort(client(argv[2]), argv[3], argv[4])
    else:
        sys.exit(__doc__)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv)
