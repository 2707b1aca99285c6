// The discussion page: connection status, one copy of each message in seq order, the composer,
// scrolling, local times. The stream and the POST answers both arrive through htmx swaps.
(() => {
  const stream = document.getElementById('discussion-stream');
  if (!stream) return;
  const messages = document.getElementById('messages');
  const scroller = document.getElementById('message-scroller');
  const status = document.getElementById('live-status');
  const statusText = status.querySelector('.live-status-text');
  const pill = document.getElementById('new-messages-pill');
  const composer = document.getElementById('composer');
  const textarea = composer.querySelector('textarea[name=body]');
  const tokenInput = composer.querySelector('input[name=client_token]');
  const composerError = document.getElementById('composer-error');
  const me = document.querySelector('meta[name="current-user-id"]')?.content;

  // ---- connection status ---------------------------------------------------------------------
  const WORDS = { connecting: 'Connecting…', live: 'Live', offline: 'Offline — reconnecting…' };
  let ended = false;
  const setState = (state, words) => {
    if (ended) return;
    status.dataset.state = state;
    statusText.textContent = words ?? WORDS[state];
  };
  // The page's own words are for readers without JavaScript, whose page never connects.
  setState('connecting');
  const isStream = (event) => event.target === stream;

  let failures = 0;
  document.addEventListener('htmx:sse:after:connection', (e) => {
    if (!isStream(e)) return;
    failures = 0;
    setState('live');
  });
  document.addEventListener('htmx:sse:before:connection', (e) => {
    if (isStream(e) && e.detail.connection.attempt > 0) setState('offline');
  });
  document.addEventListener('htmx:sse:error', (e) => {
    if (!isStream(e)) return;
    if (e.detail.status === 401) endStream('signed-out');
    else if (e.detail.status === 404) endStream('access-ended');
    else setState('offline');
  });
  document.addEventListener('htmx:sse:close', (e) => {
    if (isStream(e)) setState('offline');
  });
  window.addEventListener('offline', () => setState('offline'));

  // htmx never retries a first connection that failed (server down, 503): retry it ourselves.
  document.addEventListener('htmx:finally:request', (e) => {
    if (e.detail.ctx.sourceElement !== stream) return;
    const code = e.detail.ctx.response?.status;
    if (code && code < 400) return;
    if (code === 401) return endStream('signed-out');
    if (code === 404) return endStream('access-ended');
    setState('offline');
    const delay = Math.min(500 * 2 ** failures++, 15000) * (0.7 + Math.random() * 0.6);
    setTimeout(() => htmx.trigger(stream, 'sse:retry'), delay);
  });

  stream.addEventListener('signed-out', () => endStream('signed-out'));
  stream.addEventListener('access-ended', () => endStream('access-ended'));
  stream.addEventListener('server-restarting', () => setState('offline'));
  // Who is here now: the same list, rendered by the server, for everyone on this discussion.
  stream.addEventListener('presence', (e) => {
    document.getElementById('presence').innerHTML = e.detail.data;
  });

  function endStream(why) {
    setState('offline', why === 'signed-out'
      ? 'Signed out — sign in again to keep reading'
      : 'Your access to this tablo has ended');
    ended = true;
    status.dataset.ended = why;
    stream.remove(); // stops the extension's reconnect loop
    // No longer here: nobody will send this page a presence list without this reader.
    document.querySelector(`#presence [data-user-id="${CSS.escape(me ?? '')}"]`)?.remove();
    composer.querySelectorAll('textarea, button').forEach((el) => (el.disabled = true));
  }

  // ---- one copy of each message, in seq order -------------------------------------------------
  // Both the composer's answer and the stream swap into #messages; the sender's stream copy can
  // arrive before or after its POST answer, and replays after a reconnect repeat what is shown.
  const targetOf = (task) => (typeof task.target === 'string' ? document.querySelector(task.target) : task.target);
  document.addEventListener('htmx:before:swap', (e) => {
    for (const task of e.detail.tasks) {
      if (task.type !== 'main' || targetOf(task) !== messages) continue;
      const appending = task.swapSpec?.style === 'beforeend';
      if (!appending) keepScrollPosition();
      for (const node of [...task.fragment.children]) {
        if (node.id && document.getElementById(node.id)) node.remove();
        else if (appending && node.dataset?.seq) insertInOrder(node);
      }
    }
  });

  function insertInOrder(node) {
    const seq = Number(node.dataset.seq);
    let after = null;
    for (let el = messages.lastElementChild; el; el = el.previousElementSibling) {
      if (!el.classList.contains('message')) continue; // day separators and the like
      if (Number(el.dataset.seq) > seq) after = el;
      else break;
    }
    if (after) messages.insertBefore(node, after); // otherwise htmx appends it
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
  const seqOf = (m) => Number(m.dataset.seq) || 0;
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
  scrollToBottom();

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
