// Shared set-up for VPC data-plane tests: a dataplane with a stepped clock, ENIs that record what they receive,
// and the crafted frames the tests send.
import { VpcDataplane, GATEWAY_MAC } from '../../../src/nitro-card/vpc/dataplane.ts';
import type { EniConfig } from '../../../src/nitro-card/vpc/eni.ts';
import type { Eni } from '../../../src/nitro-card/vpc/eni.ts';
import { parseIpv4 } from '../../../src/devices/net-wire.ts';
import { parseMac } from '../../../src/devices/virtio-net/net.ts';
import type { DeviceLog } from '../../../src/devices/contract.ts';

export const ip = (s: string): number => parseIpv4(s)!;
export const mac = (s: string): Uint8Array => parseMac(s);
export { GATEWAY_MAC };

export const SG_WEB = 'sg-web';
export const SG_OPEN_OUT = { ruleId: 'r-out', direction: 'egress' as const, protocol: 'all' as const, fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' };

export interface Clocked { nowNs: bigint; nowS: number }

export function quietLog(events: object[] = []): DeviceLog {
  const push = (o: object) => { events.push(o); };
  return { debug: push, info: push, warn: push, error: push };
}

export function makePlane(hostId = 'host-0', clock: Clocked = { nowNs: 0n, nowS: 1_700_000_000 }, events: object[] = []): { plane: VpcDataplane; clock: Clocked } {
  const plane = new VpcDataplane({ hostId, log: quietLog(events), nowNs: () => clock.nowNs, nowS: () => clock.nowS });
  return { plane, clock };
}

export function eniConfig(n: number, over: Partial<EniConfig> = {}): EniConfig {
  const hex = n.toString(16).padStart(2, '0');
  return {
    eniId: `eni-00000000000000${hex}`, instanceId: `i-000000000000000${hex}`.slice(0, 19), macAddress: `02:00:00:00:00:${hex}`,
    privateIp: `10.0.0.${n}`, subnetCidr: '10.0.0.0/24', vni: 1, securityGroupIds: [SG_WEB], ...over,
  };
}

/** Add ENI n; returns it and the list its guest receives into. */
export function addEni(plane: VpcDataplane, n: number, over: Partial<EniConfig> = {}): { eni: Eni; rx: Uint8Array[] } {
  const rx: Uint8Array[] = [];
  const eni = plane.addEni(eniConfig(n, over), (f) => rx.push(f));
  return { eni, rx };
}
