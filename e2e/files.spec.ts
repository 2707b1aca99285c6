import { addMember, createTablo, expect, openDiscussion, test } from './support/fixtures.ts';

test('an image pasted into the composer appears with its thumbnail, live in another browser, and opens in a lightbox', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  const bob = await newPerson('Bob');
  const tablo = await createTablo(ada.page, 'Screenshots');
  await addMember(ada.page, tablo, bob);
  await openDiscussion(ada.page, tablo);
  await openDiscussion(bob.page, tablo);

  await ada.page.fill('#composer textarea[name=body]', 'Look at this');
  // A screenshot on the clipboard: a PNG made in the page, pasted into the composer.
  await ada.page.evaluate(async () => {
    const canvas = document.createElement('canvas');
    canvas.width = 640;
    canvas.height = 320;
    const context = canvas.getContext('2d')!;
    context.fillStyle = '#2f6f5e';
    context.fillRect(0, 0, 640, 320);
    const blob = await new Promise<Blob>((resolve) => canvas.toBlob((b) => resolve(b!), 'image/png'));
    const data = new DataTransfer();
    data.items.add(new File([blob], 'screenshot.png', { type: 'image/png' }));
    const textarea = document.querySelector('#composer textarea')!;
    textarea.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  });

  for (const page of [ada.page, bob.page]) {
    const message = page.locator('#messages article.message').filter({ has: page.locator('.attachment') });
    await expect(message).toHaveCount(1, { timeout: 10_000 });
    await expect(message.locator('.message-body')).toHaveText('Look at this');
    const image = message.locator('.attachment img[src^="/files/"]');
    await expect(image).toHaveAttribute('width', '480');
    await expect(image).toHaveAttribute('height', '240');
    await expect(message.locator('.attachment a[href^="/files/"]')).toHaveAttribute('href', /screenshot\.png$/);
    // The thumbnail really loads (same access rules, same cookies).
    await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(480);
  }
  await expect(ada.page.locator('#uploads .upload')).toHaveCount(0);
  await expect(ada.page.locator('#composer textarea')).toHaveValue('');

  await bob.page.locator('.attachment img').click();
  const lightbox = bob.page.locator('dialog#lightbox');
  await expect(lightbox).toBeVisible();
  await expect(lightbox.locator('img')).toHaveAttribute('src', /\/files\/\d+\/screenshot\.png$/);
  await bob.page.keyboard.press('Escape');
  await expect(lightbox).toBeHidden();
});

test('a file too large is refused with the reason and a retry, and can be cancelled', async ({ newPerson }) => {
  const ada = await newPerson('Ada');
  const tablo = await createTablo(ada.page, 'Too large');
  await openDiscussion(ada.page, tablo);
  // Over the default 25 MB.
  await ada.page.locator('#composer-files').setInputFiles({ name: 'huge.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(26 * 1024 * 1024) });
  const pending = ada.page.locator('#uploads .upload');
  await expect(pending.locator('.upload-status')).toContainText('at most 25 MB', { timeout: 20_000 });
  await expect(pending.locator('.upload-retry')).toBeVisible();
  await pending.locator('.upload-cancel').click();
  await expect(pending).toHaveCount(0);
  await expect(ada.page.locator('#messages article.message')).toHaveCount(0);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the composer’s file input uploads with the form', async ({ newPerson }) => {
    const ada = await newPerson('Ada');
    await ada.page.goto('/tablos');
    await ada.page.fill('#new-tablo input[name=title]', 'No script');
    await ada.page.click('#new-tablo button[type=submit]');
    await expect(ada.page).toHaveURL(/\/tablos\/\d+\/discussion$/);
    await ada.page.fill('#composer textarea[name=body]', 'The report');
    await ada.page.locator('#composer-files').setInputFiles({ name: 'report.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\n') });
    await ada.page.click('#composer button[type=submit]');
    await expect(ada.page).toHaveURL(/\/discussion#message-\d+$/);
    const message = ada.page.locator('#messages article.message');
    await expect(message.locator('.message-body')).toHaveText('The report');
    await expect(message.locator('.attachment a[href^="/files/"]')).toHaveText('report.pdf');
    await expect(message.locator('.attachment')).toContainText('application/pdf');
  });
});
