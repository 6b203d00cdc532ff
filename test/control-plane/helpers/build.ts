// build(t): a control-plane app over a fresh data directory, closed when the test ends.
import type { Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../src/control-plane/app.ts';
import type { ControlPlaneOptions } from '../../../src/control-plane/app.ts';

export async function build(t: Test, opts: Partial<ControlPlaneOptions> = {}): Promise<FastifyInstance> {
  const app = await buildApp({ dataDir: opts.dataDir ?? t.testdir(), cards: [], cardTimeoutMs: 2000, ...opts, logger: false });
  t.teardown(() => app.close());
  return app;
}
