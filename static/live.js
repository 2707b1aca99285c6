// Pages stay live: the tablo list, invitations and home figures, the member list, the unread count in the tab's
// title. Events come on the page's one stream (a person's own stream, or the discussion's stream,
// which carries them too) and say only *what* changed; the page then re-reads its own view.
(() => {
  const source = document.getElementById('personal-stream') ?? document.getElementById('discussion-stream');
  if (!source) return;
  const tabloId = Number(document.querySelector('[data-tablo-id]')?.dataset.tabloId) || undefined;
  let baseTitle = document.title.replace(/^\((?:@\d+ · )?\d+\) /, '');
  const present = (id) => document.getElementById(id);

  // "(@2 · 5) Tablo": mentions of me first, when there are any, then everything unread.
  const showUnread = (count, mentions = 0) => {
    const prefix = mentions > 0 ? `(@${mentions} · ${count}) ` : count > 0 ? `(${count}) ` : '';
    document.title = `${prefix}${baseTitle}`;
  };

  // Bursts of events make one refresh of each kind. A refresh that fails (the server is down or
  // restarting, the network gone) is simply skipped: the stream comes back, and the page is
  // re-read then (tablo:back).
  const due = new Map();
  const soon = (refresh) => {
    if (due.has(refresh)) return;
    due.set(refresh, setTimeout(() => {
      due.delete(refresh);
      refresh().catch(() => {});
    }, 250));
  };
  /** A page or fragment read as the page would read it; undefined unless it answered 2xx. */
  async function reread(url) {
    const response = await fetch(url, { headers: { 'HX-Request': 'true' } });
    return response.ok ? response.text() : undefined;
  }
  const parse = (html) => {
    const template = document.createElement('template');
    template.innerHTML = html;
    return template.content;
  };

  async function refreshTitle() {
    const response = await fetch('/unread', { headers: { 'HX-Request': 'true', Accept: 'application/json' } });
    if (!response.ok) return;
    const { unread, mentions } = await response.json();
    showUnread(Number(unread) || 0, Number(mentions) || 0);
  }
  // Read with fetch rather than htmx.ajax: htmx would swap an error answer (a 503) into the page.
  async function refreshHome() {
    const html = await reread('/tablos');
    const fresh = html === undefined ? undefined : parse(html).getElementById('tablo-home');
    const current = present('tablo-home');
    if (!fresh || !current) return;
    current.replaceWith(fresh);
    htmx.process(fresh);
    showUnread(Number(fresh.dataset.unreadTotal) || 0, Number(fresh.dataset.mentionTotal) || 0);
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
  // /people and a profile: the part that changes, re-read whole (counts, shared tablos, latest messages).
  async function refreshPart(id) {
    const html = await reread(location.pathname);
    const fresh = html === undefined ? undefined : parse(html).getElementById(id);
    const current = present(id);
    if (!fresh || !current) return;
    current.replaceWith(fresh);
    htmx.process(fresh);
  }
  const refreshPeople = () => refreshPart('people-section');
  const refreshProfile = () => refreshPart('profile');
  const refreshPeopleViews = () => {
    if (present('people-section')) soon(refreshPeople);
    if (present('profile')) soon(refreshProfile);
  };

  const refreshAll = () => {
    refreshPeopleViews();
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
  source.addEventListener('activity', refreshPeopleViews);
  source.addEventListener('tablo', refreshPeopleViews);
  source.addEventListener('online', () => present('tablo-home') && soon(refreshHome));
  source.addEventListener('members', (e) => {
    refreshPeopleViews();
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
    const title = parse(await response.text()).querySelector('h1')?.textContent;
    if (!title) return;
    document.querySelector('.discussion-title h1').textContent = title;
    document.querySelector('.discussion-title .crumbs a:last-child').textContent = title;
    baseTitle = `${title} · Tablo`;
    soon(refreshTitle);
  }

  // Back after a gap (a hidden tab, a restart, the database away): what the page shows may be stale.
  source.addEventListener('tablo:back', refreshAll);

  if (source.id !== 'personal-stream') return; // the discussion page watches its own stream
  // Status and retries: static/connection.js. Signed out: the page has nothing left to show.
  tabloConnection.watch(source, { ended: () => location.assign('/login') });
})();
