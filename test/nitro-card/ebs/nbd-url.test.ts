// NBD URI parsing (doc/uri.md as restated in specs.md §6).
import t from 'tap';
import { describeTarget, formatNbdUrl, NbdUrlError, parseNbdUrl } from '../../../src/nitro-card/ebs/nbd-url.ts';

t.test('nbd://host:port/export names a TCP target', async (t) => {
  t.same(parseNbdUrl('nbd://127.0.0.1:10810/vol-1'), { transport: 'tcp', host: '127.0.0.1', port: 10810, exportName: 'vol-1' });
});

t.test('the port defaults to 10809 and an empty path is the default export', async (t) => {
  t.same(parseNbdUrl('nbd://example.com'), { transport: 'tcp', host: 'example.com', port: 10809, exportName: '' });
  t.same(parseNbdUrl('nbd://example.com/'), { transport: 'tcp', host: 'example.com', port: 10809, exportName: '' });
});

t.test('export names are percent-decoded and may contain slashes', async (t) => {
  t.equal(parseNbdUrl('nbd://h/a%20b').exportName, 'a b');
  t.equal(parseNbdUrl('nbd://h/dir/vol').exportName, 'dir/vol');
  t.throws(() => parseNbdUrl('nbd://h/%zz'), NbdUrlError);
});

t.test('IPv6 hosts lose their brackets', async (t) => {
  t.same(parseNbdUrl('nbd://[::1]:9000/x'), { transport: 'tcp', host: '::1', port: 9000, exportName: 'x' });
});

t.test('nbd+unix:///export?socket=/path names a Unix-socket target', async (t) => {
  t.same(parseNbdUrl('nbd+unix:///vol-2?socket=/tmp/bs.sock'), { transport: 'unix', socketPath: '/tmp/bs.sock', exportName: 'vol-2' });
  t.same(parseNbdUrl('nbd+unix://?socket=%2Frun%2Fa%20b.sock'), { transport: 'unix', socketPath: '/run/a b.sock', exportName: '' });
});

t.test('unusable URIs are refused with the reason', async (t) => {
  t.throws(() => parseNbdUrl('nbds://h/x'), /TLS/);
  t.throws(() => parseNbdUrl('nbd+unix:///x'), /socket=/);
  t.throws(() => parseNbdUrl('nbd+unix://host/x?socket=/s'), /no host/);
  t.throws(() => parseNbdUrl('nbd://h/x?socket=/s'), /only valid with nbd\+unix/);
  t.throws(() => parseNbdUrl('http://h/x'), /unsupported scheme/);
  t.throws(() => parseNbdUrl('nbd://user@h/x'), /TLS/);
  t.throws(() => parseNbdUrl('not a uri'), /not a URI/);
});

t.test('formatNbdUrl inverts parseNbdUrl', async (t) => {
  for (const u of ['nbd://127.0.0.1:10809/vol-1', 'nbd://[::1]:1/a%20b', 'nbd+unix:///vol-3?socket=%2Ftmp%2Fs.sock']) {
    t.equal(formatNbdUrl(parseNbdUrl(u)), u);
  }
  t.equal(describeTarget(parseNbdUrl('nbd+unix:///v?socket=/s')), 'unix:/s');
});
