import type { Page } from '@playwright/test';
import pg from 'pg';
import { addMember, createTablo, expect, openDiscussion, type Person, send, test } from './support/fixtures.ts';

const PHONE = { width: 390, height: 844 };

/** Posts through the real route as htmx would, from a page of the tablo that holds the CSRF token. */
async function postAll(page: Page, tabloId: number, bodies: string[]): Promise<void> {
  await page.evaluate(
    async ({ path, bodies }) => {
      const token = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')!.content;
      for (const body of bodies) {
        const response = await fetch(path, {
          method: 'POST',
          headers: { 'HX-Request': 'true', 'X-CSRF-Token': token, 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ body }),
        });
        if (response.status !== 201) throw new Error(`posting answered ${response.status}`);
      }
    },
    { path: `/tablos/${tabloId}/discussion/messages`, bodies },
  );
}

async function inDatabase(url: string, work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

const horizontalOverflow = (page: Page) =>
  page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));

async function expectNoSidewaysScroll(page: Page, path: string): Promise<void> {
  await page.goto(path);
  const { scrollWidth, innerWidth } = await horizontalOverflow(page);
  expect(scrollWidth, `${path} is ${scrollWidth} px wide in ${innerWidth}`).toBeLessThanOrEqual(innerWidth);
}

test('on a 390 px phone no page scrolls sideways, long words and code included', async ({ newPerson, browser, server }) => {
  const visitor = await browser.newContext({ baseURL: server.url, viewport: PHONE });
  const signedOut = await visitor.newPage();
  await expectNoSidewaysScroll(signedOut, '/login');
  await expectNoSidewaysScroll(signedOut, '/register');
  await visitor.close();

  const ada = await newPerson('Ada');
  await ada.page.setViewportSize(PHONE);
  const tablo = await createTablo(ada.page, `A${'very'.repeat(25)}longtitle`);
  await postAll(ada.page, tablo, [
    `Unbroken: ${'x'.repeat(600)}`,
    `\`\`\`\nconst line = "${'y'.repeat(400)}";\n\`\`\``,
    `https://example.com/${'z'.repeat(300)}`,
    `\`${'inline'.repeat(60)}\``,
    `> ${'q'.repeat(300)}\n\n- ${'l'.repeat(300)}`,
  ]);
  await expectNoSidewaysScroll(ada.page, '/tablos');
  await expectNoSidewaysScroll(ada.page, `/tablos/${tablo}`);
  await expectNoSidewaysScroll(ada.page, `/tablos/${tablo}/discussion`);
  await expect(ada.page.locator('#messages .message')).toHaveCount(5);
  // The code block scrolls inside itself rather than widening the page.
  const code = ada.page.locator('#messages pre').first();
  const { scrollWidth, clientWidth } = await code.evaluate((el) => ({ scrollWidth: el.scrollWidth, clientWidth: el.clientWidth }));
  expect(scrollWidth).toBeGreaterThan(clientWidth);
  await expect(code).toHaveCSS('font-family', /mono/i);
});

test('messages group by author within five minutes, under a line for each day, live too', async ({ newPerson, server }) => {
  const ada = await newPerson('Ada');
  const bob = await newPerson('Bob');
  const tablo = await createTablo(ada.page, 'Days');
  await addMember(ada.page, tablo, bob);
  await ada.page.goto(`/tablos/${tablo}/discussion`);
  await postAll(ada.page, tablo, ['from yesterday', 'first today', 'second today']);
  await inDatabase(server.databaseUrl, (db) =>
    db.query(`UPDATE messages SET created_at = created_at - interval '1 day' WHERE tablo_id = $1 AND seq = 1`, [tablo]),
  );

  await openDiscussion(ada.page, tablo);
  await openDiscussion(bob.page, tablo);
  for (const page of [ada.page, bob.page]) {
    await expect(page.locator('#messages > .day-separator')).toHaveText(['Yesterday', 'Today']);
    await expect(page.locator('#messages > *')).toHaveClass([/day-separator/, /message/, /day-separator/, /message/, /message/]);
    const [yesterday, first, second] = await page.locator('#messages .message').all();
    await expect(yesterday!).not.toHaveClass(/message--continued/);
    await expect(first!).not.toHaveClass(/message--continued/); // a new day starts a new group
    await expect(second!).toHaveClass(/message--continued/);
    // The continued message keeps its author and time, out of sight.
    await expect(second!.locator('.message-author')).toHaveText('Ada');
    await expect(second!.locator('time[datetime]')).toHaveCount(1);
    expect((await second!.locator('.message-meta').boundingBox())?.height ?? 0).toBeLessThanOrEqual(1);
    expect((await first!.locator('.message-author').boundingBox())?.height ?? 0).toBeGreaterThan(5);
  }

  // Live: Ada again joins her group; Bob starts his own; still one line for today.
  await send(ada.page, 'third today');
  await expect(bob.page.locator('#messages .message')).toHaveCount(4);
  await expect(bob.page.locator('#messages .message').last()).toHaveClass(/message--continued/);
  await send(bob.page, 'Bob here');
  await expect(ada.page.locator('#messages .message')).toHaveCount(5);
  await expect(ada.page.locator('#messages .message').last()).not.toHaveClass(/message--continued/);
  await expect(ada.page.locator('#messages > .day-separator')).toHaveText(['Yesterday', 'Today']);
  // Day lines and groups are the browser's: the articles stay the only children with data-seq.
  await expect(ada.page.locator('#messages > [data-seq]')).toHaveCount(5);
  await expect(ada.page.locator('#messages > article')).toHaveCount(5);
});

