import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, registerPerson } from './support/client.ts';

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

describe('registration', () => {
  it('creates an account, signs in and redirects to /tablos', async () => {
    const client = new Client(app.url);
    const page = await client.get('/register');
    assert.equal(page.status, 200);
    assert.match(page.html, /<form id="register"/);
    const response = await client.post('/register', { email: 'New.Person@Example.test', name: 'New Person', password: 'long enough' });
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/tablos');
    const tablos = await client.get('/tablos');
    assert.equal(tablos.status, 200);
    assert.match(tablos.html, /New Person/);
  });
});
