import { ADMIN_EMAIL, ADMIN_PASSWORD, baseUrl, createKey, expect, settled, signInAndExpectDashboard, test, uniqueName } from './fixtures';

/** Calls the gateway with `model`, as an application would; returns the error code, if any. */
async function errorCode(secret: string, model: string): Promise<string | undefined> {
  const response = await fetch(`${baseUrl()}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi there' }] }),
  });
  const body = await response.json();
  return body?.error?.code;
}

test('an admin disables a model and the gateway answers model_disabled', async ({ page }) => {
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  const channels = await (await page.request.get('/api/v1/channels')).json();
  const echo = channels.find((channel: { name: string }) => channel.name === 'demo-echo');
  const code = uniqueName('switchable');
  const created = await page.request.post('/api/v1/models', {
    data: { code, name: 'Switchable', input_price: 1000000, output_price: 2000000, context_window: 4096,
            channels: [{ channel_id: echo.id }] },
  });
  expect(created.status()).toBe(201);

  const secret = await createKey(page, uniqueName('model-switch'), false);
  await expect(async () => expect(await errorCode(secret, code)).toBeUndefined()).toPass({ timeout: 10_000 });

  await page.goto('/models');
  await expect(page.getByRole('heading', { level: 1, name: 'Models' })).toBeVisible();
  await settled(page);
  const row = page.getByTestId(`model-${code}`);
  await expect(row).toContainText('active');
  await row.locator('select[name=status]').selectOption('disabled');
  await row.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId(`model-${code}`)).toContainText('disabled');

  await expect(async () => expect(await errorCode(secret, code)).toBe('model_disabled')).toPass({
    timeout: 10_000,
    intervals: [200, 500, 1_000],
  });
});
