// A frame-level link end for the LINK-* tests: sends hand-built (even malformed) frames and records every frame the
// card sends back, so request-id echo, reply order and error replies are observed as bytes, not through LinkPeer.
import { FrameDecoder, encodeFrame } from '../devices/pcie/link/codec.ts';
import type { Frame } from '../devices/pcie/link/messages.ts';
import type { LinkTransport } from '../devices/pcie/link/transport.ts';

export class RawLink {
  readonly frames: Frame[] = [];
  downReason: string | undefined;
  private waiters: (() => void)[] = [];

  constructor(readonly transport: LinkTransport, maxPayload = 64 << 20) {
    const decoder = new FrameDecoder({
      frame: (f) => { this.frames.push({ ...f, payload: f.payload.slice() }); this.wake(); },
      oversize: () => {},
      protocolError: (reason) => { this.downReason = `unframeable reply stream: ${reason}`; this.wake(); },
    }, maxPayload);
    transport.start({ data: (c) => decoder.push(c), down: (r) => { this.downReason = r; this.wake(); } });
  }

  send(f: Omit<Frame, 'payload'> & { payload?: Uint8Array }): void { this.transport.write([encodeFrame(f)]); }
  sendBytes(...b: Uint8Array[]): void { this.transport.write(b); }

  /** Wait until `n` frames have arrived (or the link is down), at most `ms`. */
  async waitFrames(n: number, ms: number): Promise<Frame[]> {
    await this.waitFor(() => this.frames.length >= n || this.downReason !== undefined, ms);
    return this.frames;
  }

  /** Wait until the link is down, at most `ms`; resolves with whether it went down. */
  async waitDown(ms: number): Promise<boolean> {
    await this.waitFor(() => this.downReason !== undefined, ms);
    return this.downReason !== undefined;
  }

  close(): void { this.transport.close('conformance raw end closed'); }

  private async waitFor(cond: () => boolean, ms: number): Promise<void> {
    if (cond()) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => { timer = setTimeout(r, ms); });
    while (!cond()) {
      const woke = new Promise<'woke'>((r) => this.waiters.push(() => r('woke')));
      if ((await Promise.race([woke, timeout.then(() => 'timeout' as const)])) === 'timeout') break;
    }
    clearTimeout(timer);
  }

  private wake(): void { for (const w of this.waiters.splice(0)) w(); }
}
