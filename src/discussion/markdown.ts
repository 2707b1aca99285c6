import MarkdownIt from 'markdown-it';
import { type MentionEnv, mentions } from './mention-rule.ts';

/**
 * Message bodies as Markdown (CommonMark through markdown-it), made for a chat:
 * - raw HTML is text (`html: false`), and a link is made only to http:, https: or mailto:;
 *   anything else (javascript:, data:, relative paths…) stays as the text that was typed;
 * - a bare URL becomes a link whole, balanced parentheses included (linkify-it); bare domains
 *   without a scheme ("deploy.sh", "main.rs") stay text;
 * - line breaks are kept (`breaks: true`), as people type them;
 * - headings are off: a line starting with `#` is text, as it would be in any other chat
 *   (`#general`, `# of people`), and so is a setext underline; tables are off (too wide for a
 *   phone); images are off, so `![alt](url)` shows as "!" and a link to the image.
 * Every link opens in a new tab with rel="noopener noreferrer nofollow".
 * `@handle` is a mention when the env says whose handle it is (see mention-rule.ts).
 * The parser is made once: rendering is on the post path.
 */
const markdown = new MarkdownIt('default', { html: false, linkify: true, breaks: true, typographer: false })
  .disable(['heading', 'lheading', 'table', 'image', 'html_block', 'html_inline'])
  .use(mentions);

const ALLOWED_LINK = /^(?:https?:|mailto:)/i;
markdown.validateLink = (url) => ALLOWED_LINK.test(url);
markdown.linkify.set({ fuzzyLink: false, fuzzyIP: false, fuzzyEmail: true });
markdown.linkify.add('ftp:', null).add('//', null);

markdown.renderer.rules.link_open = (tokens, index, options, _env, self) => {
  const token = tokens[index]!;
  token.attrSet('rel', 'noopener noreferrer nofollow');
  token.attrSet('target', '_blank');
  return self.renderToken(tokens, index, options);
};

// A fenced block's language becomes `class="language-…"` on its code: only a plain name does.
const LANGUAGE = /^[\w+#.-]{1,32}$/;
const renderFence = markdown.renderer.rules.fence!;
markdown.renderer.rules.fence = (tokens, index, options, env, self) => {
  const token = tokens[index]!;
  const language = token.info.trim().split(/\s+/)[0] ?? '';
  token.info = LANGUAGE.test(language) ? language : '';
  return renderFence(tokens, index, options, env, self);
};

/**
 * Text in, safe HTML out. A body that is one paragraph comes without its `<p>`. `mentions` says
 * which `@handle`s are mentions (none without it).
 */
export function bodyToHtml(body: string, mentions: MentionEnv = {}): string {
  const env: MentionEnv = { ...mentions };
  const tokens = markdown.parse(body, env);
  const [open, inline, close] = tokens;
  if (tokens.length === 3 && open?.type === 'paragraph_open' && close?.type === 'paragraph_close' && inline) {
    return markdown.renderer.renderInline(inline.children ?? [], markdown.options, env);
  }
  return markdown.renderer.render(tokens, markdown.options, env).trimEnd();
}

/** Reads a body as it would render, for what `env` collects (mentions made, handles looked up). */
export function readBody(body: string, env: MentionEnv): void {
  markdown.parse(body, env);
}

const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });
// A grapheme that is an emoji: pictographs with their modifiers, joiners and variation selectors,
// flags (regional indicator pairs) and keycaps — but not a bare digit, `#` or `*`.
const EMOJI_PARTS = /^[\p{Extended_Pictographic}\p{Emoji_Component}\u200d\ufe0f\u20e3]+$/u;
const EMOJI_CORE = /\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20e3/u;
const MOST_EMOJI_SHOWN_LARGE = 3;

/** A message of one to three emoji and nothing else (spaces aside): shown large. */
export function isEmojiOnly(body: string): boolean {
  const text = body.replace(/\s+/g, '');
  if (text.length === 0 || text.length > 64) return false;
  let count = 0;
  for (const { segment } of graphemes.segment(text)) {
    if (!EMOJI_PARTS.test(segment) || !EMOJI_CORE.test(segment)) return false;
    if (++count > MOST_EMOJI_SHOWN_LARGE) return false;
  }
  return count > 0;
}
