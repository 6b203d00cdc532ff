// Preset workloads for the launch button: each is one or more POST /v1/instances bodies (the guest shell runs its
// userData lines one after another, so "I/O beside a CPU benchmark" is two instances on the same host).
const FIO = (name, rw, bs, qd) =>
  `fio --name=${name} --filename=/dev/nvme0n1 --rw=${rw} --bs=${bs} --iodepth=${qd} --size=64m --time_based --runtime=120s`;

export const PRESETS = [
  {
    id: 'randwrite-cpu',
    label: 'fio randwrite 4k qd16 + cpu-bench',
    what: 'Two m5.large for 2 min: fio random 4 KiB writes at queue depth 16 on a 1 GiB EBS volume, and beside it a CPU-bound benchmark (the compute an instance gets).',
    launches: [
      { instanceType: 'm5.large', volumes: [{ sizeGiB: 1 }], userData: FIO('randwrite', 'randwrite', '4k', 16) },
      { instanceType: 'm5.large', volumes: [], userData: 'cpu-bench --seconds=120' },
    ],
  },
  {
    id: 'randread',
    label: 'fio randread 4k qd32',
    what: 'One m5.large for 2 min: fio random 4 KiB reads at queue depth 32 on a 1 GiB EBS volume.',
    launches: [{ instanceType: 'm5.large', volumes: [{ sizeGiB: 1 }], userData: FIO('randread', 'randread', '4k', 32) }],
  },
  {
    id: 'seqwrite',
    label: 'fio sequential write 128k qd4',
    what: 'One m5.large for 2 min: large sequential writes (throughput rather than IOPS).',
    launches: [{ instanceType: 'm5.large', volumes: [{ sizeGiB: 1 }], userData: FIO('seqwrite', 'write', '128k', 4) }],
  },
  {
    id: 'idle',
    label: 'idle',
    what: 'One m5.large with a 1 GiB EBS volume that boots and does nothing.',
    launches: [{ instanceType: 'm5.large', volumes: [{ sizeGiB: 1 }], userData: '' }],
  },
];
