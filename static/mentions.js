// The composer's @-autocomplete: typing "@" and the start of a handle or name offers the tablo's
// members (and @all). ↑/↓ choose, Enter or Tab pick, Escape closes; a tap or click picks too.
(() => {
  const textarea = document.getElementById('composer-body');
  const tabloId = document.querySelector('[data-tablo-id]')?.dataset.tabloId;
  if (!textarea || !tabloId) return;
  const me = document.querySelector('meta[name="current-user-id"]')?.getAttribute('content') ?? '';
  const SHOWN = 8;
  const FRESH_MS = 30_000;
  // What may precede an "@" that starts a mention (as the server reads it: src/discussion/mention-rule.ts).
  const TYPING_MENTION = /(^|[\s([{"'“‘«*_~>,;!?])@([A-Za-z0-9_-]{0,30})$/;

  const list = document.createElement('ul');
  list.id = 'mention-suggestions';
  list.className = 'mention-suggestions';
  list.setAttribute('role', 'listbox');
  list.setAttribute('aria-label', 'People to mention');
  list.hidden = true;
  textarea.before(list);
  textarea.setAttribute('aria-autocomplete', 'list');
  textarea.setAttribute('aria-controls', list.id);
  textarea.setAttribute('aria-expanded', 'false');

  let members;
  let loadedAt = 0;
  async function membersHere() {
    if (members && Date.now() - loadedAt < FRESH_MS) return members;
    const response = await fetch(`/tablos/${tabloId}/handles`, { headers: { Accept: 'application/json' } });
    if (response.ok) {
      members = (await response.json()).members;
      loadedAt = Date.now();
    }
    return members ?? [];
  }

  let typed; // { start, text }: the "@…" being typed, from its "@" to the caret
  let shown = [];
  let active = 0;
  let asked = 0;

  function typedMention() {
    const caret = textarea.selectionStart;
    if (caret !== textarea.selectionEnd) return undefined;
    const match = TYPING_MENTION.exec(textarea.value.slice(0, caret));
    return match ? { start: caret - match[2].length - 1, text: match[2].toLowerCase() } : undefined;
  }

  const matches = (person, text) =>
    person.handle.toLowerCase().startsWith(text) || person.name.toLowerCase().split(/\s+/).some((word) => word.startsWith(text));

  async function update() {
    const now = typedMention();
    const ask = ++asked;
    if (!now) return close();
    const people = await membersHere();
    if (ask !== asked) return; // typing went on meanwhile
    typed = now;
    const others = people.filter((p) => String(p.id) !== me && matches(p, now.text));
    others.sort((a, b) => Number(!a.handle.toLowerCase().startsWith(now.text)) - Number(!b.handle.toLowerCase().startsWith(now.text)));
    const everyone = 'all'.startsWith(now.text) ? [{ id: 'all', handle: 'all', name: 'Everyone in this tablo' }] : [];
    shown = [...others, ...everyone].slice(0, SHOWN);
    active = 0;
    render();
  }

  function render() {
    list.replaceChildren(
      ...shown.map((person, index) => {
        const item = document.createElement('li');
        item.id = `mention-option-${index}`;
        item.className = 'mention-option';
        item.setAttribute('role', 'option');
        item.setAttribute('aria-selected', String(index === active));
        item.dataset.handle = person.handle;
        const handle = document.createElement('span');
        handle.className = 'mention-option-handle';
        handle.textContent = `@${person.handle}`;
        const name = document.createElement('span');
        name.className = 'mention-option-name';
        name.textContent = person.name;
        item.append(handle, ' ', name);
        return item;
      }),
    );
    const open = shown.length > 0;
    list.hidden = !open;
    textarea.setAttribute('aria-expanded', String(open));
    if (open) textarea.setAttribute('aria-activedescendant', `mention-option-${active}`);
    else textarea.removeAttribute('aria-activedescendant');
  }

  function close() {
    shown = [];
    typed = undefined;
    render();
  }

  function pick(index) {
    const person = shown[index];
    if (!person || !typed) return close();
    const caret = textarea.selectionStart;
    const inserted = `@${person.handle} `;
    textarea.setRangeText(inserted, typed.start, caret, 'end');
    close();
    textarea.focus();
    textarea.dispatchEvent(new Event('input', { bubbles: true }));
  }

  textarea.addEventListener('input', () => void update().catch(close));
  textarea.addEventListener('click', () => void update().catch(close));
  textarea.addEventListener('blur', () => setTimeout(() => document.activeElement !== textarea && close(), 150));
  // Capture: the list has the keys before the composer's own (Enter sends, ↑ edits the last message).
  textarea.addEventListener(
    'keydown',
    (e) => {
      if (list.hidden || e.isComposing) return;
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        active = (active + (e.key === 'ArrowDown' ? 1 : shown.length - 1)) % shown.length;
        render();
      } else if ((e.key === 'Enter' || e.key === 'Tab') && !e.shiftKey) {
        pick(active);
      } else if (e.key === 'Escape') {
        close();
      } else {
        return;
      }
      e.preventDefault();
      e.stopImmediatePropagation();
    },
    { capture: true },
  );
  // A tap or click picks; pressing does not take the focus (and a phone's keyboard) from the composer.
  list.addEventListener('pointerdown', (e) => e.preventDefault());
  list.addEventListener('click', (e) => {
    const item = e.target.closest('.mention-option');
    if (item) pick([...list.children].indexOf(item));
  });
})();
