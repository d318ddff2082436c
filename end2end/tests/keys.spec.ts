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
} from './fixtures';

test('create a key with every policy field, call the gateway with it and find the request in usage', async ({
  page,
}) => {
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  const name = uniqueName('full');
  const secret = await createKey(page, name, true);

  const row = page.getByTestId('keys-table').locator(`tr[data-key-name="${name}"]`);
  await expect(row).toBeVisible();
  await expect(row.getByTestId('key-status')).toHaveText('enabled');
  await expect(row).toContainText('2099-12-31 23:59 UTC');
  await expect(row).toContainText('127.0.0.1, 10.0.0.0/8 and 1 more');
  await expect(row).toContainText('echo-1');
  await expect(row).toContainText('0.00 of 25.50');

  let requestId = '';
  await expect(async () => {
    const result = await chat(secret);
    expect(result.status).toBe(200);
    requestId = result.requestId!;
  }).toPass({ timeout: 10_000 });
  expect(requestId).toBeTruthy();

  const detail = page.getByTestId('usage-detail');
  // The usage row is written just after the answer: search until it is there.
  await expect(async () => {
    await page.goto('/usage');
    await page.getByRole('search').locator('input[name=id]').fill(requestId);
    await page.getByRole('button', { name: 'Find request' }).click();
    await expect(detail).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 10_000 });
  await expect(detail.getByTestId('request-id')).toHaveText(requestId);
  await expect(detail).toContainText('echo-1');
  await expect(page.getByTestId('usage-fix')).toContainText('Nothing to fix');
  await expect(page.getByTestId('usage-table').getByRole('link', { name: requestId })).toBeVisible();
});

test('disable a key and the gateway refuses it; revoke it and the refusal is final', async ({ page }) => {
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  const name = uniqueName('short-lived');
  const secret = await createKey(page, name, false);
  await expect(async () => expect((await chat(secret)).status).toBe(200)).toPass({ timeout: 10_000 });

  const row = page.getByTestId('keys-table').locator(`tr[data-key-name="${name}"]`);
  await row.getByRole('button', { name: 'Disable' }).click();
  await expect(row.getByTestId('key-status')).toHaveText('disabled');
  await expectRefused(secret, 'api_key_disabled');

  await row.locator('input[name=confirm]').check();
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(row.getByTestId('key-status')).toHaveText('revoked');
  await expect(row.getByRole('button', { name: 'Enable' })).toHaveCount(0);
  await expectRefused(secret, 'api_key_revoked');

  // The refusal is in the usage log with the fix a person should try.
  const { requestId } = await chat(secret);
  // The usage row is written just after the answer: reload until it is there.
  await expect(async () => {
    await page.goto(`/usage/${requestId}`);
    await expect(page.getByTestId('usage-error-code')).toHaveText('api_key_revoked', { timeout: 1_000 });
  }).toPass({ timeout: 10_000 });
  await expect(page.getByTestId('usage-fix')).toContainText('create a new key');
});
