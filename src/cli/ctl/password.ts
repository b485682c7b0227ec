// Passwords for placement-ctl: one word from stdin (etcdctl's --interactive=false reads it with
// Scanf("%s")), or a prompt on the terminal with the typing hidden; without a terminal the prompt
// reads a line from stdin, so scripts can pipe it.
import { UsageError } from './program.js';

let buffered: Promise<string> | undefined;
let lines: string[] | undefined;

/** All of stdin (read once; later reads take from it). */
function stdinText(): Promise<string> {
  buffered ??= new Promise((resolve, reject) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (d: string) => (text += d));
    process.stdin.on('end', () => resolve(text));
    process.stdin.on('error', reject);
  });
  return buffered;
}

async function nextLine(): Promise<string> {
  lines ??= (await stdinText()).split(/\r?\n/);
  return lines.shift() ?? '';
}

/** The first whitespace-separated word of stdin ('' when there is none). */
export async function readWord(): Promise<string> {
  return (await stdinText()).trim().split(/\s+/)[0] ?? '';
}

/** Asks on the terminal without echoing what is typed. */
function askHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    let value = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (err?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new UsageError('interrupted'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

async function ask(prompt: string): Promise<string> {
  if (process.stdin.isTTY) return askHidden(prompt);
  process.stderr.write(prompt);
  return nextLine();
}

/** A password from a prompt (etcdctl's wording); `confirm`: asked twice, both must match. */
export async function readPassword(name: string, confirm: boolean): Promise<string> {
  const first = await ask(confirm ? `Password of ${name}: ` : 'Password: ');
  if (first === '') throw new UsageError('empty password');
  if (!confirm) return first;
  const second = await ask(`Type password of ${name} again for confirmation: `);
  if (first !== second) throw new UsageError('given passwords are different');
  return first;
}
