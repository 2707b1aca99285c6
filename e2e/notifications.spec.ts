import { addMember, createTablo, expect, openDiscussion, registerInBrowser, send, test } from './support/fixtures.ts';

test('the bell cycles all → mentions only → off → all, and keeps the choice', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  const tabloId = await createTablo(ada.page, 'Bell room');
  const bell = ada.page.locator('#notification-level');
  await expect(bell).toHaveAttribute('data-level', 'all');
  for (const level of ['mentions', 'none', 'all', 'mentions']) {
    await bell.locator('button[type=submit]').click();
    await expect(bell).toHaveAttribute('data-level', level);
  }
  // htmx swapped the bell in place: the page did not reload.
  await expect(ada.page).toHaveURL(new RegExp(`/tablos/${tabloId}/discussion$`));
  await ada.page.reload();
  await expect(ada.page.locator('#notification-level')).toHaveAttribute('data-level', 'mentions');
});

test('the manifest and the service worker are served with their types; pages link the manifest', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  await expect(ada.page.locator('link[rel=manifest]')).toHaveAttribute('href', '/manifest.webmanifest');
  const manifest = await ada.page.request.get('/manifest.webmanifest');
  expect(manifest.status()).toBe(200);
  expect(manifest.headers()['content-type']).toMatch(/^application\/manifest\+json/);
  const body = (await manifest.json()) as { name: string; start_url: string; display: string; icons: { src: string; type: string }[] };
  expect(body.name).toBe('Tablo');
  expect(body.display).toBe('standalone');
  expect(body.start_url).toBe('/tablos');
  for (const icon of body.icons) {
    const served = await ada.page.request.get(icon.src);
    expect(served.status()).toBe(200);
    expect(served.headers()['content-type']).toContain(icon.type);
  }
  const worker = await ada.page.request.get('/sw.js');
  expect(worker.status()).toBe(200);
  expect(worker.headers()['content-type']).toMatch(/^(text|application)\/javascript/);
});

test('"Turn on notifications" asks for permission only when pressed', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  await ada.context.addInitScript(() => {
    const w = window as unknown as { asked: number };
    w.asked = 0;
    const ask = Notification.requestPermission.bind(Notification);
    Notification.requestPermission = () => {
      w.asked++;
      return ask();
    };
  });
  const tabloId = await createTablo(ada.page, 'Quiet room');
  await openDiscussion(ada.page, tabloId);
  const button = ada.page.locator('#notifications-enable');
  await expect(button).toBeVisible();
  await ada.page.waitForTimeout(500);
  expect(await ada.page.evaluate(() => (window as unknown as { asked: number }).asked)).toBe(0);
  await button.click();
  await expect.poll(() => ada.page.evaluate(() => (window as unknown as { asked: number }).asked)).toBe(1);
});

test('a hidden tab is not here, and shows a desktop notification for a new message; visible again, it is here', async ({ browser, server, newPerson }) => {
  const ada = await newPerson('Ada');
  const bob = await registerInBrowser(browser, server.url, 'Bob');
  try {
    await bob.context.grantPermissions(['notifications']);
    // The tab's visibility is the test's to set, and the page's notifications are recorded.
    await bob.context.addInitScript(() => {
      let hidden = false;
      Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => hidden });
      Object.defineProperty(Document.prototype, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
      const w = window as unknown as { setHidden: (h: boolean) => void; shown: { title: string; body?: string; tag?: string }[] };
      w.setHidden = (h) => {
        hidden = h;
        document.dispatchEvent(new Event('visibilitychange'));
      };
      w.shown = [];
      const Real = window.Notification;
      class Recorded extends Real {
        constructor(title: string, options?: NotificationOptions) {
          super(title, options);
          w.shown.push({ title, body: options?.body, tag: options?.tag });
        }
      }
      window.Notification = Recorded;
    });
    const tabloId = await createTablo(ada.page, 'Night shift');
    await addMember(ada.page, tabloId, bob);
    await openDiscussion(ada.page, tabloId);
    await openDiscussion(bob.page, tabloId);
    const bobHere = ada.page.locator(`#presence [data-user-id]`).filter({ hasText: 'Bob' });
    await expect(bobHere).toHaveCount(1);

    await bob.page.evaluate(() => (window as unknown as { setHidden: (h: boolean) => void }).setHidden(true));
    await expect(bobHere).toHaveCount(0);
    await expect(bob.page.locator('#live-status')).toHaveAttribute('data-state', 'live');
    await send(ada.page, 'Anyone awake?');
    await expect
      .poll(() => bob.page.evaluate(() => (window as unknown as { shown: { title: string; body?: string }[] }).shown))
      .toEqual([{ title: 'Ada in Night shift', body: 'Anyone awake?', tag: expect.stringMatching(new RegExp(`^tablo-${tabloId}-\\d+$`)) }]);
    await expect(bob.page.locator('#messages .message-body').last()).toHaveText('Anyone awake?');

    await bob.page.evaluate(() => (window as unknown as { setHidden: (h: boolean) => void }).setHidden(false));
    await expect(bobHere).toHaveCount(1);
    await send(ada.page, 'Good, you are here');
    await expect(bob.page.locator('#messages .message-body').last()).toHaveText('Good, you are here');
    expect(await bob.page.evaluate(() => (window as unknown as { shown: unknown[] }).shown.length)).toBe(1);
  } finally {
    await bob.context.close();
  }
});
