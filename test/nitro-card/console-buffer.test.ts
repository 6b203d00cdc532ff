import t from 'tap';
import { ConsoleBuffer } from '../../src/nitro-card/console-buffer.ts';

t.test('reads resume from the offset a previous read returned', async (t) => {
  const b = new ConsoleBuffer(1024);
  b.append('boot\n');
  const first = b.read(0);
  t.equal(first.data, 'boot\n');
  b.append('login: ');
  const second = b.read(first.next);
  t.equal(second.data, 'login: ');
  t.equal(second.next, 12);
});

t.test('a full ring drops the oldest output and says the read was truncated', async (t) => {
  const b = new ConsoleBuffer(10);
  b.append('0123456');
  b.append('789abc');
  b.append('def');
  const r = b.read(0);
  t.ok(r.truncated);
  t.equal(r.data, '789abcdef');
  t.equal(r.next, 16);
});
