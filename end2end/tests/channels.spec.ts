import { type Page } from '@playwright/test';
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

/** Opens /admin/channels and waits until it is hydrated. */
async function openChannels(page: Page): Promise<void> {
  await page.goto('/admin/channels');
  await expect(page.getByRole('heading', { level: 1, name: 'Channels' })).toBeVisible();
  await settled(page);
}

/** A catalog model served by no channel yet, so tests can point their own channels at it. */
async function createModel(page: Page, code: string): Promise<void> {
  const created = await page.request.post('/api/v1/models', {
    data: { code, name: code, input_price: 1000000, output_price: 2000000, context_window: 4096 },
  });
  expect(created.status()).toBe(201);
}

test('channels page: create, edit, disable, enable and test an echo channel', async ({ page }) => {
  const consoleErrors = watchConsoleErrors(page);
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Channels' })).toBeVisible();
  await openChannels(page);
  const name = uniqueName('local-echo');

  const form = page.getByTestId('create-channel-form');
  await form.locator('input[name=name]').fill(name);
  await form.locator('select[name=protocol]').selectOption('echo');
  await form.locator('input[type=checkbox][name="models[]"][value="echo-1"]').check();
  await form.locator('input[name=timeout_ms]').fill('5000');
  await form.getByRole('button', { name: 'Create channel' }).click();
  const row = page.getByTestId('channels-table').locator(`tr[data-channel-name="${name}"]`);
  await expect(row).toBeVisible();
  await expect(row.getByTestId('channel-status')).toHaveText('enabled');
  await expect(row.getByTestId('channel-models')).toHaveText('echo-1');
  await expect(row).toContainText('5000 ms');

  const renamed = `${name}-renamed`;
  await row.getByRole('link', { name: 'Edit' }).click();
  await expect(page).toHaveURL(/\/admin\/channels\?edit=/);
  const edit = page.getByTestId('edit-channel-form');
  await expect(edit.locator('input[name=name]')).toHaveValue(name);
  await expect(edit.locator('input[name=credential]')).toHaveValue('');
  await edit.locator('input[name=name]').fill(renamed);
  await edit.locator('input[name=priority]').fill('2');
  await edit.locator('input[name=weight]').fill('3');
  await edit.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByTestId('edit-channel')).toContainText('Channel saved.');
  const renamedRow = page.getByTestId('channels-table').locator(`tr[data-channel-name="${renamed}"]`);
  await expect(renamedRow.locator('td.num').nth(0)).toHaveText('2');
  await expect(renamedRow.locator('td.num').nth(1)).toHaveText('3');

  await renamedRow.getByRole('button', { name: 'Disable' }).click();
  await expect(renamedRow.getByTestId('channel-status')).toHaveText('disabled');
  await renamedRow.getByRole('button', { name: 'Enable' }).click();
  await expect(renamedRow.getByTestId('channel-status')).toHaveText('enabled');

  await renamedRow.getByRole('button', { name: 'Test' }).click();
  const outcome = page.getByTestId('channel-test');
  await expect(outcome).toContainText('Test succeeded');
  await expect(outcome).toContainText(renamed);
  await expect(outcome.getByTestId('test-status')).toHaveText('200');
  await expect(outcome.getByTestId('test-latency')).toHaveText(/^\d+ ms$/);
  expect(consoleErrors, 'browser console errors').toEqual([]);
});

test('channels page: a test of an unreachable provider reports the error', async ({ page }) => {
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  const model = uniqueName('unreachable-model');
  await createModel(page, model);
  await openChannels(page);
  const name = uniqueName('nowhere');
  const form = page.getByTestId('create-channel-form');
  await form.locator('input[name=name]').fill(name);
  await form.locator('select[name=protocol]').selectOption('openai');
  // Nothing listens on loopback's discard port.
  await form.locator('input[name=base_url]').fill('http://127.0.0.1:9/v1');
  await form.locator('input[name=credential]').fill('sk-never-shown');
  await form.locator(`input[type=checkbox][name="models[]"][value="${model}"]`).check();
  await form.getByRole('button', { name: 'Create channel' }).click();
  const row = page.getByTestId('channels-table').locator(`tr[data-channel-name="${name}"]`);
  await expect(row).toContainText('stored');
  await expect(page.locator('body')).not.toContainText('sk-never-shown');

  await row.getByRole('button', { name: 'Test' }).click();
  const outcome = page.getByTestId('channel-test');
  await expect(outcome).toContainText('Test failed');
  await expect(outcome.getByTestId('test-status')).toHaveText('none');
  await expect(outcome.getByTestId('test-error')).toContainText('could not be reached');
});

