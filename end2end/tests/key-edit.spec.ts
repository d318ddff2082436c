import { type Page } from '@playwright/test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  chat,
  createKey,
  expect,
  expectRefused,
  signInAndExpectDashboard,
  test,
  uniqueName,
  watchConsoleErrors,
} from './fixtures';

/** A second catalog model (served by the demo echo channel), so a whitelist can leave echo-1 out. */
async function createOtherModel(page: Page): Promise<string> {
  const channels = await (await page.request.get('/api/v1/channels')).json();
  const echo = channels.find((channel: { name: string }) => channel.name === 'demo-echo');
  const code = uniqueName('other');
  const created = await page.request.post('/api/v1/models', {
    data: { code, name: 'Other', input_price: 1000000, output_price: 2000000, context_window: 4096,
            channels: [{ channel_id: echo.id }] },
  });
  expect(created.status()).toBe(201);
  return code;
}

/** Polls the gateway until the key works again (changes apply within a second). */
async function expectAccepted(secret: string): Promise<void> {
  await expect(async () => expect((await chat(secret)).status).toBe(200)).toPass({
    timeout: 10_000,
    intervals: [200, 500, 1_000],
  });
}

/**
 * Opens the key's edit form from its row, leaves `other` as the only whitelisted model
 * and sets the other limits, saves, and checks the row; then clears everything again.
 * Works hydrated and without JavaScript alike (plain links and form posts).
 */
async function editPolicyAndClearIt(page: Page, name: string, secret: string, other: string): Promise<void> {
  const row = page.getByTestId('keys-table').locator(`tr[data-key-name="${name}"]`);
  await row.getByTestId('edit-key-link').click();
  await expect(page).toHaveURL(/\/keys\?edit=/);
  const form = page.getByTestId('edit-key-form');
  await expect(form.locator('input[name=name]')).toHaveValue(name);
  await form.locator(`input[type=checkbox][value="${other}"]`).check();
  await form.locator('textarea[name=ip_allowlist]').fill('127.0.0.1\n::1');
  await form.locator('input[name=rpm]').fill('100');
  await form.locator('input[name=spend_cap]').fill('12.5');
  await form.locator('input[name=expires_at]').fill('2098-06-30T12:00');
  await form.getByRole('button', { name: 'Save changes' }).click();
  await expect(row).toContainText(other);
  await expect(row).not.toContainText('echo-1');
  await expect(row).toContainText('127.0.0.1, ::1');
  await expect(row).toContainText(' of 12.50');
  await expect(row).toContainText('2098-06-30 12:00 UTC');
  // The form shows what was saved.
  await expect(form.locator(`input[type=checkbox][value="${other}"]`)).toBeChecked();
  await expect(form.locator('input[name=rpm]')).toHaveValue('100');
  await expect(form.locator('textarea[name=ip_allowlist]')).toHaveValue('127.0.0.1\n::1');
  await expectRefused(secret, 'model_not_allowed');

  await form.locator(`input[type=checkbox][value="${other}"]`).uncheck();
  await form.locator('textarea[name=ip_allowlist]').fill('');
  await form.locator('input[name=rpm]').fill('');
  await form.locator('input[name=spend_cap]').fill('');
  await form.locator('input[name=expires_at]').fill('');
  await form.getByRole('button', { name: 'Save changes' }).click();
  await expect(row).toContainText('all models');
  await expect(row).toContainText('any address');
  await expect(row).not.toContainText('of 12.50');
  await expectAccepted(secret);
}

/** A bad allowlist is refused with one message per bad entry. */
async function expectAllowlistErrors(page: Page): Promise<void> {
  const form = page.getByTestId('edit-key-form');
  await form.locator('textarea[name=ip_allowlist]').fill('10.0.0.1\nnope\n::1\n300.1.1.1');
  await form.getByRole('button', { name: 'Save changes' }).click();
  const alert = page.getByTestId('edit-key').getByRole('alert');
  await expect(alert).toContainText('IP allowlist');
  await expect(alert.locator('li')).toHaveText([/^Entry 2: `nope` is not an IP address or CIDR/, /^Entry 4: `300.1.1.1`/]);
}

test('edit a key’s policy: a whitelist without echo-1 refuses it, clearing it lets it through', async ({ page }) => {
  const consoleErrors = watchConsoleErrors(page);
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  const other = await createOtherModel(page);
  const name = uniqueName('editable');
  const secret = await createKey(page, name, false);
  await expectAccepted(secret);

  // Hydrated: the save goes out as a fetch, not a page load.
  const [save] = await Promise.all([
    page.waitForRequest((request) => request.method() === 'POST' && request.url().endsWith('/rpc/update_key')),
    editPolicyAndClearIt(page, name, secret, other),
  ]);
  expect(save.isNavigationRequest(), 'hydrated form submits with fetch').toBe(false);
  await expect(page.getByTestId('edit-key')).toContainText('Key saved.');
  expect(consoleErrors, 'browser console errors').toEqual([]);

  await expectAllowlistErrors(page);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('no-JS edit a key’s policy: a whitelist without echo-1 refuses it, clearing it lets it through', async ({
    page,
  }) => {
    await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    const other = await createOtherModel(page);
    const name = uniqueName('nojs-editable');
    const secret = await createKey(page, name, false);
    await expectAccepted(secret);
    await editPolicyAndClearIt(page, name, secret, other);
    await expectAllowlistErrors(page);
  });
});
