// Notifications outside the visible tab.
// - "Turn on notifications" asks the browser's permission only when pressed; once granted, this
//   browser gets Web Push through the service worker (/sw.js), subscribed with the server's VAPID
//   key (/push/key → /push/subscriptions).
// - A hidden tab keeps its discussion stream open (hx-config on the stream turns htmx's
//   pauseOnBackground off) and tells the server it is hidden by reconnecting with `hidden=1`, and
//   again without it once visible: a hidden tab is not "here", and reads nothing.
// - Messages that arrive while the tab is hidden are shown as desktop notifications (within the
//   person's level for this tablo); clicking one brings the tab back at that message. A push for
//   the same message carries the same tag, so the person sees one notification, not two.
(() => {
  const canNotify = 'Notification' in window;
  const canPush = canNotify && 'serviceWorker' in navigator && 'PushManager' in window;
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? '';
  const me = document.querySelector('meta[name="current-user-id"]')?.content;

  // ---- Web Push ---------------------------------------------------------------------------------
  const keyBytes = (base64url) => {
    const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
    return Uint8Array.from(atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4)), (c) => c.charCodeAt(0));
  };

  async function subscribeToPush() {
    if (!canPush || !me) return;
    const registration = await navigator.serviceWorker.register('/sw.js');
    await navigator.serviceWorker.ready;
    const key = await (await fetch('/push/key')).text();
    const subscription =
      (await registration.pushManager.getSubscription()) ??
      (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key.trim()) }));
    // Told once per person and endpoint, not on every page.
    const told = `tablo.push:${me}`;
    if (localStorage.getItem(told) === subscription.endpoint) return;
    const response = await fetch('/push/subscriptions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf() },
      body: JSON.stringify(subscription),
    });
    if (response.ok) localStorage.setItem(told, subscription.endpoint);
  }
  // Already allowed: keep this browser's subscription known to the server (it may have changed,
  // or another person may be signed in now).
  const subscribeQuietly = () => subscribeToPush().catch((error) => console.warn('Push is not available here:', error));
  if (canNotify && Notification.permission === 'granted') subscribeQuietly();

  const enable = document.getElementById('notifications-enable');
  if (enable && canNotify && Notification.permission === 'default') {
    enable.hidden = false;
    enable.addEventListener('click', async () => {
      const permission = await Notification.requestPermission();
      if (permission !== 'default') enable.hidden = true;
      if (permission === 'granted') subscribeQuietly();
    });
  }

  // ---- the discussion in a hidden tab -----------------------------------------------------------
  const stream = document.getElementById('discussion-stream');
  if (!stream) return;
  const section = stream.closest('.discussion');
  const tabloId = section?.dataset.tabloId;

  // The stream's request (htmx reuses it for every reconnect): its URL says whether the tab is hidden.
  let request;
  const withVisibility = (action) => {
    const url = new URL(action, location.href);
    if (document.hidden) url.searchParams.set('hidden', '1');
    else url.searchParams.delete('hidden');
    return url.pathname + url.search;
  };
  document.addEventListener('htmx:config:request', (e) => {
    if (e.detail.ctx.sourceElement !== stream) return;
    request = e.detail.ctx.request;
    request.action = withVisibility(request.action);
  });
  document.addEventListener('visibilitychange', () => {
    if (!request || !stream.isConnected) return;
    const action = withVisibility(request.action);
    if (action === request.action) return;
    request.action = action;
    // Ends the current response; htmx reconnects at once with the new URL and Last-Event-ID.
    const connection = stream._htmx?.sse;
    if (connection?.reader) {
      stream.dataset.reconnecting = 'quiet';
      connection.reader.cancel();
    }
  });

  // ---- desktop notifications for messages that arrive while hidden ------------------------------
  const notified = new Set();
  const levelNow = () => document.getElementById('notification-level')?.dataset.level ?? 'all';
  const mentionsMe = (article) =>
    Boolean(article.querySelector(`.mention[data-user-id="${CSS.escape(me ?? '')}"]`)) ||
    /(^|[^A-Za-z0-9_-])@all\b/i.test(article.querySelector('.message-body')?.textContent ?? '');

  document.addEventListener('htmx:sse:before:message', (e) => {
    if (e.target !== stream || e.detail.message.event || !document.hidden) return;
    if (!canNotify || Notification.permission !== 'granted') return;
    const template = document.createElement('template');
    template.innerHTML = e.detail.message.data.trim();
    const article = template.content.querySelector('article.message');
    // New messages only (version 1), by someone else, within this person's level.
    if (!article || article.dataset.version !== '1' || article.hasAttribute('data-deleted')) return;
    if (article.dataset.authorId === me || notified.has(article.id)) return;
    const level = levelNow();
    if (level === 'none' || (level === 'mentions' && !mentionsMe(article))) return;
    notified.add(article.id);
    const author = article.querySelector('.message-author')?.textContent.trim() || 'Someone';
    const title = document.querySelector('.discussion h1')?.textContent.trim() || 'Tablo';
    const body = (article.querySelector('.message-body')?.textContent ?? '').replace(/\s+/g, ' ').trim();
    const notification = new Notification(`${author} in ${title}`, {
      body: body.length > 120 ? `${body.slice(0, 119)}…` : body,
      tag: `tablo-${tabloId}-${article.dataset.seq}`,
      icon: '/static/icon-192.png',
    });
    notification.addEventListener('click', () => {
      window.focus();
      notification.close();
      const shown = document.getElementById(article.id);
      if (!shown) {
        location.href = `/tablos/${tabloId}/discussion?at=${article.dataset.seq}`;
        return;
      }
      document.querySelectorAll('#messages .message-highlighted').forEach((m) => m.classList.remove('message-highlighted'));
      shown.classList.add('message-highlighted');
      shown.scrollIntoView({ block: 'center' });
    });
  });
})();
