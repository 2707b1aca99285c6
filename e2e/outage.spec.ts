/**
 * A database outage is not a sign-out, seen from the browser. Tablo runs on its own throwaway
 * PostgreSQL behind a relay that can drop every connection; the test stops the database under
 * open pages (and drops their connections, as a deploy or a network blip would), then starts it
 * again: every page comes back live by itself and shows what was posted meanwhile, once.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page, Request } from '@playwright/test';
import pg from 'pg';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '../src/db/embedded.ts';
import { createLogger } from '../src/web/logging.ts';
import { expect, registerInBrowser, test } from './support/fixtures.ts';
import { NetworkBlip } from './support/proxy.ts';
import { TabloProcess } from './support/server.ts';

const PORT = 55431;
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tablo-outage-e2e-'));
chmodSync(dataDir, 0o755); // initdb runs as the `postgres` user when the tests run as root
const startDatabase = () => startEmbeddedPostgres({ dataDir, port: PORT, logger: createLogger('silent') });

let database: EmbeddedDatabase | undefined;
let app: TabloProcess;
let blip: NetworkBlip;

test.describe.configure({ mode: 'serial' });
test.beforeAll(async () => {
  database = await startDatabase();
  app = await TabloProcess.start(database.url);
  // The outage itself is logged: connections lost, presence, read positions and access checks that could not run.
  app.logs.expect(/ECONNREFUSED|terminating connection due to administrator command|Connection terminated|timeout exceeded when trying to connect|the database system is (shutting down|starting up)/);
  blip = await NetworkBlip.to(app.port);
});
test.afterAll(async () => {
  await blip?.close();
  await app?.stop();
  await database?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function sql(text: string, values: unknown[]): Promise<void> {
  const client = new pg.Client({ connectionString: database!.url });
  await client.connect();
  try {
    await client.query(text, values);
  } finally {
    await client.end();
  }
}

/** The statuses a page's stream requests were answered with, in order. */
function streamAnswers(page: Page): number[] {
  const statuses: number[] = [];
  page.on('response', (response) => {
    if (/\/discussion\/stream|\/events$/.test(response.url())) statuses.push(response.status());
  });
  return statuses;
}

/** Uncaught errors in the page (a rejected fetch nobody caught, say). */
function uncaught(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`${page.url()}: ${error.message}`));
  return errors;
}

const status = (page: Page) => page.locator('#live-status');
const message = (page: Page, text: string) => page.locator('#messages article.message', { hasText: text });

async function post(page: Page, body: string): Promise<void> {
  await page.fill('#composer textarea[name=body]', body);
  await page.press('#composer textarea[name=body]', 'Enter');
  await expect(message(page, body)).toHaveCount(1);
}

