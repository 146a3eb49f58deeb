"""What an S3 client with the daemon's own credentials sees of Object Lock,
through boto3 (a real S3 client), for tests/buckets/lock.rs. Each command
prints one JSON document.

    object_lock.py ENDPOINT create-bucket BUCKET   a bucket with Object Lock enabled
    object_lock.py ENDPOINT inspect BUCKET KEY     {"mode": ..., "until": RFC 3339}
    object_lock.py ENDPOINT purge BUCKET KEY       delete every version by id
    object_lock.py ENDPOINT versions BUCKET        {key: object versions ever written}
"""

import json
import sys

import boto3
from botocore.exceptions import ClientError

endpoint, command, bucket = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
    region_name="us-east-1",
)


def versions():
    out = s3.list_object_versions(Bucket=bucket)
    return out.get("Versions", [])


if command == "create-bucket":
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    print(json.dumps({"created": bucket}))
elif command == "inspect":
    head = s3.head_object(Bucket=bucket, Key=sys.argv[4])
    until = head.get("ObjectLockRetainUntilDate")
    print(json.dumps({
        "mode": head.get("ObjectLockMode"),
        "until": until.strftime("%Y-%m-%dT%H:%M:%SZ") if until else None,
    }))
elif command == "purge":
    key, refused, deleted = sys.argv[4], [], 0
    for v in versions():
        if v["Key"] != key:
            continue
        try:
            s3.delete_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])
            deleted += 1
        except ClientError as e:
            refused.append(e.response["Error"]["Code"])
    print(json.dumps({"refused": refused, "deleted": deleted}))
elif command == "versions":
    counts = {}
    for v in versions():
        counts[v["Key"]] = counts.get(v["Key"], 0) + 1
    print(json.dumps(counts))
else:
    sys.exit(f"unknown command {command}")
