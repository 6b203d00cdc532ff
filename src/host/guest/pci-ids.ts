// Names for lspci, a tiny slice of the pci.ids database: the vendors, devices and classes nitrolab presents.

const VENDORS: Readonly<Record<number, string>> = {
  0x1d0f: 'Amazon.com, Inc.',
  0x1af4: 'Red Hat, Inc.',
  0x8086: 'Intel Corporation',
  0x1b36: 'Red Hat, Inc.',
};

const DEVICES: Readonly<Record<string, string>> = {
  '1d0f:0061': 'NVMe EBS Controller',
  '1d0f:0065': 'NVMe SSD Controller',
  '1d0f:8061': 'NVMe EBS Controller',
  '1d0f:cd00': 'NVMe SSD Controller',
  '1d0f:cd01': 'NVMe SSD Controller',
  '1d0f:cd02': 'NVMe SSD Controller',
  '1d0f:0ec2': 'Elastic Network Adapter (ENA)',
  '1d0f:1ec2': 'Elastic Network Adapter (ENA)',
  '1d0f:ec20': 'Elastic Network Adapter (ENA)',
  '1d0f:ec21': 'Elastic Network Adapter (ENA)',
  '1af4:1041': 'Virtio 1.0 network device',
  '1af4:1042': 'Virtio 1.0 block device',
  '1b36:0010': 'QEMU NVM Express Controller',
  '1d0f:ed00': 'nitrolab edu teaching device',
};

/** Class names by (base << 8 | sub), as lspci prints them. */
const CLASSES: Readonly<Record<number, string>> = {
  0x0000: 'Non-VGA unclassified device',
  0x0100: 'SCSI storage controller',
  0x0106: 'SATA controller',
  0x0108: 'Non-Volatile memory controller',
  0x0180: 'Mass storage controller',
  0x0200: 'Ethernet controller',
  0x0280: 'Network controller',
  0x0300: 'VGA compatible controller',
  0x0600: 'Host bridge',
  0x0601: 'ISA bridge',
  0x0680: 'Bridge',
  0x0700: 'Serial controller',
  0x0880: 'System peripheral',
  0xff00: 'Unassigned class',
};

/** Programming interfaces worth naming. */
const PROG_IFS: Readonly<Record<number, string>> = {
  0x010802: 'NVM Express',
};

const hex4 = (v: number): string => v.toString(16).padStart(4, '0');

export function vendorName(vendorId: number): string {
  return VENDORS[vendorId] ?? `Device ${hex4(vendorId)}`;
}

export function deviceName(vendorId: number, deviceId: number): string {
  return DEVICES[`${hex4(vendorId)}:${hex4(deviceId)}`] ?? `Device ${hex4(deviceId)}`;
}

export function className(classCode: number): string {
  const key = classCode >>> 8;
  return CLASSES[key] ?? `Class ${hex4(key)}`;
}

export function progIfName(classCode: number): string | undefined {
  return PROG_IFS[classCode];
}
