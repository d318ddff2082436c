import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  baseUrl,
  createKey,
  expect,
  settled,
  signInAndExpectDashboard,
  test,
  uniqueName,
  watchConsoleErrors,
} from './fixtures';

test('channels page offers the five protocols', async ({ page }) => {
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await page.goto('/admin/channels');
  await settled(page);
  const options = page.getByTestId('create-channel-form').locator('select[name=protocol] option');
  await expect(options).toHaveCount(5);
  const values = await options.evaluateAll((nodes) => nodes.map((node) => (node as HTMLOptionElement).value));
  expect(values.sort()).toEqual(['anthropic', 'echo', 'gemini', 'openai', 'openai-responses']);
});

test('an admin sets cache prices on the models page', async ({ page }) => {
  const consoleErrors = watchConsoleErrors(page);
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  const code = uniqueName('cached');
  const created = await page.request.post('/api/v1/models', {
    data: { code, name: code, input_price: 1000000, output_price: 2000000, context_window: 4096 },
  });
  expect(created.status()).toBe(201);
  await page.goto('/models');
  await settled(page);
  const row = page.getByTestId(`model-${code}`);
  await expect(row.getByTestId('model-cache-read-price')).toHaveText('as input');
  await row.locator('input[name=cache_read_price]').fill('0.1');
  await row.locator('input[name=cache_write_price]').fill('1.25');
  await row.getByRole('button', { name: 'Save' }).click();
  await expect(row.getByTestId('model-cache-read-price')).not.toHaveText('as input');
  const model = (await (await page.request.get('/api/v1/models')).json()).find((m: { code: string }) => m.code === code);
  expect([model.cache_read_price, model.cache_write_price]).toEqual([100000, 1250000]);
  expect(consoleErrors, 'browser console errors').toEqual([]);
});

test('the usage detail names the client dialect and the channel dialect', async ({ page }) => {
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  const secret = await createKey(page, uniqueName('dialects'), false);
  // An Anthropic Messages client on the demo's echo channel.
  const response = await fetch(`${baseUrl()}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': secret, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'echo-1', max_tokens: 16, messages: [{ role: 'user', content: 'hi there' }] }),
  });
  expect(response.status).toBe(200);
  const requestId = response.headers.get('x-request-id')!;
  await expect(async () => {
    await page.goto(`/usage/${requestId}`);
    await expect(page.getByTestId('usage-detail')).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 10_000 });
  await expect(page.getByTestId('usage-client-dialect')).toHaveText('anthropic');
  await expect(page.getByTestId('usage-channel-dialect')).toHaveText('echo');
  await expect(page.getByTestId('usage-prompt-tokens')).toHaveText('2');
});
