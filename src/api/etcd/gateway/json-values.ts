// Splits a byte stream of concatenated JSON values ("{...} {...}\n{...}"), as Go's json.Decoder
// reads a gateway request body: one message per value. Values must be objects or arrays (a
// message's JSON form is an object); anything else at the top level is malformed input.
import { StringDecoder } from 'node:string_decoder';

export class JsonSyntaxError extends Error {}

export class JsonValues {
  private readonly decoder = new StringDecoder('utf8');
  private text = '';
  /** Where scanning resumes in `text`, and the state there. */
  private pos = 0;
  private start = -1;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Characters already dropped from the front of `text` (for error positions). */
  private consumed = 0;

  constructor(private readonly maxValueChars: number) {}

  /** The values completed by `chunk`, parsed. Throws JsonSyntaxError on malformed input. */
  push(chunk: Buffer): unknown[] {
    this.text += this.decoder.write(chunk);
    return this.scan();
  }

  /** The input ended: throws if a value was left incomplete. */
  end(): unknown[] {
    this.text += this.decoder.end();
    const out = this.scan();
    if (this.start >= 0) throw new JsonSyntaxError('unexpected end of JSON input');
    return out;
  }

  private scan(): unknown[] {
    const out: unknown[] = [];
    const t = this.text;
    for (let i = this.pos; i < t.length; i++) {
      const c = t[i]!;
      if (this.start < 0) {
        if (c === ' ' || c === '\n' || c === '\r' || c === '\t') continue;
        if (c !== '{' && c !== '[') throw new JsonSyntaxError(`invalid character '${c}' looking for beginning of value (at offset ${this.consumed + i})`);
        this.start = i;
        this.depth = 1;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth++;
      else if (c === '}' || c === ']') {
        if (--this.depth === 0) {
          const value = t.slice(this.start, i + 1);
          this.start = -1;
          try {
            out.push(JSON.parse(value));
          } catch (err) {
            throw new JsonSyntaxError((err as Error).message);
          }
        }
      }
    }
    // Keep only the unfinished value, if any.
    const keepFrom = this.start >= 0 ? this.start : t.length;
    this.consumed += keepFrom;
    this.text = t.slice(keepFrom);
    this.pos = this.text.length;
    if (this.start >= 0) {
      this.start = 0;
      if (this.text.length > this.maxValueChars) throw new JsonSyntaxError(`a request is larger than ${this.maxValueChars} characters`);
    }
    return out;
  }
}
