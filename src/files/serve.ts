import { pipeline } from 'node:stream/promises';
import { create as contentDisposition } from 'content-disposition';
import type { Request, Response } from 'express';
import rangeParser from 'range-parser';
import type { FileStore } from './store.ts';
import { isShownInline, UNKNOWN_TYPE } from './types.ts';

/**
 * Sends stored bytes as user content: never run as a page (a sandboxing CSP that allows nothing,
 * nosniff, and only images, video and PDF inline; the rest is a download), cached only by the
 * person's browser and revalidated every time (so a deleted file is gone at once) by its ETag,
 * the sha256; ranges for video and resumed downloads.
 */
export async function sendStoredFile(
  req: Request,
  res: Response,
  store: FileStore,
  file: { sha256: string; size: number; type: string; name: string | undefined },
): Promise<void> {
  const etag = `"${file.sha256}"`;
  const inline = isShownInline(file.type);
  res.set({
    'Content-Type': inline ? file.type : file.type === UNKNOWN_TYPE || /^text\//.test(file.type) ? UNKNOWN_TYPE : file.type,
    'Content-Security-Policy': "default-src 'none'; sandbox",
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'private, no-cache',
    'Accept-Ranges': 'bytes',
    ETag: etag,
  });
  if (file.name !== undefined) res.set('Content-Disposition', contentDisposition(file.name, { type: inline ? 'inline' : 'attachment' }));
  if (matches(req.get('If-None-Match'), etag)) {
    res.status(304).end();
    return;
  }
  const range = wantedRange(req, file.size, etag);
  if (range === 'unsatisfiable') {
    res.status(416).set('Content-Range', `bytes */${file.size}`).end();
    return;
  }
  if (range) {
    res.status(206).set('Content-Range', `bytes ${range.start}-${range.end}/${file.size}`);
    res.set('Content-Length', String(range.end - range.start + 1));
  } else {
    res.set('Content-Length', String(file.size));
  }
  if (req.method === 'HEAD' || file.size === 0) {
    res.end();
    return;
  }
  const bytes = await store.read(file.sha256, range);
  if (!bytes) throw new Error(`the bytes of file ${file.sha256} are missing from the store`);
  await pipeline(bytes, res).catch((error: NodeJS.ErrnoException) => {
    // The reader went away (a video seeking, a cancelled download): not a failure of ours.
    if (error.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw error;
  });
}

function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.trim() === '*' || header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/** One byte range asked for (several, or one for another version of the file: the whole file). */
function wantedRange(req: Request, size: number, etag: string): { start: number; end: number } | 'unsatisfiable' | undefined {
  const header = req.get('Range');
  if (!header) return undefined;
  const ifRange = req.get('If-Range');
  if (ifRange && ifRange.trim() !== etag) return undefined;
  const ranges = rangeParser(size, header);
  if (ranges === -1) return 'unsatisfiable';
  if (ranges === -2 || ranges.type !== 'bytes' || ranges.length !== 1) return undefined;
  return { start: ranges[0]!.start, end: ranges[0]!.end };
}
