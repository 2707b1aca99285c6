// Behaviour shared by every page. No inline script anywhere: the CSP forbids it.
(() => {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute('content') ?? '';

  // Every htmx request carries the CSRF token from the page.
  document.addEventListener('htmx:config:request', (event) => {
    const token = meta('csrf-token');
    if (token) event.detail.ctx.request.headers['X-CSRF-Token'] = token;
  });
})();
