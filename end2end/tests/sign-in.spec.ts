import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  DEMO_ACCOUNT,
  REQUEST_ID,
  WRONG_CREDENTIALS,
  expect,
  expectHydrated,
  signIn,
  signInAndExpectDashboard,
  test,
} from './fixtures';

test.describe('sign-in with JavaScript', () => {
  test('admin signs in, the dashboard is hydrated, signs out', async ({ page }) => {
    // Browser console errors and failed requests; the missing /favicon.ico (a 404 the
    // browser asks for on its own) is not the page's doing and is left out.
    const consoleErrors: string[] = [];
    page.on('console', (msg) => {
      const where = msg.location().url;
      if (msg.type() === 'error' && !where.endsWith('/favicon.ico')) consoleErrors.push(`${msg.text()} [${where}]`);
    });
    page.on('pageerror', (err) => consoleErrors.push(String(err)));
    page.on('response', (res) => {
      if (res.status() >= 400) consoleErrors.push(`${res.status()} ${res.request().method()} ${res.url()}`);
    });

    await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);

    const summary = page.getByTestId('account-summary');
    await expect(summary).toBeVisible();
    await expect(summary.getByRole('heading', { name: DEMO_ACCOUNT })).toBeVisible();
    await expect(page.getByTestId('balance')).toContainText('credits');

    // The admin's navigation offers the admin pages.
    const nav = page.getByRole('navigation', { name: 'Main' });
    await expect(nav.getByRole('link', { name: 'Users' })).toBeVisible();
    await expect(nav.getByRole('link', { name: 'Accounts' })).toBeVisible();

    // The menu toggle is the narrow-screen navigation (hidden by CSS above 700px).
    await page.setViewportSize({ width: 390, height: 844 });
    await expect(nav.getByRole('link', { name: 'Users' })).toBeHidden();
    await expectHydrated(page);
    await expect(nav.getByRole('link', { name: 'Users' })).toBeVisible();
    expect(consoleErrors, 'browser console errors').toEqual([]);

    await page.getByTestId('sign-out').click();
    await expect(page).toHaveURL(/\/sign-in$/);
    await expect(page.getByTestId('sign-in-submit')).toBeVisible();

    // The app navigated on the client, so this sign-in form is hydrated too: a wrong
    // password goes out as a fetch and the error is rendered without a page load.
    await page.locator('input#email').fill(ADMIN_EMAIL);
    await page.locator('input#password').fill('not-the-right-password');
    const [signInResponse] = await Promise.all([
      page.waitForResponse((res) => res.request().method() === 'POST' && res.url().endsWith('/rpc/sign_in')),
      page.getByTestId('sign-in-submit').click(),
    ]);
    expect(signInResponse.request().isNavigationRequest(), 'hydrated form submits with fetch').toBe(false);
    await expect(page.getByTestId('error-sentence')).toHaveText(WRONG_CREDENTIALS);
    // The error quotes the id of the request that failed, as its response names it.
    await expect(page.getByTestId('error-request-id')).toHaveText(signInResponse.headers()['x-request-id']);
    await expect(page).toHaveURL(/\/sign-in$/);

    // The session is gone: the dashboard sends us back to sign in.
    await page.goto('/');
    await expect(page).toHaveURL(/\/sign-in$/);
    await expect(page.locator('input#email')).toBeVisible();
  });

  test('wrong password shows the error and stays on sign-in', async ({ page }) => {
    await signIn(page, ADMIN_EMAIL, 'not-the-right-password');
    const alert = page.locator('.notice.error[role=alert]');
    await expect(alert.getByTestId('error-sentence')).toHaveText(WRONG_CREDENTIALS);
    await expect(alert.getByTestId('error-request-id')).toHaveText(REQUEST_ID);
    await expect(page).toHaveURL(/\/sign-in(\?.*)?$/);
    await expect(page.getByTestId('viewer-email')).toHaveCount(0);
  });
});

test.describe('sign-in without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('no-JS sign in lands on the dashboard and sign out works', async ({ page }) => {
    await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    await expect(page.getByTestId('account-summary')).toContainText(DEMO_ACCOUNT);
    await expect(page.getByTestId('balance')).toContainText('credits');

    await page.getByTestId('sign-out').click();
    await expect(page).toHaveURL(/\/sign-in$/);
    await expect(page.getByTestId('sign-in-submit')).toBeVisible();

    await page.goto('/');
    await expect(page).toHaveURL(/\/sign-in$/);
  });

  test('no-JS wrong password shows the error', async ({ page }) => {
    await signIn(page, ADMIN_EMAIL, 'not-the-right-password');
    const alert = page.locator('.notice.error[role=alert]');
    await expect(alert.getByTestId('error-sentence')).toHaveText(WRONG_CREDENTIALS);
    await expect(alert.getByTestId('error-request-id')).toHaveText(REQUEST_ID);
    await expect(page).toHaveURL(/\/sign-in(\?.*)?$/);
    await expect(page.getByTestId('viewer-email')).toHaveCount(0);
  });
});
