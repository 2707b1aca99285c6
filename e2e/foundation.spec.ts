import { expect, test } from './support/fixtures.ts';

test('register, create a tablo, see it listed; a stranger gets 404; sign out', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  await expect(ada.page.getByText('No tablos yet — create one')).toBeVisible();
  await ada.page.fill('#new-tablo input[name=title]', 'Launch plans');
  await ada.page.click('#new-tablo button[type=submit]');
  await expect(ada.page).toHaveURL(/\/tablos\/\d+\/discussion$/);
  await expect(ada.page.locator('h1')).toHaveText('Launch plans');
  const id = new URL(ada.page.url()).pathname.split('/')[2];
  const tabloUrl = `/tablos/${id}`;

  await ada.page.goto('/tablos');
  await expect(ada.page.locator(`li#tablo-${id} a[href="/tablos/${id}"]`)).toContainText('Launch plans');

  const bob = await newPerson('Bob');
  const response = await bob.page.goto(tabloUrl);
  expect(response?.status()).toBe(404);
  await expect(bob.page.locator('body')).not.toContainText('Launch plans');

  await ada.page.click('#logout button');
  await expect(ada.page).toHaveURL(/\/login$/);
  await ada.page.goto('/tablos');
  await expect(ada.page).toHaveURL(/\/login\?next=%2Ftablos$/);
});
