// Stop a child process the way every runner here does: SIGTERM, SIGKILL if it has not exited after `graceMs`, and
// resolve once it is gone (at once if it already is).
import type { ChildProcess } from 'node:child_process';

export async function stopChild(proc: ChildProcess, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}
