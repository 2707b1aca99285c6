import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bodyToHtml, isEmojiOnly } from '../src/discussion/markdown.ts';
import { changeFrame } from '../src/live/sse.ts';

/**
 * The renderer's output is checked with a strict tokenizer: the whole output must read as text
 * (no `<` or `>` at all) and tags of the form `<name attr="value"…>` / `</name>`, with only the
 * elements and attributes below. Anything else — an unescaped `<`, an attribute without quotes,
 * an unknown element or attribute, an event handler — fails the parse.
 */
const ELEMENTS: Record<string, Record<string, RegExp>> = {
  p: {},
  br: {},
  em: {},
  strong: {},
  s: {},
  code: { class: /^language-[\w+#.-]{1,32}$/ },
  pre: {},
  blockquote: {},
  ul: {},
  ol: { start: /^\d{1,9}$/ },
  li: {},
  hr: {},
  a: { href: /^(?:https?:|mailto:)/i, title: /^[^]*$/, rel: /^noopener noreferrer nofollow$/, target: /^_blank$/ },
};
const VOID = new Set(['br', 'hr']);
const TOKEN = /([^<>]+)|<(\/?)([a-z][a-z0-9]*)((?:\s+[a-z-]+="[^"<>]*")*)\s*>/y;
const ATTRIBUTE = /\s+([a-z-]+)="([^"<>]*)"/g;
const ENTITY = /&(?:amp|lt|gt|quot|#\d{1,7}|#x[0-9a-f]{1,6});/gi;

type Tag = { name: string; attributes: Record<string, string> };

const decode = (value: string) =>
  value
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** Every tag in the HTML, failing on anything outside the allowlist or not well formed. */
function safeTags(html: string): Tag[] {
  const tags: Tag[] = [];
  const open: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < html.length) {
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(html);
    assert.ok(match, `not text nor an allowed tag at ${at}: ${JSON.stringify(html.slice(at, at + 60))} in ${JSON.stringify(html)}`);
    const [, text, closing, name, attributeText] = match;
    if (text !== undefined) {
      const stray = text.replace(ENTITY, '');
      assert.doesNotMatch(stray, /&[#\w]+;/, `an unexpected entity in ${JSON.stringify(text)}`);
      continue;
    }
    const allowed = ELEMENTS[name!];
    assert.ok(allowed, `element <${name}> is not allowed in ${JSON.stringify(html)}`);
    if (closing) {
      assert.equal(open.pop(), name, `</${name}> closes what it opened in ${JSON.stringify(html)}`);
      continue;
    }
    const attributes: Record<string, string> = {};
    for (const [, attribute, raw] of attributeText!.matchAll(ATTRIBUTE)) {
      const rule = allowed[attribute!];
      assert.ok(rule, `attribute ${attribute} is not allowed on <${name}> in ${JSON.stringify(html)}`);
      assert.ok(!(attribute! in attributes), `attribute ${attribute} twice`);
      const value = decode(raw!);
      assert.match(value, rule, `${name}[${attribute}] = ${JSON.stringify(value)}`);
      attributes[attribute!] = value;
    }
    if (name === 'a') {
      assert.ok(attributes.href, 'a link has an href');
      assert.equal(attributes.rel, 'noopener noreferrer nofollow');
      assert.equal(attributes.target, '_blank');
    }
    if (!VOID.has(name!)) open.push(name!);
    tags.push({ name: name!, attributes });
  }
  assert.deepEqual(open, [], `every element is closed in ${JSON.stringify(html)}`);
  return tags;
}

const links = (body: string) => safeTags(bodyToHtml(body)).filter((t) => t.name === 'a').map((t) => t.attributes.href);

const HOSTILE = [
  // raw HTML, in every place it might be taken for markup
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '<b onclick="x()">bold</b>',
  '<iframe src="https://evil.test"></iframe>',
  '<div>\n<script>alert(1)</script>\n</div>',
  '<!-- comment --><style>body{display:none}</style>',
  '<svg><script>alert(1)</script></svg>',
  '<a href="javascript:alert(1)">x</a>',
  '`<script>` and ```\n<script>alert(1)</script>\n```',
  '> <script>alert(1)</script>',
  '- <img src=x onerror=alert(1)>',
  '<<script>script>alert(1)<</script>/script>',
  // inline links with dangerous schemes
  '[x](javascript:alert(1))',
  '[x](JavaScript:alert(1))',
  '[x]( javascript:alert(1) )',
  '[x](<javascript:alert(1)>)',
  '[x](javascript&colon;alert(1))',
  '[x](&#106;avascript:alert(1))',
  '[x](&#x6A;avascript:alert(1))',
  '[x](&#0000106&#0000097vascript:alert(1))',
  '[x](java&#x09;script:alert(1))',
  '[x](java%0ascript:alert(1))',
  '[x](\\javascript:alert(1))',
  '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
  '[x](DATA:image/svg+xml,<svg onload=alert(1)>)',
  '[x](vbscript:msgbox(1))',
  '[x](file:///etc/passwd)',
  '[x](//evil.test)',
  '[x](/relative/path)',
  '[x](ftp://files.test/a)',
  // reference links
  '[x][r]\n\n[r]: javascript:alert(1)',
  '[x]\n\n[x]: data:text/html,<script>alert(1)</script>',
  '[x][r]\n\n[r]: <javascript:alert(1)> "title"',
  '[x][r]\n\n[r]: &#106;avascript:alert(1)',
  // autolinks
  '<javascript:alert(1)>',
  '<JAVASCRIPT:alert(1)>',
  '<data:text/html,<script>alert(1)</script>>',
  '<vbscript:msgbox(1)>',
  '<&#106;avascript:alert(1)>',
  'javascript:alert(1)',
  'see javascript://example.com/%0aalert(1)',
  // images (off: shown as links, and only to allowed schemes)
  '![x](javascript:alert(1))',
  '![x](http://images.test/a.png "t")',
  '![x" onerror="alert(1)](http://images.test/a.png)',
  // attributes breaking out of their quotes
  '[x](http://a.test/"onmouseover="alert(1))',
  '[x](http://a.test/ "t" onmouseover="alert(1)")',
  '[x](http://a.test/ "t\\" onmouseover=\\"alert(1)")',
  "[x](http://a.test/ 't\" onmouseover=\"alert(1)')",
  'http://x.test/"onmouseover="alert(1)',
  "http://x.test/'onmouseover='alert(1)",
  'http://x.test/<script>alert(1)</script>',
  '<http://a.test/" onmouseover="alert(1)>',
  '```js" onclick="alert(1)\ncode\n```',
  '```"><script>alert(1)</script>\ncode\n```',
  '``` x=y class="z"\ncode\n```',
  // nested brackets
  '[[x](http://a.test)](javascript:alert(1))',
  '[x]([y](javascript:alert(1)))',
  '[![x](javascript:alert(1))](http://a.test)',
  '[' + '['.repeat(200) + 'x' + ']'.repeat(200) + '](javascript:alert(1))',
  '**[x](javascript:alert(1))**',
  // SSE framing: a body cannot end its event or start another
  'x\r\ndata: <script>alert(1)</script>\r\n\r\nid: 9',
  'x\n\nid: 9\nevent: resync\ndata: y',
  'x\rdata: y\r\rid: 9',
  'line\u2028data: y\u2029id: 9',
  '\n\nretry: 1\n\n',
  // and plain oddities
  '&lt;script&gt; &amp;amp; &#0; &#xD800; &#1114112;',
  '\u0000<script>',
  '*'.repeat(300),
  '> '.repeat(300) + 'deep',
  '- '.repeat(300) + 'deep',
];

describe('the Markdown renderer against hostile bodies', () => {
  for (const body of HOSTILE) {
    it(`makes only allowed elements, attributes and links of ${JSON.stringify(body.slice(0, 70))}`, () => {
      const html = bodyToHtml(body);
      const tags = safeTags(html);
      for (const tag of tags) {
        if (tag.name === 'a') assert.match(tag.attributes.href!, /^(?:https?:\/\/|mailto:)/i);
      }
      assert.doesNotMatch(html, /\r/, 'no carriage return, which would end an SSE line');
      // Framed as an event, it is exactly one event: one blank line, at its end.
      const frame = changeFrame(9, html).frame('html')!.toString();
      assert.equal(frame.indexOf('\n\n'), frame.length - 2, `one event in ${JSON.stringify(frame)}`);
      for (const line of frame.slice(0, -2).split('\n').slice(1)) assert.match(line, /^data: /);
    });
  }

  it('shows raw HTML as the text that was typed', () => {
    assert.equal(bodyToHtml('<b onclick="x()">bold</b> & <i>'), '&lt;b onclick=&quot;x()&quot;&gt;bold&lt;/b&gt; &amp; &lt;i&gt;');
    assert.equal(bodyToHtml('[x](javascript:alert(1))'), '[x](javascript:alert(1))');
    assert.equal(bodyToHtml('<javascript:alert(1)>'), '&lt;javascript:alert(1)&gt;');
  });

  it('renders a body of 5,000 characters in any script, however it is built, within a generous bound', () => {
    const bodies = ['['.repeat(5000), '*a'.repeat(2500), '😀'.repeat(5000), 'кириллица '.repeat(500), '漢字かな'.repeat(1250),
      'a\n'.repeat(2500), '[a](http://x.y) '.repeat(312), 'http://x.y/' + '('.repeat(4989), '> '.repeat(2500), '`a``'.repeat(1250)];
    const started = Date.now();
    for (const body of bodies) safeTags(bodyToHtml(body));
    assert.ok(Date.now() - started < 10_000, 'all rendered within 10 s');
    assert.equal(bodyToHtml('😀'.repeat(5000)), '😀'.repeat(5000));
  });
});

describe('the Markdown renderer', () => {
  it('keeps a one-paragraph body without a <p> and plain text as it was', () => {
    assert.equal(bodyToHtml('Hello, team'), 'Hello, team');
    assert.equal(bodyToHtml('# not a heading'), '# not a heading');
  });

  it('keeps line breaks, and paragraphs', () => {
    assert.equal(bodyToHtml('first\nsecond'), 'first<br>\nsecond');
    assert.equal(bodyToHtml('first\nsecond\n\nthird'), '<p>first<br>\nsecond</p>\n<p>third</p>');
  });

  it('renders emphasis, strong, strikethrough and code spans', () => {
    assert.equal(bodyToHtml('*em* _em_ **strong** ~~gone~~ `a < b`'), '<em>em</em> <em>em</em> <strong>strong</strong> <s>gone</s> <code>a &lt; b</code>');
    assert.equal(bodyToHtml('snake_case_name stays'), 'snake_case_name stays');
  });

  it('renders fenced code as a monospace block, its language as a class, its content as text', () => {
    assert.equal(bodyToHtml('```ts\nconst a = 1 < 2;\n```'), '<pre><code class="language-ts">const a = 1 &lt; 2;\n</code></pre>');
    assert.equal(bodyToHtml('```\n<script>\n```'), '<pre><code>&lt;script&gt;\n</code></pre>');
    assert.equal(bodyToHtml('    indented\n    code'), '<pre><code>indented\ncode\n</code></pre>');
  });

  it('renders block quotes and lists', () => {
    assert.equal(bodyToHtml('> quoted\n> twice'), '<blockquote>\n<p>quoted<br>\ntwice</p>\n</blockquote>');
    assert.equal(bodyToHtml('- one\n- two'), '<ul>\n<li>one</li>\n<li>two</li>\n</ul>');
    assert.equal(bodyToHtml('3. three\n4. four'), '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>');
  });

  it('makes http, https and mailto links, inline, by reference and as autolinks, each opening apart', () => {
    assert.equal(
      bodyToHtml('[the docs](https://example.com/a?b=1&c=2 "Docs")'),
      '<a href="https://example.com/a?b=1&amp;c=2" title="Docs" rel="noopener noreferrer nofollow" target="_blank">the docs</a>',
    );
    assert.deepEqual(links('[x][r]\n\n[r]: http://example.com/r'), ['http://example.com/r']);
    assert.deepEqual(links('<https://example.com/auto>'), ['https://example.com/auto']);
    assert.deepEqual(links('<mailto:ada@example.com>'), ['mailto:ada@example.com']);
    assert.deepEqual(links('write to ada@example.com'), ['mailto:ada@example.com']);
    assert.equal(bodyToHtml('![diagram](https://example.com/d.png)'),
      '!<a href="https://example.com/d.png" rel="noopener noreferrer nofollow" target="_blank">diagram</a>');
  });

  it('makes a bare URL a link whole, balanced parentheses included', () => {
    const rocket = 'https://en.wikipedia.org/wiki/Rocket_(disambiguation)';
    assert.equal(bodyToHtml(`See ${rocket}`), `See <a href="${rocket}" rel="noopener noreferrer nofollow" target="_blank">${rocket}</a>`);
    assert.deepEqual(links(`${rocket}.`), [rocket]);
    assert.equal(bodyToHtml('(see https://x.y/z)'), '(see <a href="https://x.y/z" rel="noopener noreferrer nofollow" target="_blank">https://x.y/z</a>)');
    assert.deepEqual(links('Read https://example.com/a, then https://example.com/b.'), ['https://example.com/a', 'https://example.com/b']);
    assert.deepEqual(links('https://example.com/search?q=a&b=c#top'), ['https://example.com/search?q=a&b=c#top']);
  });

  it('leaves names that only look like domains, and other schemes, as text', () => {
    assert.deepEqual(links('run deploy.sh, then edit main.rs and www.example.com'), []);
    assert.deepEqual(links('ftp://files.example.com/a and //example.com'), []);
  });
});

describe('emoji-only messages', () => {
  it('are one to three emoji and nothing else', () => {
    for (const body of ['👍', '🎉🎉', '👍🏽 ❤️', '🇫🇷', '👨‍👩‍👧', '1️⃣', ' 😀 😂 🙈 ']) assert.ok(isEmojiOnly(body), body);
    for (const body of ['👍👍👍👍', 'ok 👍', '1', '#', '*', ':)', '', ' ', '**👍**']) assert.ok(!isEmojiOnly(body), body);
  });
});
