import { createTestDatabase } from '../test/support/database.ts';
import { expect, registerInBrowser, test } from './support/fixtures.ts';
import { TabloProcess } from './support/server.ts';

// Its own Tablo with a small posting limit, so the limit is reached in a few messages.
const LIMIT = 3;
let limited: TabloProcess;
let dropDatabase: () => Promise<void>;

test.beforeAll(async () => {
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  limited = await TabloProcess.start(database.url, { POST_RATE_LIMIT: String(LIMIT) });
});

test.afterAll(async () => {
  await limited?.stop();
  await dropDatabase?.();
});

test('over the posting limit the composer says so and keeps the draft', async ({ browser }) => {
  const ada = await registerInBrowser(browser, limited.url, 'Ada');
  try {
    const page = ada.page;
    await page.fill('#new-tablo input[name=title]', 'Fast talkers');
    await page.click('#new-tablo button[type=submit]');
    await expect(page).toHaveURL(/\/tablos\/\d+\/discussion$/);
    await expect(page.locator('#live-status')).toHaveAttribute('data-state', 'live');

    const textarea = page.locator('#composer textarea[name=body]');
    for (let i = 1; i <= LIMIT; i++) {
      await textarea.fill(`message ${i}`);
      await textarea.press('Enter');
      await expect(page.locator('#messages .message')).toHaveCount(i);
    }
    await textarea.fill('one message too many');
    await textarea.press('Enter');
    await expect(page.locator('#composer-error')).toContainText(/posting too fast/i);
    await expect(textarea).toHaveValue('one message too many');
    await expect(textarea).toHaveAttribute('aria-invalid', 'true');
    await expect(page.locator('#messages .message')).toHaveCount(LIMIT);
  } finally {
    await ada.context.close();
  }
});
