// Shell: word splitting with quotes and connectors, and the console line discipline.
import t from 'tap';
import { parseLine, ShellSyntaxError } from '../../../src/host/guest/shell.ts';
import { bootGuest } from '../../../src/host/guest/kernel.ts';
import { TestPlatform } from './helpers/test-platform.ts';

t.test('quotes, escapes and comments split like a POSIX shell', async (t) => {
  t.same(parseLine(`echo 'a b' "c \\"d\\"" e\\ f # comment`), [{ words: ['echo', 'a b', 'c "d"', 'e f'], next: undefined }]);
  t.same(parseLine('true && echo x; false || echo y'), [
    { words: ['true'], next: '&&' }, { words: ['echo', 'x'], next: ';' },
    { words: ['false'], next: '||' }, { words: ['echo', 'y'], next: undefined },
  ]);
  t.same(parseLine('   '), []);
});

t.test('unterminated quotes and dangling connectors are syntax errors', async (t) => {
  t.throws(() => parseLine(`echo 'oops`), ShellSyntaxError);
  t.throws(() => parseLine('echo a &&'), ShellSyntaxError);
  t.throws(() => parseLine('&& echo a'), ShellSyntaxError);
});

t.test('typed lines are echoed, edited with backspace, run in order and followed by a prompt', async (t) => {
  const p = new TestPlatform({ hostname: 'box' });
  const k = await bootGuest(p);
  await k.userDataDone;
  const from = p.output.length;
  p.type('echo helx\x7flo\r\n');
  await p.waitFor(/hello\n\[root@box ~\]# $/u, from);
  t.equal(p.output.slice(from), 'echo helx\b \blo\nhello\n[root@box ~]# ');
});

t.test('unknown commands exit 127 and && / || follow exit statuses', async (t) => {
  const p = new TestPlatform();
  const k = await bootGuest(p);
  t.same(await k.exec('nosuch'), { code: 127, output: '-sh: nosuch: command not found\n' });
  t.same(await k.exec('false && echo no || echo yes'), { code: 0, output: 'yes\n' });
  t.equal((await k.exec(`echo 'x`)).code, 2);
});
