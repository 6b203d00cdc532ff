// What IMDS serves for one instance: the `meta-data/` tree (EC2 UG "Instance metadata categories"), `user-data`, and
// the `dynamic/instance-identity/` document with its signature. EC2 signs the document with AWS's RSA key; the card
// signs it with its own Ed25519 identity key (boot/identity.ts), whose public key is in every attestation document.
import { sign, type KeyObject } from 'node:crypto';
import type { MetadataOptions } from './imds-options.ts';

/** Everything IMDS needs to know about an instance (the card's launch request plus its ENI). */
export interface ImdsInstance {
  instanceId: string;
  instanceType: string;
  imageId: string;
  /** Raw user data as given at launch; '' = none (404). */
  userData: string;
  /** ISO time the instance entered pending. */
  pendingTime: string;
  availabilityZone: string;
  region: string;
  accountId: string;
  architecture: string;
  options: MetadataOptions;
}

/** The ENI part (from the data plane). */
export interface ImdsEni {
  eniId: string;
  macAddress: string;
  privateIp: string;
  subnetCidr: string;
  securityGroupIds: readonly string[];
}

/** A directory (listing) or a leaf (text). */
export type MetadataNode = string | { readonly [name: string]: MetadataNode };

/** `ip-10-0-0-10.ec2.internal` in us-east-1, `ip-10-0-0-10.<region>.compute.internal` elsewhere (EC2's IP names). */
export function privateHostname(ip: string, region: string): string {
  const host = `ip-${ip.replaceAll('.', '-')}`;
  return region === 'us-east-1' ? `${host}.ec2.internal` : `${host}.${region}.compute.internal`;
}

export function metadataTree(inst: ImdsInstance, eni: ImdsEni): MetadataNode {
  const hostname = privateHostname(eni.privateIp, inst.region);
  const groups = eni.securityGroupIds.join('\n');
  return {
    'ami-id': inst.imageId,
    'ami-launch-index': '0',
    hostname,
    'instance-id': inst.instanceId,
    'instance-type': inst.instanceType,
    'local-hostname': hostname,
    'local-ipv4': eni.privateIp,
    mac: eni.macAddress,
    network: {
      interfaces: {
        macs: {
          [eni.macAddress]: {
            'device-number': '0',
            'interface-id': eni.eniId,
            'local-hostname': hostname,
            'local-ipv4s': eni.privateIp,
            mac: eni.macAddress,
            'owner-id': inst.accountId,
            'security-group-ids': groups,
            'subnet-ipv4-cidr-block': eni.subnetCidr,
          },
        },
      },
    },
    placement: { 'availability-zone': inst.availabilityZone, region: inst.region },
    // EC2 lists group names here; the card knows only the ids.
    'security-groups': groups,
    services: { domain: 'amazonaws.com', partition: 'aws' },
  };
}

/** Walk `segments` from `root`; a trailing '' (path ending in '/') is allowed only on a directory. */
export function lookupNode(root: MetadataNode, segments: readonly string[]): MetadataNode | undefined {
  let node: MetadataNode | undefined = root;
  for (const [i, s] of segments.entries()) {
    if (node === undefined || typeof node === 'string') return undefined;
    if (s === '') return i === segments.length - 1 ? node : undefined;
    node = Object.hasOwn(node, s) ? node[s] : undefined;
  }
  return node;
}

/** A directory's listing as EC2 writes it: one name per line, sub-trees with a trailing '/'. */
export function listing(dir: Exclude<MetadataNode, string>): string {
  return Object.entries(dir).map(([k, v]) => (typeof v === 'string' ? k : `${k}/`)).join('\n');
}

/** EC2 writes times without milliseconds: 2026-11-26T10:14:09Z. */
function ec2Time(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z');
}

/** The instance identity document, formatted as EC2 formats it (`"key" : value`, two-space indent). */
export function identityDocument(inst: ImdsInstance, eni: ImdsEni): string {
  const doc: Record<string, string | null> = {
    accountId: inst.accountId,
    architecture: inst.architecture,
    availabilityZone: inst.availabilityZone,
    billingProducts: null,
    devpayProductCodes: null,
    marketplaceProductCodes: null,
    imageId: inst.imageId,
    instanceId: inst.instanceId,
    instanceType: inst.instanceType,
    kernelId: null,
    pendingTime: ec2Time(inst.pendingTime),
    privateIp: eni.privateIp,
    ramdiskId: null,
    region: inst.region,
    version: '2017-09-30',
  };
  return `{\n${Object.entries(doc).map(([k, v]) => `  ${JSON.stringify(k)} : ${JSON.stringify(v)}`).join(',\n')}\n}`;
}

/** Base64 Ed25519 signature over the document's UTF-8 bytes, exactly as served. */
export function signIdentityDocument(doc: string, key: KeyObject): string {
  return sign(null, Buffer.from(doc, 'utf8'), key).toString('base64');
}
