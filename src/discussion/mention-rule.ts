import type { MarkdownIt, StateInline } from 'markdown-it';

/** A mention made in a body: a member by handle, or everyone (`@all`). */
export type MentionMade = { userId: number; handle: string } | { userId: 'all'; handle: 'all' };

/**
 * What the parser knows and learns about mentions while it reads one body (markdown-it's env).
 * - `handles`: the lower-cased handles that are mentions, with whose they are;
 * - `all`: whether `@all` is a mention;
 * - `made` (filled in): the mentions made, in order;
 * - `candidates` (filled in): every lower-cased handle-like word after an `@` that was looked up.
 */
export type MentionEnv = {
  handles?: ReadonlyMap<string, number>;
  all?: boolean;
  made?: MentionMade[];
  candidates?: Set<string>;
};

const HANDLE_RUN = /[A-Za-z0-9_-]+/y;
const MAX_HANDLE = 30;
// An `@` starts a mention at the start of a line or after a space or an opening mark — not
// inside a word or an address (`bob@example.com`, `…/@ada`).
const OPENS_MENTION = /[\s([{"'“‘«*_~>,;!?]/u;
// …and the handle ends the word: `@ada,` and `@ada.` are mentions, `@adaé` is not.
const WORD_GOES_ON = /[\p{L}\p{N}\p{M}]/u;

/** The handles an `@…` could mean, longest first: `@ada_` (italic `_@ada_`) may be `ada_` or `ada`. */
function readings(run: string): string[] {
  const variants = [run];
  const trimmed = run.replace(/[-_]+$/, '');
  if (trimmed && trimmed !== run) variants.push(trimmed);
  return variants.filter((v) => v.length <= MAX_HANDLE);
}

/** `@handle` as an inline rule: never inside code (spans and blocks are not inline text) nor links. */
function mention(state: StateInline, silent: boolean): boolean {
  const { src, pos } = state;
  if (src.charCodeAt(pos) !== 0x40 /* @ */ || state.linkLevel > 0) return false;
  if (pos > 0 && !OPENS_MENTION.test(src[pos - 1]!)) return false;
  HANDLE_RUN.lastIndex = pos + 1;
  const run = HANDLE_RUN.exec(src)?.[0];
  if (!run) return false;
  const env = state.env as MentionEnv;
  for (const reading of readings(run)) {
    const next = src.slice(pos + 1 + reading.length, pos + 3 + reading.length);
    if (reading === run && next && WORD_GOES_ON.test([...next][0]!)) return false;
    const handle = reading.toLowerCase();
    env.candidates?.add(handle);
    const made: MentionMade | undefined =
      handle === 'all' ? (env.all ? { userId: 'all', handle: 'all' } : undefined) : whose(env, handle);
    if (!made) continue;
    if (!silent) {
      env.made?.push(made);
      const token = state.push('mention', '', 0);
      token.content = `@${reading}`;
      token.meta = made;
    }
    state.pos = pos + 1 + reading.length;
    return true;
  }
  return false;
}

function whose(env: MentionEnv, handle: string): MentionMade | undefined {
  const userId = env.handles?.get(handle);
  return userId === undefined ? undefined : { userId, handle };
}

/**
 * A mention renders the same for everyone: `.mention[data-user-id]` (a link to the person's
 * profile), and `@all` as `.mention[data-user-id="all"]`. Whether it is *me* is for the browser.
 */
export function mentions(md: MarkdownIt): void {
  md.inline.ruler.push('mention', mention);
  md.renderer.rules.mention = (tokens, index) => {
    const token = tokens[index]!;
    const made = token.meta as MentionMade;
    const text = md.utils.escapeHtml(token.content);
    return made.userId === 'all'
      ? `<span class="mention mention-all" data-user-id="all">${text}</span>`
      : `<a class="mention" data-user-id="${made.userId}" href="/people/${made.userId}">${text}</a>`;
  };
}
