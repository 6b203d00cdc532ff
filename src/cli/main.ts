// The `nitrolab` command: dispatches to one module per subcommand.
import { UsageError } from './args.ts';

const USAGE = `nitrolab — an emulated Nitro-style offload card

Usage: nitrolab <command> [flags]

  up           start control plane + card + host processes on loopback (default data dir ./.nitrolab)
                 --port N (8080)  --data-dir DIR  --link socket|shm  --hosts N  --mode offload|legacy  --log-level L
  card         run one card service:  --listen <unix-path|host:port>  --data-dir DIR  --mgmt-port N  --firmware DIR
  blockstore   run the EBS block store (an NBD server) alone: --listen host:port|socket  --dir DIR  [--create vol-…:SIZE]
  host         run one host emulator: --card <unix-path|host:port>  --pcpus N  --guest-mem-mib N
  control-plane  run the REST API alone against running cards: --card URL,TOKEN_FILE[,HOST_ID] (repeatable)  --port N
  firmware     build | sign | verify card firmware images
  attest       get | verify attestation documents
  conformance  check a card against the link protocol and device specs: --card <unix-path|host:port> [--mgmt URL --token FILE]
               [--only PREFIX] [--json FILE] [--nbd URL] [--pcap FILE]   (docs/conformance.md)
  compare      run one workload in legacy then offload mode and report the host cores reclaimed: [--quick] [--json FILE]
  bench        benchmarks against this machine's physical limits: [--quick]  (writes bench/results/latest.{json,md})
  fuzz         seeded fuzzers: --target link|nvme|virtio|nbd|geneve|rest|all --iterations N --seed S [--json FILE]
  soak         bounded soak of mixed I/O on its own up: --minutes N [--instances M] [--json FILE]  (errors must be 0, RSS must plateau)
  help         this text
`;

type Runner = (argv: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Runner>> = {
  up: async () => (await import('./up.ts')).runUp,
  card: async () => (await import('./card.ts')).runCard,
  host: async () => (await import('./host.ts')).runHost,
  'control-plane': async () => (await import('./control-plane.ts')).runControlPlane,
  firmware: async () => (await import('./firmware.ts')).runFirmware,
  attest: async () => (await import('./attest.ts')).runAttest,
  bench: async () => (await import('./bench.ts')).runBench,
  conformance: async () => (await import('./conformance.ts')).runConformance,
  compare: async () => (await import('./compare.ts')).runCompare,
  blockstore: async () => (await import('./blockstore.ts')).runBlockstore,
  fuzz: async () => (await import('./fuzz.ts')).runFuzz,
  soak: async () => (await import('./soak.ts')).runSoak,
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  const load = commands[cmd];
  if (!load) {
    process.stderr.write(`nitrolab: unknown command "${cmd}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await (await load())(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`nitrolab ${cmd}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

// Long-running commands return only when they have shut down; the others exit with their status at once (open
// handles such as pooled HTTP sockets must not keep a finished command alive).
const LONG_RUNNING = new Set(['up', 'card', 'host', 'control-plane', 'blockstore']);
const code = await main(process.argv.slice(2));
if (LONG_RUNNING.has(process.argv[2] ?? '') && code === 0) process.exitCode = 0;
else process.exit(code);
