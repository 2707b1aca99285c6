// Tablo's service worker: shows Web Push notifications, opens the message when one is clicked, and
// keeps the app badge at the unread total where the browser supports it. The push payload is
// {tablo: {id, title}, author, snippet, url, tag, unread}.
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const title = data.tablo?.title ? `${data.author ?? 'Someone'} in ${data.tablo.title}` : 'Tablo';
  event.waitUntil(
    Promise.all([
      self.registration.showNotification(title, {
        body: data.snippet ?? '',
        // The discussion page's own notification of the same message has the same tag.
        tag: data.tag,
        icon: '/static/icon-192.png',
        badge: '/static/icon-192.png',
        data: { url: data.url ?? '/tablos' },
      }),
      typeof data.unread === 'number' && 'setAppBadge' in navigator
        ? (data.unread > 0 ? navigator.setAppBadge(data.unread) : navigator.clearAppBadge()).catch(() => {})
        : Promise.resolve(),
    ]),
  );
});

// A click opens the message: in a tab of this app already showing that discussion (focused and
// taken to it), else any tab of the app, else a new window.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL(event.notification.data?.url ?? '/tablos', self.location.origin);
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const same = windows.find((w) => new URL(w.url).pathname === url.pathname) ?? windows[0];
      if (same) {
        const focused = await same.focus();
        return (focused ?? same).navigate(url.href).catch(() => self.clients.openWindow(url.href));
      }
      return self.clients.openWindow(url.href);
    })(),
  );
});
