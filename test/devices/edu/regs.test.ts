// The edu register map is written three times — the spec table (docs/labs/edu-device.md), the TypeScript layout
// (src/devices/edu/regs.ts) and the Python example card (examples/edu-card/edu.py) — so this test holds them together.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { EDU_DMA_MAX, EDU_ID, EduCmd, EduError, EduInt, EduRegs, EduStatus, crc32, factorialU32 } from '../../../src/devices/edu/regs.ts';

const doc = readFileSync(new URL('../../../docs/labs/edu-device.md', import.meta.url), 'utf8');
const py = readFileSync(new URL('../../../examples/edu-card/edu.py', import.meta.url), 'utf8');

/** `A, B = 0x00, 0x04` assignments of the Python module, as a name → value map. */
function pythonConstants(): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of py.matchAll(/^([A-Z_, ]+) = ([0-9a-fA-Fx, ]+)$/gmu)) {
    const names = (m[1] ?? '').split(',').map((s) => s.trim());
    const values = (m[2] ?? '').split(',').map((s) => Number(s.trim()));
    names.forEach((n, i) => out.set(n, values[i] ?? NaN));
  }
  return out;
}

t.test('every register in the spec table has the offset the layout gives it, and the other way round', async (t) => {
  const rows = [...doc.matchAll(/^\| (0x[0-9A-F]{2}) \| `([A-Z_]+)` \| (RO|RW|WO) \|/gmu)].map((m) => [m[2] ?? '', Number(m[1])] as const);
  const layout = Object.entries(EduRegs.offset).filter(([n]) => !n.startsWith('rsvd'));
  t.same(Object.fromEntries(rows), Object.fromEntries(layout));
  t.equal(EduRegs.size, 0x5c);
});

t.test('the Python card uses the same offsets and constants', async (t) => {
  const c = pythonConstants();
  for (const [name, off] of Object.entries(EduRegs.offset)) if (!name.startsWith('rsvd')) t.equal(c.get(name), off, name);
  t.equal(c.get('EDU_ID'), EDU_ID);
  t.equal(c.get('DMA_MAX'), EDU_DMA_MAX);
  t.same([c.get('STATUS_BUSY'), c.get('STATUS_ERROR')], [EduStatus.BUSY, EduStatus.ERROR]);
  t.same([c.get('INT_FACT'), c.get('INT_DMA'), c.get('INT_ERROR'), c.get('INT_SOFT')], [EduInt.FACT, EduInt.DMA, EduInt.ERROR, EduInt.SOFT]);
  t.same([c.get('CMD_CHECKSUM'), c.get('CMD_COPY')], [EduCmd.CHECKSUM, EduCmd.COPY]);
  t.same(['ERR_NONE', 'ERR_BAD_COMMAND', 'ERR_DMA_FAULT', 'ERR_BAD_LENGTH', 'ERR_BUSY', 'ERR_NO_BUS_MASTER'].map((n) => c.get(n)), Object.values(EduError));
});

t.test('the spec page states the values the code computes', async (t) => {
  t.match(doc, /13! reads 1932053504/u);
  t.equal(factorialU32(13), 1932053504);
  t.match(doc, /`123456789` is `0xCBF43926`/u);
  t.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf4_3926);
  t.match(doc, new RegExp(`\\| 0x00 \\| \`ID\` \\| RO \\| \`0x${EDU_ID.toString(16).toUpperCase().padStart(8, '0')}\``, 'u'));
});
