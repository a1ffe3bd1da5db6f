"""boto3 against privates3test: upload_file (multipart), the list_objects_v2 paginator, download_file.

Run by TestBoto3 with the endpoint, region and keys in the environment; prints one JSON document.
"""
import hashlib
import json
import os
import sys

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

bucket, work = sys.argv[1], sys.argv[2]
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["PRIVATES3_ENDPOINT"],
    region_name=os.environ["AWS_REGION"],
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
)
src = os.path.join(work, "big.bin")
s3.upload_file(src, bucket, "boto3/big.bin",
               Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
for i in range(5):
    s3.put_object(Bucket=bucket, Key="boto3/list/%d" % i, Body=b"x" * i)
keys, pages = [], 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="boto3/list/", PaginationConfig={"PageSize": 2}):
    pages += 1
    keys += [o["Key"] for o in page.get("Contents", [])]
dst = os.path.join(work, "big.out")
s3.download_file(bucket, "boto3/big.bin", dst)
head = s3.head_object(Bucket=bucket, Key="boto3/big.bin")
with open(dst, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()
print(json.dumps({"keys": keys, "pages": pages, "etag": head["ETag"], "sha256": digest}))
