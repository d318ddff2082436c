import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  createKey,
  credits,
  expect,
  REQUEST_ID,
  signInAndExpectDashboard,
  test,
  uniqueName,
} from './fixtures';

test.describe('keys and balance without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('no-JS create a key with every policy field and see the secret once', async ({ page }) => {
    await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    const name = uniqueName('nojs');
    await createKey(page, name, true);
    await expect(page.getByTestId('keys-table').locator(`tr[data-key-name="${name}"]`)).toBeVisible();
    // Shown once: a reload no longer has it.
    await page.reload();
    await expect(page.getByTestId('new-key-secret')).toHaveCount(0);

    // A bad allowlist entry comes back as a sentence.
    const form = page.getByTestId('create-key-form');
    await form.locator('input[name=name]').fill(uniqueName('bad'));
    await form.locator('textarea[name=ip_allowlist]').fill('127.0.0.1\nnot-an-ip');
    await form.getByRole('button', { name: 'Create key' }).click();
    await expect(page.getByRole('alert')).toContainText('Entry 2: `not-an-ip` is not an IP address or CIDR');
    await expect(page.getByRole('alert').getByTestId('error-request-id')).toHaveText(REQUEST_ID);
  });

  test('no-JS redeem a code and see the balance change', async ({ page }) => {
    await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    // The code, from the management API with the admin's session cookie.
    const created = await page.request.post('/api/v1/redemption-codes', { data: { amount: 3_000_000, count: 1 } });
    expect(created.ok()).toBeTruthy();
    const code: string = (await created.json()).codes[0];

    await page.goto('/balance');
    const before = await credits(page, 'balance');
    const form = page.getByTestId('redeem-form');
    await form.locator('input[name=code]').fill(code);
    await form.getByRole('button', { name: 'Redeem' }).click();
    await expect(page).toHaveURL(/\/balance/);
    expect(await credits(page, 'balance')).toBeCloseTo(before + 3, 6);
    await expect(page.getByTestId('ledger-table')).toContainText('redemption');
  });
});
