import { type RawBuilder, sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { escapeHtml } from '../web/text.ts';

export const RESULTS_PER_PAGE = 20;
const MAX_WORDS = 10;
const MAX_QUERY_CHARACTERS = 200;
const SNIPPET_CHARACTERS = 240;

/** What was asked: the words to find, optionally in one tablo, and the page (results older than a message id). */
export type SearchQuery = { text: string; words: string[]; prefixLast: boolean; tabloId?: number; before?: number };

export type SearchResult = {
  messageId: number;
  tabloId: number;
  tabloTitle: string;
  seq: number;
  authorId: number;
  authorName: string;
  createdAt: Date;
  /** The text around the first match, escaped, with the matching words in `<mark>`. */
  snippetHtml: string;
};

// A word is a run of letters, digits and their marks, as PostgreSQL's parser reads one; anything
// else (punctuation, operators of tsquery syntax) separates words and is never sent as syntax.
const WORD = /[\p{L}\p{N}][\p{L}\p{N}\p{M}]*/gu;

/** The search box's text as words. The last one is a prefix while it is being typed (no space after it). */
export function readQuery(text: string, options: { tabloId?: number; before?: number } = {}): SearchQuery {
  const trimmed = [...text].slice(0, MAX_QUERY_CHARACTERS).join('');
  const words = (trimmed.match(WORD) ?? []).slice(0, MAX_WORDS);
  const prefixLast = /[\p{L}\p{N}\p{M}]$/u.test(trimmed);
  return { text: trimmed.trim(), words, prefixLast, ...options };
}

/**
 * Messages matching every word, newest first, in the tablos this person is a member of (or the
 * one asked for, if they are): the current text of messages not deleted (a deleted message's
 * body is empty; an edit updates the row, and with it the generated `search_vector` column
 * indexed by GIN: found as soon as the change is committed). Case and accents are ignored
 * through tablo_search_text(), the same function the column uses.
 */
export async function searchMessages(db: Database, userId: number, query: SearchQuery): Promise<{ results: SearchResult[]; more: boolean }> {
  if (query.words.length === 0) return { results: [], more: false };
  const last = query.words.length - 1;
  const terms = query.words.map((word, index) =>
    index === last && query.prefixLast
      ? sql`coalesce((nullif(plainto_tsquery('simple', tablo_search_text(${word}))::text, '') || ':*')::tsquery, ''::tsquery)`
      : sql`plainto_tsquery('simple', tablo_search_text(${word}))`,
  );
  const matching: RawBuilder<unknown> = sql.join(terms, sql` && `);
  const { rows } = await sql<{
    id: number;
    tablo_id: number;
    title: string;
    seq: number;
    author_id: number;
    name: string;
    created_at: Date;
    body: string;
  }>`
    SELECT m.id, m.tablo_id, t.title, m.seq, m.author_id, u.name, m.created_at, m.body
    FROM messages m
    JOIN tablos t ON t.id = m.tablo_id
    JOIN users u ON u.id = m.author_id
    WHERE m.search_vector @@ (${matching})
      AND m.deleted_at IS NULL
      AND m.tablo_id IN (
        SELECT tablo_id FROM tablo_members WHERE user_id = ${userId}
        ${query.tabloId === undefined ? sql`` : sql`AND tablo_id = ${query.tabloId}`})
      ${query.before === undefined ? sql`` : sql`AND m.id < ${query.before}`}
    ORDER BY m.id DESC
    LIMIT ${RESULTS_PER_PAGE + 1}`.execute(db);
  const results = rows.slice(0, RESULTS_PER_PAGE).map((row) => ({
    messageId: row.id,
    tabloId: row.tablo_id,
    tabloTitle: row.title,
    seq: row.seq,
    authorId: row.author_id,
    authorName: row.name,
    createdAt: row.created_at,
    snippetHtml: highlight(row.body, query.words),
  }));
  return { results, more: rows.length > RESULTS_PER_PAGE };
}

/** A letter as search compares it: without accents, lower-cased (close to unaccent + lower). */
const fold = (text: string) => text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
const IN_WORD = /[\p{L}\p{N}\p{M}]/u;

/**
 * The text (on one line) around its first match, escaped, with every word that starts with a
 * searched word in `<mark>`. Done here on the plain text rather than by ts_headline, which does
 * not escape HTML: only text this function escaped reaches the page.
 */
export function highlight(body: string, words: string[]): string {
  const characters = [...body.replace(/\s+/g, ' ').trim()];
  const folded = characters.map(fold);
  const wanted = words.map(fold).filter(Boolean);
  const marks: [number, number][] = [];
  for (let i = 0; i < characters.length; i++) {
    if (!IN_WORD.test(characters[i]!) || (i > 0 && IN_WORD.test(characters[i - 1]!))) continue;
    let end = i;
    while (end < characters.length && IN_WORD.test(characters[end]!)) end++;
    const word = folded.slice(i, end).join('');
    if (wanted.some((w) => word.startsWith(w))) marks.push([i, end]);
    i = end - 1;
  }
  const first = marks[0]?.[0] ?? 0;
  const start = characters.length <= SNIPPET_CHARACTERS ? 0 : Math.max(0, Math.min(first - 60, characters.length - SNIPPET_CHARACTERS));
  const end = Math.min(characters.length, start + SNIPPET_CHARACTERS);
  let html = start > 0 ? '…' : '';
  let at = start;
  for (const [from, to] of marks) {
    if (to <= start || from >= end) continue;
    html += escapeHtml(characters.slice(at, Math.max(at, from)).join(''));
    html += `<mark>${escapeHtml(characters.slice(Math.max(at, from), Math.min(to, end)).join(''))}</mark>`;
    at = Math.min(to, end);
  }
  html += escapeHtml(characters.slice(at, end).join(''));
  if (end < characters.length) html += '…';
  return html;
}
