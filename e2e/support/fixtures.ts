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
