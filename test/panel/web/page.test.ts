// The panel page in real headless Chromium, against a real control plane (stand-in cards, STAND-IN metrics/traces):
// it loads clean, charts fill from the websocket, a preset launch shows up in the list, the timeline draws a sampled
// I/O in both modes, and a page without metrics says so instead of failing. Screenshots go to test-artifacts/panel/.
import t from 'tap';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openPage } from '../helpers/chromium.ts';
import { startPanelPlane } from '../helpers/panel-plane.ts';

const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/panel/', import.meta.url));
mkdirSync(ARTIFACTS, { recursive: true });

t.test('the panel shows live metrics, launches a preset, lists it, and draws the I/O path in both modes', async (t) => {
  const plane = await startPanelPlane(t, [{ hostId: 'host-0', mode: 'offload', bootImmediately: true }, { hostId: 'host-1', mode: 'legacy', bootImmediately: true }]);
  const { page, problems } = await openPage(t);

  await page.goto(plane.url + '/');
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
  t.pass('the page opened its websocket');

  // Live data over the websocket: several snapshots arrive and the CPU chart stops saying "no data yet".
  await page.waitForFunction('Number(document.body.dataset.snapshots ?? 0) >= 3', undefined, { timeout: 10_000 });
  t.equal(await page.locator('#cpu-host-box').getAttribute('data-nodata'), 'false', 'host CPU chart has data');
  t.equal(await page.locator('#iops-box').getAttribute('data-nodata'), 'false', 'IOPS chart has data');
  t.match(await page.locator('#reclaim').getAttribute('data-kind'), 'both', 'both modes running: the headline is a reclaimed figure');
  t.match(await page.locator('#reclaim .big').textContent(), /\d\.\d\d host cores reclaimed/);
  t.match(await page.locator('#host-select').inputValue(), 'host-0');
  t.ok(plane.metrics.reads >= 3, 'the server read the metrics once per snapshot');

  // Launch a preset from the page: its instance(s) appear in the list, and the console of the first is chosen.
  await page.locator('#preset').selectOption({ label: 'fio randread 4k qd32' });
  await page.locator('#launch').click();
  await page.locator('#launch-result[data-kind="ok"]').waitFor({ timeout: 10_000 });
  const launched = /launched (i-[0-9a-f]{17})/.exec(await page.locator('#launch-result').textContent() ?? '')?.[1];
  if (!launched) throw new Error('no instance id in the launch result');
  await page.locator(`#instances tr[data-id="${launched}"]`).waitFor({ timeout: 10_000 });
  t.pass(`${launched} appears in the instance list`);
  await page.locator(`#instances tr[data-id="${launched}"] [data-state="running"]`).waitFor({ timeout: 10_000 });
  t.pass('its state is running (the card booted it)');
  const card = plane.cards.find((c) => c.instances.has(launched));
  t.ok(card, 'a stand-in card received the launch');
  const sent = card?.instances.get(launched);
  t.match(sent?.userData, /fio --name=randread .*--rw=randread --bs=4k --iodepth=32/, 'the preset userData reached the card');

  // The console of the launched instance is live.
  card?.writeConsole(launched, 'nitrolab guest booting\nfio: randread iops=12345\n');
  await page.locator('#console', { hasText: 'fio: randread iops=12345' }).waitFor({ timeout: 10_000 });
  t.pass('console output written on the card shows on the page');

  // The transaction timeline: a sampled I/O in both modes; the hypervisor lane is used only in legacy mode.
  const offload = page.locator('#timeline .tl[data-mode="offload"]');
  const legacy = page.locator('#timeline .tl[data-mode="legacy"]');
  await offload.locator('g.step').first().waitFor({ timeout: 10_000 });
  const kinds = async (l: typeof offload) => l.locator('g.step').evaluateAll((gs) => gs.map((g) => `${g.getAttribute('data-kind')}@${g.getAttribute('data-lane')}`));
  t.same(await kinds(offload), ['doorbell@guest', 'desc-dma@card', 'data-dma@card', 'backend@backend', 'completion@card', 'msix@card'],
    'offload: doorbell to the card, DMA and completion by the card, MSI-X from the card');
  t.same(await kinds(legacy), ['doorbell@guest', 'exit@hypervisor', 'desc-dma@hypervisor', 'data-dma@hypervisor', 'backend@backend',
    'completion@hypervisor', 'msix@hypervisor', 'inject@hypervisor'], 'legacy: every step but the doorbell and the backend is the hypervisor\'s');
  t.match(await offload.textContent(), /hypervisor steps: 0/);
  t.match(await offload.textContent(), /\+22\.4 µs/, 'steps carry their timestamps');

  // Another host: the selector switches the charts and the key numbers.
  await page.locator('#host-select').selectOption('host-1');
  await page.locator('#numbers', { hasText: 'legacy' }).waitFor({ timeout: 10_000 });
  t.pass('selecting host-1 shows the legacy host\'s numbers');
  await page.locator('#host-select').selectOption('host-0');
  await page.locator('#numbers', { hasText: 'offload' }).waitFor({ timeout: 10_000 });

  await page.screenshot({ path: ARTIFACTS + 'panel.png', fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: ARTIFACTS + 'panel-1280x800.png' });
  t.same(problems, [], 'no console errors, page errors or failed requests');
});

t.test('without metrics from the cards the page says "no data yet" and logs no error', async (t) => {
  const plane = await startPanelPlane(t, [{ hostId: 'host-0', bootImmediately: true }], { withMetrics: false });
  const { page, problems } = await openPage(t);
  await page.goto(plane.url + '/');
  await page.waitForFunction('Number(document.body.dataset.snapshots ?? 0) >= 2', undefined, { timeout: 10_000 });
  t.equal(await page.locator('#cpu-host-box').getAttribute('data-nodata'), 'true');
  // The stand-in cards serve no metrics: the control plane's GET /v1/metrics then has no report for the host (or, in a
  // control plane without the metrics routes, answers 404) — either way the page says so instead of drawing zeros.
  t.match(await page.locator('#cpu-host-box .nodata').textContent(), /no data yet (for host-0|— GET \/v1\/metrics answered 404)/);
  t.match(await page.locator('#reclaim').textContent(), /no data yet/);
  t.match(await page.locator('#timeline').textContent(), /no data yet/);
  t.match(await page.locator('#host-select').inputValue(), 'host-0', 'hosts still come from GET /v1/hosts');

  await page.locator('#preset').selectOption({ label: 'idle' });
  await page.locator('#launch').click();
  await page.locator('#instances tbody tr[data-id]').waitFor({ timeout: 10_000 });
  t.pass('launching still works');
  await page.screenshot({ path: ARTIFACTS + 'panel-no-metrics.png', fullPage: true });
  t.same(problems, [], 'no console errors, page errors or failed requests');
});
