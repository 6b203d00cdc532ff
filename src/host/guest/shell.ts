// The console shell: a line discipline (echo, backspace, ^C), a POSIX-ish word splitter (quotes, escapes, comments,
// `;` `&&` `||`), and a serial command queue so that user data, typed lines and `exec` calls never interleave.
import type { GuestKernel } from './kernel.ts';

export interface CommandContext {
  readonly args: readonly string[];
  readonly k: GuestKernel;
  out(text: string): void;
  err(text: string): void;
  /** Aborted by ^C on the console. Long-running commands check it and stop early. */
  readonly signal: AbortSignal;
}

export interface ShellCommand {
  readonly name: string;
  readonly summary: string;
  run(ctx: CommandContext): Promise<number> | number;
}

export type Connector = ';' | '&&' | '||';
export interface ParsedCommand { readonly words: string[]; readonly next: Connector | undefined }

export class ShellSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShellSyntaxError';
  }
}

/** Split a line into simple commands. Quotes: '…' literal, "…" with \" \\ \$ escapes; `#` starts a comment. */
export function parseLine(line: string): ParsedCommand[] {
  const out: ParsedCommand[] = [];
  let words: string[] = [];
  let word = '';
  let inWord = false;
  const endWord = (): void => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  const endCommand = (next: Connector | undefined): void => {
    endWord();
    if (words.length === 0) {
      if (next !== undefined && next !== ';') throw new ShellSyntaxError(`syntax error near unexpected token \`${next}'`);
      return;
    }
    out.push({ words, next });
    words = [];
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === '\\') {
      if (i + 1 < line.length) word += line[++i];
      inWord = true;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new ShellSyntaxError('unexpected EOF while looking for matching `\'\'');
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      inWord = true;
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length && '"\\$`'.includes(line[j + 1] as string)) j++;
        word += line[j];
      }
      if (j >= line.length) throw new ShellSyntaxError('unexpected EOF while looking for matching `"\'');
      i = j;
    } else if (c === ' ' || c === '\t') {
      endWord();
    } else if (c === '#' && !inWord) {
      break;
    } else if (c === ';') {
      endCommand(';');
    } else if ((c === '&' || c === '|') && line[i + 1] === c) {
      endCommand(c === '&' ? '&&' : '||');
      i++;
    } else {
      word += c;
      inWord = true;
    }
  }
  endCommand(undefined);
  if (out.length > 0 && (out[out.length - 1] as ParsedCommand).next !== undefined && (out[out.length - 1] as ParsedCommand).next !== ';') {
    throw new ShellSyntaxError('syntax error: unexpected end of line');
  }
  return out;
}

export interface Sink {
  out(text: string): void;
  err(text: string): void;
}

export class Shell {
  private readonly k: GuestKernel;
  private readonly commands = new Map<string, ShellCommand>();
  private queue: Promise<unknown> = Promise.resolve();
  private lineBuf = '';
  private lastWasCr = false;
  private current: AbortController | undefined;
  private pendingInteractive = 0;
  private closed = false;
  /** Exit status of the last command ($?). */
  lastStatus = 0;
  /** Echo typed characters (a terminal line discipline does). */
  echo = true;

  constructor(k: GuestKernel, commands: readonly ShellCommand[]) {
    this.k = k;
    for (const c of commands) this.commands.set(c.name, c);
  }

  get prompt(): string { return `[root@${this.k.hostname} ~]# `; }
  list(): ShellCommand[] { return [...this.commands.values()].sort((a, b) => a.name.localeCompare(b.name)); }

  /** Bytes from the console: line editing, then each complete line is queued. */
  input(text: string): void {
    if (this.closed) return;
    const w = (s: string): void => this.k.platform.consoleWrite(s);
    for (const ch of text) {
      if (ch === '\n' && this.lastWasCr) { this.lastWasCr = false; continue; }
      this.lastWasCr = ch === '\r';
      if (ch === '\r' || ch === '\n') {
        if (this.echo) w('\n');
        const line = this.lineBuf;
        this.lineBuf = '';
        this.pendingInteractive++;
        void this.enqueue(line, this.consoleSink()).then(() => {
          this.pendingInteractive--;
          if (this.pendingInteractive === 0 && !this.closed) w(this.prompt);
        });
      } else if (ch === '\x03') {
        w('^C\n');
        this.lineBuf = '';
        if (this.current) this.current.abort();
        else if (this.pendingInteractive === 0) w(this.prompt);
      } else if (ch === '\x7f' || ch === '\b') {
        if (this.lineBuf.length > 0) {
          this.lineBuf = this.lineBuf.slice(0, -1);
          if (this.echo) w('\b \b');
        }
      } else if (ch >= ' ' || ch === '\t') {
        this.lineBuf += ch;
        if (this.echo) w(ch);
      }
    }
  }

  /** Stop accepting input (poweroff). */
  close(): void { this.closed = true; }

  consoleSink(): Sink {
    const w = (s: string): void => this.k.platform.consoleWrite(s);
    return { out: w, err: w };
  }

  /** Run a line after everything queued before it; resolves with its exit status. */
  enqueue(line: string, sink: Sink): Promise<number> {
    const run = this.queue.then(() => this.runLine(line, sink));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async runLine(line: string, sink: Sink): Promise<number> {
    let parsed: ParsedCommand[];
    try {
      parsed = parseLine(line);
    } catch (err) {
      sink.err(`-sh: ${(err as Error).message}\n`);
      this.lastStatus = 2;
      return 2;
    }
    let status = this.lastStatus;
    let skip = false;
    for (const cmd of parsed) {
      if (!skip) status = await this.runCommand(cmd.words, sink);
      this.lastStatus = status;
      skip = (cmd.next === '&&' && status !== 0) || (cmd.next === '||' && status === 0);
    }
    return status;
  }

  private async runCommand(words: string[], sink: Sink): Promise<number> {
    const name = words[0] as string;
    const cmd = this.commands.get(name);
    if (!cmd) {
      sink.err(`-sh: ${name}: command not found\n`);
      return 127;
    }
    const ac = new AbortController();
    this.current = ac;
    try {
      return await cmd.run({ args: words.slice(1), k: this.k, out: sink.out, err: sink.err, signal: ac.signal });
    } catch (err) {
      sink.err(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    } finally {
      this.current = undefined;
    }
  }
}
