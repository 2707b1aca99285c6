import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { FileStorageConfig } from '../config.ts';
import { type FileStore, hashing, isSha256, type Received, type StoredEntry } from './store.ts';

type S3Config = Extract<FileStorageConfig, { kind: 's3' }>;

/**
 * Files in an S3-compatible bucket: `files/{sha256}` once settled, `tmp/{uuid}` while arriving.
 * Uploads stream (multipart, a few parts in memory at most). Settling is a server-side copy: the
 * object under its address is only ever whole. (Multipart uploads cut by a crash are the bucket's
 * to expire: give it an AbortIncompleteMultipartUpload lifecycle rule.)
 */
export function s3FileStore(config: S3Config): FileStore & { client: S3Client } {
  const client = new S3Client({
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.endpoint !== undefined,
    credentials: config.credentials,
  });
  const Bucket = config.bucket;
  const settledKey = (sha256: string) => `files/${sha256}`;
  const tempKeyOf = (received: Received | string) => `tmp/${typeof received === 'string' ? received : received.tempKey}`;

  return {
    client,

    async receive(source: Readable): Promise<Received> {
      const tempKey = randomUUID();
      const digest = hashing();
      source.once('error', (error) => digest.stream.destroy(error));
      const upload = new Upload({ client, params: { Bucket, Key: tempKeyOf(tempKey), Body: source.pipe(digest.stream) } });
      try {
        await upload.done();
      } catch (error) {
        await upload.abort().catch(() => {});
        await client.send(new DeleteObjectCommand({ Bucket, Key: tempKeyOf(tempKey) })).catch(() => {});
        throw error;
      }
      return { tempKey, ...digest.result() };
    },

    async settle(received: Received): Promise<void> {
      const Key = settledKey(received.sha256);
      if (!(await objectExists(client, Bucket, Key))) {
        await client.send(new CopyObjectCommand({ Bucket, Key, CopySource: `${Bucket}/${tempKeyOf(received)}` }));
      }
      await client.send(new DeleteObjectCommand({ Bucket, Key: tempKeyOf(received) }));
    },

    async discard(received: Received): Promise<void> {
      await client.send(new DeleteObjectCommand({ Bucket, Key: tempKeyOf(received) }));
    },

    async read(at, range) {
      if (typeof at === 'string' && !isSha256(at)) return undefined;
      const Key = typeof at === 'string' ? settledKey(at) : tempKeyOf(at);
      try {
        const answer = await client.send(
          new GetObjectCommand({ Bucket, Key, Range: range ? `bytes=${range.start}-${range.end}` : undefined }),
        );
        return answer.Body instanceof Readable ? answer.Body : undefined;
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
    },

    async delete(sha256: string): Promise<void> {
      if (!isSha256(sha256)) return;
      await client.send(new DeleteObjectCommand({ Bucket, Key: settledKey(sha256) }));
    },

    async *list(): AsyncIterable<StoredEntry> {
      for (const prefix of ['files/', 'tmp/']) {
        let ContinuationToken: string | undefined;
        do {
          const page = await client.send(new ListObjectsV2Command({ Bucket, Prefix: prefix, ContinuationToken }));
          for (const object of page.Contents ?? []) {
            const name = object.Key?.slice(prefix.length) ?? '';
            const modifiedAt = object.LastModified ?? new Date();
            if (prefix === 'tmp/' && name) yield { kind: 'temporary', tempKey: name, modifiedAt };
            else if (isSha256(name)) yield { kind: 'settled', sha256: name, modifiedAt };
          }
          ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (ContinuationToken);
      }
    },
  };
}

async function objectExists(client: S3Client, Bucket: string, Key: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket, Key }));
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.name === 'NoSuchKey' || error.name === 'NotFound' || error.$metadata.httpStatusCode === 404)
  );
}
