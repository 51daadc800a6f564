// Finds the line of a field in JSON text, so config errors can say "line 12".
// `path` is the dotted path the schema validator reports: schedules[1].cron

/** 1-based line of the value at `path` in `text`, or null if it is not there. */
export function lineOf(text: string, path: string): number | null {
  const want = path.match(/[^.[\]]+/g) ?? [];
  const stack: Array<{ kind: 'object' | 'array'; key: string | number | null; index: number }> = [];
  let line = 1;
  let lastString: string | null = null;
  const current = (): string[] => stack.filter((f) => f.key !== null).map((f) => String(f.key));
  const matches = (): boolean => {
    const here = current();
    return here.length === want.length && here.every((part, i) => part === want[i]);
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') line++;
    else if (c === '"') {
      let j = i + 1;
      let value = '';
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\') j++;
        value += text[j];
      }
      lastString = value;
      i = j;
    } else if (c === ':') {
      const top = stack[stack.length - 1];
      if (top?.kind === 'object') {
        top.key = lastString;
        if (matches()) return line;
      }
    } else if (c === '{' || c === '[') {
      const top = stack[stack.length - 1];
      if (top?.kind === 'array') {
        top.key = top.index;
        if (matches()) return line;
      }
      stack.push({ kind: c === '{' ? 'object' : 'array', key: null, index: 0 });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top?.kind === 'array') top.index++;
      if (top?.kind === 'object') top.key = null;
    } else if (!/\s/.test(c)) {
      const top = stack[stack.length - 1];
      if (top?.kind === 'array' && top.key !== top.index) {
        top.key = top.index;
        if (matches()) return line;
      }
    }
  }
  return null;
}
