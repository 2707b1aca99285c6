/**
 * Pages and sign-in (issue 14, item 6). Two measurements:
 *
 * - The discussion page (a tablo with 50 messages, signed in) fetched over C kept-alive
 *   connections for a fixed time, and the same HTML (fetched once from the app) answered from
 *   memory by a tiny Express server (bench/page-server.ts), one after the other in the same run.
 * - A burst of sign-ins (argon2id; the real GET /login + POST /login with its CSRF token) while
 *   the app fans out to N readers: measure.ts's run with the burst as its side load, next to the
 *   same run without it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Browser } from './http.ts';
import type { SideLoad } from './measure.ts';
import { onCleanUp, startServer } from './processes.ts';
import { percentile } from './stats.ts';
import { projectRoot } from './paths.ts';
import { type AppOptions, compiledEntry, type ServerOptions, startTarget } from './targets.ts';
import { warmUp } from './measure.ts';

export type PageLoad = {
  kind: 'app' | 'express';
  requests: number;
  errors: number;
  ms: number;
  latencies: number[];
  bytes: number;
};

export const requestsPerSecond = (r: PageLoad) => r.requests / (r.ms / 1000);

/** GETs `path` over `connections` kept-alive connections, each one request at a time, for `durationMs`. */
async function load(port: number, pagePath: string, headers: Record<string, string>, connections: number, durationMs: number, kind: PageLoad['kind']): Promise<PageLoad> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  let errors = 0;
  let bytes = 0;
  const get = () =>
    new Promise<void>((resolve) => {
      const sent = performance.now();
      const request = http.get({ host: '127.0.0.1', port, path: pagePath, agent, headers }, (response) => {
        let size = 0;
        response.on('data', (part: Buffer) => (size += part.length));
        response.on('end', () => {
          if (response.statusCode === 200) {
            latencies.push(performance.now() - sent);
            bytes += size;
          } else errors++;
          resolve();
        });
      });
      request.on('error', () => {
        errors++;
        resolve();
      });
    });
  const started = performance.now();
  const stopAt = started + durationMs;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < stopAt) await get();
    }),
  );
  const ms = performance.now() - started;
  agent.destroy();
  return { kind, requests: latencies.length, errors, ms, latencies, bytes: latencies.length ? bytes / latencies.length : 0 };
}

/** One round of the page measurement: the app's page, then Express with its HTML (or the other way round). */
export async function measurePages(
  plan: { connections: number; durationMs: number; messages: number; appFirst: boolean },
  options: AppOptions & ServerOptions,
): Promise<PageLoad[]> {
  const target = await startTarget('app', options);
  const folder = mkdtempSync(path.join(os.tmpdir(), 'tablo-bench-page-'));
  const removeFolder = onCleanUp(`page folder ${folder}`, async () => rmSync(folder, { recursive: true, force: true }));
  try {
    await warmUp(await target.channel('warm-up'));
    const channel = await target.channel('page');
    for (let n = 1; n <= plan.messages; n++) {
      const answer = await channel.post(n);
      if (answer.status !== 201) throw new Error(`posting the page's messages: ${answer.status}`);
    }
    const page = channel.page!;
    const port = channel.endpoints[0]!.port;
    const html = await (await fetch(`http://127.0.0.1:${port}${page.path}`, { headers: page.headers })).text();
    const articles = html.match(/<article id="message-/g)?.length ?? 0;
    if (articles !== plan.messages) throw new Error(`the discussion page shows ${articles} messages, not ${plan.messages}`);
    const file = path.join(folder, 'page.html');
    writeFileSync(file, html);
    const express = await startServer({
      name: 'Express page server',
      entry: compiledEntry(projectRoot, 'bench/page-server.ts'),
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'production', PAGE_FILE: file },
      portFrom: /listening on port (\d+)/,
      timeoutMs: 20_000,
    });
    try {
      const app = () => load(port, page.path, page.headers, plan.connections, plan.durationMs, 'app');
      const baseline = () => load(express.port, '/page', {}, plan.connections, plan.durationMs, 'express');
      // A short warm-up of each (JIT), not counted.
      await load(port, page.path, page.headers, plan.connections, 500, 'app');
      await load(express.port, '/page', {}, plan.connections, 500, 'express');
      return plan.appFirst ? [await app(), await baseline()] : [await baseline(), await app()];
    } finally {
      await express.stop();
    }
  } finally {
    await target.stop();
    await removeFolder();
  }
}

/** `count` sign-ins at once, each a fresh browser with its own GET /login (CSRF cookie and token). */
export function signInBurst(count: number, atMessage: number): SideLoad {
  return {
    atMessage,
    prepare: async (target) => {
      const app = target.app;
      if (!app) throw new Error('the sign-in burst needs the app');
      const browsers = await Promise.all(
        Array.from({ length: count }, async () => {
          const browser = new Browser(app.baseUrl);
          const form = await browser.get('/login');
          if (form.status !== 200 || !browser.csrfToken) throw new Error(`GET /login answered ${form.status}${browser.csrfToken ? '' : ' without a CSRF token'}`);
          return browser;
        }),
      );
      return async () => {
        const started = performance.now();
        const answers = await Promise.all(
          browsers.map(async (browser, i) => {
            const sent = performance.now();
            const answer = await browser.post('/login', { email: app.emails[i % app.emails.length]!, password: app.password });
            return { status: answer.status, ms: performance.now() - sent };
          }),
        );
        const statuses = new Map<number, number>();
        for (const { status } of answers) statuses.set(status, (statuses.get(status) ?? 0) + 1);
        const ms = answers.map((a) => a.ms);
        return (
          `${count} sign-ins: ${[...statuses].map(([status, n]) => `${n} × ${status}`).join(', ')} in ${(performance.now() - started).toFixed(0)} ms ` +
          `(each p50 ${percentile(ms, 50).toFixed(0)} ms, max ${percentile(ms, 100).toFixed(0)} ms)`
        );
      };
    },
  };
}

/** Every sign-in of the burst answered 303 (signed in). */
export const burstSignedIn = (report: string | undefined, count: number) => report?.startsWith(`${count} sign-ins: ${count} × 303 `) ?? false;
