import { request as httpRequest } from 'node:http';
import sharp from 'sharp';
import type { Person } from './client.ts';

export type UploadedFile = { name: string; bytes: Uint8Array; type?: string };

/** A PNG of the given size, one colour. */
export function pngOf(width: number, height: number, colour = '#3a7'): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: colour } }).png().toBuffer();
}

/**
 * Posts files to the composer's route as multipart: as script does (the CSRF header, HX-Request)
 * or as the no-JavaScript form does (the `_csrf` field first, then the fields, then the files).
 */
export function postFiles(
  person: Person,
  tabloId: number,
  files: UploadedFile[],
  options: { htmx?: boolean; fields?: Record<string, string>; csrf?: 'header' | 'field' | 'field-last' | 'none' } = {},
): Promise<Response & { html: string }> {
  const htmx = options.htmx ?? true;
  const csrf = options.csrf ?? (htmx ? 'header' : 'field');
  const form = new FormData();
  if (csrf === 'field') form.append('_csrf', person.client.csrfToken ?? '');
  for (const [name, value] of Object.entries(options.fields ?? {})) form.append(name, value);
  for (const file of files) form.append('file', new Blob([new Uint8Array(file.bytes)], { type: file.type ?? 'application/octet-stream' }), file.name);
  if (csrf === 'field-last') form.append('_csrf', person.client.csrfToken ?? '');
  const headers: Record<string, string> = {};
  if (htmx) headers['HX-Request'] = 'true';
  if (csrf === 'header') headers['X-CSRF-Token'] = person.client.csrfToken ?? '';
  return person.client
    .request(`/tablos/${tabloId}/discussion/messages`, { method: 'POST', body: form, headers })
    .then(async (response) => Object.assign(response, { html: await response.text() }));
}

/** The first `/files/…` URLs of a fragment: the file's link and its thumbnail. */
export function fileUrls(html: string): { file: string | undefined; thumbnail: string | undefined } {
  return {
    file: /<a [^>]*href="(\/files\/\d+\/[^"]+)"/.exec(html)?.[1]?.replaceAll('&amp;', '&'),
    thumbnail: /<img [^>]*src="(\/files\/[^"]+)"/.exec(html)?.[1],
  };
}

export type RawUpload = {
  /** Bytes written before the answer came. */
  written: () => number;
  answer: Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>;
  stop: () => void;
};

/**
 * A multipart upload over a raw connection that keeps writing `chunk`s of one file (declaring
 * `declaredLength`, or chunked when undefined) until told to stop or until it is answered:
 * what a large upload looks like to the server, and when its answer comes.
 */
export function rawUpload(
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
  options: { declaredLength?: number; chunkBytes?: number; maxBytes?: number },
): RawUpload {
  const boundary = `----tablo${Date.now()}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const url = new URL(path, baseUrl);
  let written = 0;
  let answered = false;
  let stopped = false;
  const req = httpRequest({
    host: url.hostname,
    port: url.port,
    path: url.pathname,
    method: 'POST',
    headers: {
      ...headers,
      'Content-Type': `multipart/form-data; boundary=${boundary}`,
      ...(options.declaredLength !== undefined ? { 'Content-Length': String(options.declaredLength) } : {}),
    },
  });
  const answer = new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
  });
  const chunk = Buffer.alloc(options.chunkBytes ?? 64 * 1024, 7);
  const max = options.maxBytes ?? Number.POSITIVE_INFINITY;
  req.write(head);
  written += head.length;
  const pump = () => {
    while (!answered && !stopped && !req.destroyed && written < max) {
      written += chunk.length;
      if (!req.write(chunk)) return void req.once('drain', pump);
    }
  };
  pump();
  return {
    written: () => written,
    answer,
    stop: () => {
      stopped = true;
      req.destroy();
    },
  };
}
