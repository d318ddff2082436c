// Shared constants and helpers for the Tollgate browser tests.
//
// The admin credentials here are the ones the test server is started with
// (see playwright.config.ts), so tests and server cannot drift apart.

import { test as base, expect, type BrowserContext, type Page, type TestInfo } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ADMIN_EMAIL = 'admin@e2e.test';
/** At least 12 characters, as the server requires. */
export const ADMIN_PASSWORD = 'e2e-admin-password-0451';
/** The account TOLLGATE_SEED_DEMO=true creates, owned by the admin. */
export const DEMO_ACCOUNT = 'Demo';

export const WRONG_CREDENTIALS = 'Wrong email or password.';
export const PERMISSION_DENIED = 'You do not have permission to do this.';
/** A request id as Tollgate makes them: a UUIDv7. */
export const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export const SCREENSHOT_DIR = path.resolve(__dirname, '..', 'screenshots');

/** A file name made from a test title: lower case, runs of other characters turned into '-'. */
export function sanitize(title: string): string {
  return (
    title
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 120) || 'test'
  );
}

/** An email nobody has used before, so reruns against one database never collide. */
export function uniqueEmail(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@e2e.test`;
}

type Fixtures = {
  /**
   * Opens a page in a new, empty browser context (no cookies: a second person),
   * with the project's baseURL and the test's JavaScript setting. The contexts are
   * closed after the test.
   */
  freshPage: () => Promise<Page>;
  /**
   * The page whose full-page screenshot is saved after the test as
   * screenshots/<test title>.png. Defaults to `page`; a test that ends on
   * another page (from `freshPage`) points it there with `shoot(p)`.
   */
  shoot: (page: Page) => void;
};

export const test = base.extend<Fixtures>({
  freshPage: async ({ browser, javaScriptEnabled }, use, testInfo) => {
    const contexts: BrowserContext[] = [];
    await use(async () => {
      const context = await browser.newContext({ baseURL: testInfo.project.use.baseURL, javaScriptEnabled });
      contexts.push(context);
      return context.newPage();
    });
    for (const context of contexts) await context.close();
  },
  // Depends on freshPage so that those contexts are still open for the screenshot.
  shoot: [
    async ({ page, freshPage: _freshPage }, use, testInfo) => {
      let target: Page = page;
      await use((other) => {
        target = other;
      });
      await saveScreenshot(target, testInfo);
    },
    { auto: true },
  ],
});

export { expect };

async function saveScreenshot(page: Page, testInfo: TestInfo): Promise<void> {
  if (page.isClosed()) return;
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${sanitize(testInfo.title)}.png`);
  try {
    await page.screenshot({ path: file, fullPage: true, timeout: 10_000 });
  } catch (err) {
    // A screenshot is a by-product; never turn a passing test red over it.
    console.warn(`could not save ${file}: ${err}`);
  }
}

/** Fills and submits the sign-in form (works with and without JavaScript). */
export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/sign-in');
  await page.locator('input#email').fill(email);
  await page.locator('input#password').fill(password);
  await page.getByTestId('sign-in-submit').click();
}

/** Signs in and waits for the dashboard. */
export async function signInAndExpectDashboard(page: Page, email: string, password: string): Promise<void> {
  await signIn(page, email, password);
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  await expect(page.getByTestId('viewer-email')).toHaveText(email);
}

/**
 * Waits until the page is hydrated: the menu toggle only reacts once the
 * WebAssembly has loaded, which happens asynchronously after the HTML shows.
 * Clicks until aria-expanded turns "true" (a click before hydration does nothing).
 * The toggle is only displayed on narrow screens (max-width: 700px), so the
 * caller sets such a viewport first.
 */
export async function expectHydrated(page: Page): Promise<void> {
  const toggle = page.getByTestId('nav-toggle');
  await expect(toggle).toBeVisible();
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await expect(async () => {
    if ((await toggle.getAttribute('aria-expanded')) !== 'true') {
      await toggle.click({ timeout: 2_000 });
    }
    await expect(toggle).toHaveAttribute('aria-expanded', 'true', { timeout: 1_000 });
  }).toPass({ timeout: 30_000, intervals: [250, 500, 1_000] });
}

/** The base URL the test server listens on (for Node's fetch against the gateway). */
export function baseUrl(): string {
  return String(test.info().project.use.baseURL);
}

/** Calls the gateway's chat completions with a key, as an application would. */
export async function chat(secret: string): Promise<{ status: number; requestId: string | null; body: any }> {
  const response = await fetch(`${baseUrl()}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
    body: JSON.stringify({ model: 'echo-1', messages: [{ role: 'user', content: 'hi there' }] }),
  });
  return { status: response.status, requestId: response.headers.get('x-request-id'), body: await response.json() };
}

/** Polls the gateway until the key is refused with `code` (it picks up changes within a second). */
export async function expectRefused(secret: string, code: string): Promise<void> {
  await expect(async () => {
    const { body } = await chat(secret);
    expect(body?.error?.code).toBe(code);
  }).toPass({ timeout: 10_000, intervals: [200, 500, 1_000] });
}

/** Fills the key form on /keys (every policy field when `full`) and submits it; returns the secret. */
export async function createKey(page: Page, name: string, full: boolean): Promise<string> {
  await page.goto('/keys');
  await expect(page.getByRole('heading', { level: 1, name: 'Keys' })).toBeVisible();
  await settled(page);
  const form = page.getByTestId('create-key-form');
  await form.locator('input[name=name]').fill(name);
  if (full) {
    await form.locator('input[name=expires_at]').fill('2099-12-31T23:59');
    await form.locator('textarea[name=ip_allowlist]').fill('127.0.0.1\n10.0.0.0/8\n::1');
    await form.locator('input[type=checkbox][value="echo-1"]').check();
    await form.locator('input[name=rpm]').fill('120');
    await form.locator('input[name=tpm]').fill('100000');
    await form.locator('input[name=max_concurrency]').fill('4');
    await form.locator('input[name=spend_cap]').fill('25.5');
  }
  await form.getByRole('button', { name: 'Create key' }).click();
  const secret = page.getByTestId('new-key-secret');
  await expect(secret).toBeVisible();
  await expect(page.getByTestId('new-key')).toContainText('You will not see this again');
  const text = (await secret.textContent())!.trim();
  expect(text).toMatch(/^tg-/);
  return text;
}

/** A name nobody has used before. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`;
}

/** The number shown in a credits element, e.g. `107.50`. */
export async function credits(page: Page, testId: string): Promise<number> {
  return Number((await page.getByTestId(testId).textContent())!.trim());
}

/** Waits until the page's downloads (the WebAssembly among them) are done, so a click
 *  exercises the hydrated page rather than racing its hydration. */
export async function settled(page: Page): Promise<void> {
  await page.waitForLoadState('networkidle');
}

/** Collects the page's console errors and uncaught exceptions (a hydration mismatch shows
 *  up here) from now on; the browser's own /favicon.ico request is left out. */
export function watchConsoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    const where = msg.location().url;
    if (msg.type() === 'error' && !where.endsWith('/favicon.ico')) errors.push(`${msg.text()} [${where}]`);
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  return errors;
}
