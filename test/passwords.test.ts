/**
 * Password hashing in its own process, one hash at a time, at the lowest CPU priority (so a
 * burst of sign-ins does not slow live delivery): sign-ins wait their turn and all succeed, the
 * hashes are the same argon2id as before, a full queue answers 503 with Retry-After, and the
 * hasher process ends with the server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import argon2 from 'argon2';
import { HasherBusy, MAX_WAITING, hashPassword, stopPasswordHasher, verifyPassword } from '../src/accounts/passwords.ts';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, registerPerson } from './support/client.ts';
import { hasherProcesses, isRunning, threadNiceness, threadPolicies } from './support/hasher.ts';

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

async function signIn(email: string, password: string) {
  const client = new Client(app.url);
  assert.equal((await client.get('/login')).status, 200);
  return client.post('/login', { email, password });
}

describe('sign-ins while passwords are hashed one at a time', () => {
  it('lets 10 concurrent sign-ins all in, in a hasher process whose every thread runs at the lowest priority', async () => {
    const people = [];
    for (let i = 0; i < 10; i++) people.push(await registerPerson(app.url, `Burst ${i}`));
    const answers = await Promise.all(people.map((person) => signIn(person.email, person.password)));
    assert.deepEqual(answers.map((a) => a.status), Array(10).fill(303));

    const hashers = hasherProcesses(process.pid);
    assert.equal(hashers.length, 1, 'one hasher process for this server process');
    const niceness = threadNiceness(hashers[0]!);
    assert.ok(niceness.length > 1, 'the hasher has several threads (libuv’s pool among them)');
    assert.deepEqual(niceness, niceness.map(() => 19), `every thread at nice 19: ${niceness.join(' ')}`);
    // util-linux's chrt is part of every Debian system: the hasher runs only on cores nothing else wants.
    const policies = threadPolicies(hashers[0]!);
    assert.deepEqual(policies, policies.map(() => 5), `every thread SCHED_IDLE (5): ${policies.join(' ')}`);
  });

  it('keeps argon2id at OWASP’s parameters: hashes made before still verify, and new ones are the same kind', async () => {
    const before = await argon2.hash('an older password', { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    assert.equal(await verifyPassword(before, 'an older password'), true);
    assert.equal(await verifyPassword(before, 'another password'), false);
    assert.equal(await verifyPassword('not a hash', 'an older password'), false);
    assert.equal(await verifyPassword(undefined, 'decoy password that never matches'), false, 'no hash never matches, not even the decoy’s password');

    const made = await hashPassword('a new password');
    assert.match(made, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(await argon2.verify(made, 'a new password'), true);
  });

  it('answers 503 with Retry-After while too many passwords wait, without counting it as a failed sign-in', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    // One runs and MAX_WAITING wait: the queue is full, and stays so while the hasher is paused.
    const waiting = Array.from({ length: MAX_WAITING + 1 }, () => verifyPassword(undefined, 'x').catch((error: unknown) => error));
    const [hasher] = hasherProcesses(process.pid);
    assert.ok(hasher, 'the hasher process runs');
    process.kill(hasher, 'SIGSTOP');
    try {
      // More than the 10 failures per email and address that would lock Ada out.
      for (let i = 0; i < 12; i++) {
        const turnedAway = await signIn(ada.email, ada.password);
        assert.equal(turnedAway.status, 503);
        assert.equal(turnedAway.headers.get('retry-after'), '5');
        assert.match(turnedAway.html, /Many people are signing in right now/);
      }
      await assert.rejects(verifyPassword(undefined, 'x'), HasherBusy);
    } finally {
      process.kill(hasher, 'SIGCONT');
      // Drops the waiting ones and lets the next hash start another hasher.
      await stopPasswordHasher();
    }
    const outcomes = await Promise.all(waiting);
    assert.ok(outcomes.some((o) => o instanceof Error && o.message === 'Pool terminated'), 'the waiting ones were dropped');
    assert.equal((await signIn(ada.email, ada.password)).status, 303);
  });
});

describe('stopping the server', () => {
  it('ends its hasher process', async () => {
    const other = await startTestApp();
    try {
      await registerPerson(other.url, 'Grace');
      assert.equal(hasherProcesses(process.pid).length, 1);
    } finally {
      await other.close();
    }
    const left = hasherProcesses(process.pid);
    assert.deepEqual(left.filter(isRunning), [], 'no hasher process left behind');
  });
});
