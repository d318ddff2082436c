import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  chat,
  createKey,
  expect,
  signInAndExpectDashboard,
  test,
  uniqueEmail,
  uniqueName,
} from './fixtures';

test('support finds a request id from a tenant it does not belong to', async ({ page, freshPage, shoot }) => {
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  const accountName = (await page.getByTestId('account-summary').getByRole('heading').textContent())!.trim();
  const keyName = uniqueName('support-case');
  const secret = await createKey(page, keyName, false);
  let requestId = '';
  await expect(async () => {
    const result = await chat(secret);
    expect(result.status).toBe(200);
    requestId = result.requestId!;
  }).toPass({ timeout: 10_000 });

  // A support user, who is a member of no account.
  const email = uniqueEmail('support');
  const password = 'support-password-1234';
  const created = await page.request.post('/api/v1/users', { data: { email, password, role: 'support' } });
  expect(created.status()).toBe(201);

  const supportPage = await freshPage();
  shoot(supportPage);
  await signInAndExpectDashboard(supportPage, email, password);
  // Support belongs to no account: its dashboard asks whose figures to show.
  const picker = supportPage.getByTestId('account-picker');
  await picker.locator('select[name=account]').selectOption({ label: accountName });
  await picker.getByRole('button', { name: 'Show dashboard' }).click();
  await expect(supportPage.getByTestId('account-summary').getByRole('heading')).toHaveText(accountName);
  await expect(supportPage.getByTestId('spend-today')).toContainText('credits');
  const nav = supportPage.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Keys' })).toHaveCount(0);
  await nav.getByRole('link', { name: 'Support' }).click();
  await expect(supportPage.getByRole('heading', { level: 1, name: 'Support lookup' })).toBeVisible();
  const detail = supportPage.getByTestId('usage-detail');
  await expect(async () => {
    await supportPage.goto('/support');
    await supportPage.getByRole('search').locator('input[name=id]').fill(requestId);
    await supportPage.getByRole('button', { name: 'Find request' }).click();
    await expect(detail).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 10_000 });
  await expect(detail.getByTestId('request-id')).toHaveText(requestId);
  await expect(detail).toContainText('echo-1');

  // Names beside the ids: the account, the key (and its public prefix), the channel.
  await expect(detail.getByTestId('usage-account')).toHaveText(accountName);
  await expect(detail.getByTestId('usage-key')).toHaveText(keyName);
  await expect(detail.getByTestId('usage-key-prefix')).toHaveText(secret.slice(0, secret.lastIndexOf('-')));
  await expect(detail.getByTestId('usage-key-owner')).toHaveText(ADMIN_EMAIL);
  // Other specs add echo channels too: the name is the one of the channel the row records.
  const row = await (await page.request.get(`/api/v1/usage/${requestId}`)).json();
  const channels: { id: string; name: string }[] = await (await page.request.get('/api/v1/channels')).json();
  const served = channels.find((channel) => channel.id === row.channel_id)!;
  await expect(detail.getByTestId('usage-channel')).toHaveText(served.name);
  await expect(supportPage.locator('body')).not.toContainText(secret);

  // At phone width the detail fits without scrolling sideways.
  await supportPage.setViewportSize({ width: 390, height: 844 });
  const fits = await supportPage.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  expect(fits, 'the support detail has no horizontal overflow at 390 px').toBe(true);
  await supportPage.setViewportSize({ width: 1280, height: 720 });
});
