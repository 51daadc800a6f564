// A step's returned JSON kept as text. Parsed, 1 MiB of `[{},{},...]` is ~20 MiB of
// heap objects; as the validated text it is 1 MiB, and the run history holds many
// (issue 13: a daemon with a 128 MiB heap died after six such runs). The text came from
// JSON.stringify of a JSON.parse result, so it is one well-formed JSON value and can be
// spliced into a response as it is.
import { randomBytes } from 'node:crypto';

export class RawJson {
  private constructor(readonly text: string) {}

  /** Only from a value: the text is then JSON.stringify's own output, never raw input. */
  static of(value: unknown): RawJson | null {
    const text = JSON.stringify(value);
    return text === undefined ? null : new RawJson(text);
  }

  /**
   * Text read back from the run records database, where only `RawJson.text` is ever
   * written (sqlite-record-store.ts): still JSON.stringify's own output. The database is
   * in the renderer's private state directory; whoever can write it owns the renderer.
   */
  static stored(text: string): RawJson {
    return new RawJson(text);
  }

  /** For callers that need the value (the CLI, tests); costs the parse again. */
  parse(): unknown {
    return JSON.parse(this.text);
  }
}

/**
 * JSON.stringify that writes each RawJson's text in place. Each one is first replaced by
 * a string marker carrying a random nonce: a step cannot forge a marker in its own
 * strings (it would need the nonce, made after the step ended).
 */
export function stringifyJson(value: unknown, space?: number): string {
  const raws: string[] = [];
  const nonce = randomBytes(12).toString('hex');
  const text = JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (!(v instanceof RawJson)) return v;
      raws.push(v.text);
      return `raw-json:${nonce}:${raws.length - 1}`;
    },
    space,
  );
  if (raws.length === 0) return text;
  return text.replace(new RegExp(`"raw-json:${nonce}:(\\d+)"`, 'g'), (_match, index: string) => raws[Number(index)]!);
}
