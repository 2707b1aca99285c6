import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, statSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import sharp from 'sharp';
import { createDatabase, createPool } from '../src/db/database.ts';
import { projectRoot } from '../src/paths.ts';
import { createLogger } from '../src/web/logging.ts';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';
import { addMember, articlesIn, eventually } from './support/discussion.ts';
import { createTestDatabase } from './support/database.ts';
import { fileUrls, pngOf, postFiles, rawUpload } from './support/files.ts';
import { removeMember } from './support/members.ts';
import { freePort } from './support/ports.ts';
import { openStream } from './support/sse.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const MB = 1024 * 1024;

/** The settled files under a store folder (its `tmp/` apart), by sha256. */
function settledFiles(filesDir: string): string[] {
  if (!existsSync(filesDir)) return [];
  return readdirSync(filesDir)
    .filter((d) => d !== 'tmp')
    .flatMap((d) => readdirSync(path.join(filesDir, d)));
}
function temporaryFiles(filesDir: string): string[] {
  const tmp = path.join(filesDir, 'tmp');
  return existsSync(tmp) ? readdirSync(tmp) : [];
}

describe('files on local disk', () => {
  let app: TestApp;
  let dataDir: string;
  let filesDir: string;
  let ada: Person;
  let bob: Person;
  let eve: Person;
  let tablo: number;
  before(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tablo-files-'));
    filesDir = path.join(dataDir, 'files');
    app = await startTestApp({ env: { DATA_DIR: dataDir, MAX_UPLOAD_MB: '1', POST_RATE_LIMIT: '0' } });
    [ada, bob, eve] = await Promise.all([registerPerson(app.url, 'Ada'), registerPerson(app.url, 'Bob'), registerPerson(app.url, 'Eve')]);
    tablo = await createTablo(ada, 'Files');
    await addMember(app.db, tablo, bob.id);
    await ada.client.get(`/tablos/${tablo}/discussion`);
    await bob.client.get(`/tablos/${tablo}/discussion`);
  });
  after(() => app.close());

  it('posts an image as a message with its caption, live, with a thumbnail of known size, and serves it safely', async () => {
    const stream = await openStream(bob.client, tablo);
    const png = await pngOf(1200, 600);
    const response = await postFiles(ada, tablo, [{ name: 'chart.png', bytes: png, type: 'image/png' }], {
      fields: { body: 'Our **numbers**', client_token: 'chart-1' },
    });
    assert.equal(response.status, 201, response.html);
    const [article] = articlesIn(response.html);
    assert.ok(article);
    assert.match(article.bodyHtml, /<strong>numbers<\/strong>/);
    assert.match(response.html, /class="attachment attachment--image"/);
    const img = /<img ([^>]*)>/.exec(response.html)?.[1] ?? '';
    assert.match(img, /width="480" height="240"/, 'the thumbnail keeps the ratio, 480 px at most, and says its size');
    const urls = fileUrls(response.html);
    assert.match(urls.file ?? '', /^\/files\/\d+\/chart\.png$/);
    assert.match(urls.thumbnail ?? '', /^\/files\//);
    // The same fragment reaches the other member live.
    await stream.waitFor((s) => s.messages.some((e) => e.data.includes(`id="message-${article.id}"`)));
    assert.equal(stream.messages.find((e) => e.data.includes(`id="message-${article.id}"`))?.data, response.html);
    stream.close();

    const file = await bob.client.request(urls.file!);
    assert.equal(file.status, 200);
    const bytes = new Uint8Array(await file.arrayBuffer());
    assert.equal(sha256(bytes), sha256(png));
    assert.equal(file.headers.get('content-type'), 'image/png');
    assert.match(file.headers.get('content-disposition') ?? '', /^inline; filename="?chart\.png"?$/);
    assert.equal(file.headers.get('x-content-type-options'), 'nosniff');
    assert.match(file.headers.get('content-security-policy') ?? '', /sandbox/);
    assert.match(file.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.equal(file.headers.get('etag'), `"${sha256(png)}"`);
    assert.match(file.headers.get('cache-control') ?? '', /private/);

    const thumbnail = await bob.client.request(urls.thumbnail!);
    assert.equal(thumbnail.status, 200);
    assert.equal(thumbnail.headers.get('content-type'), 'image/webp');
    const meta = await sharp(Buffer.from(await thumbnail.arrayBuffer())).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [480, 240, 'webp']);
    // Stored once, under its sha256, and nothing left half-way.
    assert.ok(settledFiles(filesDir).includes(sha256(png)));
    assert.deepEqual(temporaryFiles(filesDir), []);
  });

  it('turns a photo by its EXIF orientation and strips its metadata from the thumbnail', async () => {
    // Stored 600×300, shown turned a quarter (orientation 6): 300×600.
    const jpeg = await sharp({ create: { width: 600, height: 300, channels: 3, background: '#a33' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const response = await postFiles(ada, tablo, [{ name: 'photo.jpg', bytes: jpeg }]);
    assert.equal(response.status, 201, response.html);
    assert.match(response.html, /data-width="300" data-height="600"/);
    assert.match(/<img ([^>]*)>/.exec(response.html)?.[1] ?? '', /width="240" height="480"/);
    const thumbnail = await bob.client.request(fileUrls(response.html).thumbnail!);
    const meta = await sharp(Buffer.from(await thumbnail.arrayBuffer())).metadata();
    assert.deepEqual([meta.width, meta.height], [240, 480]);
    assert.equal(meta.exif, undefined);
    assert.equal(meta.orientation, undefined);
  });

  it('tells the type from the bytes: HTML named .png is never served as HTML, a PNG named .txt is an image', async () => {
    const html = new TextEncoder().encode('<!doctype html><html><body><script>alert(document.cookie)</script></body></html>');
    const fake = await postFiles(ada, tablo, [{ name: 'cat.png', bytes: html, type: 'image/png' }]);
    assert.equal(fake.status, 201, fake.html);
    assert.doesNotMatch(fake.html, /<img /, 'no thumbnail for what is not an image');
    assert.match(fake.html, /class="attachment attachment--file"/);
    const served = await bob.client.request(fileUrls(fake.html).file!);
    assert.equal(served.status, 200);
    assert.equal(served.headers.get('content-type'), 'application/octet-stream');
    assert.match(served.headers.get('content-disposition') ?? '', /^attachment; filename="?cat\.png"?$/);
    assert.equal(served.headers.get('x-content-type-options'), 'nosniff');
    assert.match(served.headers.get('content-security-policy') ?? '', /sandbox/);

    const png = await pngOf(20, 10, '#123');
    const real = await postFiles(ada, tablo, [{ name: 'notes.txt', bytes: png, type: 'text/plain' }]);
    assert.equal(real.status, 201, real.html);
    const image = await bob.client.request(fileUrls(real.html).file!);
    assert.equal(image.headers.get('content-type'), 'image/png');
    assert.match(image.headers.get('content-disposition') ?? '', /^inline; filename="?notes\.txt"?$/);
    assert.match(real.html, /<img [^>]*width="20" height="10"/);
  });

  it('names a file safely whatever it is called (RFC 6266 filename*)', async () => {
    const response = await postFiles(ada, tablo, [{ name: 'rapport "final" été.pdf', bytes: new TextEncoder().encode('%PDF-1.4\n%âãÏÓ\n') }]);
    assert.equal(response.status, 201, response.html);
    const served = await bob.client.request(fileUrls(response.html).file!);
    assert.equal(served.headers.get('content-type'), 'application/pdf');
    const disposition = served.headers.get('content-disposition') ?? '';
    assert.match(disposition, /^inline; filename="rapport \\"final\\" [^"]*\.pdf"; filename\*=UTF-8''rapport%20%22final%22%20%C3%A9t%C3%A9\.pdf$/);
  });

  it('answers ranges and revalidation: 206, 416, 304', async () => {
    const png = await pngOf(64, 64, '#456');
    const response = await postFiles(ada, tablo, [{ name: 'range.png', bytes: png }]);
    const url = fileUrls(response.html).file!;
    const part = await bob.client.request(url, { headers: { Range: 'bytes=10-19' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 10-19/${png.length}`);
    assert.equal(part.headers.get('accept-ranges'), 'bytes');
    assert.deepEqual(new Uint8Array(await part.arrayBuffer()), new Uint8Array(png.subarray(10, 20)));
    const tail = await bob.client.request(url, { headers: { Range: 'bytes=-5' } });
    assert.equal(tail.status, 206);
    assert.deepEqual(new Uint8Array(await tail.arrayBuffer()), new Uint8Array(png.subarray(png.length - 5)));
    const beyond = await bob.client.request(url, { headers: { Range: `bytes=${png.length + 10}-` } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), `bytes */${png.length}`);
    await beyond.arrayBuffer();
    const cached = await bob.client.request(url, { headers: { 'If-None-Match': `"${sha256(png)}"` } });
    assert.equal(cached.status, 304);
    const changed = await bob.client.request(url, { headers: { 'If-None-Match': '"something-else"' } });
    assert.equal(changed.status, 200);
    await changed.arrayBuffer();
  });

  it('hides files from strangers, removed members and signed-out visitors (404; sign in)', async () => {
    const carol = await registerPerson(app.url, 'Carol');
    await addMember(app.db, tablo, carol.id);
    await carol.client.get(`/tablos/${tablo}/discussion`);
    const response = await postFiles(ada, tablo, [{ name: 'secret.png', bytes: await pngOf(30, 30, '#900') }]);
    const { file, thumbnail } = fileUrls(response.html);
    assert.equal((await carol.client.request(file!)).status, 200);
    for (const url of [file!, thumbnail!]) {
      const stranger = await eve.client.request(url);
      assert.equal(stranger.status, 404, `a stranger gets 404 for ${url}`);
      assert.doesNotMatch(await stranger.text(), /PNG/);
    }
    await ada.client.get(`/tablos/${tablo}`);
    assert.equal((await removeMember(ada, tablo, carol.id)).status, 303);
    for (const url of [file!, thumbnail!]) assert.equal((await carol.client.request(url)).status, 404, `a removed member gets 404 for ${url}`);
    const visitor = await new Client(app.url).request(file!);
    assert.equal(visitor.status, 303);
    assert.match(visitor.headers.get('location') ?? '', /^\/login\?next=/);
    assert.equal((await bob.client.request('/files/abc/x.png')).status, 404);
    assert.equal((await bob.client.request('/files/999999/x.png')).status, 404);
  });

  it('a deleted message’s files are gone at once, their bytes too unless another message has the same', async () => {
    const png = await pngOf(40, 40, '#0a0');
    const first = await postFiles(ada, tablo, [{ name: 'a.png', bytes: png }]);
    const second = await postFiles(bob, tablo, [{ name: 'b.png', bytes: png }]);
    const firstId = articlesIn(first.html)[0]!.id;
    const secondId = articlesIn(second.html)[0]!.id;
    const firstUrls = fileUrls(first.html);
    await ada.client.get(`/tablos/${tablo}/discussion`);
    const deleted = await ada.client.post(`/tablos/${tablo}/discussion/messages/${firstId}/delete`);
    assert.equal(deleted.status, 303);
    for (const url of [firstUrls.file!, firstUrls.thumbnail!]) assert.equal((await bob.client.request(url)).status, 404);
    // The same bytes in Bob's message stay, and are still his to serve.
    assert.ok(settledFiles(filesDir).includes(sha256(png)));
    assert.equal((await ada.client.request(fileUrls(second.html).file!)).status, 200);
    await bob.client.get(`/tablos/${tablo}/discussion`);
    assert.equal((await bob.client.post(`/tablos/${tablo}/discussion/messages/${secondId}/delete`)).status, 303);
    assert.ok(!settledFiles(filesDir).includes(sha256(png)), 'the last message with these bytes is gone: so are they');
    const rows = await app.db.selectFrom('attachments').select('id').where('sha256', '=', sha256(png)).execute();
    assert.deepEqual(rows, []);
  });

  it('works without JavaScript: a multipart form with the token first, several files, 303; one message per file, the caption on the first', async () => {
    await ada.client.get(`/tablos/${tablo}/discussion`);
    const before = await app.db.selectFrom('messages').select('id').where('tablo_id', '=', tablo).execute();
    const response = await postFiles(
      ada,
      tablo,
      [
        { name: 'one.png', bytes: await pngOf(10, 10, '#111') },
        { name: 'two.png', bytes: await pngOf(10, 10, '#222') },
      ],
      { htmx: false, fields: { client_token: 'nojs-1', body: 'Two pictures', reply_to: '' } },
    );
    assert.equal(response.status, 303, response.html);
    assert.match(response.headers.get('location') ?? '', new RegExp(`^/tablos/${tablo}/discussion#message-\\d+$`));
    const stored = await app.db
      .selectFrom('messages as m')
      .innerJoin('attachments as a', 'a.message_id', 'm.id')
      .select(['m.body', 'a.name'])
      .where('m.tablo_id', '=', tablo)
      .where('m.id', 'not in', before.length ? before.map((b) => b.id) : [0])
      .orderBy('m.seq')
      .execute();
    assert.deepEqual(stored, [
      { body: 'Two pictures', name: 'one.png' },
      { body: '', name: 'two.png' },
    ]);
    // The same post again (a retry: same token) stores nothing new.
    const again = await postFiles(ada, tablo, [{ name: 'one.png', bytes: await pngOf(10, 10, '#111') }, { name: 'two.png', bytes: await pngOf(10, 10, '#222') }], {
      htmx: false,
      fields: { client_token: 'nojs-1', body: 'Two pictures' },
    });
    assert.equal(again.status, 303);
    const count = await app.db.selectFrom('attachments').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    const names = await app.db.selectFrom('attachments').select('name').where('name', 'in', ['one.png', 'two.png']).execute();
    assert.equal(names.length, 2, `a retry stores no new file (${count.n} in all)`);
    // Text alone still posts through the multipart form; nothing at all is a 422.
    const text = await postFiles(ada, tablo, [], { htmx: false, fields: { body: 'just words' } });
    assert.equal(text.status, 303);
    const empty = await postFiles(ada, tablo, [], { htmx: false, fields: { body: '  ' } });
    assert.equal(empty.status, 422);
    assert.match(empty.html, /Write something before sending/);
    // The discussion page offers the file input in a multipart form.
    const page = await ada.client.get(`/tablos/${tablo}/discussion`);
    assert.match(page.html, /<form id="composer"[^>]*enctype="multipart\/form-data"/);
    assert.match(page.html, /<input id="composer-files" type="file" name="file" multiple>/);
  });

  it('refuses a multipart post without a valid CSRF token before storing a byte (403)', async () => {
    await ada.client.get(`/tablos/${tablo}/discussion`);
    const count = async () =>
      Number((await app.db.selectFrom('attachments').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
    const before = await count();
    const png = await pngOf(12, 12, '#777');
    for (const csrf of ['none', 'field-last'] as const) {
      const refused = await postFiles(ada, tablo, [{ name: 'x.png', bytes: png }], { htmx: false, csrf });
      assert.equal(refused.status, 403, `csrf ${csrf}`);
    }
    const good = ada.client.csrfToken;
    ada.client.csrfToken = 'not-the-token';
    assert.equal((await postFiles(ada, tablo, [{ name: 'x.png', bytes: png }], { htmx: false })).status, 403);
    assert.equal((await postFiles(ada, tablo, [{ name: 'x.png', bytes: png }], { htmx: true })).status, 403);
    ada.client.csrfToken = good;
    // A token of someone else's session is refused too.
    const stolen = bob.client.csrfToken;
    const form = new FormData();
    form.append('_csrf', stolen ?? '');
    form.append('file', new Blob([new Uint8Array(png)]), 'x.png');
    const forged = await ada.client.request(`/tablos/${tablo}/discussion/messages`, { method: 'POST', body: form });
    assert.equal(forged.status, 403);
    assert.equal(await count(), before);
    assert.equal(settledFiles(filesDir).includes(sha256(png)), false);
    assert.deepEqual(temporaryFiles(filesDir), []);
  });

  it('answers 413 to a declared Content-Length over MAX_UPLOAD_MB before the body has been sent', async () => {
    const upload = rawUpload(app.url, `/tablos/${tablo}/discussion/messages`, {
      Cookie: ada.client.cookieHeader(),
      'X-CSRF-Token': ada.client.csrfToken ?? '',
      'HX-Request': 'true',
    }, { declaredLength: 5 * MB, chunkBytes: 16 * 1024 });
    const answer = await upload.answer;
    upload.stop();
    assert.equal(answer.status, 413);
    assert.match(answer.body, /at most 1 MB/);
    assert.ok(upload.written() < 5 * MB, `answered after ${upload.written()} of ${5 * MB} bytes`);
    assert.deepEqual(temporaryFiles(filesDir), []);
  });

  it('cuts a chunked upload once it passes the limit (413), keeping nothing of it', async () => {
    const before = await app.db.selectFrom('messages').select('id').where('tablo_id', '=', tablo).execute();
    const upload = rawUpload(app.url, `/tablos/${tablo}/discussion/messages`, {
      Cookie: ada.client.cookieHeader(),
      'X-CSRF-Token': ada.client.csrfToken ?? '',
      'HX-Request': 'true',
    }, { chunkBytes: 16 * 1024, maxBytes: 20 * MB });
    const answer = await upload.answer;
    const written = upload.written();
    upload.stop();
    assert.equal(answer.status, 413);
    assert.ok(written < 20 * MB, `cut after ${written} bytes (the client would have sent 20 MB)`);
    const after = await app.db.selectFrom('messages').select('id').where('tablo_id', '=', tablo).execute();
    assert.equal(after.length, before.length);
    await eventually(async () => temporaryFiles(filesDir).length === 0, 5_000, 'the cut upload leaves no temporary file');
  });
});

describe('the posting limit counts each file', () => {
  let app: TestApp;
  after(() => app?.close());
  it('refuses files beyond the limit with 429 and Retry-After, storing none of that post', async () => {
    app = await startTestApp({ env: { POST_RATE_LIMIT: '2' } });
    const ada = await registerPerson(app.url, 'Ada');
    const tablo = await createTablo(ada, 'Limited');
    await ada.client.get(`/tablos/${tablo}/discussion`);
    const three = await Promise.all([1, 2, 3].map(async (i) => ({ name: `${i}.png`, bytes: await pngOf(8, 8, `#${i}${i}${i}`) })));
    const refused = await postFiles(ada, tablo, three, { htmx: true });
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.deepEqual(await app.db.selectFrom('attachments').select('id').execute(), []);
    const two = await postFiles(ada, tablo, three.slice(0, 2), { htmx: true });
    assert.equal(two.status, 201, two.html);
    assert.equal(articlesIn(two.html).length, 2);
    assert.equal((await postFiles(ada, tablo, three.slice(2), { htmx: true })).status, 429);
  });
});

describe('files in an S3-compatible store (s3rver)', () => {
  let S3_PORT = 0;
  let s3: S3rver;
  let app: TestApp;
  let client: S3Client;
  before(async () => {
    S3_PORT = await freePort();
    s3 = new S3rver({
      port: S3_PORT,
      address: '127.0.0.1',
      silent: true,
      directory: mkdtempSync(path.join(os.tmpdir(), 'tablo-s3-')),
      configureBuckets: [{ name: 'tablo-files' }],
    });
    await s3.run();
    const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
    app = await startTestApp({
      env: {
        S3_BUCKET: 'tablo-files',
        S3_ENDPOINT: `http://127.0.0.1:${S3_PORT}`,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      },
    });
    client = new S3Client({ endpoint: `http://127.0.0.1:${S3_PORT}`, region: 'us-east-1', forcePathStyle: true, credentials });
  });
  after(async () => {
    await app?.close();
    client?.destroy();
    await s3?.close();
  });

  const keys = async () =>
    ((await client.send(new ListObjectsV2Command({ Bucket: 'tablo-files' }))).Contents ?? []).map((o) => o.Key ?? '').sort();

  it('uploads, serves whole and in ranges, and deletes through the bucket', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    const bob = await registerPerson(app.url, 'Bob');
    const tablo = await createTablo(ada, 'Bucket');
    await addMember(app.db, tablo, bob.id);
    await ada.client.get(`/tablos/${tablo}/discussion`);
    // Larger than one multipart part (5 MB): the upload streams in parts.
    const big = Buffer.concat([await pngOf(300, 200, '#246'), Buffer.alloc(6 * MB, 1)]);
    const response = await postFiles(ada, tablo, [{ name: 'big.png', bytes: big }]);
    assert.equal(response.status, 201, response.html);
    const { file, thumbnail } = fileUrls(response.html);
    const stored = await keys();
    assert.ok(stored.includes(`files/${sha256(big)}`), `stored under its sha256: ${stored.join(', ')}`);
    assert.deepEqual(stored.filter((k) => k.startsWith('tmp/')), [], 'nothing left in tmp/');

    const whole = await bob.client.request(file!);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('content-type'), 'image/png');
    assert.equal(sha256(new Uint8Array(await whole.arrayBuffer())), sha256(big));
    const part = await bob.client.request(file!, { headers: { Range: 'bytes=1000-1999' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 1000-1999/${big.length}`);
    assert.deepEqual(new Uint8Array(await part.arrayBuffer()), new Uint8Array(big.subarray(1000, 2000)));
    const thumb = await bob.client.request(thumbnail!);
    assert.equal(thumb.status, 200);
    assert.equal((await sharp(Buffer.from(await thumb.arrayBuffer())).metadata()).width, 300);

    const messageId = articlesIn(response.html)[0]!.id;
    assert.equal((await ada.client.post(`/tablos/${tablo}/discussion/messages/${messageId}/delete`)).status, 303);
    assert.equal((await bob.client.request(file!)).status, 404);
    assert.deepEqual(await keys(), [], 'the file and its thumbnail are gone from the bucket');
  });
});

describe('a crash mid-upload', () => {
  let database: { url: string; drop: () => Promise<void> };
  let child: ChildProcess | undefined;
  after(async () => {
    child?.kill('SIGKILL');
    await database?.drop();
  });

  /** `src/main.ts` in its own process, as a person runs it. */
  async function startMain(dataDir: string, port: number): Promise<{ child: ChildProcess; url: string }> {
    const started = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: projectRoot,
      env: { ...process.env, DATABASE_URL: database.url, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    started.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    started.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await eventually(async () => /Tablo is ready/.test(output) || started.exitCode !== null, 60_000, 'Tablo to start');
    assert.match(output, /Tablo is ready/, output);
    return { child: started, url: `http://127.0.0.1:${port}` };
  }

  it('leaves no half file and no message without its file; the sweep removes what is left, once old', async () => {
    database = await createTestDatabase();
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tablo-crash-'));
    const filesDir = path.join(dataDir, 'files');
    const port = await freePort();
    let running = await startMain(dataDir, port);
    child = running.child;
    const ada = await registerPerson(running.url, 'Ada');
    const tablo = await createTablo(ada, 'Crash');
    await ada.client.get(`/tablos/${tablo}/discussion`);
    // One file posted before the crash; its bytes made old: named by a row, they stay.
    const kept = await pngOf(16, 16, '#abc');
    assert.equal((await postFiles(ada, tablo, [{ name: 'kept.png', bytes: kept }])).status, 201);
    const keptPath = path.join(filesDir, sha256(kept).slice(0, 2), sha256(kept));
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60_000);
    utimesSync(keptPath, twoHoursAgo, twoHoursAgo);

    // An upload is cut by SIGKILL half-way.
    const upload = rawUpload(running.url, `/tablos/${tablo}/discussion/messages`, {
      Cookie: ada.client.cookieHeader(),
      'X-CSRF-Token': ada.client.csrfToken ?? '',
      'HX-Request': 'true',
    }, { declaredLength: 10 * MB, maxBytes: 3 * MB });
    upload.answer.catch(() => {});
    await eventually(async () => temporaryFiles(filesDir).some((f) => statSync(path.join(filesDir, 'tmp', f)).size > MB), 10_000, 'half the upload on disk');
    child.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));
    upload.stop();
    const rowsAfterCrash = async () => {
      const pool = createPool(database.url, createLogger('silent'));
      const db = createDatabase(pool);
      try {
        return await db.selectFrom('attachments').select(['sha256', 'thumbnail_sha256']).execute();
      } finally {
        await db.destroy();
      }
    };
    const half = temporaryFiles(filesDir);
    assert.equal(half.length, 1, 'the half file is a temporary one');
    assert.deepEqual(settledFiles(filesDir).sort(), [sha256(kept), (await rowsAfterCrash())[0]!.thumbnail_sha256!].sort(), 'no half file under an address');
    assert.equal((await rowsAfterCrash()).length, 1, 'no message for the cut upload');

    // Left over, as a crash between settling and committing would leave them: one old, one new.
    const orphan = (label: string, when: Date) => {
      const bytes = Buffer.from(`orphan ${label}`);
      const dir = path.join(filesDir, sha256(bytes).slice(0, 2));
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, sha256(bytes)), bytes);
      utimesSync(path.join(dir, sha256(bytes)), when, when);
      return sha256(bytes);
    };
    const oldOrphan = orphan('old', twoHoursAgo);
    const newOrphan = orphan('new', new Date());
    // An hour later, the half upload is old too.
    utimesSync(path.join(filesDir, 'tmp', half[0]!), twoHoursAgo, twoHoursAgo);

    running = await startMain(dataDir, port);
    child = running.child;
    await eventually(
      async () => temporaryFiles(filesDir).length === 0 && !settledFiles(filesDir).includes(oldOrphan),
      15_000,
      'the sweep at start to remove the old temporary file and the old orphan',
    );
    const rows = await rowsAfterCrash();
    const named = new Set(rows.flatMap((r) => [r.sha256, r.thumbnail_sha256 ?? '']));
    const settled = settledFiles(filesDir);
    for (const sha of named) if (sha) assert.ok(settled.includes(sha), `row's file ${sha} is on disk`);
    assert.deepEqual(settled.filter((sha) => !named.has(sha)), [newOrphan], 'only the young orphan waits (it may still be settling)');
    // The posted file still serves after the restart.
    const page = await ada.client.get(`/tablos/${tablo}/discussion`);
    assert.equal(page.status, 200);
    const url = fileUrls(page.html).file!;
    assert.equal((await ada.client.request(url)).status, 200);
    child.kill('SIGTERM');
    await new Promise((resolve) => child!.once('exit', resolve));
    child = undefined;
  });
});
