import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  PERMISSION_DENIED,
  baseUrl,
  expect,
  settled,
  signInAndExpectDashboard,
  test,
  uniqueEmail,
  uniqueName,
} from './fixtures';
import type { Page } from '@playwright/test';

/** Whether the page is wider than the window (a horizontal scroll bar on a phone). */
async function overflowsHorizontally(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
}

/** Creates a user through the management API with the signed-in admin's cookie. */
async function createUser(page: Page, email: string, role: string): Promise<void> {
  const created = await page.request.post('/api/v1/users', {
    data: { email, password: 'audit-user-password-1', role },
  });
  expect(created.status()).toBe(201);
}

test('admin creates a user and finds the change in the audit log by action, with their email', async ({ page }) => {
  const email = uniqueEmail('audited');
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await page.goto('/admin/users');
  // The suite's first page: the wasm is fetched cold, and a click during hydration is lost.
  await settled(page);
  const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Create user' }) });
  await form.locator('input[name=email]').fill(email);
  await form.locator('input[name=password]').fill('audited-password-1234');
  await form.locator('select[name=role]').selectOption('user');
  await form.getByRole('button', { name: 'Create user' }).click();
  await expect(page.getByTestId('users-table').getByRole('cell', { name: email, exact: true })).toBeVisible();

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
  await expect(page).toHaveURL(/\/admin\/audit$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Audit log' })).toBeVisible();
  await settled(page);

  const filters = page.getByTestId('audit-filters');
  await filters.locator('input[name=action]').fill('user.create');
  await filters.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/action=user\.create/);
  const table = page.getByTestId('audit-table');
  await expect(table.locator('tbody tr').first()).toBeVisible();
  const rows = table.locator('tbody tr');
  for (const action of await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-action')))) {
    expect(action).toBe('user.create');
  }
  // The newest change is this one: made by the admin (by email, not id), about the new user.
  const row = rows.first();
  await expect(row.getByTestId('audit-actor')).toHaveText(ADMIN_EMAIL);
  await expect(row).toContainText('127.0.0.1');
  await row.getByText('Before / after').click();
  await expect(row.getByTestId('audit-after')).toBeVisible();
  await expect(row.getByTestId('audit-after')).toContainText(`"email": "${email}"`);
  await expect(row.getByTestId('audit-before')).toHaveText('—');
});

test('a non-admin gets neither the audit link nor the page', async ({ page, freshPage, shoot }) => {
  const email = uniqueEmail('support');
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await createUser(page, email, 'support');

  const supportPage = await freshPage();
  shoot(supportPage);
  await signInAndExpectDashboard(supportPage, email, 'audit-user-password-1');
  const nav = supportPage.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Support' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Audit' })).toHaveCount(0);
  await supportPage.goto('/admin/audit');
  await expect(supportPage.getByRole('alert')).toHaveText(PERMISSION_DENIED);
  await expect(supportPage.getByTestId('audit-table')).toHaveCount(0);
  await expect(supportPage.getByText(ADMIN_EMAIL)).toHaveCount(0);
});

