// The JavaScript SDK v3 against privates3test: a streamed PutObject with the SDK's default
// checksum mode (aws-chunked with a trailing checksum), Upload from @aws-sdk/lib-storage
// (multipart), ListObjectsV2 and GetObject. Run by TestJavaScriptSDK with the endpoint, region
// and keys in the environment; prints one JSON document.
import { Readable } from "node:stream";
import { createHash } from "node:crypto";
import { S3Client, PutObjectCommand, GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

const [bucket] = process.argv.slice(2);
const s3 = new S3Client({
  endpoint: process.env.PRIVATES3_ENDPOINT,
  region: process.env.AWS_REGION,
  forcePathStyle: true,
  maxAttempts: 1,
});

const small = Buffer.from("streamed by the JavaScript SDK\n".repeat(1000));
const put = await s3.send(new PutObjectCommand({
  Bucket: bucket, Key: "js/streamed.txt", Body: Readable.from([small.subarray(0, 10000), small.subarray(10000)]),
  ContentLength: small.length, ContentType: "text/plain",
}));

const big = Buffer.alloc(12 << 20);
for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
const up = new Upload({ client: s3, params: { Bucket: bucket, Key: "js/big.bin", Body: Readable.from([big]) }, partSize: 5 << 20 });
const done = await up.done();

const list = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "js/" }));
const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "js/big.bin", ChecksumMode: "ENABLED" }));
const got = Buffer.from(await get.Body.transformToByteArray());
const getSmall = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "js/streamed.txt", ChecksumMode: "ENABLED" }));
const gotSmall = Buffer.from(await getSmall.Body.transformToByteArray());
const sha = (b) => createHash("sha256").update(b).digest("hex");
console.log(JSON.stringify({
  putChecksumCRC32: put.ChecksumCRC32 ?? "",
  uploadETag: done.ETag,
  keys: (list.Contents ?? []).map((o) => o.Key),
  bigEqual: sha(got) === sha(big),
  smallEqual: sha(gotSmall) === sha(small),
}));
