// virtio-net counters: local snapshot and forwarding under stable names.
import t from 'tap';
import { FakeHost } from '../../helpers/fake-host.ts';
import { NetCounter, reasonCounter, VirtioNetMetrics } from '../../../src/devices/virtio-net/metrics.ts';

t.test('counts packets, bytes, drops and faults, and forwards them', async (t) => {
  const host = new FakeHost(4096);
  const m = new VirtioNetMetrics(host.metrics);
  m.txPacket(60);
  m.txPacket(40);
  m.rxPacket(1500);
  m.rxDrop('no-buffers');
  m.txDrop('oversize');
  m.malformed('desc-chain-too-long');
  m.needsReset();
  m.interrupt();
  m.notify();
  m.driverError('notify-bad');
  t.same(m.snapshot(), {
    txPackets: 2, txBytes: 100, txDropped: 1, rxPackets: 1, rxBytes: 1500, rxDropped: 1,
    malformedRing: 1, needsReset: 1, interrupts: 1, notifies: 1, driverErrors: 1,
  });
  t.equal(host.counters.get(NetCounter.TX_BYTES), 100);
  t.equal(host.counters.get(NetCounter.RX_PACKETS), 1);
  t.equal(host.counters.get('virtio_net_rx_dropped_no_buffers_total'), 1);
  t.equal(host.counters.get('virtio_net_malformed_desc_chain_too_long_total'), 1);
  t.equal(host.counters.get(NetCounter.NEEDS_RESET), 1);
});

t.test('reason counters have stable names', async (t) => {
  t.equal(reasonCounter('virtio_net_malformed', 'avail-idx-jump'), 'virtio_net_malformed_avail_idx_jump_total');
});

t.test('a snapshot is a copy', async (t) => {
  const m = new VirtioNetMetrics(new FakeHost(4096).metrics);
  const s = m.snapshot();
  m.txPacket(1);
  t.equal(s.txPackets, 0);
});
