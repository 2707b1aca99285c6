import { createHash } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';

/**
 * Where attached files' bytes live: a local folder or an S3-compatible bucket. Bytes arrive in a
 * temporary place (`receive`), and only once complete are they moved to their content address,
 * the sha256 of the bytes (`settle`), so a crash leaves no half file under an address. Temporary
 * and unnamed bytes are found again with `list` and removed by the sweep.
 */
export interface FileStore {
  /** Streams the bytes to a new temporary place; answers it, with the bytes' sha256 and size. */
  receive(source: Readable): Promise<Received>;
  /** Moves received bytes to their content address (dropping them when that address is taken: same bytes). */
  settle(received: Received): Promise<void>;
  /** Removes received bytes that will not be settled. */
  discard(received: Received): Promise<void>;
  /**
   * The bytes at a content address (or of a received, not yet settled file), whole or a range
   * (`end` inclusive); undefined when there are none.
   */
  read(at: string | Received, range?: { start: number; end: number }): Promise<Readable | undefined>;
  /** Removes the bytes at a content address. */
  delete(sha256: string): Promise<void>;
  /** Everything stored, settled or temporary, with when it was last written: for the sweep. */
  list(): AsyncIterable<StoredEntry>;
}

export type Received = { tempKey: string; sha256: string; size: number };

export type StoredEntry = { kind: 'settled'; sha256: string; modifiedAt: Date } | { kind: 'temporary'; tempKey: string; modifiedAt: Date };

export const isSha256 = (value: string): boolean => /^[0-9a-f]{64}$/.test(value);

/** A pass-through that hashes and counts what flows through it. */
export function hashing(): { stream: Transform; result: () => { sha256: string; size: number } } {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  return { stream, result: () => ({ sha256: hash.digest('hex'), size }) };
}
