// The VPC routes of a card's management API (src/nitro-card/vpc/mgmt-routes.ts) as the control plane calls them,
// through CardClient.call so deadlines, failure classes and metrics are the same as for instance calls.
import type { CardClient } from '../card-client.ts';
import { ContractViolation } from '../card-contract.ts';

export interface CardUnderlay { address: string; port: number }

type Obj = Record<string, unknown>;
const obj = (v: unknown, what: string): Obj => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ContractViolation(`${what} is not an object`, v);
  return v as Obj;
};
const any = (v: unknown): unknown => v;
const id = (v: unknown): Obj => obj(v, 'reply');

export function cardVpc(c: CardClient) {
  const base = (instanceId: string) => `/mgmt/v1/instances/${encodeURIComponent(instanceId)}`;
  return {
    async underlay(): Promise<CardUnderlay> {
      const r = await c.call('vpcInfo', 'GET', '/mgmt/v1/vpc', undefined, 200, id);
      const u = obj(r['underlay'], 'underlay');
      if (typeof u['address'] !== 'string' || typeof u['port'] !== 'number') throw new ContractViolation('underlay is not {address, port}', u);
      return { address: u['address'], port: u['port'] };
    },
    putMappings: (mappings: unknown[]) => c.call('putMappings', 'PUT', '/mgmt/v1/vpc/mappings', { mappings }, 200, any),
    putSecurityGroups: (securityGroups: unknown[]) => c.call('putSecurityGroups', 'PUT', '/mgmt/v1/vpc/security-groups', { securityGroups }, 200, any),
    eni: (instanceId: string) => c.call('eni', 'GET', `${base(instanceId)}/eni`, undefined, 200, id),
    startMirror: (instanceId: string) => c.call('startMirror', 'POST', `${base(instanceId)}/mirror`, undefined, 201, id),
    stopMirror: (instanceId: string) => c.call('stopMirror', 'DELETE', `${base(instanceId)}/mirror`, undefined, 200, id),
    async mirror(instanceId: string): Promise<{ active: boolean; packets: number; pcap: Buffer }> {
      const r = await c.call('mirror', 'GET', `${base(instanceId)}/mirror`, undefined, 200, id);
      if (typeof r['pcapBase64'] !== 'string') throw new ContractViolation('pcapBase64 is not a string', r['pcapBase64']);
      return { active: r['active'] === true, packets: Number(r['packets'] ?? 0), pcap: Buffer.from(r['pcapBase64'], 'base64') };
    },
    async flowLogs(instanceId: string): Promise<unknown[]> {
      const r = await c.call('flowLogs', 'GET', `${base(instanceId)}/flow-logs`, undefined, 200, id);
      if (!Array.isArray(r['records'])) throw new ContractViolation('records is not an array', r['records']);
      return r['records'];
    },
  };
}
