import { addMember, createTablo, expect, openDiscussion, send, test } from './support/fixtures.ts';

test('the composer autocompletes a member with the keyboard; the mention counts and shows highlighted for them, live', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  const bob = await newPerson('Mentionee');
  const tablo = await createTablo(ada.page, 'Mentions live');
  await addMember(ada.page, tablo, bob);
  await ada.page.goto(`/tablos/${tablo}`);
  const bobsItem = ada.page.locator('#members li').filter({ hasText: 'Mentionee' });
  const handle = (await bobsItem.getAttribute('data-handle'))!;
  const bobId = (await bobsItem.getAttribute('data-user-id'))!;

  // Bob is on his tablos page, live.
  await bob.page.goto('/tablos');
  await expect(bob.page.locator('#live-status')).toHaveAttribute('data-state', 'live');
  const badge = bob.page.locator(`#tablo-${tablo} .mention-count`);
  await expect(badge).toBeHidden();

  await openDiscussion(ada.page, tablo);
  const composer = ada.page.locator('#composer textarea[name=body]');
  await composer.click();
  await ada.page.keyboard.type(`Hi @${handle.slice(0, 4)}`);
  const suggestions = ada.page.locator('#mention-suggestions');
  await expect(suggestions).toBeVisible();
  await expect(suggestions.locator('[role=option][aria-selected=true]')).toContainText(`@${handle}`);
  await ada.page.keyboard.press('ArrowDown');
  await ada.page.keyboard.press('ArrowUp');
  await ada.page.keyboard.press('Enter'); // picks; does not send
  await expect(suggestions).toBeHidden();
  await expect(composer).toHaveValue(`Hi @${handle} `);
  await ada.page.keyboard.type('can you look at the quagga report?');
  await ada.page.keyboard.press('Enter');
  const sent = ada.page.locator('#messages article').filter({ hasText: 'quagga report' });
  await expect(sent.locator(`.mention[data-user-id="${bobId}"]`)).toHaveText(`@${handle}`);
  await expect(sent.locator('.mention-me')).toHaveCount(0); // not Ada's mention

  // Escape closes the list and keeps what was typed.
  await ada.page.keyboard.type('@al');
  await expect(suggestions.locator('[role=option]')).toContainText(['@all']);
  await ada.page.keyboard.press('Escape');
  await expect(suggestions).toBeHidden();
  await expect(composer).toHaveValue('@al');

  // Bob's list shows the mention live, and his title counts it first.
  await expect(badge).toHaveText('1');
  await expect(badge).toBeVisible();
  await expect(bob.page).toHaveTitle(/^\(@1 · 1\) /);

  // In Bob's browser the mention stands out; reading it clears the count.
  await openDiscussion(bob.page, tablo);
  const seen = bob.page.locator('#messages article').filter({ hasText: 'quagga report' });
  await expect(seen.locator(`.mention.mention-me[data-user-id="${bobId}"]`)).toBeVisible();
  await expect(seen).toHaveClass(/mentions-me/);
  await bob.page.goto('/tablos');
  await expect(badge).toBeHidden();
});

test('search as you type shows a result that links to the message, highlighted', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  const tablo = await createTablo(ada.page, 'Searchable');
  await openDiscussion(ada.page, tablo);
  await send(ada.page, 'The okapi budget is approved');
  await send(ada.page, 'something else');
  await expect(ada.page.locator('#messages article')).toHaveCount(2);

  // From the header's box, without JavaScript's help: a plain GET form.
  await ada.page.fill('#header-search input[name=q]', 'budget');
  await ada.page.press('#header-search input[name=q]', 'Enter');
  await expect(ada.page).toHaveURL(/\/search\?q=budget$/);
  await expect(ada.page.locator('li.search-result')).toHaveCount(1);

  // As you type: the results follow the box.
  const box = ada.page.locator('#search-q');
  await box.fill('');
  await box.pressSequentially('OKAP', { delay: 40 });
  const result = ada.page.locator('li.search-result');
  await expect(result).toHaveCount(1);
  await expect(result.locator('mark')).toHaveText('okapi');
  await expect(ada.page).toHaveURL(/q=OKAP/);
  await result.locator('a[href*="/discussion"]').last().click();
  await expect(ada.page).toHaveURL(new RegExp(`/tablos/${tablo}/discussion\\?at=\\d+$`));
  await expect(ada.page.locator('article.message-highlighted')).toContainText('okapi budget');
});