test('"New since you left" marks the first message that came while away, with a jump to it', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  const bob = await newPerson('Bob');
  const tablo = await createTablo(ada.page, 'While away');
  await addMember(ada.page, tablo, bob);
  await ada.page.goto(`/tablos/${tablo}/discussion`);
  await postAll(ada.page, tablo, ['seen 1', 'seen 2']);
  await openDiscussion(bob.page, tablo);
  await expect(bob.page.locator('#unread-line')).toHaveCount(0); // everything was new: no line on a first visit
  await bob.page.goto('/tablos');

  await postAll(ada.page, tablo, Array.from({ length: 40 }, (_, i) => `new ${i + 1}`));
  await openDiscussion(bob.page, tablo);
  const line = bob.page.locator('#unread-line');
  await expect(line).toHaveText('New since you left');
  await expect(bob.page.locator('#unread-line + article .message-body')).toHaveText('new 1');
  await expect(bob.page.locator('#messages > article').nth(1)).toContainText('seen 2');

  // The list opens at the newest; the jump brings the line into view.
  const jump = bob.page.locator('#unread-jump');
  await expect(jump).toBeVisible();
  await expect(line).not.toBeInViewport();
  await jump.click();
  await expect(line).toBeInViewport();
  await expect(jump).toHaveCount(0);

  // What arrives while reading is not "since you left": the line stays where it is.
  await send(ada.page, 'live one');
  await expect(bob.page.locator('#messages .message').last()).toContainText('live one');
  await expect(bob.page.locator('#unread-line + article .message-body')).toHaveText('new 1');
  await expect(line).toHaveCount(1);

  // And Bob's own avatar leaves the presence list when his access ends.
  const bobId = await bob.page.locator('meta[name="current-user-id"]').getAttribute('content');
  await expect(bob.page.locator(`#presence [data-user-id="${bobId}"]`)).toHaveCount(1);
  await ada.page.goto(`/tablos/${tablo}`);
  await ada.page.click(`#members li[data-user-id="${bobId}"] .remove-member button[type=submit]`);
  await expect(bob.page.locator('#live-status')).toHaveText('Your access to this tablo has ended');
  await expect(bob.page.locator(`#presence [data-user-id="${bobId}"]`)).toHaveCount(0);
});

