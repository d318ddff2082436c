import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  SCREENSHOT_DIR,
  chat,
  createKey,
  expect,
  settled,
  signInAndExpectDashboard,
  test,
  uniqueName,
  watchConsoleErrors,
} from './fixtures';
import * as path from 'node:path';

// Every console page an admin can open, at desktop and at phone width: each renders its
// heading, hydrates without a console error, never scrolls sideways at 390 px, and is
// photographed (screenshots/page-<name>.png and phone-<name>.png).
test('every console page renders, hydrates and fits a phone screen', async ({ page }) => {
  test.setTimeout(120_000);
  const errors = watchConsoleErrors(page);
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  const secret = await createKey(page, uniqueName('every-page'), false);
  let requestId = '';
  await expect(async () => {
    const answer = await chat(secret);
    expect(answer.status).toBe(200);
    requestId = answer.requestId!;
  }).toPass({ timeout: 10_000 });
  const accounts: { id: string; name: string }[] = await (await page.request.get('/api/v1/accounts')).json();

  const pages: [string, string][] = [
    ['dashboard', '/'],
    ['keys', '/keys'],
    ['models', '/models'],
    ['usage', '/usage'],
    ['usage-detail', `/usage/${requestId}`],
    ['support', `/support?id=${requestId}`],
    ['balance', '/balance'],
    ['profile', '/profile'],
    ['users', '/admin/users'],
    ['accounts', '/admin/accounts'],
    ['account', `/admin/accounts/${accounts[0].id}`],
    ['tokens', '/admin/tokens'],
    ['audit', '/admin/audit'],
    ['channels', '/admin/channels'],
  ];
  for (const [viewport, prefix] of [
    [{ width: 1280, height: 900 }, 'page'],
    [{ width: 390, height: 844 }, 'phone'],
  ] as const) {
    await page.setViewportSize(viewport);
    for (const [name, url] of pages) {
      await page.goto(url);
      await expect(page.getByRole('heading', { level: 1 }), url).toBeVisible();
      await settled(page);
      const { scrollWidth, innerWidth } = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
      }));
      expect(scrollWidth, `${url} scrolls sideways at ${innerWidth} px`).toBeLessThanOrEqual(innerWidth);
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${prefix}-${name}.png`), fullPage: true });
    }
  }
  expect(errors, 'no console errors on any page').toEqual([]);
});
