import { ADMIN_EMAIL, ADMIN_PASSWORD, expect, expectHydrated, signInAndExpectDashboard, test, uniqueEmail, uniqueName } from './fixtures';

const MEMBER_PASSWORD = 'a member password 123';

test('a member cannot see another account’s pages', async ({ page, freshPage, shoot }) => {
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  const me = await (await page.request.get('/api/v1/me')).json();
  const email = uniqueEmail('member');
  const user = await (await page.request.post('/api/v1/users', { data: { email, password: MEMBER_PASSWORD, role: 'user' } })).json();
  const own = await (await page.request.post('/api/v1/accounts', { data: { name: uniqueName('Own') } })).json();
  const other = await (await page.request.post('/api/v1/accounts', { data: { name: uniqueName('Other') } })).json();
  await page.request.post(`/api/v1/accounts/${own.id}/members`, { data: { user_id: me.user.id, role: 'owner' } });
  await page.request.post(`/api/v1/accounts/${own.id}/members`, { data: { user_id: user.id, role: 'member' } });
  await page.request.post(`/api/v1/accounts/${other.id}/members`, { data: { user_id: me.user.id, role: 'owner' } });

  const member = await freshPage();
  await signInAndExpectDashboard(member, email, MEMBER_PASSWORD);
  await expect(member.getByTestId('account-summary')).toContainText(own.name);

  // The refusal is a sentence with the id of the page's request, to quote to support.
  const refused = await member.goto(`/admin/accounts/${other.id}`);
  await expect(member.getByTestId('error-sentence')).toHaveText('No such account.');
  await expect(member.getByTestId('error-request-id')).toHaveText(refused!.headers()['x-request-id']);
  await member.setViewportSize({ width: 390, height: 844 });
  await expectHydrated(member);
  await expect(member.getByTestId('error-request-id')).toHaveText(refused!.headers()['x-request-id']);
  await expect(member.locator('body')).not.toContainText(other.name);

  await member.goto(`/balance?account=${other.id}`);
  await expect(member.getByRole('alert').first()).toBeVisible();
  await expect(member.locator('body')).not.toContainText(other.name);

  const api = await member.request.get(`/api/v1/accounts/${other.id}`);
  expect(api.status()).toBe(404);
  shoot(member);
});
