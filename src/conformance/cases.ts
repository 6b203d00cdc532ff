// The catalogue, in run order: link first (it needs nothing), device groups next, MGMT last (it tears the instance
// down). docs/conformance.md lists every ID.
import type { TestCase } from './types.ts';
import { LINK_CASES } from './groups/link.ts';
import { PCI_CFG_CASES } from './groups/pci-cfg.ts';
import { PCI_MSIX_CASES } from './groups/pci-msix.ts';
import { NVME_REG_CASES } from './groups/nvme-reg.ts';
import { NVME_ADM_CASES } from './groups/nvme-adm.ts';
import { NVME_NVM_CASES } from './groups/nvme-nvm.ts';
import { VIRTIO_PCI_CASES } from './groups/virtio-pci.ts';
import { VIRTIO_RING_CASES } from './groups/virtio-ring.ts';
import { VIRTIO_NET_CASES } from './groups/virtio-net.ts';
import { NBD_CASES } from './groups/nbd.ts';
import { CAP_PCAP_CASES } from './groups/pcap.ts';
import { MGMT_CASES } from './groups/mgmt.ts';
import { EDU_CASES } from './groups/edu.ts';

export const ALL_CASES: readonly TestCase[] = [
  ...LINK_CASES, ...PCI_CFG_CASES, ...PCI_MSIX_CASES, ...NVME_REG_CASES, ...NVME_ADM_CASES, ...NVME_NVM_CASES,
  ...VIRTIO_PCI_CASES, ...VIRTIO_RING_CASES, ...VIRTIO_NET_CASES, ...EDU_CASES, ...NBD_CASES, ...CAP_PCAP_CASES, ...MGMT_CASES,
];