test('Markdown posted in one context shows rendered, live, in another', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  const bob = await newPerson('Bob');
  const tablo = await createTablo(ada.page, 'Formatting');
  await addMember(ada.page, tablo, bob);
  await openDiscussion(ada.page, tablo);
  await openDiscussion(bob.page, tablo);

  const rocket = 'https://en.wikipedia.org/wiki/Rocket_(disambiguation)';
  await ada.page.fill('#composer textarea[name=body]', `**Launch** is *on*: \`npm start\`, see ${rocket} (or https://x.test/z).`);
  await ada.page.keyboard.press('Shift+Enter');
  await ada.page.keyboard.type('> quoted <script>alert(1)</script>');
  await ada.page.keyboard.press('Enter');

  const body = bob.page.locator('#messages .message').last().locator('.message-body');
  await expect(body.locator('strong')).toHaveText('Launch');
  await expect(body.locator('em')).toHaveText('on');
  await expect(body.locator('code')).toHaveText('npm start');
  await expect(body.locator('a')).toHaveCount(2);
  await expect(body.locator('a').first()).toHaveAttribute('href', rocket);
  await expect(body.locator('a').first()).toHaveText(rocket);
  await expect(body.locator('a').first()).toHaveAttribute('target', '_blank');
  await expect(body.locator('a').nth(1)).toHaveAttribute('href', 'https://x.test/z');
  await expect(body).toContainText('(or https://x.test/z).');
  await expect(body.locator('blockquote')).toHaveText('quoted <script>alert(1)</script>');
  await expect(body.locator('script')).toHaveCount(0);

  await send(bob.page, '🎉');
  await expect(ada.page.locator('#messages .message').last().locator('.message-body')).toHaveClass(/message-body--emoji/);
});

test('keyboard: a skip link to the composer, and Shift+Tab from the composer stays where the reader is', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  const tablo = await createTablo(ada.page, 'Keys');
  await postAll(ada.page, tablo, Array.from({ length: 60 }, (_, i) => `line ${i + 1}`));
  await openDiscussion(ada.page, tablo);
  const scroller = ada.page.locator('#message-scroller');
  await expect(ada.page.locator('#messages .message').last()).toBeInViewport();
  const bottom = await scroller.evaluate((el) => el.scrollTop);
  expect(bottom).toBeGreaterThan(0);

  await ada.page.locator('#composer-body').focus();
  await ada.page.keyboard.press('Shift+Tab');
  await expect(scroller).toBeFocused();
  expect(await scroller.evaluate((el) => el.scrollTop)).toBe(bottom);
  await expect(ada.page.locator('#messages .message').last()).toBeInViewport();

  // The first stop on a page is its skip link, shown once focused.
  await ada.page.goto('/tablos');
  await ada.page.keyboard.press('Tab');
  const skipToContent = ada.page.locator('.skip-link');
  await expect(skipToContent).toBeFocused();
  await expect(skipToContent).toHaveText('Skip to content');
  await expect(skipToContent).toBeInViewport();
  await ada.page.keyboard.press('Enter');
  await expect(ada.page.locator('main#main')).toBeFocused();

  // On a discussion it leads to the composer.
  await ada.page.goto(`/tablos/${tablo}/discussion`);
  const skip = ada.page.locator('.skip-link');
  await expect(skip).toHaveText('Skip to composer');
  await ada.page.locator('#message-scroller').focus();
  await skip.focus();
  await expect(skip).toBeInViewport();
  await ada.page.keyboard.press('Enter');
  await expect(ada.page.locator('#composer-body')).toBeFocused();
});

test('without JavaScript the discussion opens at the newest message, and "load older" works', async ({ newPerson, browser, server }) => {
  const ada = await newPerson('Ada');
  const tablo = await createTablo(ada.page, 'Plain');
  await postAll(ada.page, tablo, Array.from({ length: 60 }, (_, i) => `plain ${i + 1}`));
  const context = await browser.newContext({ baseURL: server.url, javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/login');
  await page.fill('#login input[name=email]', ada.email);
  await page.fill('#login input[name=password]', ada.password);
  await page.click('#login button[type=submit]');
  await page.goto(`/tablos/${tablo}/discussion`);

  await expect(page.locator('#live-status')).toHaveText('Live updates need JavaScript: reload to see new messages');
  await expect(page.locator('#messages .message-body').last()).toHaveText('plain 60');
  await expect(page.locator('#messages .message').last()).toBeInViewport();
  await expect(page.locator('#messages .message').first()).not.toBeInViewport();

  await page.click('text=Load older messages');
  await expect(page).toHaveURL(new RegExp(`/tablos/${tablo}/discussion\\?before=11$`));
  await expect(page.locator('#messages .message-body')).toHaveText(Array.from({ length: 10 }, (_, i) => `plain ${i + 1}`));
  await expect(page.getByText('This is the beginning of the discussion.')).toBeVisible();
  await page.click('text=Back to the latest');
  await expect(page).toHaveURL(new RegExp(`/tablos/${tablo}/discussion$`));
  await expect(page.locator('#messages .message')).toHaveCount(50);
  await context.close();
});
