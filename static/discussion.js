// The discussion page: connection status, one copy of each message in seq order, the composer,
// scrolling, local times. The stream and the POST answers both arrive through htmx swaps.
(() => {
  const stream = document.getElementById('discussion-stream');
  if (!stream) return;
  const messages = document.getElementById('messages');
  const scroller = document.getElementById('message-scroller');
  const pill = document.getElementById('new-messages-pill');
  const composer = document.getElementById('composer');
  const textarea = composer.querySelector('textarea[name=body]');
  const tokenInput = composer.querySelector('input[name=client_token]');
  const composerError = document.getElementById('composer-error');
  const me = document.querySelector('meta[name="current-user-id"]')?.content;
  const seqOf = (m) => Number(m.dataset.seq) || 0;

  // ---- connection status ---------------------------------------------------------------------
  // Status and retries: static/connection.js. Once the stream has ended for good (signed out,
  // access ended), the composer has nothing left to send to.
  tabloConnection.watch(stream, {
    ended: () => {
      composer.querySelectorAll('textarea, button').forEach((el) => (el.disabled = true));
      // No longer here: nobody will send this page a presence list without this reader.
      document.querySelector(`#presence [data-user-id="${CSS.escape(me ?? '')}"]`)?.remove();
    },
  });
  // Who is here now: the same list, rendered by the server, for everyone on this discussion.
  stream.addEventListener('presence', (e) => {
    document.getElementById('presence').innerHTML = e.detail.data;
  });

  // ---- one copy of each message, the newest version, in seq order ----------------------------
  // The composer's answer, change answers, "load older" and the stream all bring message
  // fragments; the sender's stream copy can arrive before or after its POST answer, replays after a
  // reconnect repeat what is shown, and every change to a message brings it again. One rule: per
  // message id, keep the highest data-version shown; an incoming copy replaces the shown one only
  // when its version is higher, and is dropped otherwise.
  const targetOf = (task) => (typeof task.target === 'string' ? document.querySelector(task.target) : task.target);
  document.addEventListener('htmx:before:swap', (e) => {
    for (const task of e.detail.tasks) {
      if (task.type !== 'main' || targetOf(task) !== messages) continue;
      const appending = task.swapSpec?.style === 'beforeend';
      if (!appending) keepScrollPosition();
      for (const node of [...task.fragment.children]) {
        if (!node.id) continue;
        const shown = document.getElementById(node.id);
        if (shown) {
          node.remove();
          showIfNewer(node, shown);
        } else if (appending && node.dataset?.seq) {
          if (beforeWhatIsShown(node)) node.remove(); // "load older" brings it, in its current state
          else insertInOrder(node);
        }
      }
    }
  });

  const versionOf = (m) => Number(m.dataset.version) || 0;

  /** Puts `incoming` in place of `shown` when it is a newer version of it. */
  function showIfNewer(incoming, shown) {
    if (versionOf(incoming) <= versionOf(shown)) return false;
    // The page's own mark (a permalink's highlight) and an open editor survive the swap.
    if (shown.classList.contains('message-highlighted')) incoming.classList.add('message-highlighted');
    const editor = shown.querySelector('.message-editor');
    if (editor && !incoming.hasAttribute('data-deleted')) {
      incoming.querySelector('.message-body')?.setAttribute('hidden', '');
      incoming.append(editor);
    }
    shown.replaceWith(incoming);
    return true;
  }

  /** An incoming copy of a message from a fragment's HTML (a change's answer). */
  function showFragment(html) {
    const template = document.createElement('template');
    template.innerHTML = html.trim();
    const node = template.content.querySelector('article.message');
    if (!node) return;
    const shown = document.getElementById(node.id);
    if (shown) showIfNewer(node, shown);
    else if (!beforeWhatIsShown(node)) {
      messages.append(node);
      insertInOrder(node);
    }
  }

  // Answers to changes made on this page (edit, delete, react) come as fragments too.
  document.addEventListener('tablo:fragment', (e) => showFragment(e.detail.html));

  /** A message older than the oldest shown while older ones remain to be loaded. */
  function beforeWhatIsShown(node) {
    const oldest = messages.querySelector('article.message');
    return Boolean(oldest && document.querySelector('#load-older button') && Number(node.dataset.seq) < seqOf(oldest));
  }

  function insertInOrder(node) {
    const seq = Number(node.dataset.seq);
    let after = null;
    for (let el = messages.lastElementChild; el; el = el.previousElementSibling) {
      if (el === node) continue;
      if (!el.classList.contains('message')) continue; // day separators and the like
      if (Number(el.dataset.seq) > seq) after = el;
      else break;
    }
    if (after) messages.insertBefore(node, after); // otherwise htmx appends it (or it is last already)
  }

  // "Load older" prepends: keep what the reader is looking at where it is.
  function keepScrollPosition() {
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    document.addEventListener('htmx:after:swap', () => {
      scroller.scrollTop = scroller.scrollHeight - fromBottom;
    }, { once: true });
  }

  // A resync means too much was missed to replay: reload the list, keep anything newer.
  stream.addEventListener('resync', async () => {
    const response = await fetch(`${location.pathname}/messages`, { headers: { 'HX-Request': 'true' } });
    if (!response.ok) return;
    const template = document.createElement('template');
    template.innerHTML = await response.text();
    const fresh = [...template.content.querySelectorAll('article.message')];
    const newest = Math.max(0, ...fresh.map((m) => Number(m.dataset.seq)));
    const newer = [...messages.children].filter((m) => Number(m.dataset.seq) > newest);
    messages.replaceChildren(...fresh, ...newer);
    const control = template.content.getElementById('load-older');
    if (control) {
      control.removeAttribute('hx-swap-oob');
      document.getElementById('load-older').replaceWith(control);
      htmx.process(control);
    }
    scrollToBottom();
  });

  // ---- scrolling --------------------------------------------------------------------------------
  const atBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  let stuckToBottom = true;
  const scrollToBottom = () => {
    scroller.scrollTop = scroller.scrollHeight;
    stuckToBottom = true;
    pill.hidden = true;
  };
  scroller.addEventListener('scroll', () => {
    stuckToBottom = atBottom();
    if (stuckToBottom) pill.hidden = true;
  });
  pill.addEventListener('click', scrollToBottom);

  // Sending from this tab always shows the newest message; anything else only if the reader is
  // already at the bottom (otherwise a pill offers to jump down).
  let newestSeen = 0;
  let sentHere = 0;
    new MutationObserver((records) => {
    let arrived = false;
    let mine = false;
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (!(node instanceof HTMLElement) || !node.classList.contains('message')) continue;
        if (seqOf(node) > newestSeen) {
          newestSeen = seqOf(node);
          arrived = true;
          if (sentHere > 0 && node.dataset.authorId === me) {
            sentHere--;
            mine = true;
          }
        }
      }
    }
    if (!arrived) return;
    if (stuckToBottom || mine) scrollToBottom();
    else pill.hidden = false;
  }).observe(messages, { childList: true });

  for (const message of messages.querySelectorAll('.message')) newestSeen = Math.max(newestSeen, seqOf(message));
  // A permalink opens at its message; the discussion otherwise opens at the newest.
  const highlighted = messages.querySelector('.message-highlighted');
  if (highlighted) {
    highlighted.scrollIntoView({ block: 'center' });
    stuckToBottom = atBottom();
  } else {
    scrollToBottom();
  }

  // ---- the composer -------------------------------------------------------------------------
  const newToken = () => [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');

  textarea.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      composer.requestSubmit();
    }
    // Back from the composer goes to the list as a whole, where the reader is, rather than to
    // its last control ("load older" at the top, which would scroll the list away).
    if (e.key === 'Tab' && e.shiftKey) {
      e.preventDefault();
      scroller.focus({ preventScroll: true });
    }
  });

  // The form's fields are read when it is submitted, so the composer can clear at once and the
  // next message can be typed while this one is on its way. Sends from one tab queue up
  // (hx-sync="this:queue all") so they are stored in the order they were written.
  document.addEventListener('htmx:config:request', (e) => {
    const ctx = e.detail.ctx;
    if (ctx.sourceElement !== composer) return;
    ctx.draft = { body: textarea.value, token: tokenInput.value };
    sentHere++;
    textarea.value = '';
    tokenInput.value = newToken();
    textarea.focus();
  });

  document.addEventListener('htmx:after:request', (e) => {
    const ctx = e.detail.ctx;
    if (ctx.sourceElement !== composer || !ctx.draft) return;
    const code = ctx.response?.status ?? 0;
    if (code >= 200 && code < 300) {
      composerError.textContent = '';
      textarea.removeAttribute('aria-invalid');
    } else {
      sentHere = Math.max(0, sentHere - 1);
      restoreDraft(ctx.draft); // the reason is swapped into #composer-error
    }
  });
  document.addEventListener('htmx:error', (e) => {
    const ctx = e.detail.ctx;
    if (ctx?.sourceElement !== composer || !ctx.draft) return;
    sentHere = Math.max(0, sentHere - 1);
    restoreDraft(ctx.draft);
    composerError.textContent = 'Not sent — check your connection and try again.';
  });

  // A message that was not sent goes back into the composer, ahead of anything typed since,
  // with its token: if it was stored after all, sending it again stores nothing new.
  function restoreDraft(draft) {
    if (!textarea.value) tokenInput.value = draft.token;
    textarea.value = textarea.value ? `${draft.body}\n${textarea.value}` : draft.body;
    textarea.setAttribute('aria-invalid', 'true');
    textarea.focus();
  }
})();
