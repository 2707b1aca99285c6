import { type Browser, type BrowserContext, type Page, test as base, expect } from '@playwright/test';
import { createTestDatabase } from '../../test/support/database.ts';
import { TabloProcess } from './server.ts';

export type Person = { context: BrowserContext; page: Page; name: string; email: string; password: string };

let counter = 0;

/**
 * `server`: one Tablo process per worker, on its own database.
 * `newPerson(name)`: a fresh browser context (its own cookies and connections, as one person's
 * browser) with an account registered through the real form.
 */
export const test = base.extend<
  { newPerson: (name: string) => Promise<Person> },
  { server: TabloProcess }
>({
  server: [
    async ({}, use) => {
      const database = await createTestDatabase();
      const server = await TabloProcess.start(database.url);
      await use(server);
      await server.stop();
      await database.drop();
    },
    { scope: 'worker', timeout: 60_000 },
  ],
  newPerson: async ({ browser, server }, use) => {
    const contexts: BrowserContext[] = [];
    await use(async (name) => {
      const person = await registerInBrowser(browser, server.url, name);
      contexts.push(person.context);
      return person;
    });
    for (const context of contexts) await context.close();
  },
});

export async function registerInBrowser(browser: Browser, baseURL: string, name: string): Promise<Person> {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  const email = `${name.toLowerCase().replace(/\W+/g, '')}.${Date.now()}.${++counter}@example.test`;
  const password = 'correct horse battery';
  await page.goto('/register');
  await page.fill('#register input[name=email]', email);
  await page.fill('#register input[name=name]', name);
  await page.fill('#register input[name=password]', password);
  await page.click('#register button[type=submit]');
  await expect(page).toHaveURL(/\/tablos$/);
  return { context, page, name, email, password };
}

export { expect };

/** Creates a tablo through the home page's form; the person lands in its discussion. Answers its id. */
export async function createTablo(page: Page, title: string): Promise<number> {
  await page.goto('/tablos');
  await page.fill('#new-tablo input[name=title]', title);
  await page.click('#new-tablo button[type=submit]');
  await expect(page).toHaveURL(/\/tablos\/\d+\/discussion$/);
  return Number(new URL(page.url()).pathname.split('/')[2]);
}

/** The owner invites the member by email from the tablo page; the member accepts on /tablos. */
export async function addMember(owner: Page, tabloId: number, member: Person): Promise<void> {
  await owner.goto(`/tablos/${tabloId}`);
  await owner.fill('#add-member input[name=email]', member.email);
  await owner.click('#add-member button[type=submit]');
  await expect(owner.locator('#invitations li')).toContainText(member.email);
  await member.page.goto('/tablos');
  const invitation = member.page.locator('li[id^="invitation-"]').filter({ has: member.page.locator(`form[action$="/accept"]`) }).first();
  await invitation.getByRole('button', { name: 'Accept' }).click();
  await expect(member.page).toHaveURL(new RegExp(`/tablos/${tabloId}$`));
}

/** The discussion, once its stream is live. */
export async function openDiscussion(page: Page, tabloId: number, query = ''): Promise<void> {
  await page.goto(`/tablos/${tabloId}/discussion${query}`);
  await expect(page.locator('#live-status')).toHaveAttribute('data-state', 'live');
}

/** Types a message into the composer and sends it with Enter. */
export async function send(page: Page, text: string): Promise<void> {
  await page.fill('#composer textarea[name=body]', text);
  await page.keyboard.press('Enter');
}
