import type { Locator, Page } from '@playwright/test';
import { addMember, createTablo, expect, openDiscussion, type Person, send, test } from './support/fixtures.ts';

/** Ada's tablo with Bob in it, both on its discussion, live. */
async function twoPeople(newPerson: (name: string) => Promise<Person>, title: string) {
  const ada = await newPerson('Ada');
  const bob = await newPerson('Bob');
  const tablo = await createTablo(ada.page, title);
  await addMember(ada.page, tablo, bob);
  for (const person of [ada, bob]) await openDiscussion(person.page, tablo);
  return { ada, bob, tablo };
}

/** The message whose body says this (a reply quoting it says it too, outside its body). */
const message = (page: Page, text: string): Locator =>
  page.locator('#messages article.message').filter({ has: page.locator('.message-body', { hasText: text }) });

/** A message's own control (they show on hover or focus). */
async function action(article: Locator, name: string): Promise<void> {
  await article.hover();
  await article.locator('.message-action', { hasText: name }).click();
}

test('an edit and a deletion are seen live in the other person’s tab', async ({ newPerson }) => {
  const { ada, bob } = await twoPeople(newPerson, 'Edits');
  await send(ada.page, 'See you at 10');
  const onBob = message(bob.page, 'See you at 10');
  await expect(onBob).toHaveAttribute('data-version', '1');
  // Only the author gets Edit; Bob (neither author nor owner) gets no Delete either.
  await onBob.hover();
  await expect(onBob.locator('.message-action', { hasText: 'Edit' })).toHaveCount(0);
  await expect(onBob.locator('.message-action', { hasText: 'Delete' })).toHaveCount(0);

  // Escape cancels an edit.
  const mine = message(ada.page, 'See you at 10');
  await action(mine, 'Edit');
  const editor = mine.locator('.message-editor textarea');
  await expect(editor).toHaveValue('See you at 10');
  await editor.press('Escape');
  await expect(mine.locator('.message-editor')).toHaveCount(0);
  await expect(mine.locator('.message-body')).toBeVisible();

  // ↑ in the empty composer edits one's last message; Enter saves.
  await ada.page.locator('#composer textarea').focus();
  await ada.page.keyboard.press('ArrowUp');
  await expect(editor).toBeFocused();
  await editor.fill('See you at 11');
  await editor.press('Enter');
  const edited = message(bob.page, 'See you at 11');
  await expect(edited).toHaveAttribute('data-version', '2');
  await expect(edited.locator('.message-edited')).toBeVisible();
  await expect(bob.page.locator('#messages article.message')).toHaveCount(1);
  await expect(message(ada.page, 'See you at 11').locator('.message-editor')).toHaveCount(0);

  // Deleting asks first; both tabs keep the article, marked deleted, with nothing of its text.
  ada.page.once('dialog', (dialog) => void dialog.dismiss());
  await action(message(ada.page, 'See you at 11'), 'Delete');
  await expect(bob.page.locator('#messages article[data-deleted]')).toHaveCount(0);
  ada.page.once('dialog', (dialog) => void dialog.accept());
  await action(message(ada.page, 'See you at 11'), 'Delete');
  for (const page of [ada.page, bob.page]) {
    await expect(page.locator('#messages article[data-deleted].message-deleted')).toHaveCount(1);
    await expect(page.locator('#messages')).not.toContainText('See you at');
    await expect(page.locator('#messages article.message')).toHaveCount(1);
  }
});

test('a reaction toggled from two browsers counts 1, 2, then 1 for both', async ({ newPerson }) => {
  const { ada, bob } = await twoPeople(newPerson, 'Reactions');
  await send(ada.page, 'Lunch at noon?');
  await action(message(ada.page, 'Lunch at noon?'), 'React');
  await ada.page.locator('.reaction-picker button[data-emoji="👍"]').click();
  const thumbs = (person: Person) => message(person.page, 'Lunch at noon?').locator('.reactions .reaction[data-emoji="👍"]');
  for (const person of [ada, bob]) await expect(thumbs(person)).toHaveText('1');
  await expect(thumbs(ada)).toHaveClass(/mine/);
  await expect(thumbs(bob)).not.toHaveClass(/mine/);

  await thumbs(bob).click();
  for (const person of [ada, bob]) await expect(thumbs(person)).toHaveText('2');
  await expect(thumbs(bob)).toHaveClass(/mine/);
  await expect(thumbs(ada)).toHaveAttribute('title', 'Ada, Bob');

  await thumbs(ada).click();
  for (const person of [ada, bob]) await expect(thumbs(person)).toHaveText('1');
  await expect(thumbs(ada)).not.toHaveClass(/mine/);
  await expect(thumbs(bob)).toHaveClass(/mine/);
});

test('a reply’s link jumps to the original, shown or not', async ({ newPerson }) => {
  const { ada, bob, tablo } = await twoPeople(newPerson, 'Replies');
  await send(ada.page, 'The original question');
  for (let i = 1; i <= 30; i++) await send(ada.page, `filler ${i}`);
  await expect(ada.page.locator('#messages article.message')).toHaveCount(31);

  // Bob replies through the Reply control.
  await action(message(bob.page, 'The original question'), 'Reply');
  await expect(bob.page.locator('#composer-reply')).toContainText('The original question');
  await send(bob.page, 'The answer');
  const reply = message(ada.page, 'The answer');
  await expect(reply.locator('.message-reply a')).toContainText('The original question');
  await expect(bob.page.locator('#composer-reply')).toBeHidden();

  // Shown: the link scrolls to it.
  const original = message(ada.page, 'The original question');
  const originalId = (await original.getAttribute('id'))!.replace('message-', '');
  await expect(original).not.toBeInViewport();
  await reply.locator('.message-reply a').click();
  await expect(original).toBeInViewport();
  expect(new URL(ada.page.url()).search).toBe('');

  // Not shown (beyond the newest 50): the link opens its permalink, which highlights it.
  const page = ada.page;
  await page.evaluate(async (id) => {
    const csrf = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')!.content;
    for (let i = 1; i <= 55; i++) {
      await fetch(`/tablos/${id}/discussion/messages`, {
        method: 'POST',
        headers: { 'HX-Request': 'true', 'X-CSRF-Token': csrf },
        body: new URLSearchParams({ body: `more ${i}` }),
      });
    }
  }, tablo);
  await expect(message(page, 'more 55')).toBeVisible();
  // A reply to the first message, which the newest page no longer shows.
  await page.fill('#composer textarea[name=body]', 'Back to the question');
  await page.locator('#composer input[name=reply_to]').evaluate((input, id) => ((input as HTMLInputElement).value = id), originalId);
  await page.keyboard.press('Enter');
  await openDiscussion(page, tablo);
  const far = message(page, 'Back to the question');
  await expect(far.locator('.message-reply a')).toContainText('The original question');
  await expect(page.locator(`#message-${originalId}`)).toHaveCount(0);
  await far.locator('.message-reply a').click();
  await expect(page).toHaveURL(/\/discussion\?at=1$/);
  const highlighted = page.locator('#messages article.message-highlighted');
  await expect(highlighted).toHaveCount(1);
  await expect(highlighted.locator('.message-body')).toHaveText('The original question');
  await expect(highlighted).toBeInViewport();
});
