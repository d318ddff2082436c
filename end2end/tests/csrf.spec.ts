// Cross-site request forgery: a page on another port of the same host is the same *site*, so
// the browser sends the console's `SameSite=Lax` cookie with its requests. The console must
// refuse the changes such a page starts, and still accept its own, with and without JavaScript.

import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_EMAIL, ADMIN_PASSWORD, expect, signInAndExpectDashboard, test, uniqueEmail, uniqueName } from './fixtures';

/** Serves one attacker page on a second loopback port; resolves to its URL. */
async function serveAttackerPage(html: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test.describe('a page on another port cannot make changes with the console cookie', () => {
  test('a no-cors fetch cannot create an admin, an auto-submitting form cannot create a key', async ({ page, baseURL }) => {
    await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    const me = await (await page.request.get('/api/v1/me')).json();
    const account: string = me.accounts[0].account_id;
    const email = uniqueEmail('forged-admin');
    const keyName = uniqueName('forged-key');
    const attacker = await serveAttackerPage(`<!doctype html>
      <form id="key" method="post" action="${baseURL}/rpc/create_key">
        <input name="account_id" value="${account}"><input name="name" value="${keyName}">
      </form>
      <script>
        fetch('${baseURL}/rpc/create_user', {
          method: 'POST', mode: 'no-cors', credentials: 'include',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'email=${encodeURIComponent(email)}&password=forged-password-123&role=admin',
        }).finally(() => { document.title = 'fetched'; document.getElementById('key').submit(); });
      </script>`);
    try {
      // The forged requests leave from the signed-in admin's own browser.
      const forged = await page.context().newPage();
      const fetchSent = forged.waitForRequest(`${baseURL}/rpc/create_user`);
      const formAnswered = forged.waitForResponse(`${baseURL}/rpc/create_key`);
      await forged.goto(attacker.url);
      await fetchSent;
      // The form is sent once the fetch has its (opaque) answer; it is refused where it was
      // sent, not redirected back to the attacker's page.
      expect((await formAnswered).status()).toBe(403);
      await expect(forged).toHaveURL(`${baseURL}/rpc/create_key`);
      await expect(forged.locator('body')).toContainText('cross_origin_request');
      await forged.close();
    } finally {
      await attacker.close();
    }
    const users: { email: string }[] = await (await page.request.get('/api/v1/users')).json();
    expect(users.map((user) => user.email)).not.toContain(email);
    const keys: { name: string }[] = await (await page.request.get(`/api/v1/accounts/${account}/keys`)).json();
    expect(keys.map((key) => key.name)).not.toContain(keyName);
  });
});

for (const javaScriptEnabled of [true, false]) {
  test.describe(`the console's own forms still work (${javaScriptEnabled ? 'with' : 'without'} JavaScript)`, () => {
    test.use({ javaScriptEnabled });

    test(`creates a user and a key from its own pages ${javaScriptEnabled ? 'with' : 'without'} JavaScript`, async ({
      page,
    }) => {
      await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
      await page.goto('/admin/users');
      const email = uniqueEmail('own-form');
      const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Create user' }) });
      await form.locator('input[name=email]').fill(email);
      await form.locator('input[name=password]').fill('own-form-password-123');
      await form.getByRole('button', { name: 'Create user' }).click();
      await expect(page.getByTestId('users-table')).toContainText(email);

      await page.goto('/keys');
      const name = uniqueName('own-key');
      const keyForm = page.getByTestId('create-key-form');
      await keyForm.locator('input[name=name]').fill(name);
      await keyForm.getByRole('button', { name: 'Create key' }).click();
      await expect(page.getByTestId('new-key-secret')).toBeVisible();
    });
  });
}
