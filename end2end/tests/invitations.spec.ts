import { type Page } from '@playwright/test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  baseUrl,
  expect,
  signInAndExpectDashboard,
  test,
  uniqueEmail,
  uniqueName,
} from './fixtures';

const PASSWORD = 'invitation password 42';

/** Through the management API as the signed-in admin on `admin`: writes say where they come from. */
async function post(admin: Page, path: string, data: object): Promise<any> {
  const response = await admin.request.post(path, { data, headers: { origin: baseUrl() } });
  expect(response.ok(), `POST ${path}`).toBeTruthy();
  return response.json();
}

for (const javaScriptEnabled of [true, false]) {
  const mode = javaScriptEnabled ? 'with JavaScript' : 'without JavaScript';

  test.describe(`invitations ${mode}`, () => {
    test.use({ javaScriptEnabled });

    test(`an owner invites, the invited user accepts ${mode}`, async ({ page, freshPage, shoot }) => {
      const ownerEmail = uniqueEmail('owner');
      const inviteeEmail = uniqueEmail('invitee');
      const accountName = uniqueName('Invited');

      // The admin sets up an account with its owner, and the invitee's user.
      const admin = await freshPage();
      await signInAndExpectDashboard(admin, ADMIN_EMAIL, ADMIN_PASSWORD);
      const owner = await post(admin, '/api/v1/users', { email: ownerEmail, password: PASSWORD, role: 'user' });
      await post(admin, '/api/v1/users', { email: inviteeEmail, password: PASSWORD, role: 'user' });
      const account = await post(admin, '/api/v1/accounts', { name: accountName });
      await post(admin, `/api/v1/accounts/${account.id}/members`, { user_id: owner.id, role: 'owner' });

      // The owner finds the account's members in the menu and invites by email.
      await signInAndExpectDashboard(page, ownerEmail, PASSWORD);
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Members' }).click();
      await expect(page.getByRole('heading', { level: 1, name: accountName })).toBeVisible();
      const form = page.getByTestId('invite-form');
      await form.locator('input[name=email]').fill(inviteeEmail);
      await form.locator('select[name=role]').selectOption('member');
      await form.getByRole('button', { name: 'Invite' }).click();
      const pending = page.getByTestId('invitations-table');
      await expect(pending).toContainText(inviteeEmail);
      await expect(page.getByTestId('members-table')).not.toContainText(inviteeEmail);

      // The invitee is not a member until they accept.
      const invitee = await freshPage();
      shoot(invitee);
      await signInAndExpectDashboard(invitee, inviteeEmail, PASSWORD);
      await expect(invitee.getByTestId('account-summary')).toHaveCount(0);
      const invitation = invitee.getByTestId('my-invitations').locator(`li[data-account-name="${accountName}"]`);
      await expect(invitation).toContainText(`${ownerEmail} invites you to join ${accountName} as member.`);
      await invitation.getByRole('button', { name: 'Accept' }).click();

      await expect(invitee.getByTestId('my-invitations')).toHaveCount(0);
      await invitee.goto('/');
      await expect(invitee.getByTestId('account-summary')).toContainText(accountName);
      await expect(invitee.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Keys' })).toBeVisible();

      await page.reload();
      await expect(page.getByTestId('members-table')).toContainText(inviteeEmail);
      await expect(page.getByTestId('invitations-table')).toHaveCount(0);
    });
  });
}
