import type { Page } from '@playwright/test';
import { expect, test } from './support/fixtures.ts';

async function createTablo(page: Page, title: string): Promise<string> {
  await page.goto('/tablos');
  await page.fill('#new-tablo input[name=title]', title);
  await page.click('#new-tablo button[type=submit]');
  await expect(page).toHaveURL(/\/tablos\/\d+\/discussion$/);
  return new URL(page.url()).pathname;
}

async function openDiscussion(page: Page, path: string): Promise<void> {
  await page.goto(path);
  await expect(page.locator('#live-status')).toHaveAttribute('data-state', 'live');
}

async function send(page: Page, text: string): Promise<void> {
  await page.fill('#composer textarea[name=body]', text);
  await page.keyboard.press('Enter');
}

test('a message posted in one tab appears once in the other, and the composer clears', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  const discussion = await createTablo(ada.page, 'Two tabs');
  const second = await ada.context.newPage();
  await openDiscussion(ada.page, discussion);
  await openDiscussion(second, discussion);

  await ada.page.locator('#composer textarea').focus();
  await send(ada.page, 'Hello from tab one');
  await expect(second.locator('#messages .message-body')).toHaveText(['Hello from tab one'], { timeout: 2_000 });
  await expect(ada.page.locator('#messages .message-body')).toHaveText(['Hello from tab one']);
  await expect(ada.page.locator('#composer textarea')).toHaveValue('');
  await expect(ada.page.locator('#composer textarea')).toBeFocused();
  await expect(ada.page.locator('#messages .message').first()).toHaveClass(/mine/);

  // Shift+Enter makes a new line instead of sending.
  await ada.page.locator('#composer textarea').pressSequentially('line one');
  await ada.page.keyboard.press('Shift+Enter');
  await ada.page.locator('#composer textarea').pressSequentially('line two');
  await expect(ada.page.locator('#composer textarea')).toHaveValue('line one\nline two');
  await ada.page.keyboard.press('Enter');
  await expect(second.locator('#messages .message-body').nth(1)).toHaveText('line one\nline two');
  await expect(ada.page.locator('#messages .message')).toHaveCount(2);
});

test('a burst of ten messages keeps its order in every tab, one copy each', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  const discussion = await createTablo(ada.page, 'Burst');
  const second = await ada.context.newPage();
  await openDiscussion(ada.page, discussion);
  await openDiscussion(second, discussion);

  const texts = Array.from({ length: 10 }, (_, i) => `burst ${i + 1}`);
  for (const text of texts) await send(ada.page, text);

  for (const page of [ada.page, second]) {
    await expect(page.locator('#messages .message-body')).toHaveText(texts);
    const seqs = await page.locator('#messages .message').evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.seq)));
    expect(seqs).toEqual(texts.map((_, i) => i + 1));
  }
});

test('a blank message is refused with a reason and an over-long one keeps its text', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  const discussion = await createTablo(ada.page, 'Errors');
  await openDiscussion(ada.page, discussion);
  const long = 'x'.repeat(5001);
  await ada.page.fill('#composer textarea', long);
  await ada.page.click('#composer button[type=submit]');
  await expect(ada.page.locator('#composer-error')).toContainText('at most 5,000 characters');
  await expect(ada.page.locator('#composer textarea')).toHaveValue(long);
  await expect(ada.page.locator('#messages .message')).toHaveCount(0);
});

test('after a server restart the tab goes offline, then live, and shows what was posted meanwhile once', async ({ newPerson, server, browser }) => {
  const ada = await newPerson('Ada');
  const discussion = await createTablo(ada.page, 'Restart');
  await openDiscussion(ada.page, discussion);
  await send(ada.page, 'before the restart');
  await expect(ada.page.locator('#messages .message')).toHaveCount(1);

  // A second person's browser (same account) posts while the first tab is cut off.
  const other = await browser.newContext({ baseURL: server.url });
  const poster = await other.newPage();
  await poster.goto('/login');
  await poster.fill('#login input[name=email]', ada.email);
  await poster.fill('#login input[name=password]', ada.password);
  await poster.click('#login button[type=submit]');
  await expect(poster).toHaveURL(/\/tablos$/);

  await server.stop();
  await expect(ada.page.locator('#live-status')).toHaveAttribute('data-state', 'offline');
  await server.launch();
  await poster.goto(discussion);
  await send(poster, 'while you were away 1');
  await send(poster, 'while you were away 2');
  await expect(poster.locator('#messages .message')).toHaveCount(3);

  await expect(ada.page.locator('#live-status')).toHaveAttribute('data-state', 'live', { timeout: 20_000 });
  await expect(ada.page.locator('#messages .message-body')).toHaveText([
    'before the restart',
    'while you were away 1',
    'while you were away 2',
  ]);
  await other.close();
});

test('the composer works without JavaScript', async ({ newPerson, browser, server }) => {
  const ada = await newPerson('Ada');
  const discussion = await createTablo(ada.page, 'No script');
  const context = await browser.newContext({ baseURL: server.url, javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/login');
  await page.fill('#login input[name=email]', ada.email);
  await page.fill('#login input[name=password]', ada.password);
  await page.click('#login button[type=submit]');
  await page.goto(discussion);
  await page.fill('#composer textarea[name=body]', 'posted without script');
  await page.click('#composer button[type=submit]');
  await expect(page).toHaveURL(/\/discussion#message-\d+$/);
  await expect(page.locator('#messages .message-body')).toHaveText(['posted without script']);
  await context.close();
});

test('"load older" keeps what the reader sees in place; a new message while reading older ones shows a pill', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  const discussion = await createTablo(ada.page, 'History');
  await ada.page.goto(discussion);
  // 70 messages through the real route, as htmx would send them.
  await ada.page.evaluate(async (path) => {
    const token = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')!.content;
    for (let i = 1; i <= 70; i++) {
      await fetch(`${path}/messages`, {
        method: 'POST',
        headers: { 'HX-Request': 'true', 'X-CSRF-Token': token, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ body: `message ${i}` }),
      });
    }
  }, discussion);
  await openDiscussion(ada.page, discussion);
  const messages = ada.page.locator('#messages .message');
  await expect(messages).toHaveCount(50);
  await expect(messages.first()).toHaveAttribute('data-seq', '21');

  const scroller = ada.page.locator('#message-scroller');
  await scroller.evaluate((el) => (el.scrollTop = 0));
  // The text of the message the reader was looking at stays put. (Its header may fold away: with
  // the message before it loaded, it joins that message's group.)
  const anchor = ada.page.locator('#messages .message[data-seq="21"] .message-body');
  const before = (await anchor.boundingBox())!.y;
  await ada.page.getByRole('link', { name: 'Load older messages' }).click();
  await expect(messages).toHaveCount(70);
  await expect(messages.first()).toHaveAttribute('data-seq', '1');
  await expect(ada.page.locator('#load-older')).toContainText('beginning of the discussion');
  expect(Math.abs((await anchor.boundingBox())!.y - before)).toBeLessThan(4);

  // Reading older messages: a new one does not pull the view down, a pill offers to.
  const other = await ada.context.newPage();
  await openDiscussion(other, discussion);
  await send(other, 'news while you read');
  await expect(messages).toHaveCount(71);
  await expect(ada.page.locator('#new-messages-pill')).toBeVisible();
  expect(Math.abs((await anchor.boundingBox())!.y - before)).toBeLessThan(4);
  await ada.page.locator('#new-messages-pill').click();
  await expect(ada.page.locator('#new-messages-pill')).toBeHidden();
  await expect(ada.page.locator('#messages .message').last()).toBeInViewport();
});