test('pages ride out a database outage: 503 (never a sign-out), “Reconnecting…”, then live again with what was posted meanwhile, once', async ({ browser }) => {
  test.setTimeout(120_000);
  const ada = await registerInBrowser(browser, blip.url, 'Ada');
  const bob = await registerInBrowser(browser, blip.url, 'Bob');
  await ada.page.fill('#new-tablo input[name=title]', 'Outage drill');
  await ada.page.click('#new-tablo button[type=submit]');
  await expect(ada.page).toHaveURL(/\/tablos\/\d+/);
  const tabloId = Number(/\/tablos\/(\d+)/.exec(ada.page.url())![1]);
  await sql(`INSERT INTO tablo_members (tablo_id, user_id, role) SELECT $1, id, 'member' FROM users WHERE email = $2`, [tabloId, bob.email]);
  const discussion = `/tablos/${tabloId}/discussion`;

  const adaHere = ada.page;
  const bobHere = bob.page;
  const bobHome = await bob.context.newPage();
  const adaLate = await ada.context.newPage();
  const pages = [adaHere, bobHere, bobHome, adaLate];
  const errors = pages.flatMap((page) => uncaught(page));
  const bobAnswers = streamAnswers(bobHere);
  const lateAnswers = streamAnswers(adaLate);

  await adaHere.goto(discussion);
  await expect(status(adaHere)).toHaveAttribute('data-state', 'live');
  await post(adaHere, 'before the outage');
  await bobHere.goto(discussion);
  await bobHome.goto('/tablos');
  for (const page of [bobHere, bobHome]) await expect(status(page)).toHaveAttribute('data-state', 'live');
  await expect(message(bobHere, 'before the outage')).toHaveCount(1);
  // One that reaches Bob through his stream, so his stream has a cursor of its own (its last id).
  await post(adaHere, 'streamed before');
  await expect(message(bobHere, 'streamed before')).toHaveCount(1);
  const streamedSeq = await message(bobHere, 'streamed before').getAttribute('data-seq');

  // Ada's second tab renders while the database is up; its first stream connection meets the outage.
  let outageBegun = () => {};
  const outage = new Promise<void>((resolve) => (outageBegun = resolve));
  await adaLate.route('**/discussion/stream**', async (route) => {
    await outage;
    await route.continue();
  }, { times: 1 });
  await adaLate.goto(discussion);
  await expect(status(adaLate)).toHaveAttribute('data-state', 'connecting');

  // The outage: the database stops, and every connection drops with it.
  await database!.stop();
  database = undefined;
  blip.cut();
  outageBegun();

  for (const page of pages) {
    await expect(status(page)).toHaveAttribute('data-state', 'offline', { timeout: 10_000 });
    await expect(status(page)).toContainText('Reconnecting…');
  }
  // They keep trying, the first connection included, and the server says "later", not "sign in".
  await expect.poll(() => bobAnswers.filter((s) => s === 503).length, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
  await expect.poll(() => lateAnswers.filter((s) => s === 503).length, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
  const bobNew = await bob.context.newPage();
  errors.push(...uncaught(bobNew));
  const answer = await bobNew.goto(discussion);
  expect(answer?.status()).toBe(503);
  expect(new URL(bobNew.url()).pathname).toBe(discussion);
  await expect(bobNew.locator('h1')).toHaveText('Tablo cannot reach its database; retrying');

  // Bob's discussion will reconnect only after Ada has posted, so that message can only reach
  // him by resuming from his cursor.
  let posted = () => {};
  const postedMeanwhile = new Promise<void>((resolve) => (posted = resolve));
  const resumed: Request[] = [];
  await bobHere.route('**/discussion/stream**', async (route) => {
    await postedMeanwhile;
    resumed.push(route.request());
    await route.continue();
  }, { times: 1 });

  database = await startDatabase();
  await expect.poll(async () => (await fetch(`${blip.url}/readyz`)).status, { timeout: 20_000 }).toBe(200);
  await expect(status(adaHere)).toHaveAttribute('data-state', 'live', { timeout: 20_000 });
  await post(adaHere, 'posted meanwhile');
  posted();

  for (const page of [adaHere, bobHere, bobHome, adaLate]) {
    await expect(status(page)).toHaveAttribute('data-state', 'live', { timeout: 20_000 });
    await expect(status(page)).toHaveText('Live');
  }
  expect(resumed[0]?.headers()['last-event-id'], 'Bob resumed from his cursor').toBe(streamedSeq);
  // The 503 page reloaded itself into the discussion.
  await expect(status(bobNew)).toHaveAttribute('data-state', 'live', { timeout: 20_000 });

  await post(bobHere, 'live again');
  for (const page of [adaHere, bobHere, adaLate, bobNew]) {
    for (const text of ['before the outage', 'streamed before', 'posted meanwhile', 'live again']) {
      await expect(message(page, text), `${text} once on ${page.url()}`).toHaveCount(1);
    }
  }
  expect([...bobAnswers, ...lateAnswers]).not.toContain(401);
  expect(errors).toEqual([]);
});

test('after going offline and online with its stream intact, the status is live again', async ({ browser }) => {
  database ??= await startDatabase();
  const ada = await registerInBrowser(browser, blip.url, 'Ada');
  await ada.page.fill('#new-tablo input[name=title]', 'Offline and back');
  await ada.page.click('#new-tablo button[type=submit]');
  await expect(ada.page).toHaveURL(/\/tablos\/\d+/);
  const tabloId = Number(/\/tablos\/(\d+)/.exec(ada.page.url())![1]);
  await ada.page.goto(`/tablos/${tabloId}/discussion`);
  await expect(status(ada.page)).toHaveAttribute('data-state', 'live');

  await ada.context.setOffline(true);
  await expect(status(ada.page)).toHaveAttribute('data-state', 'offline');
  await expect(status(ada.page)).toContainText('Reconnecting…');
  await ada.context.setOffline(false);
  await expect(status(ada.page)).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
  await post(ada.page, 'still here');
});
