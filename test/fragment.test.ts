import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderFragment, renderMessage } from '../src/discussion/fragment.ts';
import type { Message } from '../src/discussion/messages.ts';

const message = (changes: Partial<Message> = {}): Message => ({
  id: 7,
  tabloId: 1,
  seq: 7,
  version: 1,
  authorId: 2,
  authorName: 'Ada',
  authorHandle: 'ada',
  body: 'Hello **@bob**, see https://example.com',
  createdAt: new Date('2026-12-02T08:00:00.123Z'),
  editedAt: null,
  deletedAt: null,
  replyTo: { id: 3, authorName: 'Bob', excerpt: 'What about the <script> tag?', deleted: false },
  reactions: [{ emoji: '👍', userIds: [3, 4], names: ['Bob', 'Eve'] }],
  mentions: [{ userId: 3, handle: 'bob' }],
  mentionsAll: false,
  attachments: [],
  ...changes,
});

describe('the remembered message fragment', () => {
  it('is byte-identical to a fresh rendering, the first time and the next', () => {
    const fresh = renderFragment(message());
    assert.equal(renderMessage(message()), fresh);
    assert.equal(renderMessage(message()), fresh, 'remembered');
    assert.equal(renderMessage(message(), { highlighted: true }), renderFragment(message(), true));
    assert.notEqual(renderMessage(message(), { highlighted: true }), fresh, 'the highlight is part of what is remembered');
    assert.match(fresh, /&lt;script&gt;/, 'escaped');
  });

  // Each of these changes what the fragment shows; only an edit or a deletion bumps the version.
  const changes: [string, Partial<Message>, string][] = [
    ['the author renamed', { authorName: 'Ada King' }, '>Ada King</a>'],
    ['the quoted author renamed', { replyTo: { id: 3, authorName: 'Robert', excerpt: 'What about the <script> tag?', deleted: false } }, 'Robert'],
    ['the quoted message edited', { replyTo: { id: 3, authorName: 'Bob', excerpt: 'Never mind', deleted: false } }, 'Never mind'],
    ['the quoted message deleted', { replyTo: { id: 3, authorName: 'Bob', excerpt: '', deleted: true } }, 'deleted message'],
    ['a reactor renamed', { reactions: [{ emoji: '👍', userIds: [3, 4], names: ['Bob', 'Eve Lyn'] }] }, 'Bob, Eve Lyn'],
    ['edited', { version: 2, body: 'Hello again', editedAt: new Date('2026-12-02T08:01:00Z') }, 'Hello again'],
    ['deleted', { version: 2, deletedAt: new Date('2026-12-02T08:01:00Z') }, 'This message was deleted.'],
  ];
  for (const [what, change, shown] of changes) {
    it(`shows the message as it is now: ${what}`, () => {
      renderMessage(message()); // remembered as it was
      const now = renderMessage(message(change));
      assert.ok(now.includes(shown), `${what}: ${now}`);
      assert.equal(now, renderFragment(message(change)));
    });
  }
});
