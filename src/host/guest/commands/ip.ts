// `ip` (iproute2-like): addr, link, route, neigh, plus `ip stats` (protocol counters, like nstat) and `ip dhcp DEV`
// (run the DHCP client now and wait for the lease).
import { formatIpv4, formatMac, parseIpv4 } from '../../../devices/net-wire.ts';
import { describeArp } from '../net/arp.ts';
import type { NetInterface, NetStack, Route } from '../net/stack.ts';
import type { CommandContext, ShellCommand } from '../shell.ts';

const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffff_ffff << (32 - prefix)) >>> 0);

/** `10.0.0.5/24` → address and prefix (host bits allowed); a bare address is /32. */
export function parseAddrPrefix(text: string): { ip: number; prefix: number } | undefined {
  const [a, p, extra] = text.split('/');
  if (a === undefined || extra !== undefined) return undefined;
  const ip = parseIpv4(a);
  const prefix = p === undefined ? 32 : /^\d{1,2}$/u.test(p) ? Number(p) : NaN;
  if (ip === undefined || !(prefix >= 0 && prefix <= 32)) return undefined;
  return { ip, prefix };
}

function flags(i: NetInterface): string {
  if (i.loopback) return '<LOOPBACK,UP,LOWER_UP>';
  return i.up ? '<BROADCAST,MULTICAST,UP,LOWER_UP>' : '<NO-CARRIER,BROADCAST,MULTICAST,UP>';
}

function linkLines(i: NetInterface): string {
  const state = i.loopback ? 'UNKNOWN' : i.up ? 'UP' : 'DOWN';
  const head = `${i.index}: ${i.name}: ${flags(i)} mtu ${i.mtu} qdisc ${i.loopback ? 'noqueue' : 'mq'} state ${state} group default qlen 1000\n`;
  const link = i.loopback
    ? '    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n'
    : `    link/ether ${formatMac(i.mac)} brd ff:ff:ff:ff:ff:ff\n`;
  return head + link;
}

function addrLines(i: NetInterface): string {
  let out = '';
  for (const a of i.addrs) {
    const brd = a.prefix < 31 && !i.loopback ? ` brd ${formatIpv4((a.ip | ~maskOf(a.prefix)) >>> 0)}` : '';
    const scope = i.loopback ? 'host' : 'global';
    const dyn = a.source === 'dhcp' ? ' dynamic' : '';
    out += `    inet ${formatIpv4(a.ip)}/${a.prefix}${brd} scope ${scope}${dyn} ${i.name}\n`;
    const lease = a.source === 'dhcp' ? i.dhcp?.lease?.leaseSeconds : undefined;
    out += lease === undefined || lease === 0xffff_ffff
      ? '       valid_lft forever preferred_lft forever\n'
      : `       valid_lft ${lease}sec preferred_lft ${lease}sec\n`;
  }
  return out;
}

function statsLines(i: NetInterface): string {
  const s = i.dev?.stats;
  if (!s) return '    RX:  bytes packets errors dropped\n             0       0      0       0\n    TX:  bytes packets errors dropped\n             0       0      0       0\n';
  const row = (a: readonly number[]): string => `    ${a.map((n, j) => String(n).padStart(j === 0 ? 10 : 7)).join(' ')}\n`;
  let out = '    RX:  bytes packets errors dropped\n' + row([s.rxBytes, s.rxPackets, s.rxErrors, s.rxDropped]);
  out += '    TX:  bytes packets errors dropped\n' + row([s.txBytes, s.txPackets, 0, s.txDropped]);
  const extra = i.dev?.extraStats?.();
  if (extra) out += `    ${i.dev!.driver}: ${Object.entries(extra).map(([k, v]) => `${k} ${v}`).join(' ')}\n`;
  return out;
}

function routeLine(r: Route): string {
  const dst = r.dst.prefix === 0 ? 'default' : `${formatIpv4(r.dst.network)}/${r.dst.prefix}`;
  const via = r.via !== undefined ? ` via ${formatIpv4(r.via)}` : '';
  const proto = r.proto === 'static' ? '' : ` proto ${r.proto}`;
  const scope = r.via === undefined && r.proto === 'kernel' ? ` scope ${r.iface.loopback ? 'host' : 'link'}` : '';
  const src = r.src !== undefined ? ` src ${formatIpv4(r.src)}` : '';
  return `${dst}${via} dev ${r.iface.name}${proto}${scope}${src}\n`;
}

function devArg(words: readonly string[]): string | undefined {
  const i = words.indexOf('dev');
  return i >= 0 ? words[i + 1] : undefined;
}

async function addr(ctx: CommandContext, net: NetStack, words: string[], showStats: boolean): Promise<number> {
  const [verb = 'show', ...rest] = words;
  if (verb === 'show' || verb === 'list' || verb === 'ls') {
    const name = rest[0] === 'dev' ? rest[1] : rest[0];
    const list = name ? net.interfaces.filter((i) => i.name === name) : net.interfaces;
    if (name && list.length === 0) { ctx.err(`Device "${name}" does not exist.\n`); return 1; }
    ctx.out(list.map((i) => linkLines(i) + addrLines(i) + (showStats ? statsLines(i) : '')).join(''));
    return 0;
  }
  if (verb === 'add' || verb === 'del') {
    const a = parseAddrPrefix(rest[0] ?? '');
    const dev = devArg(rest);
    if (!a) { ctx.err(`Error: any valid prefix is expected rather than "${rest[0] ?? ''}".\n`); return 1; }
    if (!dev) { ctx.err('Not enough information: "dev" argument is required.\n'); return 1; }
    const ifc = net.iface(dev);
    if (!ifc) { ctx.err(`Cannot find device "${dev}"\n`); return 1; }
    const e = verb === 'add' ? net.addAddress(ifc, a.ip, a.prefix, 'static') : net.delAddress(ifc, a.ip);
    if (e) { ctx.err(`${e}\n`); return 2; }
    return 0;
  }
  ctx.err(`Command "${verb}" is unknown, try "ip addr help".\n`);
  return 1;
}

