import { Transform } from 'node:stream';
import busboy from 'busboy';
import type { Request } from 'express';
import type { IncomingFile } from './files.ts';
import type { FileStore } from './store.ts';

/** Room in a request for its form fields and multipart framing, beyond its files' bytes. */
export const FORM_OVERHEAD_BYTES = 64 * 1024;
/** Files one request may carry. */
export const MAX_FILES_PER_POST = 10;

export type Upload =
  | { ok: true; fields: Record<string, string>; files: IncomingFile[] }
  | { ok: false; status: 400 | 403 | 413; reason: string };

/**
 * Reads a multipart form as it arrives (busboy): its fields, and each `file` part streamed into
 * the store, received but not yet settled. A request whose Content-Length says it is too large
 * is refused before a byte of it is read; one that turns out too large as it streams (a file over
 * `maxFileBytes`, or all of it over that plus the form's room) is cut there. Either way nothing
 * it brought stays. The CSRF token is checked before a file's first byte is stored: by the
 * middleware from the header, or here from the `_csrf` field, which forms put first.
 */
export function receiveUpload(
  req: Request,
  store: FileStore,
  options: { maxFileBytes: number; checkCsrfField: ((token: string) => boolean) | undefined },
): Promise<Upload> {
  const maxRequestBytes = options.maxFileBytes + FORM_OVERHEAD_BYTES;
  const tooLarge = { ok: false, status: 413, reason: `Files can be at most ${shownLimit(options.maxFileBytes)}.` } as const;
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxRequestBytes) return Promise.resolve(tooLarge);

  let csrfChecked = options.checkCsrfField === undefined;
  const fields: Record<string, string> = {};
  const files: IncomingFile[] = [];
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: req.headers,
      defParamCharset: 'utf8',
      limits: { fileSize: options.maxFileBytes, files: MAX_FILES_PER_POST, fields: 20, fieldSize: FORM_OVERHEAD_BYTES, parts: 40 },
    });
  } catch {
    return Promise.resolve({ ok: false, status: 400, reason: 'This upload could not be read.' });
  }

  return new Promise<Upload>((resolve) => {
    let outcome: Upload | undefined;
    let receiving: Promise<unknown> = Promise.resolve();
    let current: NodeJS.ReadableStream & { destroy: (error?: Error) => void } | undefined;
    const counted = countBytes(maxRequestBytes, () => fail(tooLarge));

    const settleOutcome = (result: Upload) => {
      if (outcome) return;
      outcome = result;
      void receiving.finally(async () => {
        if (!result.ok) for (const file of files) await store.discard(file.received).catch(() => {});
        resolve(result);
      });
    };
    const fail = (result: Extract<Upload, { ok: false }>) => {
      if (outcome) return;
      // Read no more of it: the answer goes out at once, and the connection closes after it.
      req.unpipe(counted);
      counted.destroy();
      current?.destroy(new Error(result.reason));
      settleOutcome(result);
    };

    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) return fail(tooLarge);
      if (name === '_csrf' && options.checkCsrfField && !csrfChecked) {
        if (!options.checkCsrfField(value)) return fail({ ok: false, status: 403, reason: 'This form has expired. Reload the page and try again.' });
        csrfChecked = true;
      }
      fields[name] = value;
    });
    parser.on('file', (name, stream, info) => {
      // An empty file input sends a part with no name and no bytes.
      if (outcome || name !== 'file' || !info.filename) return void stream.resume();
      if (!csrfChecked) {
        stream.resume();
        return fail({ ok: false, status: 403, reason: 'This form has expired. Reload the page and try again.' });
      }
      current = stream;
      stream.once('limit', () => fail(tooLarge));
      const arriving = store.receive(stream).then(
        (received) => ({ received, name: info.filename }),
        () => undefined, // cut off: the store removed what it had, and the reason is already known
      );
      // In the order they came, whichever is written to the end first.
      receiving = receiving.then(async () => {
        const file = await arriving;
        if (!file) return;
        if (outcome && !outcome.ok) await store.discard(file.received).catch(() => {});
        else files.push(file);
      });
    });
    for (const event of ['filesLimit', 'fieldsLimit', 'partsLimit'] as const) {
      parser.on(event, () => fail({ ok: false, status: 413, reason: `At most ${MAX_FILES_PER_POST} files at once.` }));
    }
    parser.on('error', () => fail({ ok: false, status: 400, reason: 'The upload was cut off before it ended.' }));
    parser.on('close', () => {
      if (!csrfChecked) return fail({ ok: false, status: 403, reason: 'This form has expired. Reload the page and try again.' });
      void receiving.then(() => settleOutcome({ ok: true, fields, files }));
    });
    req.once('close', () => {
      if (!req.complete) fail({ ok: false, status: 400, reason: 'The upload was cut off before it ended.' });
    });
    req.pipe(counted).pipe(parser);
  });
}

/** Passes bytes through until there are more than `limit` of them. */
function countBytes(limit: number, over: () => void): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > limit) {
        over();
        return done();
      }
      done(null, chunk);
    },
  });
}

function shownLimit(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return mb >= 1 ? `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}
