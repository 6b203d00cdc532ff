// One interactive serial-console session: relays the guest's console output from the card to a websocket client
// (polling the card's console ring by offset, so nothing is lost or repeated) and the client's keystrokes to the card,
// which forwards them to the guest shell through the hypervisor. The control plane keeps no console state for it.
import type { FastifyBaseLogger } from 'fastify';
import type { CardClient } from './card-client.ts';
import { CardRequestError } from './card-client.ts';

/** The part of a websocket the relay uses (ws.WebSocket). */
export interface RelaySocket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface ConsoleRelayOptions {
  instanceId: string;
  card: Pick<CardClient, 'console' | 'consoleInput'>;
  socket: RelaySocket;
  log: FastifyBaseLogger;
  /** Where to start in the card's console ring; default: its current end (attach, as to a serial port). */
  offset?: number;
  /** Pause between polls of the card when nothing new came (default 100 ms). */
  pollMs?: number;
}

const OPEN = 1;
/** The card accepts at most this many characters per console POST. */
export const MAX_INPUT_CHUNK = 4096;
/** Close codes (4000–4999 are the application's): the instance is gone from its card. */
export const CLOSE_INSTANCE_GONE = 4404;

export class ConsoleRelay {
  readonly #o: ConsoleRelayOptions;
  #next = 0;
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #input: Promise<void> = Promise.resolve();
  #failing = false;
  /** Counters for the session log line. */
  readonly counters = { outChars: 0, inChars: 0, polls: 0, cardErrors: 0 };

  constructor(o: ConsoleRelayOptions) {
    this.#o = o;
  }

  /** Find the starting offset, then poll until closed. */
  async start(): Promise<void> {
    if (this.#o.offset !== undefined) this.#next = this.#o.offset;
    else {
      const end = await this.#o.card.console(this.#o.instanceId, Number.MAX_SAFE_INTEGER);
      this.#next = end.next;
    }
    void this.#poll();
  }

  /** Keystrokes or lines from the client, sent to the card in order, in chunks the card accepts. */
  input(text: string): void {
    if (this.#closed || text.length === 0) return;
    this.counters.inChars += text.length;
    for (let at = 0; at < text.length; at += MAX_INPUT_CHUNK) {
      const chunk = text.slice(at, at + MAX_INPUT_CHUNK);
      this.#input = this.#input.then(() => this.#o.card.consoleInput(this.#o.instanceId, chunk)).catch((e: unknown) => {
        const code = e instanceof CardRequestError ? e.cardCode : undefined;
        this.#o.log.info({ event: 'console-input-refused', instanceId: this.#o.instanceId, code }, `console input refused: ${(e as Error).message}`);
        this.#send(`\r\n[nitrolab: input not delivered: ${code === 'IncorrectInstanceState' ? 'the instance is not running' : (e as Error).message}]\r\n`);
      });
    }
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  async #poll(): Promise<void> {
    if (this.#closed) return;
    let got = 0;
    try {
      this.counters.polls++;
      const chunk = await this.#o.card.console(this.#o.instanceId, this.#next);
      if (this.#failing) this.#o.log.info({ event: 'console-relay-recovered', instanceId: this.#o.instanceId }, 'card answers again');
      this.#failing = false;
      this.#next = chunk.next;
      got = chunk.data.length;
      if (got > 0) this.#send(chunk.data);
    } catch (e) {
      this.counters.cardErrors++;
      if (e instanceof CardRequestError && e.cardCode === 'InstanceNotFound') {
        this.#o.socket.close(CLOSE_INSTANCE_GONE, 'instance is gone from its card');
        this.close();
        return;
      }
      if (!this.#failing) this.#o.log.warn({ event: 'console-relay-card-error', instanceId: this.#o.instanceId, err: (e as Error).message }, 'console poll failed; retrying');
      this.#failing = true;
    }
    if (this.#closed) return;
    // More may be waiting if this chunk was large; otherwise wait a little.
    this.#timer = setTimeout(() => void this.#poll(), got > 0 ? 0 : this.#o.pollMs ?? 100);
  }

  #send(text: string): void {
    if (this.#o.socket.readyState !== OPEN) return;
    this.counters.outChars += text.length;
    this.#o.socket.send(text);
  }
}
