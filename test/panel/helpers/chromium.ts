// Real headless Chromium (the Debian package at /usr/bin/chromium, never a downloaded browser) driven by
// playwright-core, with a fresh profile per test. Collects console errors, page errors and failed requests so a
// test can assert the page ran clean.
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

export interface Browsing {
  page: Page;
  context: BrowserContext;
  /** Console errors, uncaught exceptions and failed requests, as text. */
  problems: string[];
}

/** A page in a fresh Chromium profile, closed (and the profile removed) when the test ends. */
export async function openPage(t: Test, viewport = { width: 1440, height: 900 }): Promise<Browsing> {
  const profile = mkdtempSync(join(tmpdir(), 'nl-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport });
  t.teardown(async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`); });
  return { page, context, problems };
}
