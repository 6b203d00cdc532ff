// A bounded ring of one instance's serial console output, addressed by absolute byte offsets so a reader can resume
// ("give me everything from offset N"); the oldest output is dropped first once the ring is full.
export class ConsoleBuffer {
  private chunks: string[] = [];
  private bytes = 0;
  /** Absolute offset of the first byte still held. */
  private start = 0;

  constructor(private readonly capacity = 256 * 1024) {}

  get end(): number { return this.start + this.bytes; }

  /** An empty ring continues at absolute offset `offset` (after a card restart: readers that resume from an offset
   *  they already had get what is new, flagged `truncated`, instead of nothing). */
  resumeAt(offset: number): void {
    if (this.bytes === 0 && Number.isSafeInteger(offset) && offset > this.start) this.start = offset;
  }

  append(text: string): void {
    if (text.length === 0) return;
    this.chunks.push(text);
    this.bytes += text.length;
    while (this.bytes > this.capacity && this.chunks.length > 1) {
      const dropped = this.chunks.shift() ?? '';
      this.bytes -= dropped.length;
      this.start += dropped.length;
    }
  }

  /** Output from absolute offset `from` (clamped to what is still held) and the offset to ask for next. */
  read(from = 0): { data: string; next: number; truncated: boolean } {
    const all = this.chunks.join('');
    this.chunks = all.length > 0 ? [all] : [];
    const truncated = from < this.start;
    const rel = Math.max(0, Math.min(from - this.start, all.length));
    return { data: all.slice(rel), next: this.end, truncated };
  }
}
