// Pages stay live: the tablo list, invitations and home figures, the member list, the unread count in the tab's
// title. Events come on the page's one stream (a person's own stream, or the discussion's stream,
// which carries them too) and say only *what* changed; the page then re-reads its own view.
(() => {
  const source = document.getElementById('personal-stream') ?? document.getElementById('discussion-stream');
  if (!source) return;
  const tabloId = Number(document.querySelector('[data-tablo-id]')?.dataset.tabloId) || undefined;
  let baseTitle = document.title.replace(/^\(\d+\) /, '');
  const present = (id) => document.getElementById(id);

  const showUnread = (count) => {
    document.title = count > 0 ? `(${count}) ${baseTitle}` : baseTitle;
  };

  // Bursts of events make one refresh of each kind.
  const due = new Map();
  const soon = (refresh) => {
    if (!due.has(refresh)) due.set(refresh, setTimeout(() => (due.delete(refresh), refresh()), 250));
  };

  async function refreshTitle() {
    const response = await fetch('/unread', { headers: { 'HX-Request': 'true' } });
    if (response.ok) showUnread(Number(await response.text()) || 0);
  }
  async function refreshHome() {
    await htmx.ajax('GET', '/tablos', { target: '#tablo-home', swap: 'outerHTML' });
    showUnread(Number(present('tablo-home')?.dataset.unreadTotal) || 0);
  }
  // The member list, re-read. A 404 means this person is no longer a member (removed, or the
  // tablo deleted): the page has nothing left to show them.
  async function refreshMembers() {
    const response = await fetch(`/tablos/${tabloId}/members`, { headers: { 'HX-Request': 'true' } });
    if (response.status === 404) return location.assign('/tablos');
    const current = present('member-section');
    if (!response.ok || !current) return;
    const template = document.createElement('template');
    template.innerHTML = await response.text();
    const fresh = template.content.getElementById('member-section');
    if (!fresh) return;
    // Keep an email being typed into the add-member form.
    const typing = current.querySelector('#add-member input[name=email]');
    const field = fresh.querySelector('#add-member input[name=email]');
    const focused = typing && document.activeElement === typing;
    if (typing?.value && field && !field.value) field.value = typing.value;
    current.replaceWith(fresh);
    htmx.process(fresh);
    if (focused) field?.focus();
  }
  const refreshAll = () => {
    if (present('tablo-home')) soon(refreshHome);
    else soon(refreshTitle);
    if (present('member-section')) soon(refreshMembers);
  };

  const about = (event) => {
    try {
      return JSON.parse(event.detail?.data ?? '{}');
    } catch {
      return {};
    }
  };

  source.addEventListener('activity', () => (present('tablo-home') ? soon(refreshHome) : soon(refreshTitle)));
  source.addEventListener('online', () => present('tablo-home') && soon(refreshHome));
  source.addEventListener('members', (e) => {
    if (present('tablo-home')) soon(refreshHome);
    if (about(e).tablo === tabloId && present('member-section')) soon(refreshMembers);
  });
  // An invitation for this person (on /tablos), or one of this tablo's, made, answered or taken back.
  source.addEventListener('invitations', (e) => {
    if (present('tablo-home')) soon(refreshHome);
    if (about(e).tablo === tabloId && present('member-section')) soon(refreshMembers);
  });
  source.addEventListener('tablo', (e) => {
    const { tablo, change } = about(e);
    if (present('tablo-home')) soon(refreshHome);
    else if (tablo === tabloId && source.id === 'personal-stream') {
      if (change === 'deleted') location.assign('/tablos');
      else location.reload();
    } else if (tablo === tabloId && change === 'renamed') {
      soon(refreshTitleOfTablo); // a discussion: keep the composer, change the names
    }
  });
  // This person read something (in another tab, or this one): counts elsewhere went down.
  source.addEventListener('read', () => (present('tablo-home') ? soon(refreshHome) : soon(refreshTitle)));

  async function refreshTitleOfTablo() {
    const response = await fetch(`/tablos/${tabloId}`);
    if (!response.ok) return;
    const title = new DOMParser().parseFromString(await response.text(), 'text/html').querySelector('h1')?.textContent;
    if (!title) return;
    document.querySelector('.discussion-title h1').textContent = title;
    document.querySelector('.discussion-title .crumbs a:last-child').textContent = title;
    baseTitle = `${title} · Tablo`;
    soon(refreshTitle);
  }

  // Back after a gap (a hidden tab, a restart): what the page shows may be stale.
  document.addEventListener('htmx:sse:after:connection', (e) => {
    if (e.target === source && e.detail.connection.attempt > 0) refreshAll();
  });

  if (source.id !== 'personal-stream') return; // the discussion page handles its own stream's life
  // Whether the person's stream is connected, for whoever needs to know (styles, tests).
  source.dataset.state = 'connecting';
  document.addEventListener('htmx:sse:after:connection', (e) => {
    if (e.target === source) source.dataset.state = 'live';
  });
  for (const name of ['htmx:sse:error', 'htmx:sse:close']) {
    document.addEventListener(name, (e) => {
      if (e.target === source) source.dataset.state = 'offline';
    });
  }
  source.addEventListener('signed-out', () => location.assign('/login'));
  // htmx never retries a first connection that failed; retry it, and stop for good on 401.
  let failures = 0;
  document.addEventListener('htmx:finally:request', (e) => {
    if (e.detail.ctx.sourceElement !== source) return;
    const code = e.detail.ctx.response?.status;
    if (code && code < 400) return (failures = 0);
    if (code === 401) return source.remove();
    const delay = Math.min(500 * 2 ** failures++, 15000) * (0.7 + Math.random() * 0.6);
    setTimeout(() => htmx.trigger(source, 'sse:retry'), delay);
  });
  document.addEventListener('htmx:sse:error', (e) => {
    if (e.target === source && e.detail.status === 401) source.remove();
  });
})();
