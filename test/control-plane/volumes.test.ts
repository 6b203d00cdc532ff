// Launch-time volume requests: defaults and device-name checks.
import t from 'tap';
import { normaliseVolumes, DEFAULT_DEVICE_NAMES } from '../../src/control-plane/volumes.ts';

t.test('unnamed volumes get the next free /dev/sd[f-p] name; deleteOnTermination defaults to true', async (t) => {
  t.same(normaliseVolumes([{ sizeGiB: 1 }, { sizeGiB: 2, deviceName: '/dev/sdf', deleteOnTermination: false }, { sizeGiB: 3 }]), [
    { sizeGiB: 1, deviceName: '/dev/sdg', deleteOnTermination: true },
    { sizeGiB: 2, deviceName: '/dev/sdf', deleteOnTermination: false },
    { sizeGiB: 3, deviceName: '/dev/sdh', deleteOnTermination: true },
  ]);
});

t.test('bad sizes, bad names, duplicates and running out of names are InvalidParameterValue', async (t) => {
  t.throws(() => normaliseVolumes([{ sizeGiB: 0 }]), { code: 'InvalidParameterValue', message: /sizeGiB 0/ });
  t.throws(() => normaliseVolumes([{ sizeGiB: 1, deviceName: '/dev/hda' }]), { message: /"\/dev\/hda"/ });
  t.throws(() => normaliseVolumes([{ sizeGiB: 1, deviceName: '/dev/xvdb' }, { sizeGiB: 1, deviceName: '/dev/xvdb' }]), { message: /used twice/ });
  t.throws(() => normaliseVolumes(Array(DEFAULT_DEVICE_NAMES.length + 1).fill({ sizeGiB: 1 })), { message: /are taken/ });
});
