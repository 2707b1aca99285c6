import type { Browser, Page } from '@playwright/test';
import { createTablo, expect, openDiscussion, type Person, test } from './support/fixtures.ts';

/** The same person in another browser (a second session). */
async function signInElsewhere(browser: Browser, baseURL: string, person: Person): Promise<Page> {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  await page.goto('/login');
  await page.fill('#login input[name=email]', person.email);
  await page.fill('#login input[name=password]', person.password);
  await page.click('#login button[type=submit]');
  await expect(page).toHaveURL(/\/tablos$/);
  return page;
}

test('name and handle change in place with htmx; a taken handle says so', async ({ newPerson }) => {
  const ada = await newPerson('Ada Lovelace');
  const bob = await newPerson('Bob');
  await ada.page.click('header a[href="/settings"]');
  await expect(ada.page).toHaveURL(/\/settings$/);
  await expect(ada.page.locator('#current-handle')).toHaveText('@ada-lovelace');
  await ada.page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));

  await ada.page.fill('#change-name input[name=name]', 'Countess Ada');
  await ada.page.click('#change-name button[type=submit]');
  await expect(ada.page.locator('#profile [role=status]')).toHaveText('Your name is saved.');
  await expect(ada.page.locator('#account-name')).toHaveText('Countess Ada');

  await ada.page.fill('#change-handle input[name=handle]', 'bob');
  await ada.page.click('#change-handle button[type=submit]');
  await expect(ada.page.locator('#handle-error')).toHaveText('@bob is taken. Try another.');
  await ada.page.fill('#change-handle input[name=handle]', 'countess');
  await ada.page.click('#change-handle button[type=submit]');
  await expect(ada.page.locator('#current-handle')).toHaveText('@countess');
  expect(await ada.page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed)).toBe(true);
  void bob;
});

test('a password change signs the other browser out at once and keeps this one live', async ({ newPerson, browser, server }) => {
  const ada = await newPerson('Ada');
  const tablo = await createTablo(ada.page, 'Password change');
  const elsewhere = await signInElsewhere(browser, server.url, ada);
  await openDiscussion(elsewhere, tablo);
  // Another tab of this browser keeps reading through the change.
  const otherTab = await ada.context.newPage();
  await openDiscussion(otherTab, tablo);

  await ada.page.goto('/settings/sessions');
  await expect(ada.page.locator('li.session')).toHaveCount(2);
  await ada.page.goto('/settings');
  await ada.page.fill('#change-password input[name=current_password]', ada.password);
  await ada.page.fill('#change-password input[name=new_password]', 'a brand new passphrase');
  await ada.page.click('#change-password button[type=submit]');
  await expect(ada.page).toHaveURL(/\/settings\?saved=password$/);
  await expect(ada.page.locator('main .settings > [role=status]')).toContainText('Your password is changed');

  await expect(elsewhere.locator('#live-status')).toHaveAttribute('data-ended', 'signed-out', { timeout: 10_000 });
  await expect(otherTab.locator('#live-status')).toHaveAttribute('data-state', 'live', { timeout: 10_000 });
  // It hears what is posted after the change (from a page that carries the renewed CSRF token).
  await openDiscussion(ada.page, tablo);
  await ada.page.fill('#composer textarea[name=body]', 'still here after the change');
  await ada.page.keyboard.press('Enter');
  await expect(otherTab.locator('#messages .message-body').last()).toHaveText('still here after the change');
  await expect(otherTab.locator('#live-status')).toHaveAttribute('data-state', 'live');
  await expect(elsewhere.locator('#messages .message-body')).toHaveCount(0);

  await ada.page.goto('/settings/sessions');
  await expect(ada.page.locator('li.session')).toHaveCount(1);
  await elsewhere.context().close();
});
