import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  PERMISSION_DENIED,
  expect,
  signInAndExpectDashboard,
  test,
  uniqueEmail,
} from './fixtures';

test('admin creates a user-role user who cannot reach the admin pages', async ({ page, freshPage, shoot }) => {
  const email = uniqueEmail('member');
  const password = 'member-password-1234';

  // The admin creates the user.
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await page.goto('/admin/users');
  await expect(page.getByRole('heading', { level: 1, name: 'Users' })).toBeVisible();
  const table = page.getByTestId('users-table');
  await expect(table.getByRole('cell', { name: ADMIN_EMAIL, exact: true })).toBeVisible();

  const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Create user' }) });
  await form.locator('input[name=email]').fill(email);
  await form.locator('input[name=password]').fill(password);
  await form.locator('select[name=role]').selectOption('user');
  await form.getByRole('button', { name: 'Create user' }).click();

  const row = table.getByRole('row').filter({ has: page.getByRole('cell', { name: email, exact: true }) });
  await expect(row).toBeVisible();
  await expect(row.locator('select[name=role]')).toHaveValue('user');

  // The new user, in a browser context of their own.
  const userPage = await freshPage();
  shoot(userPage);
  await signInAndExpectDashboard(userPage, email, password);

  const nav = userPage.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Dashboard' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Users' })).toHaveCount(0);
  await expect(nav.getByRole('link', { name: 'Accounts' })).toHaveCount(0);

  await userPage.goto('/admin/users');
  await expect(userPage.getByRole('alert')).toHaveText(PERMISSION_DENIED);
  await expect(userPage.getByTestId('users-table')).toHaveCount(0);
  await expect(userPage.getByText(ADMIN_EMAIL, { exact: true })).toHaveCount(0);
});
