// virtio-net 1.2 over PCI: the device, its transport, split virtqueues, layouts and metrics.
export { VirtioNet, RX_QUEUE, TX_QUEUE, NET_MSIX_VECTORS, NET_FEATURES, parseMac, type NetBackend, type VirtioNetOptions } from './net.ts';
export { VirtioPciTransport, type VirtioDevice, type TransportOptions } from './transport.ts';
export { Virtqueue, RingError, QueueStopped, needEvent, MAX_INDIRECT_DESCS, type DescChain, type QueueConfig, type RingFaultReason, type Segment } from './queue.ts';
export { COMMON_REGS, commonRead, commonWrite, validQueueSize, type QueueRegs, type CommonCfgState } from './common-cfg.ts';
export { VirtioNetMetrics, NetCounter, reasonCounter, type NetMetricsSnapshot, type TransportMetrics } from './metrics.ts';
export { onesComplementSum, completeChecksum } from './checksum.ts';
export { readTxFrame, MAX_FRAME, type TxOutcome } from './tx.ts';
export { placePacket, type RxOutcome } from './rx.ts';
export * from './regs.ts';
