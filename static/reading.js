// Reading comfort on a discussion, in this reader's local time, on top of the one fragment that
// everyone gets (which always keeps its author and time):
// - consecutive messages by one author within five minutes read as one group: the later ones get
//   `message--continued`, which hides their name and time from sight only;
// - a heading marks each day ("Today", "Yesterday", a date);
// - a line marks the first message that arrived since the reader last read this discussion, with a
//   link to jump to it. The server passes where they had got to as `data-last-read-seq`.
// All three are laid out again whenever the list changes: live messages, "load older", a resync.
(() => {
  const messages = document.getElementById('messages');
  if (!messages) return;
  const scroller = document.getElementById('message-scroller');
  const me = document.querySelector('meta[name="current-user-id"]')?.content;
  const GROUP_WITHIN_MS = 5 * 60 * 1000;

  const timeOf = (message) => Date.parse(message.querySelector('time[datetime]')?.dateTime ?? '');
  const isMessage = (node) => node.classList?.contains('message');

  // ---- days ------------------------------------------------------------------------------------
  const startOfDay = (time) => new Date(time).setHours(0, 0, 0, 0);
  const dateThisYear = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
  const dateOtherYear = new Intl.DateTimeFormat(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
  function dayLabel(day) {
    const today = startOfDay(Date.now());
    if (day === today) return 'Today';
    if (day === startOfDay(today - 12 * 60 * 60 * 1000)) return 'Yesterday';
    const date = new Date(day);
    return (date.getFullYear() === new Date(today).getFullYear() ? dateThisYear : dateOtherYear).format(date);
  }
  function daySeparator(day) {
    const separator = document.createElement('div');
    separator.className = 'day-separator';
    separator.setAttribute('role', 'heading');
    separator.setAttribute('aria-level', '2');
    separator.dataset.day = String(day);
    separator.append(document.createElement('span'));
    return separator;
  }

  // ---- new since you left ---------------------------------------------------------------------
  // Only what was new when the page opened: messages arriving while one reads are not "since you left".
  const lastRead = Number(messages.dataset.lastReadSeq) || 0;
  const seqOf = (message) => Number(message.dataset.seq) || 0;
  const newestAtOpen = Math.max(0, ...[...messages.querySelectorAll(':scope > .message')].map(seqOf));
  const isUnread = (message) =>
    lastRead > 0 && seqOf(message) > lastRead && seqOf(message) <= newestAtOpen &&
    message.dataset.authorId !== me && !message.hasAttribute('data-deleted');
  const unreadLine = document.createElement('div');
  unreadLine.id = 'unread-line';
  unreadLine.className = 'unread-line';
  unreadLine.setAttribute('role', 'separator');
  unreadLine.setAttribute('aria-label', 'New since you left');
  unreadLine.innerHTML = '<span>New since you left</span>';

  // ---- the layout -----------------------------------------------------------------------------
  function layout() {
    const kept = new Set();
    let previous = null;
    let firstUnread = null;
    for (const message of messages.querySelectorAll(':scope > .message')) {
      const time = timeOf(message);
      const day = Number.isNaN(time) ? NaN : startOfDay(time);
      const markUnread = !firstUnread && isUnread(message);
      if (markUnread) {
        firstUnread = message;
        if (unreadLine.nextElementSibling !== message) message.before(unreadLine);
      }
      let separator = null;
      if (!previous || day !== startOfDay(timeOf(previous))) {
        separator = leadersOf(message).find((el) => el.classList.contains('day-separator') && el.dataset.day === String(day))
          ?? daySeparator(day);
        const next = markUnread ? unreadLine : message;
        if (separator.nextElementSibling !== next) next.before(separator);
        const label = Number.isNaN(day) ? '' : dayLabel(day);
        if (separator.firstChild.textContent !== label) separator.firstChild.textContent = label;
        kept.add(separator);
      }
      const continued = previous && !separator && !markUnread &&
        previous.dataset.authorId === message.dataset.authorId &&
        !previous.hasAttribute('data-deleted') && !message.hasAttribute('data-deleted') &&
        time - timeOf(previous) >= 0 && time - timeOf(previous) < GROUP_WITHIN_MS;
      message.classList.toggle('message--continued', Boolean(continued));
      previous = message;
    }
    for (const separator of messages.querySelectorAll(':scope > .day-separator')) if (!kept.has(separator)) separator.remove();
    if (!firstUnread) unreadLine.remove();
    return firstUnread;
  }

  /** The day separator and unread line just above a message. */
  function leadersOf(message) {
    const leaders = [];
    for (let el = message.previousElementSibling; el && !isMessage(el); el = el.previousElementSibling) leaders.push(el);
    return leaders;
  }

  let due = false;
  const observer = new MutationObserver(() => {
    if (due) return;
    due = true;
    queueMicrotask(() => {
      due = false;
      layout();
      observer.takeRecords(); // the layout's own changes
    });
  });

  const firstUnread = layout();
  observer.observe(messages, { childList: true });
  // Once discussion.js has scrolled the list to the newest (it runs after this file).
  if (firstUnread && scroller) document.addEventListener('DOMContentLoaded', () => requestAnimationFrame(() => offerJump(firstUnread)));

  // A link to the first unread message, while it is out of sight above.
  function offerJump(message) {
    const jump = document.createElement('a');
    jump.id = 'unread-jump';
    jump.className = 'unread-jump';
    jump.href = `#${message.id}`;
    jump.textContent = '↑ Jump to what is new since you left';
    jump.hidden = true;
    scroller.after(jump);
    jump.addEventListener('click', (e) => {
      e.preventDefault();
      scroller.scrollTop += unreadLine.getBoundingClientRect().top - scroller.getBoundingClientRect().top - 8;
      message.tabIndex = -1;
      message.focus({ preventScroll: true });
      jump.remove();
    });
    // Shown while the line is above what the reader sees; gone once they have seen it.
    const watcher = new IntersectionObserver(([entry]) => {
      if (entry.isIntersecting) {
        jump.remove();
        watcher.disconnect();
      } else {
        jump.hidden = entry.boundingClientRect.top > entry.rootBounds.top;
      }
    }, { root: scroller });
    watcher.observe(unreadLine);
  }
})();
