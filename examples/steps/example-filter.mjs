// Keeps the rows where params.column compares to params.value with params.op
// (one of "=", "!=", "<", "<=", ">", ">="; default "=").
export function render(table, params, ctx) {
  const { column, value, op = '=' } = params;
  if (!table.getChild(column)) throw new Error(`no column named "${column}"`);
  const test = { '=': (x) => x === value, '!=': (x) => x !== value, '<': (x) => x < value, '<=': (x) => x <= value, '>': (x) => x > value, '>=': (x) => x >= value }[op];
  if (!test) throw new Error(`unknown op "${op}"`);
  const keep = [];
  const values = table.getChild(column);
  for (let i = 0; i < table.numRows; i++) if (test(values.get(i))) keep.push(i);
  const columns = {};
  for (const field of table.schema.fields) {
    const source = table.getChild(field.name);
    columns[field.name] = ctx.arrow.vectorFromArray(keep.map((i) => source.get(i)), field.type);
  }
  return { table: new ctx.arrow.Table(columns), json: { kept: keep.length, of: table.numRows } };
}
