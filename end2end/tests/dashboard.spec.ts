import { type Page } from '@playwright/test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  baseUrl,
  chat,
  createKey,
  expect,
  signInAndExpectDashboard,
  test,
  uniqueName,
} from './fixtures';

/** The outcomes in the order the chart stacks them and the table lists them. */
const OUTCOMES = ['answered', 'identity', 'permission', 'quota', 'rate_limit', 'routing', 'upstream', 'request', 'internal'];

/** The id of the account the dashboard shows (its name is the summary's heading). */
async function currentAccountId(page: Page): Promise<string> {
  const name = (await page.getByTestId('account-summary').getByRole('heading').textContent())!.trim();
  const me = await (await page.request.get('/api/v1/me')).json();
  return me.accounts.find((membership: any) => membership.account_name === name).account_id;
}

async function dashboardApi(page: Page, accountId: string): Promise<any> {
  const response = await page.request.get(`/api/v1/accounts/${accountId}/dashboard`);
  expect(response.status()).toBe(200);
  return response.json();
}

/** A chat request for a model the catalog does not have: refused by the request layer. */
async function chatUnknownModel(secret: string): Promise<number> {
  const response = await fetch(`${baseUrl()}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
    body: JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await response.body?.cancel();
  return response.status;
}

test('the dashboard charts requests by layer and shows the spend', async ({ page }) => {
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  const accountId = await currentAccountId(page);
  const before = (await dashboardApi(page, accountId)).traffic.total;

  const secret = await createKey(page, uniqueName('dashboard'), false);
  let answered = 0;
  await expect(async () => {
    // The gateway loads a new key within a second; count only what it answered.
    while (answered < 3) {
      const { status } = await chat(secret);
      expect(status).toBe(200);
      answered += 1;
    }
  }).toPass({ timeout: 10_000 });
  expect(await chatUnknownModel(secret)).toBe(404);

  // Usage rows are written in batches: wait until the four are counted.
  let figures: any;
  await expect(async () => {
    figures = await dashboardApi(page, accountId);
    expect(figures.traffic.total.ok - before.ok).toBeGreaterThanOrEqual(3);
    expect(figures.traffic.total.errors.request - before.errors.request).toBe(1);
  }).toPass({ timeout: 10_000 });

  const total = figures.traffic.total;
  const requests = total.ok + OUTCOMES.slice(1).reduce((sum, layer) => sum + total.errors[layer], 0);

  await page.goto('/');
  await expect(page.getByTestId('traffic-summary')).toContainText(`${requests} requests`);
  const chart = page.getByTestId('traffic-chart');
  await expect(chart).toBeVisible();
  await expect(chart.locator('g.bar')).toHaveCount(24);
  await expect(chart.locator('rect.segment[data-outcome=answered]').first()).toBeVisible();
  await expect(chart.locator('rect.segment[data-outcome=request]')).not.toHaveCount(0);
  const currentHour = chart.locator('g.bar').last();
  await expect(currentHour.locator('title')).toContainText('answered');
  await expect(currentHour.locator('title')).toContainText('request');

  // The table (for screen readers) has the same figures as the API.
  const totals = page.getByTestId('traffic-table').locator('tfoot td');
  await expect(totals).toHaveCount(OUTCOMES.length + 1);
  await expect(totals.nth(OUTCOMES.indexOf('answered'))).toHaveText(String(total.ok));
  await expect(totals.nth(OUTCOMES.indexOf('request'))).toHaveText(String(total.errors.request));
  await expect(totals.last()).toHaveText(String(requests));

  // Spend today: what the ledger charged, in credits.
  const spentToday = figures.money.spend.today;
  expect(spentToday).toBeGreaterThan(0);
  const shown = Number((await page.getByTestId('spend-today').textContent())!.replace('credits', '').trim());
  expect(shown).toBeCloseTo(spentToday / 1_000_000, 6);
  await expect(page.getByTestId('balance')).toContainText('credits');
});

test('the dashboard and the support lookup fit a phone screen', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await signInAndExpectDashboard(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  for (const path of ['/', '/support']) {
    await page.goto(path);
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    expect(fits, `${path} has no horizontal overflow at 390 px`).toBe(true);
  }
  await page.goto('/');
  await expect(page.getByTestId('account-summary')).toBeVisible();
});
