// Files in the discussion: the paperclip, paste (a screenshot) and drop; each file is sent as a
// message of its own (the composer's text is the first one's caption), with a pending line that
// shows its progress, can be cancelled, and says why it failed with a retry. Without this file the
// composer's own file input posts the form (multipart) and the page reloads. Images open in a
// lightbox.
(() => {
  const composer = document.getElementById('composer');
  const fileInput = document.getElementById('composer-files');
  const attachButton = document.getElementById('composer-attach');
  const uploads = document.getElementById('uploads');
  if (!composer || !fileInput || !attachButton || !uploads) {
    setUpLightbox();
    return;
  }
  const textarea = composer.querySelector('textarea[name=body]');
  const tokenInput = composer.querySelector('input[name=client_token]');
  const replyInput = composer.querySelector('input[name=reply_to]');
  const action = composer.getAttribute('action');
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? '';
  const newToken = () => [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');

  // With this script, files leave through it, never with the text form.
  fileInput.closest('label').hidden = true;
  fileInput.removeAttribute('name');
  attachButton.hidden = false;
  attachButton.addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', () => {
    send([...fileInput.files]);
    fileInput.value = '';
  });

  document.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files ?? [])];
    if (!files.length || composer.querySelector('textarea:disabled')) return;
    e.preventDefault();
    send(files);
  });

  const dropZone = composer.closest('.discussion') ?? document.body;
  const carriesFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
  dropZone.addEventListener('dragover', (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    dropZone.classList.add('dropping');
  });
  dropZone.addEventListener('dragleave', (e) => {
    if (!dropZone.contains(e.relatedTarget)) dropZone.classList.remove('dropping');
  });
  dropZone.addEventListener('drop', (e) => {
    dropZone.classList.remove('dropping');
    if (!carriesFiles(e)) return;
    e.preventDefault();
    send([...e.dataTransfer.files]);
  });

  // Files sent together are stored in the order they were given: one upload at a time.
  let queue = Promise.resolve();

  function send(files) {
    if (!files.length) return;
    const caption = textarea.value.trim();
    const replyTo = replyInput?.value ?? '';
    const firstToken = tokenInput.value;
    textarea.value = '';
    tokenInput.value = newToken();
    if (replyTo) document.querySelector('#composer-reply .composer-reply-cancel')?.click();
    files.forEach((file, i) => {
      const form = new FormData();
      form.append('client_token', i === 0 ? firstToken : newToken());
      if (i === 0 && caption) form.append('body', caption);
      if (i === 0 && replyTo) form.append('reply_to', replyTo);
      form.append('file', file, file.name || 'pasted-image.png');
      const pending = pendingLine(file, i === 0 ? caption : '');
      queue = queue.then(() => upload(form, pending));
    });
  }

  /** A line under the messages for one file on its way: name, progress, cancel; on failure, why and retry. */
  function pendingLine(file, caption) {
    const line = document.createElement('div');
    line.className = 'upload';
    const name = document.createElement('span');
    name.className = 'upload-name';
    name.textContent = file.name || 'pasted image';
    const progress = document.createElement('progress');
    progress.max = 100;
    progress.value = 0;
    const status = document.createElement('span');
    status.className = 'upload-status';
    status.setAttribute('role', 'status');
    const cancel = button('Cancel', 'upload-cancel');
    const retry = button('Retry', 'upload-retry');
    retry.hidden = true;
    line.append(name, progress, status, retry, cancel);
    uploads.append(line);
    return { line, progress, status, cancel, retry, caption, cancelled: false };
  }

  function button(text, className) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `link-button ${className}`;
    b.textContent = text;
    return b;
  }

  function upload(form, pending) {
    if (pending.cancelled) return Promise.resolve();
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', action);
      xhr.setRequestHeader('HX-Request', 'true');
      xhr.setRequestHeader('X-CSRF-Token', csrf());
      pending.line.classList.remove('upload--failed');
      pending.retry.hidden = true;
      pending.status.textContent = '';
      pending.progress.hidden = false;
      pending.progress.removeAttribute('value');
      xhr.upload.addEventListener('progress', (e) => {
        if (e.lengthComputable) pending.progress.value = Math.round((e.loaded / e.total) * 100);
      });
      pending.cancel.onclick = () => {
        pending.cancelled = true;
        xhr.abort();
        // A caption that was not sent goes back to the composer.
        if (pending.caption && !textarea.value) textarea.value = pending.caption;
        pending.line.remove();
        resolve();
      };
      pending.retry.onclick = () => {
        queue = queue.then(() => upload(form, pending));
      };
      xhr.addEventListener('load', () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          document.dispatchEvent(new CustomEvent('tablo:fragment', { detail: { html: xhr.responseText } }));
          pending.line.remove();
        } else {
          failed(pending, reasonOf(xhr));
        }
        resolve();
      });
      xhr.addEventListener('error', () => {
        failed(pending, 'Not sent — check your connection and try again.');
        resolve();
      });
      xhr.send(form);
    });
  }

  function reasonOf(xhr) {
    const text = (xhr.responseText || '').replace(/<[^>]*>/g, '').trim();
    if (xhr.status === 413) return text || 'This file is too large.';
    if (xhr.status === 429) return text || 'You are posting too fast. Wait a little, then retry.';
    if (xhr.status === 403) return 'This page has expired. Reload it, then send the file again.';
    return text.slice(0, 200) || `Not sent (error ${xhr.status}).`;
  }

  function failed(pending, reason) {
    pending.line.classList.add('upload--failed');
    pending.progress.hidden = true;
    pending.status.textContent = reason;
    pending.retry.hidden = false;
  }

  setUpLightbox();

  // ---- the lightbox ------------------------------------------------------------------------------
  function setUpLightbox() {
    let dialog;
    document.addEventListener('click', (e) => {
      const link = e.target instanceof Element ? e.target.closest('a.attachment-open') : null;
      if (!link || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      dialog ??= makeDialog();
      const image = dialog.querySelector('img');
      image.src = link.href;
      image.alt = link.querySelector('img')?.alt ?? '';
      dialog.querySelector('.lightbox-original').href = link.href;
      dialog.showModal();
    });
  }

  function makeDialog() {
    const dialog = document.createElement('dialog');
    dialog.id = 'lightbox';
    dialog.className = 'lightbox';
    const image = document.createElement('img');
    const bar = document.createElement('p');
    bar.className = 'lightbox-bar';
    const original = document.createElement('a');
    original.className = 'lightbox-original';
    original.textContent = 'Open the original';
    original.target = '_blank';
    original.rel = 'noopener';
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'lightbox-close';
    close.textContent = 'Close';
    close.addEventListener('click', () => dialog.close());
    bar.append(original, ' ', close);
    dialog.append(image, bar);
    // A click on the backdrop (the dialog itself, outside its content) closes it.
    dialog.addEventListener('click', (e) => {
      if (e.target === dialog || e.target === image) dialog.close();
    });
    dialog.addEventListener('close', () => image.removeAttribute('src'));
    document.body.append(dialog);
    return dialog;
  }
})();
