// Terminal output helpers: colours only on a TTY (and not with NO_COLOR), borderless aligned tables.
import Table from 'cli-table3';
import pc from 'picocolors';

export type Colors = ReturnType<typeof pc.createColors>;

export function colorsFor(stream: NodeJS.WriteStream): Colors {
  const enabled = stream.isTTY === true && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb';
  return pc.createColors(enabled);
}

export const out = {
  stdout: colorsFor(process.stdout),
  stderr: colorsFor(process.stderr),
};

/** An aligned, borderless table (kubectl / etcdctl -w table style without box drawing). */
export function table(head: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const t = new Table({
    head: head.map((h) => out.stdout.bold(h)),
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
      bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '',
      right: '', 'right-mid': '', middle: '  ',
    },
    style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [], compact: true },
  });
  for (const r of rows) t.push(r.map((c) => String(c)));
  return t
    .toString()
    .split('\n')
    .map((l) => l.replace(/\s+$/, ''))
    .join('\n');
}

/** The value as text when it is valid UTF-8, for JSON output; binary values as base64. */
export function valueForJson(v: Buffer): { value: string } | { valueBase64: string } {
  const s = v.toString('utf8');
  return Buffer.from(s, 'utf8').equals(v) ? { value: s } : { valueBase64: v.toString('base64') };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function println(line = ''): void {
  process.stdout.write(`${line}\n`);
}
