// The live console of the chosen instance: the server sends what this page has not seen yet (or a tail on reset).
const MAX_CHARS = 200_000;

export class ConsoleView {
  constructor(pre, label) {
    this.pre = pre;
    this.label = label;
    this.instanceId = null;
  }

  show(instanceId, state) {
    if (instanceId !== this.instanceId) {
      this.instanceId = instanceId;
      this.pre.textContent = instanceId ? 'waiting for console output…' : 'Click an instance in the list to follow its console here.';
      this.pre.dataset.empty = 'true';
    }
    this.label.textContent = instanceId ? `— ${instanceId}${state ? ` (${state})` : ''}` : '— click an instance';
  }

  /** chunk: ConsoleChunk (src/panel/server/wire.ts) */
  apply(chunk, state) {
    if (!chunk || chunk.instanceId !== this.instanceId) return;
    const atBottom = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
    if (chunk.reset || this.pre.dataset.empty === 'true') {
      this.pre.textContent = chunk.text || '(no output yet)';
      this.pre.dataset.empty = chunk.text ? 'false' : 'true';
    } else if (chunk.text) {
      let text = this.pre.textContent + chunk.text;
      if (text.length > MAX_CHARS) text = text.slice(-MAX_CHARS);
      this.pre.textContent = text;
    }
    if (atBottom || chunk.reset) this.pre.scrollTop = this.pre.scrollHeight;
    this.label.textContent = `— ${chunk.instanceId}${state ? ` (${state})` : ''}${chunk.stale ? ' · card not answering, cached' : ''}`;
  }
}
