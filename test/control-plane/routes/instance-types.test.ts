// GET /v1/instance-types: the catalogue, in order, with reference/nitro.md §6 figures.
import t from 'tap';
import { build } from '../helpers/build.ts';

t.test('serves the catalogue including m5.large with its nitro.md figures', async (t) => {
  const app = await build(t);
  const res = await app.inject('/v1/instance-types');
  t.equal(res.statusCode, 200);
  const types = res.json().instanceTypes as Array<{ name: string }>;
  t.ok(types.length >= 16);
  t.match(types.find((x) => x.name === 'm5.large'), {
    vcpus: 2, memMiB: 8192, network: { baselineGbps: 0.75, peakGbps: 10 },
    ebs: { baselineMbps: 650, maxMbps: 4750, baselineIops: 3600, maxIops: 18750 }, source: 'nitro.md §6',
  });
  t.match(types.find((x) => x.name === 'emu.nano'), { vcpus: 1, memMiB: 128, source: 'emulator' });
});
