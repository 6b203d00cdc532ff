// HTTP client for one card's management API (card-contract.ts). Every call has a deadline; nothing is retried here —
// a failed POST may or may not have happened on the card, and only the caller knows how to reconcile that.
import http from 'node:http';
import https from 'node:https';
import type { CardEndpoint, CardErrorCode, CardInfo, CardInstance, CardLaunchRequest, CardStateReply, CardConsoleChunk } from './card-contract.ts';
import type { CardAttachVolumeRequest, CardVolumeAttachment, CardVolumeStats } from './card-contract.ts';
import { parseVolumeAttachment, parseVolumeDetach, parseVolumeList } from './card-contract.ts';
import { ContractViolation, parseAttestationDoc, parseCardInfo, parseCardInstance, parseConsoleChunk, parseStateReply } from './card-contract.ts';
import { parseMetadataOptionsReply } from './card-contract.ts';
import type { MetadataOptions } from './metadata-options.ts';

export const DEFAULT_CARD_TIMEOUT_MS = 5000;
const MAX_REPLY_BYTES = 8 * 1024 * 1024;

/**
 * Why a card call failed.
 *  - `rejected`: the card answered with a contract error (4xx); it did not apply the request.
 *  - `unreachable`: no connection was made (refused, no route, DNS); the request never reached the card.
 *  - `unknown`: timeout, reset, 5xx or a reply outside the contract; the request may or may not have been applied.
 */
export type CardFailure = 'rejected' | 'unreachable' | 'unknown';

