// The life of a page's one stream, shared by the discussion page and the others: the status shown
// in #live-status, and retrying. A stream keeps coming back, with growing jittered delays capped
// at ~10 s, on anything but 401 (signed out: say so) and 404 (access ended): a server that is
// down or restarting, a dropped network, and a 503 while the database is away all just mean
// "later". htmx retries a stream that was connected, resuming with Last-Event-ID; it never
// retries a first connection that failed, so that one is retried here.
window.tabloConnection = (() => {
  const WORDS = { connecting: 'Connecting…', live: 'Live', offline: 'Reconnecting…' };
  const ENDED = {
    'signed-out': 'Signed out — sign in again to keep reading',
    'access-ended': 'Your access to this tablo has ended',
  };
  const MAX_DELAY_MS = 10_000;
  const backoff = (failures) => Math.min(MAX_DELAY_MS, 500 * 2 ** failures * (0.7 + Math.random() * 0.6));

  /**
   * Watches `stream` (an element with hx-sse:connect). `ended(why)` runs once when it stops for
   * good ('signed-out' or 'access-ended'). The stream element gets a `tablo:back` event each time
   * it connects again after being offline: what the page shows may be stale.
   */
  function watch(stream, { ended } = {}) {
    const status = document.getElementById('live-status');
    const words = status?.querySelector('.live-status-text');
    const mine = (e) => e.target === stream;
    let over = false;
    let connected = false;
    let wasOffline = false;
    let failures = 0;
    let retry;

    const show = (state, text = WORDS[state]) => {
      if (over) return;
      stream.dataset.state = state;
      if (status) status.dataset.state = state;
      if (words) words.textContent = text;
    };
    const offline = () => {
      connected = false;
      wasOffline = true;
      show('offline');
    };
    const end = (why) => {
      if (over) return;
      show('offline', ENDED[why]);
      over = true;
      if (status) status.dataset.ended = why;
      clearTimeout(retry);
      stream.remove(); // stops the extension's reconnect loop
      ended?.(why);
    };
    const failed = (code) => {
      if (code === 401) end('signed-out');
      else if (code === 404) end('access-ended');
      else offline();
    };

    document.addEventListener('htmx:sse:after:connection', (e) => {
      if (!mine(e)) return;
      delete stream.dataset.reconnecting;
      connected = true;
      failures = 0;
      show('live');
      if (wasOffline) stream.dispatchEvent(new CustomEvent('tablo:back'));
      wasOffline = false;
    });
    // A reconnection the page asked for (static/notifications.js: the tab was hidden or shown)
    // is not the connection failing.
    document.addEventListener('htmx:sse:before:connection', (e) => {
      if (mine(e) && e.detail.connection.attempt > 0 && stream.dataset.reconnecting !== 'quiet') offline();
    });
    document.addEventListener('htmx:sse:error', (e) => {
      if (!mine(e)) return;
      delete stream.dataset.reconnecting;
      failed(e.detail.status);
    });
    document.addEventListener('htmx:sse:close', (e) => {
      if (mine(e)) offline();
    });

    // The first connection (and each retry of it here) goes through htmx's ordinary request.
    document.addEventListener('htmx:finally:request', (e) => {
      if (e.detail.ctx.sourceElement !== stream || over) return;
      const code = e.detail.ctx.response?.status;
      if (code && code < 400) return;
      failed(code);
      if (over) return;
      clearTimeout(retry);
      retry = setTimeout(() => htmx.trigger(stream, 'sse:retry'), backoff(failures++));
    });

    // The page's own words are for readers without JavaScript, whose page never connects.
    if (!stream.dataset.state) show('connecting');

    // The network went away; if the stream survived it, it is live again once the network is back.
    window.addEventListener('offline', () => show('offline'));
    window.addEventListener('online', () => connected && show('live'));

    stream.addEventListener('signed-out', () => end('signed-out'));
    stream.addEventListener('access-ended', () => end('access-ended'));
    stream.addEventListener('server-restarting', offline);
  }

  return { watch };
})();
