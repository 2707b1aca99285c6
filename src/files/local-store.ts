import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type FileStore, hashing, isSha256, type Received, type StoredEntry } from './store.ts';

/**
 * Files under one folder: `{dir}/{first two hex}/{sha256}` once settled, `{dir}/tmp/{uuid}` while
 * arriving. Both are on the same file system, so settling is an atomic rename: a file under its
 * address is always whole.
 */
export function localFileStore(directory: string): FileStore {
  const tempDir = path.join(directory, 'tmp');
  const settledPath = (sha256: string) => path.join(directory, sha256.slice(0, 2), sha256);
  const tempPath = (tempKey: string) => path.join(tempDir, path.basename(tempKey));

  return {
    async receive(source: Readable): Promise<Received> {
      await mkdir(tempDir, { recursive: true });
      const tempKey = randomUUID();
      const digest = hashing();
      try {
        await pipeline(source, digest.stream, createWriteStream(tempPath(tempKey), { flags: 'wx' }));
      } catch (error) {
        await rm(tempPath(tempKey), { force: true });
        throw error;
      }
      return { tempKey, ...digest.result() };
    },

    async settle(received: Received): Promise<void> {
      const target = settledPath(received.sha256);
      await mkdir(path.dirname(target), { recursive: true });
      if (await exists(target)) await rm(tempPath(received.tempKey), { force: true });
      else await rename(tempPath(received.tempKey), target);
    },

    async discard(received: Received): Promise<void> {
      await rm(tempPath(received.tempKey), { force: true });
    },

    async read(at, range) {
      const file = typeof at === 'string' ? settledPath(at) : tempPath(at.tempKey);
      if (typeof at === 'string' && !isSha256(at)) return undefined;
      // Opened first, so a missing file is an answer rather than a stream error.
      const handle = await open(file, 'r').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (!handle) return undefined;
      return createReadStream('', { fd: handle, start: range?.start, end: range?.end });
    },

    async delete(sha256: string): Promise<void> {
      if (!isSha256(sha256)) return;
      await unlink(settledPath(sha256)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    },

    async *list(): AsyncIterable<StoredEntry> {
      for (const folder of await namesIn(directory)) {
        const folderPath = path.join(directory, folder);
        for (const name of await namesIn(folderPath)) {
          const modifiedAt = await modified(path.join(folderPath, name));
          if (!modifiedAt) continue;
          if (folder === 'tmp') yield { kind: 'temporary', tempKey: name, modifiedAt };
          else if (isSha256(name)) yield { kind: 'settled', sha256: name, modifiedAt };
        }
      }
    },
  };
}

async function exists(file: string): Promise<boolean> {
  return (await modified(file)) !== undefined;
}

async function modified(file: string): Promise<Date | undefined> {
  try {
    return (await stat(file)).mtime;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function namesIn(folder: string): Promise<string[]> {
  try {
    return await readdir(folder);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw error;
  }
}