function route(ctx: CommandContext, net: NetStack, words: string[]): number {
  const [verb = 'show', ...rest] = words;
  if (verb === 'show' || verb === 'list') {
    const order = [...net.routes].filter((r) => !r.iface.loopback).sort((a, b) => a.dst.prefix - b.dst.prefix);
    ctx.out(order.map(routeLine).join(''));
    return 0;
  }
  if (verb === 'get') {
    const ip = parseIpv4(rest[0] ?? '');
    if (ip === undefined) { ctx.err(`Error: inet address is expected rather than "${rest[0] ?? ''}".\n`); return 1; }
    const r = net.route(ip);
    if (!r) { ctx.err('RTNETLINK answers: Network is unreachable\n'); return 2; }
    ctx.out(`${formatIpv4(ip)}${r.nextHop !== ip ? ` via ${formatIpv4(r.nextHop)}` : ''} dev ${r.iface.name} src ${formatIpv4(r.src)}\n`);
    return 0;
  }
  if (verb === 'add' || verb === 'del' || verb === 'replace') {
    const target = rest[0] ?? '';
    const p = target === 'default' ? { ip: 0, prefix: 0 } : parseAddrPrefix(target);
    if (!p) { ctx.err(`Error: any valid prefix is expected rather than "${target}".\n`); return 1; }
    const mask = maskOf(p.prefix);
    const dst = { network: (p.ip & mask) >>> 0, prefix: p.prefix, mask };
    if (verb === 'del') {
      const e = net.delRoute(dst);
      if (e) { ctx.err(`${e}\n`); return 2; }
      return 0;
    }
    const vi = rest.indexOf('via');
    const via = vi >= 0 ? parseIpv4(rest[vi + 1] ?? '') : undefined;
    if (vi >= 0 && via === undefined) { ctx.err(`Error: inet address is expected rather than "${rest[vi + 1] ?? ''}".\n`); return 1; }
    const dev = devArg(rest);
    const ifc = dev ? net.iface(dev) : undefined;
    if (dev && !ifc) { ctx.err(`Cannot find device "${dev}"\n`); return 1; }
    if (verb === 'replace') net.delRoute(dst);
    const e = net.addRoute(dst, via, ifc, 'static');
    if (e) { ctx.err(`${e}\n`); return 2; }
    return 0;
  }
  ctx.err(`Command "${verb}" is unknown, try "ip route help".\n`);
  return 1;
}

export const ip: ShellCommand = {
  name: 'ip',
  summary: 'show / manipulate addresses, links, routes, neighbours (ip addr|link|route|neigh|stats|dhcp)',
  async run(ctx) {
    const net = ctx.k.net;
    const args = [...ctx.args];
    let stats = false;
    while (args[0]?.startsWith('-')) {
      const f = args.shift()!;
      if (f === '-s' || f === '-stats' || f === '-d' || f === '-4') stats ||= f.startsWith('-s');
      else { ctx.err(`Option "${f}" is unknown, try "ip -help".\n`); return 255; }
    }
    const [obj = 'help', ...words] = args;
    switch (obj) {
      case 'a': case 'addr': case 'address': return addr(ctx, net, words, stats);
      case 'l': case 'link': {
        const name = words[0] === 'show' ? (words[1] === 'dev' ? words[2] : words[1]) : undefined;
        const list = name ? net.interfaces.filter((i) => i.name === name) : net.interfaces;
        if (name && list.length === 0) { ctx.err(`Device "${name}" does not exist.\n`); return 1; }
        ctx.out(list.map((i) => linkLines(i) + (stats ? statsLines(i) : '')).join(''));
        return 0;
      }
      case 'r': case 'route': return route(ctx, net, words);
      case 'n': case 'neigh': case 'neighbour': {
        if (words[0] === 'flush') { net.arp.flush(); return 0; }
        ctx.out(net.arp.list().map((e) => `${describeArp(e)}\n`).join(''));
        return 0;
      }
      case 'stats': {
        ctx.out(Object.entries(net.counters).map(([k, v]) => `${k.padEnd(24)} ${v}\n`).join(''));
        return 0;
      }
      case 'dhcp': {
        const ifc = net.iface(words[0] ?? 'eth0');
        if (!ifc || ifc.loopback) { ctx.err(`Cannot find device "${words[0] ?? 'eth0'}"\n`); return 1; }
        const c = net.startDhcp(ifc);
        await c.done;
        const l = c.lease;
        if (!l) { ctx.err(`dhcp: no lease on ${ifc.name}\n`); return 1; }
        ctx.out(`${ifc.name}: leased ${formatIpv4(l.ip)}/${l.prefix} from ${formatIpv4(l.server)}${l.router !== undefined ? ` router ${formatIpv4(l.router)}` : ''}\n`);
        return 0;
      }
      case 'help':
        ctx.out('Usage: ip [ -s ] { addr | link | route | neigh | stats | dhcp } ...\n');
        return 0;
      default:
        ctx.err(`Object "${obj}" is unknown, try "ip help".\n`);
        return 1;
    }
  },
};
