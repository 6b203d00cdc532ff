// docs/labs/packet-path.md, run as a student would: its ```sh blocks in one bash against the real `nitrolab up
// --hosts 2`. Asserts what the page tells students to look for: A and B on different hosts, the ping answered, the
// mirror's Geneve frames on UDP 6081 with VNI 1 and protocol 0x6558 (tshark), and after the ICMP rule is deleted the
// second ping lost, A's `sg-ingress` drop counter at 5 and a REJECT in A's flow log.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { block, envFor, LabShell, shBlocks, startLabUp } from './helpers/lab-shell.ts';

t.setTimeout(240_000);

t.test('packet-path: ping over Geneve between two hosts, the mirror in tshark, and the drop counter after blocking ICMP', async (t) => {
  const blocks = shBlocks('packet-path.md');
  const up = await startLabUp(block(blocks, 'up'));
  t.teardown(() => up.stop());
  const sh = new LabShell({});
  t.teardown(() => sh.close());
  const run = async (name: string) => {
    const r = await sh.run(block(blocks, name));
    t.comment(`${name}:\n${r.out}`);
    return r.out;
  };

  t.equal((await sh.run(envFor(block(blocks, 'env'), up))).code, 0, 'env');
  t.match(await run('group'), /^group sg-[0-9a-f]{17}, ICMP rule sgr-[0-9a-f]{17}$/mu, 'the group and its ICMP rule');
  t.match(await run('launch-a'), /\{"active":true\}\nA is i-[0-9a-f]{17} at 10\.0\.0\.4/u, 'A launched with its mirror on');
  await sh.until(block(blocks, 'console-a'), /eth0 10\.0\.0\.4\/24 \(dhcp\)/u);
  const list = await run('launch-b');
  const hosts = [...list.matchAll(/^i-[0-9a-f]{17}\t(host-\d)\t10\.0\.0\.\d+\t/gmu)].map((m) => m[1]);
  t.equal(hosts.length, 2, 'two instances listed');
  t.not(hosts[0], hosts[1], 'A and B are on different hosts');
  t.match(await sh.until(block(blocks, 'console-b'), /5 packets transmitted/u), /5 packets transmitted, [1-5] received/u, 'B\'s ping is answered');

  if (process.env['CI'] === 'true' || spawnSync('tshark', ['-v']).status === 0) {
    const pcap = await run('pcap');
    t.match(pcap, /10\.0\.0\.5 → 10\.0\.0\.4\s+ICMP 148 Echo \(ping\) request/u, 'tshark shows the encapsulated echo requests');
    t.match(pcap, /10\.0\.0\.4 → 10\.0\.0\.5\s+ICMP 98 Echo \(ping\) reply/u, 'and the replies A\'s ENI sent');
    const geneve = await run('geneve');
    t.match(geneve, /^\d+\t127\.[\d.]+,10\.0\.0\.5\t127\.[\d.]+,10\.0\.0\.4\t6081\t0x0*1\t0x6558\t8$/mu, 'an encapsulated echo request: UDP 6081, VNI 1, Ethernet payload');
    t.match(geneve, /Virtual Network Identifier \(VNI\): 0x000001 \(1\)/u, 'the VNI field in the Geneve header');
    t.match(geneve, /Protocol Type: Transparent Ethernet bridging \(0x6558\)/u, 'the protocol type field');
  } else {
    t.comment('tshark is not installed: the pcap steps run under CI=true (CI installs tshark)');
  }

  const before = await run('block');
  t.match(before, /^\["egress all"\]$/mu, 'only the all-outbound rule is left');
  t.match(before, /"drops":\{\}/u, 'nothing dropped yet');
  t.match(await run('reboot-b'), /"name":"running"/u, 'B reboots and stays running');
  await sh.until(block(blocks, 'console-b'), /5 packets transmitted, 0 received, 100% packet loss/u);
  const after = await run('drops');
  t.match(after, /\{"drops":\{"sg-ingress":5\}/u, 'A\'s card dropped the 5 echo requests at security-group ingress');
  t.match(after, /^2 eni-[0-9a-f]{17} 10\.0\.0\.5 10\.0\.0\.4 \d+ 0 1 5 490 \d+ \d+ REJECT OK$/mu, 'the flow log rejects the new flow');
});