test.describe('the audit log without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('no-JS filter the audit log by account and action through the GET form, then page', async ({ page }) => {
    await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    const name = uniqueName('Audited');
    const account = await page.request.post('/api/v1/accounts', { data: { name } });
    expect(account.status()).toBe(201);

    await page.goto('/admin/audit');
    const filters = page.getByTestId('audit-filters');
    await filters.locator('select[name=account]').selectOption({ label: name });
    await filters.locator('input[name=action]').fill('account.create');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await expect(page).toHaveURL(/action=account\.create/);
    const rows = page.getByTestId('audit-table').locator('tbody tr');
    await expect(rows).toHaveCount(1);
    await expect(rows.first()).toContainText(name);
    await expect(rows.first().getByTestId('audit-actor')).toHaveText(ADMIN_EMAIL);
    // The filters stay filled in, and <details> opens without script.
    await expect(filters.locator('input[name=action]')).toHaveValue('account.create');
    await rows.first().getByText('Before / after').click();
    await expect(rows.first().getByTestId('audit-after')).toContainText(`"name": "${name}"`);

    // Nothing matches: a sentence, not an empty table.
    await filters.locator('input[name=action]').fill('no.such.action');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await expect(page.getByTestId('audit-empty')).toHaveText('No changes match these filters.');

    // Pages: make more changes than a page holds (50), then follow Older → and back.
    for (let n = 0; n < 51; n++) {
      const made = await page.request.post('/api/v1/accounts', { data: { name: uniqueName('Paged') } });
      expect(made.status()).toBe(201);
    }
    await page.goto('/admin/audit?action=account.create');
    await expect(rows).toHaveCount(50);
    const newest = await rows.first().textContent();
    await page.getByTestId('older').click();
    await expect(page).toHaveURL(/cursor=/);
    await expect(page).toHaveURL(/action=account\.create/);
    await expect(rows.first()).not.toHaveText(newest!);
    await page.getByRole('link', { name: '← Newest' }).click();
    await expect(rows.first()).toHaveText(newest!);
  });

  test('no-JS create a management token, see it once, revoke it', async ({ page }) => {
    await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    await page.goto('/admin/tokens');
    const name = uniqueName('nojs-token');
    const form = page.getByTestId('create-token-form');
    await form.locator('input[name=name]').fill(name);
    await form.getByRole('button', { name: 'Create token' }).click();
    await expect(page).toHaveURL(/\/admin\/tokens/);
    await expect(page.getByTestId('new-token')).toContainText('You will not see this again');
    await expect(page.getByTestId('issued-token')).toHaveText(/^tgm-/);
    await page.reload();
    await expect(page.getByTestId('issued-token')).toHaveCount(0);

    const row = page.getByTestId('tokens-table').locator(`tr[data-token-name="${name}"]`);
    await row.locator('input[name=confirm]').check();
    await row.getByRole('button', { name: 'Revoke' }).click();
    await expect(row.getByTestId('token-state')).toHaveText('revoked');
  });
});

test('create a management token, see its secret once, and revoke it after the final confirmation', async ({
  page,
  context,
}) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseUrl() });
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tokens' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Management tokens' })).toBeVisible();
  await settled(page);

  const name = uniqueName('ci');
  const form = page.getByTestId('create-token-form');
  await form.locator('input[name=name]').fill(name);
  await form.getByRole('button', { name: 'Create token' }).click();
  const secret = page.getByTestId('issued-token');
  await expect(secret).toBeVisible();
  await expect(page.getByTestId('new-token')).toContainText('You will not see this again');
  const token = (await secret.textContent())!.trim();
  expect(token).toMatch(/^tgm-/);
  await page.getByTestId('copy-token').click();
  await expect(page.getByTestId('copy-token')).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);

  const row = page.getByTestId('tokens-table').locator(`tr[data-token-name="${name}"]`);
  await expect(row).toContainText(ADMIN_EMAIL);
  await expect(row).toContainText('never');
  await expect(row.getByTestId('token-state')).toHaveText('active');

  // The token works, and the page then says when it was last used; the secret is gone.
  const me = await fetch(`${baseUrl()}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
  expect(me.status).toBe(200);
  await page.reload();
  await expect(page.getByTestId('issued-token')).toHaveCount(0);
  await expect(row).not.toContainText('never');
  await settled(page);

  // Revoking asks for the confirmation first: without it nothing happens.
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(row.getByTestId('token-state')).toHaveText('active');
  await expect(row.getByText('Revoking is final')).toBeVisible();
  await row.locator('input[name=confirm]').check();
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(row.getByTestId('token-state')).toHaveText('revoked');
  await expect(page.getByRole('status')).toHaveText('Token revoked. It can never be used again.');
  await expect(row.getByRole('button', { name: 'Revoke' })).toHaveCount(0);
  const refused = await fetch(`${baseUrl()}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
  expect(refused.status).toBe(401);
});

test.describe('at phone width', () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test('phone width: the audit log and the tokens page do not scroll sideways', async ({ page }) => {
    await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    const token = await page.request.post('/api/v1/tokens', { data: { name: uniqueName('phone') } });
    expect(token.status()).toBe(201);
    await page.goto('/admin/tokens');
    await expect(page.getByTestId('tokens-table')).toBeVisible();
    expect(await overflowsHorizontally(page)).toBe(false);

    await page.goto('/admin/audit');
    const first = page.getByTestId('audit-table').locator('tbody tr').first();
    await expect(first).toBeVisible();
    await first.getByText('Before / after').click();
    await expect(first.getByTestId('audit-after')).toBeVisible();
    expect(await overflowsHorizontally(page)).toBe(false);
  });
});
