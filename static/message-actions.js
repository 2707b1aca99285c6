// What a reader can do with a message: react, reply, copy its link, and — on their own messages
// (or as the tablo's owner) — edit and delete. The fragment is the same for everyone; which
// controls this reader gets is decided here from data-author-id, the reader's id and the owner's
// id. The server checks again.
(() => {
  const messages = document.getElementById('messages');
  const discussion = document.querySelector('.discussion[data-tablo-id]');
  if (!messages || !discussion) return;
  const tabloId = discussion.dataset.tabloId;
  const ownerId = discussion.dataset.ownerId;
  const me = document.querySelector('meta[name="current-user-id"]')?.content;
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? '';
  const composer = document.getElementById('composer');
  const composerBody = composer?.querySelector('textarea[name=body]');
  const replyInput = composer?.querySelector('input[name=reply_to]');
  const replyBanner = document.getElementById('composer-reply');
  const QUICK = ['👍', '❤️', '😂', '🎉', '👀', '✅'];
  const base = `/tablos/${tabloId}/discussion/messages`;

  // ---- controls on each message -----------------------------------------------------------------
  function decorate(article) {
    if (!(article instanceof HTMLElement) || !article.matches('article.message')) return;
    for (const reaction of article.querySelectorAll('.reaction')) {
      const mine = (reaction.dataset.userIds ?? '').split(' ').includes(me);
      reaction.classList.toggle('mine', mine);
      reaction.setAttribute('aria-pressed', String(mine));
    }
    if (article.hasAttribute('data-deleted') || article.querySelector(':scope > .message-actions')) return;
    const mine = article.dataset.authorId === me;
    const actions = document.createElement('div');
    actions.className = 'message-actions';
    const add = (action, label) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'message-action';
      button.dataset.action = action;
      button.textContent = label;
      actions.append(button);
    };
    add('react', 'React');
    add('reply', 'Reply');
    add('copy-link', 'Copy link');
    if (mine) add('edit', 'Edit');
    if (mine || me === ownerId) add('delete', 'Delete');
    article.append(actions);
  }

  for (const article of messages.querySelectorAll('article.message')) decorate(article);
  new MutationObserver((records) => {
    for (const record of records) for (const node of record.addedNodes) decorate(node);
  }).observe(messages, { childList: true });

  messages.addEventListener('click', (e) => {
    const target = e.target instanceof Element ? e.target : null;
    const article = target?.closest('article.message');
    if (!target || !article) return;
    const link = target.closest('.message-reply a');
    if (link) return jumpTo(e, link);
    const reaction = target.closest('.reaction');
    if (reaction) return void react(article, reaction.dataset.emoji);
    const pick = target.closest('.reaction-picker [data-emoji]');
    if (pick) return void react(article, pick.dataset.emoji);
    const action = target.closest('.message-action')?.dataset.action;
    if (action === 'react') togglePicker(article);
    else if (action === 'reply') replyTo(article);
    else if (action === 'copy-link') copyLink(article, target.closest('.message-action'));
    else if (action === 'edit') void openEditor(article);
    else if (action === 'delete') void remove(article);
    else if (target.closest('.message-editor-cancel')) {
      e.preventDefault();
      closeEditor(article);
    }
  });

  /** Sends a change as htmx would, and shows the answer (the changed message's fragment). */
  async function change(article, path, fields) {
    const response = await fetch(`${base}/${article.id.replace('message-', '')}/${path}`, {
      method: 'POST',
      headers: { 'HX-Request': 'true', 'X-CSRF-Token': csrf(), 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    }).catch(() => undefined);
    if (response?.ok) document.dispatchEvent(new CustomEvent('tablo:fragment', { detail: { html: await response.text() } }));
    return response;
  }

  // ---- reactions -------------------------------------------------------------------------------
  async function react(article, emoji) {
    if (!emoji) return;
    article.querySelector('.reaction-picker')?.remove();
    await change(article, 'reactions', { emoji });
  }

  function togglePicker(article) {
    const open = article.querySelector('.reaction-picker');
    if (open) return open.remove();
    const picker = document.createElement('div');
    picker.className = 'reaction-picker';
    for (const emoji of QUICK) {
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.emoji = emoji;
      button.textContent = emoji;
      button.setAttribute('aria-label', `React with ${emoji}`);
      picker.append(button);
    }
    const form = document.createElement('form');
    form.className = 'reaction-custom';
    const input = document.createElement('input');
    input.type = 'text';
    input.name = 'emoji';
    input.maxLength = 16;
    input.placeholder = 'Any emoji or word';
    input.setAttribute('aria-label', 'Your own reaction');
    const add = document.createElement('button');
    add.type = 'submit';
    add.textContent = 'Add';
    form.append(input, add);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void react(article, input.value.trim());
    });
    picker.append(form);
    picker.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') picker.remove();
    });
    article.append(picker);
    picker.querySelector('button')?.focus();
  }

  // ---- edit and delete -------------------------------------------------------------------------
  async function openEditor(article) {
    if (article.querySelector('.message-editor')) return article.querySelector('.message-editor textarea')?.focus();
    const response = await fetch(`${base}/${article.id.replace('message-', '')}/edit`, { headers: { 'HX-Request': 'true' } }).catch(() => undefined);
    if (!response?.ok) return;
    const template = document.createElement('template');
    template.innerHTML = (await response.text()).trim();
    const form = template.content.querySelector('form.message-editor');
    // The message may have changed (or gone) while the form was on its way.
    const current = document.getElementById(article.id);
    if (!form || !current || current.hasAttribute('data-deleted') || current.querySelector('.message-editor')) return;
    current.querySelector('.message-body')?.setAttribute('hidden', '');
    current.append(form);
    const textarea = form.querySelector('textarea');
    textarea.focus();
    textarea.setSelectionRange(textarea.value.length, textarea.value.length);
  }

  function closeEditor(article) {
    article.querySelector('.message-editor')?.remove();
    article.querySelector('.message-body')?.removeAttribute('hidden');
    composerBody?.focus();
  }

  messages.addEventListener('submit', async (e) => {
    const form = e.target instanceof HTMLFormElement && e.target.matches('.message-editor') ? e.target : null;
    if (!form) return;
    e.preventDefault();
    const article = form.closest('article.message');
    const body = form.querySelector('textarea').value;
    const response = await change(article, 'edit', { body });
    if (!response) form.querySelector('.message-editor-error').textContent = 'Not saved — check your connection and try again.';
    else if (!response.ok) form.querySelector('.message-editor-error').textContent = response.status === 422 ? editError(await response.text()) : 'This message can no longer be edited.';
    else if (document.getElementById(article.id)?.querySelector('.message-editor')) closeEditor(document.getElementById(article.id));
    else composerBody?.focus();
  });

  /** The reason in a 422 answer (the edit form, re-rendered with its message). */
  function editError(html) {
    const template = document.createElement('template');
    template.innerHTML = html;
    return template.content.querySelector('.message-editor-error')?.textContent || 'This cannot be saved.';
  }

  messages.addEventListener('keydown', (e) => {
    const textarea = e.target instanceof HTMLTextAreaElement && e.target.closest('.message-editor') ? e.target : null;
    if (!textarea) return;
    const article = textarea.closest('article.message');
    if (e.key === 'Escape') {
      e.preventDefault();
      closeEditor(article);
    } else if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      textarea.form.requestSubmit();
    }
  });

  // ↑ in an empty composer edits one's last message.
  composerBody?.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowUp' || composerBody.value !== '' || e.shiftKey || e.altKey || e.ctrlKey || e.metaKey) return;
    const own = [...messages.querySelectorAll('article.message:not([data-deleted])')].filter((m) => m.dataset.authorId === me);
    const last = own.at(-1);
    if (!last) return;
    e.preventDefault();
    last.scrollIntoView({ block: 'nearest' });
    void openEditor(last);
  });

  async function remove(article) {
    if (!window.confirm('Delete this message? Everyone in this tablo will stop seeing it.')) return;
    await change(article, 'delete', {});
  }

  // ---- replies -----------------------------------------------------------------------------------
  function replyTo(article) {
    if (!replyInput || !replyBanner) return;
    replyInput.value = article.id.replace('message-', '');
    const author = article.querySelector('.message-author')?.textContent ?? '';
    const text = (article.querySelector('.message-body')?.textContent ?? '').replace(/\s+/g, ' ').trim();
    replyBanner.querySelector('.composer-reply-text').textContent = `Replying to ${author}: ${text.length > 60 ? `${text.slice(0, 60)}…` : text}`;
    replyBanner.hidden = false;
    composerBody?.focus();
  }

  function cancelReply() {
    if (replyInput) replyInput.value = '';
    if (replyBanner) replyBanner.hidden = true;
  }
  replyBanner?.querySelector('.composer-reply-cancel')?.addEventListener('click', () => {
    cancelReply();
    composerBody?.focus();
  });
  // The composer's fields are read when it is sent: the reply is cleared with the text (and
  // comes back with it if the message was not sent).
  document.addEventListener('htmx:config:request', (e) => {
    const ctx = e.detail.ctx;
    if (ctx.sourceElement !== composer) return;
    ctx.replyTo = replyInput?.value ?? '';
    ctx.replyText = replyBanner?.querySelector('.composer-reply-text')?.textContent ?? '';
    cancelReply();
  });
  const restoreReply = (ctx) => {
    if (!ctx?.replyTo || !replyInput || !replyBanner || replyInput.value) return;
    replyInput.value = ctx.replyTo;
    replyBanner.querySelector('.composer-reply-text').textContent = ctx.replyText;
    replyBanner.hidden = false;
  };
  document.addEventListener('htmx:after:request', (e) => {
    const ctx = e.detail.ctx;
    const code = ctx?.response?.status ?? 0;
    if (ctx?.sourceElement === composer && !(code >= 200 && code < 300)) restoreReply(ctx);
  });
  document.addEventListener('htmx:error', (e) => {
    if (e.detail.ctx?.sourceElement === composer) restoreReply(e.detail.ctx);
  });

  /** A reply's link: to the original when it is shown, else to its permalink. */
  function jumpTo(e, link) {
    e.preventDefault();
    const original = document.getElementById(link.getAttribute('href').slice(1));
    if (!original) {
      location.assign(`${base}/${link.dataset.messageId}`);
      return;
    }
    original.scrollIntoView({ block: 'center', behavior: 'smooth' });
    original.classList.remove('message-flash');
    void original.offsetWidth; // restart the animation
    original.classList.add('message-flash');
  }

  // ---- copy link -------------------------------------------------------------------------------
  async function copyLink(article, button) {
    const url = new URL(`/tablos/${tabloId}/discussion?at=${article.dataset.seq}`, location.href).href;
    let copied = false;
    try {
      await navigator.clipboard.writeText(url);
      copied = true;
    } catch {
      // No clipboard (an insecure origin, a refused permission): select it for the reader to copy.
      window.prompt('Copy this link:', url);
    }
    if (copied && button) {
      button.textContent = 'Link copied';
      setTimeout(() => (button.textContent = 'Copy link'), 1500);
    }
  }
})();
