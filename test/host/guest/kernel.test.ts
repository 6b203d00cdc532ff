// Boot: banner, user data before the first prompt, an empty bus, and poweroff.
import t from 'tap';
import { bootGuest } from '../../../src/host/guest/kernel.ts';
import { TestPlatform } from './helpers/test-platform.ts';

t.test('boot prints a banner, runs user data in order, then shows the prompt', async (t) => {
  const p = new TestPlatform({ hostname: 'web1', userData: '#!/bin/sh\necho one\n\necho two && hostname\n' });
  const k = await bootGuest(p);
  await k.userDataDone;
  t.match(p.output, /nitrolab guest 0\.1\.0 booting on web1/u);
  t.match(p.output, /one\ntwo\nweb1\n[^]*\[root@web1 ~\]# $/u);
  t.equal(k.blocks.list().length, 0, 'no devices on an empty bus');
});

t.test('uname -a and uptime answer from the platform', async (t) => {
  const p = new TestPlatform({ hostname: 'h' });
  const k = await bootGuest(p);
  t.equal((await k.exec('uname -a')).output, 'nitrolab h 0.1.0 #1 SMP x86_64 nitrolab-guest\n');
  t.match((await k.exec('uptime')).output, /up \d+ min, {2}1 user/u);
});

t.test('poweroff stops the shell and tells the platform', async (t) => {
  const p = new TestPlatform();
  const k = await bootGuest(p);
  await k.userDataDone;
  await k.run('poweroff');
  await k.halted;
  t.ok(p.poweredOff);
  t.match(p.output, /reboot: Power down/u);
  const before = p.output.length;
  p.type('echo ignored\r');
  t.equal(p.output.length, before, 'input after poweroff is ignored');
});
