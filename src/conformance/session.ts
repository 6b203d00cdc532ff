// The suite's host side of one card (docs/conformance.md §3): the first connection plays the hypervisor (it posts the
// `hello` event and answers every MGMT request with {ok:true}, recording them), functions are found by launching a
// test instance through the card's management API (--mgmt/--token) and/or by DEVICE_GET_INFO probing fn 1..N.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { LinkError } from '../devices/pcie/link/errors.ts';
import { LinkErrno, type MgmtRequest } from '../devices/pcie/link/messages.ts';
import { LinkPeer } from '../devices/pcie/link/peer.ts';
import { RootComplex } from '../devices/pcie/link/root-complex.ts';
import type { Connector } from './connect.ts';

export interface FnInfo {
  fn: number;
  vendorId: number;
  deviceId: number;
  classCode: number;
  kind: 'nvme' | 'virtio' | 'other';
}

export interface MgmtOptions { url: string; token: string }

/** The ENI the suite asks for with the launch: the card answers ARP for other subnet addresses (docs/vpc.md). */
export interface LaunchedNet { eniId: string; mac: string; ip: string; subnetCidr: string; gatewayIp: string }

export interface Launched { instanceId: string; fns: number[]; net: LaunchedNet; error?: string }

export class CardSession {
  readonly mgmtLog: MgmtRequest[] = [];
  hypervisor: RootComplex | undefined;
  launched: Launched | undefined;
  private readonly opened: RootComplex[] = [];

  constructor(readonly connector: Connector, readonly timeoutMs: number) {}

  /** A new negotiated connection. */
  async open(name = 'conformance'): Promise<RootComplex> {
    const peer = new LinkPeer(await this.connector.open(), { name, timeoutMs: this.timeoutMs });
    const rc = new RootComplex(peer);
    this.opened.push(rc);
    await rc.negotiate();
    return rc;
  }

  /** First connection: announce ourselves as the hypervisor and obey the card's management requests. */
  async startHypervisor(): Promise<RootComplex> {
    const rc = await this.open('conformance-hypervisor');
    rc.onMgmt = (req) => {
      this.mgmtLog.push(req);
      return { ok: true, result: {} };
    };
    rc.sendMgmtEvent({ event: 'hello', role: 'hypervisor', pcpus: 1, memBytes: 1 << 30 });
    await rc.ping(); // the hello is ahead of this round trip on the same connection
    this.hypervisor = rc;
    return rc;
  }

  /** POST /mgmt/v1/instances with one small volume; the card's MGMT requests arrive on the hypervisor connection. */
  async launch(m: MgmtOptions, guestMemBytes: number): Promise<Launched> {
    const suffix = randomBytes(6).toString('hex');
    const instanceId = `i-c0f${suffix}`;
    const octet = (i: number): string => suffix.slice(2 * i, 2 * i + 2);
    const net: LaunchedNet = {
      eniId: `eni-c0f${suffix}`, mac: `02:c0:${octet(0)}:${octet(1)}:${octet(2)}:${octet(3)}`,
      ip: '10.201.0.10', subnetCidr: '10.201.0.0/24', gatewayIp: '10.201.0.1',
    };
    const body = {
      instanceId, instanceType: 'conformance.small', vcpus: 1, memMiB: Math.max(1, guestMemBytes >> 20), userData: '',
      volumes: [{ volumeId: `vol-c0f${suffix}`, sizeBytes: 8 << 20, deviceName: '/dev/sdf' }],
      network: { eniId: net.eniId, macAddress: net.mac, privateIp: net.ip, subnetCidr: net.subnetCidr, vni: 0xc0f, securityGroupIds: [] },
      devices: ['edu'], // the teaching device, for the EDU group (docs/labs/edu-device.md)
    };
    const res = await fetch(`${m.url.replace(/\/$/, '')}/mgmt/v1/instances`, {
      method: 'POST', headers: { authorization: `Bearer ${m.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    const fns = this.mgmtLog.flatMap((r) => (r.op === 'assign-vf' && r.vmId === instanceId ? [r.fn] : []));
    this.launched = res.ok ? { instanceId, fns, net } : { instanceId, fns, net, error: `HTTP ${res.status}: ${text}` };
    return this.launched;
  }

  /** DELETE the launched instance (best effort). */
  async terminate(m: MgmtOptions): Promise<number | undefined> {
    if (this.launched === undefined || this.launched.error !== undefined) return undefined;
    const res = await fetch(`${m.url.replace(/\/$/, '')}/mgmt/v1/instances/${this.launched.instanceId}`, {
      method: 'DELETE', headers: { authorization: `Bearer ${m.token}` }, signal: AbortSignal.timeout(30_000),
    });
    await res.text();
    return res.status;
  }

  /** Which of fn 1..maxFn answer DEVICE_GET_INFO (ENODEV = absent; any other error is reported as present-but-odd). */
  async probe(rc: RootComplex, maxFn: number): Promise<number[]> {
    const found: number[] = [];
    for (let fn = 1; fn <= maxFn; fn++) {
      try {
        await rc.getInfo(fn);
        found.push(fn);
      } catch (e) {
        if (e instanceof LinkError && e.errno === LinkErrno.ENODEV) continue;
        throw e;
      }
    }
    return found;
  }

  async describe(rc: RootComplex, fn: number): Promise<FnInfo> {
    const id = await rc.configRead(fn, 0, 4);
    const cls = (await rc.configRead(fn, 8, 4)) >>> 8;
    const vendorId = id & 0xffff;
    const kind = cls === 0x010802 ? 'nvme' : vendorId === 0x1af4 ? 'virtio' : 'other';
    return { fn, vendorId, deviceId: id >>> 16, classCode: cls, kind };
  }

  close(): void {
    for (const rc of this.opened) rc.close();
  }
}

export function readToken(file: string): string {
  return readFileSync(file, 'utf8').trim();
}
