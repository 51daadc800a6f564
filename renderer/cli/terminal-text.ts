// Step-controlled text on an operator's terminal. A step's error, messages and logs
// could otherwise carry terminal escapes: `\r` or CSI sequences that erase the
// renderer's own `step_error:` line and print a fake `ok:`, OSC 52 that sets the
// operator's clipboard, or bidi overrides that reorder what is shown (Trojan Source,
// CVE-2021-42574). Every such character is shown as a visible escape instead.

// C0 and C1 controls, DEL, and the Unicode format characters that reorder or hide text.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/gu;

const visible = (ch: string): string => {
  const code = ch.codePointAt(0)!;
  if (ch === '\n') return '\\n';
  if (ch === '\t') return '\\t';
  if (ch === '\r') return '\\r';
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/** One line: every control character escaped, newlines included. */
export const escapeLine = (text: string): string => text.replace(UNSAFE, visible);

/** Several lines (logs, a stack): newlines and tabs kept, everything else escaped. */
export const escapeLines = (text: string): string => text.replace(UNSAFE, (ch) => (ch === '\n' || ch === '\t' ? ch : visible(ch)));
