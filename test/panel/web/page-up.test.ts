// The panel against the real `nitrolab up` (card and host processes, real guests), in real headless Chromium: the
// page loads clean, a preset launched from the page boots and its console streams live. Metrics and traces are
// checked for what they are: data when GET /v1/metrics exists, an honest "no data yet" while it answers 404.
import t from 'tap';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { api, startNitrolab } from '../../helpers/nitrolab-up.ts';
import { openPage } from '../helpers/chromium.ts';

const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/panel/', import.meta.url));
mkdirSync(ARTIFACTS, { recursive: true });

t.test('the panel on nitrolab up launches a preset, follows its console, and shows metrics or says they are missing', async (t) => {
  const nl = await startNitrolab([]);
  t.teardown(() => nl.stop());
  const { page, problems } = await openPage(t);
  await page.goto(`${nl.url}/?apiKey=${nl.apiKey}`);
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15_000 });
  await page.waitForFunction('Number(document.body.dataset.snapshots ?? 0) >= 2', undefined, { timeout: 15_000 });
  t.equal(await page.locator('#host-select').inputValue(), 'host-0');

  await page.locator('#preset').selectOption({ label: 'fio randwrite 4k qd16 + cpu-bench' });
  await page.locator('#launch').click();
  await page.locator('#launch-result[data-kind="ok"]').waitFor({ timeout: 30_000 });
  const ids = [...(await page.locator('#launch-result').textContent() ?? '').matchAll(/i-[0-9a-f]{17}/g)].map((m) => m[0]);
  t.equal(ids.length, 2, 'the preset launched two instances (fio, and cpu-bench beside it)');
  for (const id of ids) await page.locator(`#instances tr[data-id="${id}"] [data-state="running"]`).waitFor({ timeout: 60_000 });
  t.pass('both reach running in the list');
  await page.locator('#console', { hasText: 'cloud-init' }).waitFor({ timeout: 60_000 });
  t.pass('the fio instance\'s console streams its boot');

  const metrics = await api(nl.url, 'GET', '/v1/metrics');
  if (metrics.status === 404) {
    t.equal(await page.locator('#cpu-host-box').getAttribute('data-nodata'), 'true');
    t.match(await page.locator('#reclaim').textContent(), /no data yet/, 'GET /v1/metrics is not built yet: the page says so');
  } else {
    t.equal(metrics.status, 200, 'GET /v1/metrics answers');
    await page.locator('#cpu-host-box[data-nodata="false"]').waitFor({ timeout: 15_000 });
    t.match(await page.locator('#reclaim').getAttribute('data-kind'), /offload-only|both/);
    await page.locator('#timeline .tl[data-mode="offload"] g.step[data-kind="doorbell"]').waitFor({ timeout: 60_000 });
    t.pass('a sampled offload I/O is drawn');
  }
  await page.screenshot({ path: ARTIFACTS + 'panel-nitrolab-up.png', fullPage: true });
  t.same(problems, [], 'no console errors, page errors or failed requests');
});
