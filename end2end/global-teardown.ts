import * as fs from 'node:fs';

/** Removes the temporary data directory playwright.config.ts made for this run. */
export default async function globalTeardown(): Promise<void> {
  const dir = process.env.E2E_DATA_DIR;
  if (dir && process.env.E2E_DATA_DIR_OWNED === '1') {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
