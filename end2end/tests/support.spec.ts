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
  const secret = await createKey(page, uniqueName('support-case'), false);
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
});
