import { defineConfig } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from './tests/fixtures';

// Everything below can be overridden from the environment:
//   E2E_SERVER_BIN  the tollgate binary   (default ../target/debug/tollgate)
//   E2E_SITE_ROOT   the built site, whose pkg/ holds tollgate.js, tollgate_bg.wasm,
//                   tollgate.css          (default ../target/site)
//   E2E_PORT        the port to listen on (default 18181)
//   CHROMIUM_PATH   the Chromium to drive (default /usr/bin/chromium)
const serverBin = path.resolve(__dirname, process.env.E2E_SERVER_BIN ?? '../target/debug/tollgate');
const siteRoot = path.resolve(__dirname, process.env.E2E_SITE_ROOT ?? '../target/site');
const port = Number(process.env.E2E_PORT ?? 18181);
const baseURL = `http://127.0.0.1:${port}`;

// A fresh data directory (and so a fresh SQLite database) for every run. This file is
// evaluated by the runner and again by each worker; the runner makes the directory and
// passes it to the workers through the environment, and global-teardown removes it.
if (!process.env.E2E_DATA_DIR) {
  process.env.E2E_DATA_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-e2e-'));
  process.env.E2E_DATA_DIR_OWNED = '1';
}
const dataDir = process.env.E2E_DATA_DIR;

export default defineConfig({
  testDir: './tests',
  fullyParallel: false,
  workers: 1,
  retries: process.env.CI ? 1 : 0,
  forbidOnly: !!process.env.CI,
  reporter: 'list',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  globalTeardown: './global-teardown.ts',
  use: {
    baseURL,
    // `page.request` (the management API with the page's cookie) is no browser fetch and
    // names no origin; it writes as the console's own pages do. Browser requests carry
    // their own `Sec-Fetch-Site`, which the CSRF check reads first.
    extraHTTPHeaders: { Origin: baseURL },
    trace: 'retain-on-failure',
    browserName: 'chromium',
    launchOptions: {
      // No browser download works here: drive Debian's Chromium.
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: {
    command: `"${serverBin}"`,
    url: `${baseURL}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    stderr: 'pipe',
    env: {
      TOLLGATE_LISTEN: `127.0.0.1:${port}`,
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_DATABASE_URL: `sqlite://${dataDir}/tollgate.db`,
      TOLLGATE_ADMIN_EMAIL: ADMIN_EMAIL,
      TOLLGATE_ADMIN_PASSWORD: ADMIN_PASSWORD,
      TOLLGATE_SEED_DEMO: 'true',
      TOLLGATE_SITE_ROOT: siteRoot,
      // The suite tries wrong passwords on purpose, more than the production budgets
      // allow within a minute (more with a retry); lift them for the test server.
      TOLLGATE_SIGN_IN_ATTEMPTS_PER_EMAIL_AND_IP: '1000',
      TOLLGATE_SIGN_IN_ATTEMPTS_PER_EMAIL: '1000',
      TOLLGATE_SIGN_IN_ATTEMPTS_PER_IP: '1000',
    },
  },
});