export class CardRequestError extends Error {
  readonly hostId: string;
  readonly op: string;
  readonly failure: CardFailure;
  readonly status: number | undefined;
  readonly cardCode: CardErrorCode | string | undefined;
  constructor(hostId: string, op: string, failure: CardFailure, message: string,
    extra: { status?: number; cardCode?: string; cause?: unknown } = {}) {
    super(`card ${hostId} ${op}: ${message}`, { cause: extra.cause });
    this.name = 'CardRequestError';
    this.hostId = hostId;
    this.op = op;
    this.failure = failure;
    this.status = extra.status;
    this.cardCode = extra.cardCode;
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

export interface CardClientOptions {
  timeoutMs?: number;
  /** Called after every request, for metrics: outcome is 'ok' or a CardFailure. */
  onRequest?: (hostId: string, op: string, outcome: 'ok' | CardFailure) => void;
}

/** Wrap a parser so a reply about some other instance is a contract violation. */
function sameId<T extends { instanceId: string }>(want: string, parse: (v: unknown) => T): (v: unknown) => T {
  return (v) => {
    const out = parse(v);
    if (out.instanceId !== want) throw new ContractViolation(`reply is about another instance than ${want}`, out.instanceId);
    return out;
  };
}

export class CardClient {
  readonly endpoint: CardEndpoint;
  readonly #timeoutMs: number;
  readonly #agent: http.Agent;
  readonly #base: URL;
  readonly #onRequest: CardClientOptions['onRequest'];

  constructor(endpoint: CardEndpoint, opts: CardClientOptions = {}) {
    this.endpoint = endpoint;
    this.#base = new URL(endpoint.url);
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_CARD_TIMEOUT_MS;
    this.#agent = this.#base.protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.#onRequest = opts.onRequest;
  }

  get hostId(): string { return this.endpoint.hostId; }

  async getCard(): Promise<CardInfo> {
    const info = await this.#call('getCard', 'GET', '/mgmt/v1/card', undefined, 200, parseCardInfo);
    if (info.hostId !== this.hostId) {
      throw new CardRequestError(this.hostId, 'getCard', 'unknown', `card reports hostId ${JSON.stringify(info.hostId)}, configured as ${JSON.stringify(this.hostId)}`);
    }
    return info;
  }

  launch(req: CardLaunchRequest): Promise<CardStateReply> {
    return this.#call('launch', 'POST', '/mgmt/v1/instances', req, 201, sameId(req.instanceId, parseStateReply));
  }

  describe(instanceId: string): Promise<CardInstance> {
    return this.#call('describe', 'GET', `/mgmt/v1/instances/${encodeURIComponent(instanceId)}`, undefined, 200, sameId(instanceId, parseCardInstance));
  }

  terminate(instanceId: string): Promise<CardStateReply> {
    return this.#call('terminate', 'DELETE', `/mgmt/v1/instances/${encodeURIComponent(instanceId)}`, undefined, 200, sameId(instanceId, parseStateReply));
  }

  /** Stop (orderly, forced after the card's grace period; `force` skips the orderly part). Replies at once. */
  stop(instanceId: string, force: boolean): Promise<CardStateReply> {
    return this.#call('stop', 'POST', `/mgmt/v1/instances/${encodeURIComponent(instanceId)}/stop`, { force }, 200, sameId(instanceId, parseStateReply));
  }

  start(instanceId: string): Promise<CardStateReply> {
    return this.#call('start', 'POST', `/mgmt/v1/instances/${encodeURIComponent(instanceId)}/start`, undefined, 200, sameId(instanceId, parseStateReply));
  }

  reboot(instanceId: string): Promise<CardStateReply> {
    return this.#call('reboot', 'POST', `/mgmt/v1/instances/${encodeURIComponent(instanceId)}/reboot`, undefined, 200, sameId(instanceId, parseStateReply));
  }

  /** ModifyInstanceMetadataOptions on the card; it answers with the options it now enforces. */
  setMetadataOptions(instanceId: string, options: MetadataOptions): Promise<MetadataOptions> {
    return this.#call('setMetadataOptions', 'PUT', `/mgmt/v1/instances/${encodeURIComponent(instanceId)}/metadata-options`, options, 200,
      sameId(instanceId, parseMetadataOptionsReply)).then((r) => r.metadataOptions);
  }

  /** Keystrokes or lines for the guest's serial console. */
  consoleInput(instanceId: string, data: string): Promise<void> {
    return this.#call('consoleInput', 'POST', `/mgmt/v1/instances/${encodeURIComponent(instanceId)}/console`, { data }, 200, () => undefined);
  }

  /** The card's signed attestation document for `nonce`, as the card sent it (docs/trust.md §4). */
  attestation(nonce: string): Promise<Record<string, unknown>> {
    return this.#call('attestation', 'GET', `/mgmt/v1/attestation?nonce=${encodeURIComponent(nonce)}`, undefined, 200, parseAttestationDoc);
  }

  /** Hot-plug a volume whose export exists on the block store. */
  attachVolume(instanceId: string, req: CardAttachVolumeRequest): Promise<CardVolumeAttachment> {
    return this.#call('attachVolume', 'POST', `/mgmt/v1/instances/${encodeURIComponent(instanceId)}/volumes`, req, 201, sameId(instanceId, parseVolumeAttachment));
  }

  /** Detach a volume; the card replies once the volume's in-flight I/O has completed. */
  detachVolume(instanceId: string, volumeId: string): Promise<{ instanceId: string; volumeId: string }> {
    return this.#call('detachVolume', 'DELETE', `/mgmt/v1/instances/${encodeURIComponent(instanceId)}/volumes/${encodeURIComponent(volumeId)}`, undefined, 200, sameId(instanceId, parseVolumeDetach));
  }

  listVolumes(instanceId: string): Promise<CardVolumeStats[]> {
    return this.#call('listVolumes', 'GET', `/mgmt/v1/instances/${encodeURIComponent(instanceId)}/volumes`, undefined, 200, parseVolumeList);
  }

  console(instanceId: string, offset: number): Promise<CardConsoleChunk> {
    return this.#call('console', 'GET', `/mgmt/v1/instances/${encodeURIComponent(instanceId)}/console?offset=${offset}`, undefined, 200, parseConsoleChunk);
  }

  /**
   * Any other management call (the VPC routes of src/control-plane/vpc/card-vpc.ts): JSON in, JSON out, with the same
   * deadline, failure classification and metrics as the calls above; `parse` checks the reply's shape.
   */
  call<T>(op: string, method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body: unknown, okStatus: number, parse: (v: unknown) => T): Promise<T> {
    return this.#call(op, method, path, body, okStatus, parse);
  }

  /** Drop pooled connections. */
  close(): void {
    this.#agent.destroy();
  }

  async #call<T>(op: string, method: string, path: string, body: unknown, okStatus: number, parse: (v: unknown) => T): Promise<T> {
    try {
      const { status, json } = await this.#request(op, method, path, body);
      if (status === okStatus) {
        const out = parse(json);
        this.#onRequest?.(this.hostId, op, 'ok');
        return out;
      }
      const err = json as { code?: unknown; message?: unknown } | undefined;
      const cardCode = typeof err?.code === 'string' ? err.code : undefined;
      const msg = typeof err?.message === 'string' ? err.message : `HTTP ${status}`;
      if (status === 401) throw new CardRequestError(this.hostId, op, 'rejected', `token refused: ${msg}`, { status, cardCode: cardCode ?? 'Unauthorized' });
      if (status >= 400 && status < 500 && cardCode) throw new CardRequestError(this.hostId, op, 'rejected', msg, { status, cardCode });
      throw new CardRequestError(this.hostId, op, 'unknown', `unexpected HTTP ${status}: ${msg}`, { status, ...(cardCode ? { cardCode } : {}) });
    } catch (e) {
      const err = e instanceof CardRequestError ? e
        : e instanceof ContractViolation ? new CardRequestError(this.hostId, op, 'unknown', e.message, { cause: e })
        : new CardRequestError(this.hostId, op, 'unknown', String(e), { cause: e });
      this.#onRequest?.(this.hostId, op, err.failure);
      throw err;
    }
  }

  #request(op: string, method: string, path: string, body: unknown): Promise<{ status: number; json: unknown }> {
    const url = new URL(path, this.#base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      let sent = false;
      const req = mod.request(url, {
        method,
        agent: this.#agent,
        headers: {
          authorization: `Bearer ${this.endpoint.token}`,
          accept: 'application/json',
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_REPLY_BYTES) req.destroy(new Error(`reply larger than ${MAX_REPLY_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try { json = text.length ? JSON.parse(text) : undefined; } catch {
            reject(new CardRequestError(this.hostId, op, 'unknown', `HTTP ${res.statusCode} reply is not JSON: ${JSON.stringify(text.slice(0, 60))}`));
            return;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      });
      const timer = setTimeout(() => req.destroy(new Error(`no reply within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      req.on('socket', (s) => { if (!s.connecting) sent = true; else s.once('connect', () => { sent = true; }); });
      req.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const failure: CardFailure = !sent && e.code !== undefined && UNREACHABLE.has(e.code) ? 'unreachable' : 'unknown';
        reject(new CardRequestError(this.hostId, op, failure, `${e.code ?? ''} ${e.message}`.trim(), { cause: e }));
      });
      req.end(payload);
    });
  }
}
