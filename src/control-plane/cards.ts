// The set of cards the control plane manages, one CardClient per host, and a survey of their state.
import { CardClient } from './card-client.ts';
import type { CardClientOptions } from './card-client.ts';
import type { CardEndpoint, CardInfo } from './card-contract.ts';
import { ApiError } from './errors.ts';

export interface HostSurvey {
  hostId: string;
  url: string;
  reachable: boolean;
  card?: CardInfo;
  error?: string;
}

export class CardRegistry {
  readonly #clients = new Map<string, CardClient>();

  constructor(endpoints: readonly CardEndpoint[], opts: CardClientOptions = {}) {
    for (const ep of endpoints) {
      if (this.#clients.has(ep.hostId)) throw new Error(`duplicate card hostId ${JSON.stringify(ep.hostId)}`);
      this.#clients.set(ep.hostId, new CardClient(ep, opts));
    }
  }

  /** The client for `hostId`; an instance placed on a host that is no longer configured is a CardUnavailable. */
  get(hostId: string): CardClient {
    const c = this.#clients.get(hostId);
    if (!c) throw new ApiError('CardUnavailable', `Host ${JSON.stringify(hostId)} is not configured in this control plane`);
    return c;
  }

  all(): CardClient[] {
    return [...this.#clients.values()];
  }

  /** Ask every card for its info, concurrently; failures are reported per host, never thrown. */
  async survey(): Promise<HostSurvey[]> {
    return Promise.all(this.all().map(async (c): Promise<HostSurvey> => {
      try {
        const card = await c.getCard();
        return { hostId: c.hostId, url: c.endpoint.url, reachable: true, card };
      } catch (e) {
        return { hostId: c.hostId, url: c.endpoint.url, reachable: false, error: e instanceof Error ? e.message : String(e) };
      }
    }));
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
  }
}
