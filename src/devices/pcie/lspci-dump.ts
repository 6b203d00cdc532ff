// Config space in `lspci -x` / `-xxxx` text form, which `lspci -F <file>` decodes (specs.md §1.7, conformance oracle).
//
//   00:03.0 nitrolab function
//   00: f4 1a 41 10 00 00 10 00 01 00 00 02 00 00 00 00
//   10: ...                                    (16 bytes a line, 256 or 4096 bytes)

export interface LspciDumpOptions {
  /** Bus address `bb:dd.f` (or `dddd:bb:dd.f`) that starts the entry; default `00:00.0`. */
  address?: string;
  /** Free text after the address (lspci -F ignores it and decodes the bytes). */
  name?: string;
}

const ADDRESS = /^([0-9a-f]{4}:)?[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$/i;

/** Render `config` (256 or 4096 bytes) as one lspci dump entry, ending with a blank line. */
export function renderLspciDump(config: Uint8Array, opts: LspciDumpOptions = {}): string {
  if (config.length !== 256 && config.length !== 4096) throw new RangeError(`config dump of ${config.length} bytes; want 256 or 4096`);
  const address = opts.address ?? '00:00.0';
  if (!ADDRESS.test(address)) throw new RangeError(`bad PCI address ${address}`);
  const lines = [`${address} ${opts.name ?? 'nitrolab function'}`];
  for (let off = 0; off < config.length; off += 16) {
    const bytes = Array.from(config.subarray(off, off + 16), (b) => b.toString(16).padStart(2, '0'));
    lines.push(`${off.toString(16).padStart(2, '0')}: ${bytes.join(' ')}`);
  }
  return `${lines.join('\n')}\n\n`;
}

/** Parse the first entry of an lspci dump back into bytes (for golden files and round-trip tests). */
export function parseLspciDump(text: string): { address: string; name: string; config: Uint8Array } {
  const lines = text.split(/\r?\n/);
  const head = /^(\S+) ?(.*)$/.exec(lines[0] ?? '');
  if (!head || !ADDRESS.test(head[1] ?? '')) throw new SyntaxError('lspci dump does not start with a bus address');
  const out = new Uint8Array(4096);
  let length = 0;
  for (const line of lines.slice(1)) {
    if (line.trim() === '') break;
    const m = /^([0-9a-f]{2,4}): ((?:[0-9a-f]{2} ?)+)$/i.exec(line);
    if (!m) throw new SyntaxError(`bad lspci dump line: ${line}`);
    let at = parseInt(m[1] ?? '', 16);
    for (const hex of (m[2] ?? '').trim().split(' ')) {
      if (at >= out.length) throw new SyntaxError('lspci dump longer than 4096 bytes');
      out[at++] = parseInt(hex, 16);
    }
    length = Math.max(length, at);
  }
  return { address: head[1] ?? '', name: head[2] ?? '', config: out.slice(0, length) };
}
