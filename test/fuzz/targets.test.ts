// Every fuzz target, bounded (a fixed iteration count per seed), must finish with zero findings: the card keeps
// serving after link garbage, the NVMe controller and virtio-net device survive garbage queues and come back after a
// reset, the block store keeps serving good clients, the VPC drops bad Geneve datagrams by reason, the REST API never
// answers 5xx and never half-creates. Larger runs: `nitrolab fuzz --target T --iterations N --seed S`.
import t from 'tap';
import { TARGETS } from '../../src/fuzz/index.ts';

const BUDGET: Record<string, { iterations: number; seeds: number[] }> = {
  link: { iterations: 1000, seeds: [1] },
  nvme: { iterations: 2000, seeds: [1, 2] },
  virtio: { iterations: 2000, seeds: [1, 2] },
  nbd: { iterations: 300, seeds: [1] },
  geneve: { iterations: 1500, seeds: [1] },
  rest: { iterations: 400, seeds: [1] },
};

for (const [name, b] of Object.entries(BUDGET)) {
  for (const seed of b.seeds) {
    t.test(`fuzz ${name}, seed ${seed}, ${b.iterations} iterations: no findings`, async (t) => {
      const run = await TARGETS[name]!();
      const r = await run({ iterations: b.iterations, seed });
      t.equal(r.iterations, b.iterations, 'ran every iteration');
      t.ok(r.inputs >= b.iterations, `${r.inputs} inputs delivered`);
      t.same(r.findings, [], 'no findings');
    });
  }
}

t.test('every target has a CI budget', async (t) => {
  t.same(Object.keys(BUDGET).sort(), Object.keys(TARGETS).sort());
});
