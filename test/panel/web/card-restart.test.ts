// A card restart shows in the panel (issue 9 §1: `nitrolab up` restarts a dead card "and says so in the log and the
// panel"): the host line carries the card's boot — "up since" on its first boot, "restarted at … (boot N, K instance
// record(s) restored)" after a crash. Real headless Chromium against a real control plane with a stand-in card.
import t from 'tap';
import { openPage } from '../helpers/chromium.ts';
import { startPanelPlane } from '../helpers/panel-plane.ts';

t.test('the host line says when its card booted, and that it restarted', async (t) => {
  const plane = await startPanelPlane(t, [{ hostId: 'host-0', mode: 'offload', bootImmediately: true }]);
  const card = plane.cards[0]!;
  card.cardBoot = { count: 1, at: new Date(Date.now() - 60_000).toISOString(), restoredInstances: 0 };
  const { page, problems } = await openPage(t);
  await page.goto(plane.url + '/');
  await page.locator('#host-facts[data-card-boots="1"]').waitFor({ timeout: 15_000 });
  t.match(await page.locator('#host-facts').textContent(), /card up since /, 'first boot: up since');
  t.notMatch(await page.locator('#host-facts').textContent(), /restarted/);

  card.cardBoot = { count: 2, at: new Date().toISOString(), restoredInstances: 3 };
  await page.locator('#host-facts[data-card-boots="2"]').waitFor({ timeout: 15_000 });
  t.match(await page.locator('#host-facts').textContent(), /card restarted at .+ \(boot 2, 3 instance record\(s\) restored\)/, 'after a crash: restarted, with what came back');
  t.same(problems, [], 'no console errors on the page');
});