test('models page: an admin picks the channels serving a model and their upstream names', async ({ page }) => {
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  const model = uniqueName('routed');
  await createModel(page, model);
  const name = uniqueName('spare-echo');
  const created = await page.request.post('/api/v1/channels', { data: { name, protocol: 'echo' } });
  expect(created.status()).toBe(201);

  const consoleErrors = watchConsoleErrors(page);
  await page.goto('/models');
  await settled(page);
  const row = page.getByTestId(`model-${model}`);
  await expect(row.getByTestId('model-channels')).toHaveText('none');
  await row.getByRole('link', { name: 'Edit channels' }).click();
  await expect(page).toHaveURL(/\/models\?channels=/);
  const form = page.getByTestId('model-channels-form');
  const choice = form.locator(`[data-channel-name="${name}"]`);
  await choice.locator('input[type=checkbox]').check();
  await choice.locator('input[name="upstream_models[]"]').fill('echo-upstream');
  await form.getByRole('button', { name: 'Save channels' }).click();
  await expect(page.getByTestId('edit-model-channels')).toContainText('Channels saved.');
  await expect(row.getByTestId('model-channels')).toHaveText(`${name} (as echo-upstream)`);

  const models = await (await page.request.get('/api/v1/models')).json();
  const saved = models.find((m: { code: string }) => m.code === model);
  expect(saved.channels).toEqual([{ channel_id: (await created.json()).id, upstream_model: 'echo-upstream' }]);
  expect(consoleErrors, 'browser console errors').toEqual([]);

  // The model now has a way to be served: a key calls it through the new channel.
  const secret = await createKey(page, uniqueName('routed-key'), false);
  await expect(async () => {
    const response = await fetch(`${baseUrl()}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'routed hello' }] }),
    });
    expect(response.status).toBe(200);
  }).toPass({ timeout: 10_000 });
  await page.goto(`/models?channels=${model}`);
});

test('channels and keys pages fit a phone screen', async ({ page }) => {
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await createKey(page, uniqueName('phone'), true);
  const me = await (await page.request.get('/api/v1/me')).json();
  const keys = await (await page.request.get(`/api/v1/accounts/${me.accounts[0].account_id}/keys`)).json();
  const channels = await (await page.request.get('/api/v1/channels')).json();
  await page.setViewportSize({ width: 390, height: 844 });
  // The last page stays open for the screenshot.
  const paths = ['/keys', `/admin/channels?edit=${channels[0].id}`, '/models?channels=echo-1', `/keys?edit=${keys[0].id}`, '/admin/channels'];
  for (const path of paths) {
    await page.goto(path);
    await settled(page);
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
    }));
    expect(scrollWidth, `${path} scrolls sideways at 390 px`).toBeLessThanOrEqual(innerWidth);
  }
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('no-JS test the demo channel and see the outcome', async ({ page }) => {
    await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    await openChannels(page);
    const row = page.getByTestId('channels-table').locator('tr[data-channel-name="demo-echo"]');
    // The page's URL does not change (the form redirects back to it), so wait for the
    // post and the page it redirects to, not for the URL.
    const tested = page.waitForResponse((response) => response.url().includes('/rpc/test_channel'));
    await row.getByRole('button', { name: 'Test' }).click();
    expect((await tested).status(), 'the form post redirects back').toBe(302);
    await page.waitForLoadState('load');
    await expect(page).toHaveURL(/\/admin\/channels\??$/);
    const outcome = page.getByTestId('channel-test');
    await expect(outcome).toContainText('Test succeeded');
    await expect(outcome.getByTestId('test-status')).toHaveText('200');
    // Shown once: a reload no longer has it.
    await page.reload();
    await expect(page.getByTestId('channel-test')).toHaveCount(0);
  });
});
