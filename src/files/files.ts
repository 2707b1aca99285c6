import { Readable } from 'node:stream';
import { sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { type Posted, postMessage } from '../discussion/discussion.ts';
import type { Attachment, NewAttachment } from '../discussion/messages.ts';
import type { Live } from '../live/live.ts';
import type { FileStore, Received } from './store.ts';
import { makeThumbnail } from './thumbnails.ts';
import { cleanFileName, isPreviewedImage, SNIFFED_BYTES, sniffType, UNKNOWN_TYPE } from './types.ts';

export type FilesDeps = { db: Database; live: Live; store: FileStore };

/** A file as it arrived: its bytes received (not yet settled) and the name it was sent with. */
export type IncomingFile = { received: Received; name: string | undefined };

/**
 * Each file becomes a message of its own, in order, live like any message: the caption (and the
 * reply, and the client_token) go with the first; the others' tokens derive from it, so a retried
 * upload stores nothing twice. Images get a thumbnail first, so the first fragment shows it. A
 * file's bytes are settled under their sha256 inside its message's transaction, under a lock on
 * that sha256 that deletion and the sweep take too: a committed row always has its bytes.
 * The web form and the API both call this with files they received (see receiveUpload).
 */
export async function attachFiles(
  deps: FilesDeps,
  input: { tabloId: number; authorId: number; caption: string; clientToken: string | undefined; replyTo: number | undefined; files: IncomingFile[] },
): Promise<Posted[]> {
  const posted: Posted[] = [];
  const waiting = [...input.files];
  try {
    for (let index = 0; waiting.length; index++) {
      const file = waiting.shift()!;
      const prepared = await prepare(deps.store, file).catch(async (error: unknown) => {
        await deps.store.discard(file.received).catch(() => {});
        throw error;
      });
      const sha256s = [prepared.received.sha256, ...(prepared.thumbnail ? [prepared.thumbnail.sha256] : [])];
      const done = await postMessage(
        deps.db,
        deps.live,
        {
          tabloId: input.tabloId,
          authorId: input.authorId,
          body: index === 0 ? input.caption : '',
          clientToken: tokenOfFile(input.clientToken, index),
          replyTo: index === 0 ? input.replyTo : undefined,
        },
        {
          attachment: prepared.attachment,
          settle: async (trx) => {
            await holdBytes(trx, sha256s);
            await deps.store.settle(prepared.received);
            if (prepared.thumbnail) await deps.store.settle(prepared.thumbnail);
          },
        },
      );
      // A retry of a file already posted: these bytes were settled for nothing, unless the same.
      if (!done.created) await discardUnreferenced(deps.db, deps.store, sha256s);
      posted.push(done);
    }
    return posted;
  } finally {
    for (const file of waiting) await deps.store.discard(file.received).catch(() => {});
  }
}

/** The client_token of the n-th file of one post: the post's own for the first. */
function tokenOfFile(token: string | undefined, index: number): string | undefined {
  if (!token || index === 0) return token;
  const suffix = `#${index + 1}`;
  return token.slice(0, 64 - suffix.length) + suffix;
}

type Prepared = { received: Received; thumbnail: Received | undefined; attachment: NewAttachment };

/** Tells the file's type from its bytes, and makes an image's thumbnail (received, not settled). */
async function prepare(store: FileStore, file: IncomingFile): Promise<Prepared> {
  const { received } = file;
  const type = received.size > 0 ? await sniffType(await readHead(store, received)) : UNKNOWN_TYPE;
  const attachment: NewAttachment = {
    sha256: received.sha256,
    name: cleanFileName(file.name, type),
    type,
    size: received.size,
    width: null,
    height: null,
    thumbnail: null,
  };
  if (!isPreviewedImage(type)) return { received, thumbnail: undefined, attachment };
  const image = await store.read(received);
  const made = image && (await makeThumbnail(image));
  if (!made) return { received, thumbnail: undefined, attachment };
  const thumbnail = await store.receive(Readable.from([made.thumbnail.bytes]));
  attachment.width = made.width;
  attachment.height = made.height;
  attachment.thumbnail = { sha256: thumbnail.sha256, width: made.thumbnail.width, height: made.thumbnail.height, size: thumbnail.size };
  return { received, thumbnail, attachment };
}

async function readHead(store: FileStore, received: Received): Promise<Uint8Array> {
  const head = await store.read(received, { start: 0, end: Math.min(received.size, SNIFFED_BYTES) - 1 });
  if (!head) return new Uint8Array();
  const chunks: Buffer[] = [];
  for await (const chunk of head) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Takes, for the rest of the transaction, the lock of each sha256 (in one order, so two holders
 * never wait on each other): settling bytes, removing them and sweeping them take it, so bytes are
 * never removed between being settled and their row's commit.
 */
async function holdBytes(trx: Database, sha256s: string[]): Promise<void> {
  for (const sha256 of [...new Set(sha256s)].sort()) {
    await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`tablo file ${sha256}`}, 0))`.execute(trx);
  }
}

async function isReferenced(trx: Database, sha256: string): Promise<boolean> {
  const row = await trx
    .selectFrom('attachments')
    .select('id')
    .where((eb) => eb.or([eb('sha256', '=', sha256), eb('thumbnail_sha256', '=', sha256)]))
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Removes the bytes that no attachment row names any more (those of a deleted message). */
export async function discardUnreferenced(db: Database, store: FileStore, sha256s: string[]): Promise<void> {
  for (const sha256 of new Set(sha256s)) {
    await db.transaction().execute(async (trx) => {
      await holdBytes(trx, [sha256]);
      if (!(await isReferenced(trx, sha256))) await store.delete(sha256);
    });
  }
}

/** Bytes younger than this are never swept: an upload may be settling them. */
export const ORPHAN_AGE_MS = 60 * 60_000;

/**
 * Removes what a crash or a failed upload left: temporary bytes, and settled bytes that no row
 * names, both only once older than an hour. Safe on several instances at once (the sha256's lock).
 */
export async function sweepOrphans(db: Database, store: FileStore, now = Date.now()): Promise<{ temporary: number; settled: number }> {
  const swept = { temporary: 0, settled: 0 };
  for await (const entry of store.list()) {
    if (now - entry.modifiedAt.getTime() < ORPHAN_AGE_MS) continue;
    if (entry.kind === 'temporary') {
      await store.discard({ tempKey: entry.tempKey, sha256: '', size: 0 });
      swept.temporary++;
      continue;
    }
    const removed = await db.transaction().execute(async (trx) => {
      await holdBytes(trx, [entry.sha256]);
      if (await isReferenced(trx, entry.sha256)) return false;
      await store.delete(entry.sha256);
      return true;
    });
    if (removed) swept.settled++;
  }
  return swept;
}

/** Sweeps at start and then every `everyMs` until stopped; a failed sweep waits for the next turn. */
export function sweepPeriodically(db: Database, store: FileStore, onError: (error: unknown) => void, everyMs = 10 * 60_000): () => void {
  let running: Promise<unknown> = Promise.resolve();
  const sweep = () => {
    running = running.then(() => sweepOrphans(db, store)).catch(onError);
  };
  const first = setTimeout(sweep, 1_000);
  const timer = setInterval(sweep, everyMs);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}

/** A file one person may download: theirs to see while its message stands. */
export type ServableFile = { id: number; sha256: string; name: string; type: string; size: number; thumbnail: { sha256: string; size: number } | undefined };

/** The file, when its message is not deleted and the person is a member of its tablo; else undefined. */
export async function findServableFile(db: Database, userId: number, fileId: number): Promise<ServableFile | undefined> {
  const row = await db
    .selectFrom('attachments as a')
    .innerJoin('messages as m', 'm.id', 'a.message_id')
    .innerJoin('tablo_members as tm', (join) => join.onRef('tm.tablo_id', '=', 'm.tablo_id').on('tm.user_id', '=', userId))
    .select(['a.id', 'a.sha256', 'a.name', 'a.type', 'a.size', 'a.thumbnail_sha256', 'a.thumbnail_size'])
    .where('a.id', '=', fileId)
    .where('m.deleted_at', 'is', null)
    .executeTakeFirst();
  if (!row) return undefined;
  const thumbnail = row.thumbnail_sha256 ? { sha256: row.thumbnail_sha256, size: row.thumbnail_size ?? 0 } : undefined;
  return { id: row.id, sha256: row.sha256, name: row.name, type: row.type, size: Number(row.size), thumbnail };
}

export const fileUrl = (attachment: { id: number; name: string }): string => `/files/${attachment.id}/${encodeURIComponent(attachment.name)}`;
export const thumbnailUrl = (attachment: { id: number }): string => `/files/thumbnails/${attachment.id}`;

/** A message's attachments as the JSON API shows them. */
export function attachmentsJson(attachments: Attachment[]) {
  return attachments.map((a) => ({
    id: a.id,
    name: a.name,
    type: a.type,
    size: a.size,
    url: fileUrl(a),
    thumbnail_url: a.thumbnail ? thumbnailUrl(a) : null,
  }));
}
