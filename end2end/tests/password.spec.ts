import { type Page } from '@playwright/test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  baseUrl,
  expect,
  REQUEST_ID,
  signIn,
  signInAndExpectDashboard,
  test,
  uniqueEmail,
} from './fixtures';

const PASSWORD = 'first password 1234';
const NEW_PASSWORD = 'second password 5678';

/** A user-role user made by the signed-in admin on `admin` (through the management API). */
async function createUser(admin: Page, email: string): Promise<void> {
  const created = await admin.request.post('/api/v1/users', {
    data: { email, password: PASSWORD, role: 'user' },
    headers: { origin: baseUrl() },
  });
  expect(created.status()).toBe(201);
}

for (const javaScriptEnabled of [true, false]) {
  const mode = javaScriptEnabled ? 'with JavaScript' : 'without JavaScript';

  test.describe(`passwords ${mode}`, () => {
    test.use({ javaScriptEnabled });

    test(`change password ${mode}: the current one is required, other sessions end`, async ({ page, freshPage }) => {
      const email = uniqueEmail('changer');
      const admin = await freshPage();
      await signInAndExpectDashboard(admin, ADMIN_EMAIL, ADMIN_PASSWORD);
      await createUser(admin, email);

      const elsewhere = await freshPage();
      await signInAndExpectDashboard(elsewhere, email, PASSWORD);
      await signInAndExpectDashboard(page, email, PASSWORD);

      // The profile is one click away, on the signed-in email.
      await page.getByTestId('viewer-email').click();
      await expect(page.getByRole('heading', { level: 1, name: 'Profile' })).toBeVisible();
      const form = page.getByTestId('change-password-form');
      await form.locator('input[name=current_password]').fill('not my password at all');
      await form.locator('input[name=new_password]').fill(NEW_PASSWORD);
      await form.getByRole('button', { name: 'Change password' }).click();
      await expect(page.getByTestId('error-sentence')).toHaveText('The current password is not right.');
      await expect(page.getByRole('alert').getByTestId('error-request-id')).toHaveText(REQUEST_ID);

      await form.locator('input[name=current_password]').fill(PASSWORD);
      await form.locator('input[name=new_password]').fill(NEW_PASSWORD);
      await form.getByRole('button', { name: 'Change password' }).click();
      await expect(page.getByTestId('password-changed')).toBeVisible();

      // This session carries on; the other one was signed out.
      await page.goto('/');
      await expect(page.getByTestId('viewer-email')).toHaveText(email);
      await elsewhere.goto('/');
      await expect(elsewhere).toHaveURL(/\/sign-in$/);

      await signIn(elsewhere, email, PASSWORD);
      await expect(elsewhere.getByTestId('error-sentence')).toHaveText('Wrong email or password.');
      await signInAndExpectDashboard(elsewhere, email, NEW_PASSWORD);
    });

    test(`reset link ${mode}: an admin issues it once, it sets the password once`, async ({ page, freshPage }) => {
      const email = uniqueEmail('forgetful');
      await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
      await createUser(page, email);
      const user = await freshPage();
      await signInAndExpectDashboard(user, email, PASSWORD);

      await page.goto('/admin/users');
      const row = page.getByTestId('users-table').getByRole('row').filter({ hasText: email });
      await row.getByRole('button', { name: 'Reset link' }).click();
      const shown = page.getByTestId('new-reset-link');
      await expect(shown).toContainText(email);
      await expect(shown).toContainText('You will not see this again');
      const link = (await page.getByTestId('reset-link').textContent())!.trim();
      expect(link).toMatch(new RegExp(`^${baseUrl()}/reset-password\\?token=tgr-`));
      await page.reload();
      await expect(page.getByTestId('new-reset-link')).toHaveCount(0);

      // The user opens it without being signed in there.
      const stranger = await freshPage();
      await stranger.goto(link);
      await expect(stranger.getByRole('heading', { level: 1, name: 'Set a new password' })).toBeVisible();
      await stranger.locator('input[name=new_password]').fill(NEW_PASSWORD);
      await stranger.getByRole('button', { name: 'Set password' }).click();
      await expect(stranger).toHaveURL(/\/sign-in\?password=reset$/);
      await expect(stranger.getByTestId('password-reset-done')).toBeVisible();
      await signInAndExpectDashboard(stranger, email, NEW_PASSWORD);

      // Every earlier session of the user ended; the link does not work twice.
      await user.goto('/');
      await expect(user).toHaveURL(/\/sign-in$/);
      const again = await freshPage();
      await again.goto(link);
      await again.locator('input[name=new_password]').fill('a third password 9012');
      await again.getByRole('button', { name: 'Set password' }).click();
      await expect(again.getByTestId('error-sentence')).toContainText('This reset link is unknown, used or expired.');
    });
  });
}
