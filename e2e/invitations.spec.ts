import type { Page } from '@playwright/test';
import { createTablo, expect, type Person, test } from './support/fixtures.ts';

/** A new tablo (created from /tablos), then its own page. */
async function createTabloPage(page: Page, title: string): Promise<number> {
  const id = await createTablo(page, title);
  await page.goto(`/tablos/${id}`);
  await expect(page.locator('#personal-stream')).toHaveAttribute('data-state', 'live');
  return id;
}

const userId = async (person: Person) => Number(await person.page.locator('meta[name="current-user-id"]').getAttribute('content'));

test('an invitation appears live on the invitee’s /tablos, in their own browser, and is accepted there', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  const bob = await newPerson('Bob');
  const bobId = await userId(bob);

  // Bob waits on /tablos with its stream connected; a marker tells whether the page reloads.
  await bob.page.goto('/tablos');
  await expect(bob.page.locator('#personal-stream')).toHaveAttribute('data-state', 'live');
  await bob.page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));

  const tablo = await createTabloPage(ada.page, 'Garden club');
  await ada.page.fill('#add-member input[name=email]', bob.email);
  await ada.page.click('#add-member button[type=submit]');
  await expect(ada.page.locator('#invitations li')).toHaveText(new RegExp(bob.email.replace(/\./g, '\\.')));
  await expect(ada.page.locator(`#members li[data-user-id="${bobId}"]`)).toHaveCount(0); // not without his consent

  // It arrives on Bob's page without a reload: the tablo's title and who invited him.
  const invitation = bob.page.locator('li[id^="invitation-"]');
  await expect(invitation).toHaveCount(1);
  await expect(invitation).toContainText('Garden club');
  await expect(invitation).toContainText('Ada');
  expect(await bob.page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed)).toBe(true);
  const invitationId = (await invitation.getAttribute('id'))!.replace('invitation-', '');
  await expect(invitation.locator(`form[action="/invitations/${invitationId}/decline"]`)).toHaveCount(1);

  await invitation.locator(`form[action="/invitations/${invitationId}/accept"] button[type=submit]`).click();
  await expect(bob.page).toHaveURL(new RegExp(`/tablos/${tablo}$`));
  await expect(bob.page.locator('h1')).toHaveText('Garden club');
  await expect(bob.page.locator(`#members li[data-user-id="${bobId}"]`)).toContainText('Bob');

  // Ada's page follows: Bob is a member, nothing is pending.
  await expect(ada.page.locator(`#members li[data-user-id="${bobId}"]`)).toContainText('Bob');
  await expect(ada.page.locator('#invitations li')).toHaveCount(0);

  // And he can talk there.
  await bob.page.click(`a[href="/tablos/${tablo}/discussion"]`);
  await expect(bob.page.locator('#live-status')).toHaveAttribute('data-state', 'live');
});

test('a newcomer opens a join link, registers through it, and lands in the discussion', async ({ newPerson, browser, server }) => {
  const ada = await newPerson('Ada');
  const tablo = await createTabloPage(ada.page, 'Open house');
  await ada.page.getByRole('button', { name: 'Make a join link' }).click();
  const link = await ada.page.locator('#invite-link').inputValue();
  expect(link).toMatch(new RegExp(`^${server.url.replace(/[.]/g, '\\.')}/join/[A-Za-z0-9_-]{22,}$`));

  // Someone with no account yet, in a browser of their own.
  const context = await browser.newContext({ baseURL: server.url });
  try {
    const page = await context.newPage();
    await page.goto(link);
    await expect(page).toHaveURL(/\/login\?next=/);
    await page.getByRole('link', { name: 'Create an account' }).click();
    await expect(page).toHaveURL(/\/register\?next=/);
    await page.fill('#register input[name=email]', `nina.${Date.now()}@example.test`);
    await page.fill('#register input[name=name]', 'Nina');
    await page.fill('#register input[name=password]', 'correct horse battery');
    await page.click('#register button[type=submit]');

    // Back at the link: one click to join.
    await expect(page).toHaveURL(link);
    await expect(page.locator('h1')).toContainText('Open house');
    await page.click('#join button[type=submit]');
    await expect(page).toHaveURL(new RegExp(`/tablos/${tablo}/discussion$`));
    await expect(page.locator('#live-status')).toHaveAttribute('data-state', 'live');

    // Ada sees her arrive, live; and what Nina writes reaches Ada's discussion.
    await expect(ada.page.locator('#members li', { hasText: 'Nina' })).toHaveCount(1);
    await ada.page.goto(`/tablos/${tablo}/discussion`);
    await expect(ada.page.locator('#live-status')).toHaveAttribute('data-state', 'live');
    await page.fill('#composer textarea[name=body]', 'Hello, I came by the link');
    await page.keyboard.press('Enter');
    await expect(ada.page.locator('#messages .message-body')).toHaveText(['Hello, I came by the link']);
  } finally {
    await context.close();
  }
});
