import type { Page } from '@playwright/test';
import { createTablo, expect, type Person, test } from './support/fixtures.ts';

/** A new tablo (created from /tablos), then its own page. */
async function createTabloPage(page: Page, title: string): Promise<number> {
  const id = await createTablo(page, title);
  await page.goto(`/tablos/${id}`);
  return id;
}

async function openDiscussion(page: Page, tabloId: number): Promise<void> {
  await page.goto(`/tablos/${tabloId}/discussion`);
  await expect(page.locator('#live-status')).toHaveAttribute('data-state', 'live');
}

async function send(page: Page, text: string): Promise<void> {
  await page.fill('#composer textarea[name=body]', text);
  await page.keyboard.press('Enter');
}

/** /tablos with its own stream connected, so that what happens next reaches it live. */
async function openHome(page: Page): Promise<void> {
  await page.goto('/tablos');
  await expect(page.locator('#personal-stream')).toHaveAttribute('data-state', 'live');
}

/** On a /tablos page, the person accepts the invitation to this tablo and lands on its page. */
async function acceptInvitation(page: Page, title: string, tabloId: number): Promise<void> {
  const invitation = page.locator('li[id^="invitation-"]', { hasText: title });
  await invitation.getByRole('button', { name: 'Accept' }).click();
  await expect(page).toHaveURL(new RegExp(`/tablos/${tabloId}$`));
}

const userId = async (person: Person) => person.page.locator('meta[name="current-user-id"]').getAttribute('content');

test('two people: adding, live unread on /tablos and in the tab title, presence, and removal ending the other’s discussion', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  const bob = await newPerson('Bob');
  const [adaId, bobId] = [await userId(ada), await userId(bob)];

  // Bob waits on /tablos, with nothing yet; a marker tells whether the page reloads.
  await openHome(bob.page);
  await expect(bob.page.locator('#tablo-home')).toContainText('No tablos yet');
  await bob.page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));

  // Ada creates a tablo and invites Bob by his email, on the tablo page (htmx answers the list).
  const tablo = await createTabloPage(ada.page, 'Weekend plans');
  await expect(ada.page.locator('#personal-stream')).toHaveAttribute('data-state', 'live');
  await ada.page.fill('#add-member input[name=email]', bob.email);
  await ada.page.click('#add-member button[type=submit]');
  await expect(ada.page.locator('#invitations li')).toContainText(bob.email);
  await expect(ada.page.locator('#add-member input[name=email]')).toHaveValue('');

  // Bob's /tablos shows the invitation live; he accepts it in another tab, and Ada sees him join.
  const invitation = bob.page.locator('li[id^="invitation-"]');
  await expect(invitation).toContainText('Weekend plans');
  const bobsOtherTab = await bob.context.newPage();
  await bobsOtherTab.goto('/tablos');
  await acceptInvitation(bobsOtherTab, 'Weekend plans', tablo);
  await bobsOtherTab.close();
  await expect(ada.page.locator(`#members li[data-user-id="${bobId}"]`)).toContainText('Bob');
  await expect(ada.page.locator('#invitations li')).toHaveCount(0);
  await expect(invitation).toHaveCount(0);

  // Bob's /tablos shows it without a reload, with nothing unread.
  const item = bob.page.locator(`li#tablo-${tablo}`);
  await expect(item).toContainText('Weekend plans');
  await expect(item.locator(`a[href="/tablos/${tablo}"]`)).toBeVisible();
  await expect(item.locator('.unread-count')).toBeHidden();
  await expect(bob.page).toHaveTitle('Your tablos · Tablo');

  // Ada talks; Bob's count rises live, and his tab's title with it.
  await openDiscussion(ada.page, tablo);
  await send(ada.page, 'Hello Bob');
  await expect(item.locator('.unread-count')).toHaveText('1');
  await expect(bob.page).toHaveTitle('(1) Your tablos · Tablo');
  await send(ada.page, 'Are you free on Saturday?');
  await expect(item.locator('.unread-count')).toHaveText('2');
  await expect(bob.page).toHaveTitle('(2) Your tablos · Tablo');
  await expect(bob.page.locator('#latest-messages')).toContainText('Are you free on Saturday?');
  await expect(bob.page.locator('#figure-online')).toHaveText('1'); // Ada, in the discussion
  expect(await bob.page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed)).toBe(true); // all live, no reload

  // Bob opens the discussion in a second tab: he reads both messages, and sees Ada and himself here.
  const bobsDiscussion = await bob.context.newPage();
  await openDiscussion(bobsDiscussion, tablo);
  await expect(bobsDiscussion.locator('#messages .message-body')).toHaveText(['Hello Bob', 'Are you free on Saturday?']);
  await expect(bobsDiscussion).toHaveTitle('Weekend plans · Tablo');
  for (const page of [ada.page, bobsDiscussion]) {
    await expect(page.locator(`#presence [data-user-id="${adaId}"]`)).toHaveCount(1);
    await expect(page.locator(`#presence [data-user-id="${bobId}"]`)).toHaveCount(1);
  }
  // /tablos, still open in the first tab, clears the count when Bob arrives in the discussion;
  // and so does /tablos loaded again.
  await expect(item.locator('.unread-count')).toBeHidden();
  await expect(bob.page).toHaveTitle('Your tablos · Tablo');
  await openHome(bob.page);
  await expect(item.locator('.unread-count')).toBeHidden();
  await expect(bob.page).toHaveTitle('Your tablos · Tablo');

  // A message that arrives while Bob's discussion is open is read there, and not counted.
  await send(ada.page, 'See you at ten');
  await expect(bobsDiscussion.locator('#messages .message-body')).toHaveText(['Hello Bob', 'Are you free on Saturday?', 'See you at ten']);
  await expect(async () => {
    await bob.page.reload();
    await expect(item.locator('.unread-count')).toBeHidden({ timeout: 500 });
  }).toPass({ timeout: 10_000 });
  await expect(bob.page.locator('#personal-stream')).toHaveAttribute('data-state', 'live');

  // Ada removes Bob on the tablo page, in another tab of hers.
  const adasTabloPage = await ada.context.newPage();
  await adasTabloPage.goto(`/tablos/${tablo}`);
  await adasTabloPage.getByRole('button', { name: 'Remove Bob' }).click();
  await expect(adasTabloPage.locator(`#members li[data-user-id="${bobId}"]`)).toHaveCount(0);

  // Bob's open discussion says his access ended, and he can no longer write.
  const status = bobsDiscussion.locator('#live-status');
  await expect(status).toHaveAttribute('data-ended', 'access-ended');
  await expect(status).toHaveAttribute('data-state', 'offline');
  await expect(status).toContainText('Your access to this tablo has ended');
  await expect(bobsDiscussion.locator('#composer textarea')).toBeDisabled();
  await expect(bobsDiscussion.locator('#composer button[type=submit]')).toBeDisabled();
  await expect(bobsDiscussion.locator('#discussion-stream')).toHaveCount(0); // nothing left to reconnect
  // Ada sees him leave the room; his /tablos drops the tablo, live.
  await expect(ada.page.locator(`#presence [data-user-id="${bobId}"]`)).toHaveCount(0);
  await expect(item).toHaveCount(0);

  // Ada keeps talking: her other tab gets it, Bob's discussion does not.
  const adasSecondDiscussion = await ada.context.newPage();
  await openDiscussion(adasSecondDiscussion, tablo);
  await send(ada.page, 'Bob is gone');
  await expect(adasSecondDiscussion.locator('#messages .message-body')).toHaveText([
    'Hello Bob',
    'Are you free on Saturday?',
    'See you at ten',
    'Bob is gone',
  ]);
  await expect(bob.page.locator(`#figure-tablos`)).toHaveText('0');
  await expect(bobsDiscussion.locator('#messages .message')).toHaveCount(3);
  await expect(bobsDiscussion.locator('#messages')).not.toContainText('Bob is gone');
  // And the tablo is no longer his to see.
  const response = await bobsDiscussion.goto(`/tablos/${tablo}/discussion`);
  expect(response?.status()).toBe(404);
});

