/**
 * Upload throughput and the server's memory while it receives a 25 MB file: Tablo runs as a
 * child process (`src/main.ts`, its own database on TEST_DATABASE_URL's server, files on local
 * disk); a signed-in person posts the file as the composer's script does; the server's resident
 * memory (VmRSS) is sampled every 20 ms during each upload. Streaming shows as a growth far below
 * the file's size. Run: TEST_DATABASE_URL=postgres://… npx tsx bench/upload.ts [runs]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase } from '../test/support/database.ts';
import { createTablo, registerPerson } from '../test/support/client.ts';
import { projectRoot } from './lib/paths.ts';
import { rssBytes as rssOf } from './lib/processes.ts';

const FILE_BYTES = 25 * 1000 * 1000;
const PORT = 55482;
const runs = Number(process.argv[2] ?? 5);

const mb = (bytes: number) => (bytes / (1000 * 1000)).toFixed(1);

const database = await createTestDatabase();
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tablo-bench-upload-'));
let server: ChildProcess | undefined;
try {
  server = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: projectRoot,
    env: { ...process.env, DATABASE_URL: database.url, DATA_DIR: dataDir, PORT: String(PORT), LOG_LEVEL: 'warn', POST_RATE_LIMIT: '0', MAX_UPLOAD_MB: '250' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    server!.stdout!.on('data', (chunk: Buffer) => /Tablo is ready/.test(chunk.toString()) && resolve());
    server!.once('exit', (code) => reject(new Error(`Tablo exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${PORT}`;
  const ada = await registerPerson(url, 'Ada');
  const tablo = await createTablo(ada, 'Bench');
  await ada.client.get(`/tablos/${tablo}/discussion`);
  const pid = server.pid!;

  // A first, small upload loads what receiving needs (busboy, file-type, the store's folders):
  // memory that stays, whatever the file's size, not memory this upload holds.
  const warmUp = new FormData();
  warmUp.append('file', new Blob([randomBytes(1000 * 1000)]), 'warm-up.bin');
  const warmed = await ada.client.request(`/tablos/${tablo}/discussion/messages`, {
    method: 'POST',
    body: warmUp,
    headers: { 'HX-Request': 'true', 'X-CSRF-Token': ada.client.csrfToken ?? '' },
  });
  if (warmed.status !== 201) throw new Error(`the warm-up upload answered ${warmed.status}`);
  await warmed.text();

  const results: { seconds: number; growth: number; before: number; peak: number }[] = [];
  // The last run is eight times larger: a server that buffered uploads would grow with it.
  const sizes = [...Array.from({ length: runs }, () => FILE_BYTES), 8 * FILE_BYTES];
  for (const [run, size] of sizes.entries()) {
    // Different bytes every run: nothing is deduplicated.
    const form = new FormData();
    form.append('client_token', `bench-${run}`);
    form.append('file', new Blob([randomBytes(size)]), `bench-${run}.bin`);
    global.gc?.();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = rssOf(pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 20);
    const started = performance.now();
    const response = await ada.client.request(`/tablos/${tablo}/discussion/messages`, {
      method: 'POST',
      body: form,
      headers: { 'HX-Request': 'true', 'X-CSRF-Token': ada.client.csrfToken ?? '' },
    });
    await response.text();
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    if (response.status !== 201) throw new Error(`upload answered ${response.status}`);
    console.log(`run ${run + 1}, ${mb(size)} MB: ${(size / 1e6 / seconds).toFixed(1)} MB/s, RSS ${mb(before)} → peak ${mb(peak)} MB (+${mb(peak - before)} MB)`);
    if (size === FILE_BYTES) results.push({ seconds, growth: peak - before, before, peak });
    else console.log(`\na ${mb(size)} MB file: the server's RSS grew ${mb(peak - before)} MB while receiving it`);
  }
  const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
  const median = (values: number[]) => sorted(values)[Math.floor(values.length / 2)]!;
  const throughput = median(results.map((r) => FILE_BYTES / 1e6 / r.seconds));
  const growth = median(results.map((r) => r.growth));
  const worst = Math.max(...results.map((r) => r.growth));
  console.log(`${runs} uploads of a ${mb(FILE_BYTES)} MB file to local disk (client and server on one machine):`);
  console.log(`  throughput: ${throughput.toFixed(1)} MB/s (median)`);
  console.log(`  server RSS growth while receiving: ${mb(growth)} MB median, ${mb(worst)} MB worst (the file is ${mb(FILE_BYTES)} MB)`);
} finally {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((resolve) => server!.once('exit', resolve));
  }
  await database.drop();
  rmSync(dataDir, { recursive: true, force: true });
}
