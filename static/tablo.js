// Behaviour shared by every page. No inline script anywhere: the CSP forbids it.
(() => {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? '';

  // Every htmx request carries the CSRF token from the page.
  document.addEventListener('htmx:config:request', (event) => {
    const token = meta('csrf-token');
    if (token) event.detail.ctx.request.headers['X-CSRF-Token'] = token;
  });

  // Messages as this reader sees them: in local time, and their own marked as theirs. The server
  // renders one fragment for everyone, so these per-reader touches happen here.
  const me = meta('current-user-id');
  const sameDay = (a, b) => a.toDateString() === b.toDateString();
  const timeOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const dateAndTime = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  const decorate = (message) => {
    if (message.dataset.authorId === me) message.classList.add('mine');
    // A mention of this reader (by handle, or @all by someone else) stands out, for them only.
    for (const mention of message.querySelectorAll('.mention[data-user-id]')) {
      const mine = mention.dataset.userId === me || (mention.dataset.userId === 'all' && message.dataset.authorId !== me);
      mention.classList.toggle('mention-me', Boolean(me) && mine);
      if (Boolean(me) && mine) message.classList.add('mentions-me');
    }
    const time = message.querySelector('time[datetime]');
    if (!time) return;
    const when = new Date(time.dateTime);
    time.textContent = sameDay(when, new Date()) ? timeOnly.format(when) : dateAndTime.format(when);
    time.title = when.toLocaleString();
  };
  const decorateWithin = (root) => {
    if (root.matches?.('.message')) decorate(root);
    root.querySelectorAll?.('.message').forEach(decorate);
  };
  document.addEventListener('DOMContentLoaded', () => {
    decorateWithin(document.body);
    new MutationObserver((records) => {
      for (const record of records) for (const node of record.addedNodes) if (node.nodeType === 1) decorateWithin(node);
    }).observe(document.body, { childList: true, subtree: true });
  });
})();
