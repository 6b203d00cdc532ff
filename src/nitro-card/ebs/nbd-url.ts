// NBD URIs (specs.md §6 "URI syntax", NetworkBlockDevice/nbd doc/uri.md): `nbd://host[:port]/export` and
// `nbd+unix:///export?socket=/path`. The export name is the path after the first '/', percent-decoded.
import { NBD_DEFAULT_PORT } from '../../blockstore/protocol.ts';

export type NbdTarget =
  | { readonly transport: 'tcp'; readonly host: string; readonly port: number; readonly exportName: string }
  | { readonly transport: 'unix'; readonly socketPath: string; readonly exportName: string };

/** A URI this client cannot use, with the reason named. */
export class NbdUrlError extends Error {
  constructor(readonly url: string, reason: string) {
    super(`Bad NBD URI "${url}": ${reason}`);
    this.name = 'NbdUrlError';
  }
}

export function parseNbdUrl(url: string): NbdTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new NbdUrlError(url, 'not a URI');
  }
  const scheme = u.protocol.slice(0, -1);
  if (scheme === 'nbds' || scheme === 'nbds+unix') throw new NbdUrlError(url, 'TLS (nbds) is not supported');
  if (u.username !== '' || u.password !== '') {
    // doc/uri.md allows a user name for TLS-PSK only; without TLS it means nothing.
    throw new NbdUrlError(url, 'user information needs TLS, which is not supported');
  }
  if (u.hash !== '') throw new NbdUrlError(url, 'fragments are not allowed');
  const exportName = decodeExport(url, u.pathname);
  if (scheme === 'nbd') {
    if (u.hostname === '') throw new NbdUrlError(url, 'missing host');
    if (u.searchParams.has('socket')) throw new NbdUrlError(url, 'socket= is only valid with nbd+unix');
    const port = u.port === '' ? NBD_DEFAULT_PORT : Number(u.port);
    // WHATWG URL keeps IPv6 brackets in hostname; net.connect wants them off.
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    return { transport: 'tcp', host, port, exportName };
  }
  if (scheme === 'nbd+unix') {
    if (u.host !== '') throw new NbdUrlError(url, 'nbd+unix takes no host (use nbd+unix:///export?socket=…)');
    const socketPath = u.searchParams.get('socket');
    if (socketPath === null || socketPath === '') throw new NbdUrlError(url, 'nbd+unix needs ?socket=/path');
    return { transport: 'unix', socketPath, exportName };
  }
  throw new NbdUrlError(url, `unsupported scheme "${scheme}"`);
}

function decodeExport(url: string, pathname: string): string {
  // "" and "/" both name the default export "".
  const raw = pathname.startsWith('/') ? pathname.slice(1) : pathname;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new NbdUrlError(url, 'export name is not valid percent-encoding');
  }
}

/** The inverse of parseNbdUrl (export names are percent-encoded). */
export function formatNbdUrl(t: NbdTarget): string {
  const name = encodeURIComponent(t.exportName);
  if (t.transport === 'unix') return `nbd+unix:///${name}?socket=${encodeURIComponent(t.socketPath)}`;
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `nbd://${host}:${t.port}/${name}`;
}

/** Where to connect, for logs: host:port or the socket path. */
export function describeTarget(t: NbdTarget): string {
  return t.transport === 'unix' ? `unix:${t.socketPath}` : `${t.host}:${t.port}`;
}