test('a member removed while on the tablo page is taken back to /tablos; the owner’s member list updates live', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  const bob = await newPerson('Bob');
  const bobId = await userId(bob);
  const tablo = await createTabloPage(ada.page, 'Short stay');
  await expect(ada.page.locator('#personal-stream')).toHaveAttribute('data-state', 'live');
  // A second tab of Ada's on the same page: it learns of changes made in the first.
  const adasOtherTab = await ada.context.newPage();
  await adasOtherTab.goto(`/tablos/${tablo}`);
  await expect(adasOtherTab.locator('#personal-stream')).toHaveAttribute('data-state', 'live');

  await ada.page.fill('#add-member input[name=email]', bob.email);
  await ada.page.click('#add-member button[type=submit]');
  await expect(adasOtherTab.locator('#invitations li')).toContainText(bob.email);

  await bob.page.goto('/tablos');
  await acceptInvitation(bob.page, 'Short stay', tablo);
  await expect(adasOtherTab.locator(`#members li[data-user-id="${bobId}"]`)).toHaveCount(1);
  await expect(adasOtherTab.locator('#invitations li')).toHaveCount(0);
  await expect(bob.page.locator('#personal-stream')).toHaveAttribute('data-state', 'live');
  await expect(bob.page.locator('#add-member')).toHaveCount(0);
  await expect(bob.page.locator('#leave-tablo')).toBeVisible();

  await ada.page.getByRole('button', { name: 'Remove Bob' }).click();
  await expect(adasOtherTab.locator(`#members li[data-user-id="${bobId}"]`)).toHaveCount(0);
  await expect(bob.page).toHaveURL(/\/tablos$/);
  await expect(bob.page.locator(`li#tablo-${tablo}`)).toHaveCount(0);
});
