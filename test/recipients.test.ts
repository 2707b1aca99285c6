import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mentionedIn } from '../src/notify/recipients.ts';

const members = [
  { userId: 1, handle: 'ada' },
  { userId: 2, handle: 'Bob_Smith' },
  { userId: 3, handle: 'zoe-nunez' },
];
const mentioned = (body: string) => [...mentionedIn(body, members)].sort();

describe('mentionedIn', () => {
  it('finds members by handle, whatever the case, next to punctuation', () => {
    assert.deepEqual(mentioned('@ada, can you look?'), [1]);
    assert.deepEqual(mentioned('(@bob_smith) and @ZOE-NUNEZ.'), [2, 3]);
    assert.deepEqual(mentioned('thanks @ada-'), [1]);
    assert.deepEqual(mentioned('@ada!@zoe-nunez'), [1, 3]);
  });

  it('ignores non-members, emails and a bare @', () => {
    assert.deepEqual(mentioned('@eve and ada@example.com and @ alone'), []);
  });

  it('@all mentions every member', () => {
    assert.deepEqual(mentioned('hello @all!'), [1, 2, 3]);
    assert.deepEqual(mentioned('hello @ALL'), [1, 2, 3]);
  });
});
