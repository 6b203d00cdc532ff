// The catalogue carries reference/nitro.md §6 exactly and a few small emulator types.
import t from 'tap';
import { INSTANCE_TYPES, findInstanceType } from '../../src/control-plane/catalogue.ts';

t.test('every §6 row is present with its vCPU and memory', async (t) => {
  const rows: Array<[string, number, number]> = [
    ['m5.large', 2, 8], ['m5.xlarge', 4, 16], ['m5.24xlarge', 96, 384], ['m5.metal', 96, 384], ['m6i.large', 2, 8],
    ['m6i.32xlarge', 128, 512], ['c5.large', 2, 4], ['c5.xlarge', 4, 8], ['c5.18xlarge', 72, 144], ['c5.24xlarge', 96, 192],
    ['c5n.large', 2, 5.25], ['c5n.9xlarge', 36, 96], ['c5n.18xlarge', 72, 192], ['c6gn.16xlarge', 64, 128],
    ['r5.large', 2, 16], ['r5.24xlarge', 96, 768],
  ];
  for (const [name, vcpus, gib] of rows) t.match(findInstanceType(name), { vcpus, memMiB: gib * 1024, source: 'nitro.md §6' }, name);
});

t.test('burstable sizes have a lower baseline than peak; .metal is bare metal', async (t) => {
  t.same(findInstanceType('c5n.large')?.network, { baselineGbps: 3, peakGbps: 25 });
  t.same(findInstanceType('c5.18xlarge')?.network, { baselineGbps: 25, peakGbps: 25 });
  t.equal(findInstanceType('m5.metal')?.bareMetal, true);
  t.equal(findInstanceType('m5.large')?.bareMetal, false);
});

t.test('names are unique and lookups of unknown names are undefined', async (t) => {
  t.equal(new Set(INSTANCE_TYPES.map((x) => x.name)).size, INSTANCE_TYPES.length);
  t.equal(findInstanceType('m5.huge'), undefined);
  t.ok(INSTANCE_TYPES.filter((x) => x.source === 'emulator').every((x) => x.memMiB <= 512));
});
