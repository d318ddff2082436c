import { ADMIN_EMAIL, ADMIN_PASSWORD, credits, expect, settled, signInAndExpectDashboard, test } from './fixtures';

test('admin creates a redemption code, redeems it and the balance grows', async ({ page }) => {
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await page.goto('/balance');
  await expect(page.getByRole('heading', { level: 1, name: 'Balance' })).toBeVisible();
  const before = await credits(page, 'balance');
  await settled(page);

  const codesForm = page.getByTestId('codes-form');
  await codesForm.locator('input[name=amount]').fill('7.25');
  await codesForm.locator('input[name=count]').fill('1');
  await codesForm.getByRole('button', { name: 'Create codes' }).click();
  await expect(page.getByTestId('new-codes')).toContainText('You will not see them again');
  const code = (await page.getByTestId('new-codes-list').inputValue()).trim();
  expect(code).not.toBe('');

  const redeemForm = page.getByTestId('redeem-form');
  await redeemForm.locator('input[name=code]').fill(code);
  await redeemForm.getByRole('button', { name: 'Redeem' }).click();
  await expect(async () => expect(await credits(page, 'balance')).toBeCloseTo(before + 7.25, 6)).toPass({
    timeout: 10_000,
  });
  await expect(page.getByTestId('ledger-table')).toContainText('redemption');
});
