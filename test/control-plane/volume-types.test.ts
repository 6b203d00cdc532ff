// EC2's gp3/io2 rules (src/control-plane/volume-types.ts): defaults, ranges and combinations, errors naming the value.
import t from 'tap';
import { normaliseVolumeSpec } from '../../src/control-plane/volume-types.ts';

t.test('gp3 defaults to 3000 IOPS and 125 MiB/s; io2 throughput follows its IOPS', async (t) => {
  t.same(normaliseVolumeSpec({ sizeGiB: 1 }), { sizeGiB: 1, volumeType: 'gp3', iops: 3000, throughput: 125 });
  t.same(normaliseVolumeSpec({ sizeGiB: 100, iops: 16000, throughput: 1000 }), { sizeGiB: 100, volumeType: 'gp3', iops: 16000, throughput: 1000 });
  t.same(normaliseVolumeSpec({ sizeGiB: 4, volumeType: 'io2', iops: 2000 }), { sizeGiB: 4, volumeType: 'io2', iops: 2000, throughput: 500 });
  t.same(normaliseVolumeSpec({}, 8), { sizeGiB: 8, volumeType: 'gp3', iops: 3000, throughput: 125 }, 'size from the snapshot');
});

t.test('out-of-range and inconsistent specs are refused with EC2 codes', async (t) => {
  const code = (f: () => unknown) => { try { f(); return 'ok'; } catch (e) { return (e as { code: string }).code; } };
  t.equal(code(() => normaliseVolumeSpec({ sizeGiB: 0 })), 'MissingParameter');
  t.equal(code(() => normaliseVolumeSpec({ sizeGiB: 16385 })), 'InvalidParameterValue');
  t.equal(code(() => normaliseVolumeSpec({ sizeGiB: 1, iops: 2999 })), 'InvalidParameterValue');
  t.equal(code(() => normaliseVolumeSpec({ sizeGiB: 10, iops: 6000 })), 'InvalidParameterCombination', '> 500 IOPS per GiB');
  t.equal(code(() => normaliseVolumeSpec({ sizeGiB: 100, iops: 3000, throughput: 1000 })), 'InvalidParameterCombination', '> 0.25 MiB/s per IOPS');
  t.equal(code(() => normaliseVolumeSpec({ sizeGiB: 1, volumeType: 'st1' })), 'InvalidParameterValue');
  t.equal(code(() => normaliseVolumeSpec({ sizeGiB: 8, volumeType: 'io2' })), 'MissingParameter');
  t.equal(code(() => normaliseVolumeSpec({ sizeGiB: 3, volumeType: 'io2', iops: 100 })), 'InvalidParameterValue', 'io2 starts at 4 GiB');
  t.equal(code(() => normaliseVolumeSpec({ sizeGiB: 8, volumeType: 'io2', iops: 1000, throughput: 200 })), 'InvalidParameterCombination');
  t.equal(code(() => normaliseVolumeSpec({ sizeGiB: 1 }, 2)), 'InvalidParameterValue', 'smaller than the snapshot');
});
