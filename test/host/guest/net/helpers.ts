// Two guests on a WireStandIn, addressed statically the way user data would do it.
import { ActivityGroup, bootNode, WireStandIn, type GuestNode } from '../virtio/helpers/real-virtio-net.ts';

export const A_IP = '10.0.0.1';
export const B_IP = '10.0.0.2';

export async function twoGuests(): Promise<{ wire: WireStandIn; a: GuestNode; b: GuestNode }> {
  const wire = new WireStandIn();
  const group = new ActivityGroup();
  const a = await bootNode({ mac: '02:00:00:00:00:0a', hostname: 'ip-10-0-0-1', group, wire: wire.attachA, userData: `ip addr add ${A_IP}/24 dev eth0` });
  const b = await bootNode({ mac: '02:00:00:00:00:0b', hostname: 'ip-10-0-0-2', group, wire: wire.attachB, userData: `ip addr add ${B_IP}/24 dev eth0` });
  return { wire, a, b };
}

export function randomBytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}
