// Sums numeric columns: params.column names one, otherwise every numeric column.
// Returns a table (column, sum, rows) and the sums as json.
export function render(table, params, ctx) {
  const { Type } = ctx.arrow;
  const numeric = table.schema.fields.filter((f) => [Type.Int, Type.Float, Type.Decimal].includes(f.type.typeId));
  const columns = params.column ? [params.column] : numeric.map((f) => f.name);
  const sums = {};
  for (const name of columns) {
    const column = table.getChild(name);
    if (!column) return { errors: [`no column named "${name}"`] };
    let sum = 0;
    for (const value of column) if (value !== null) sum += Number(value);
    sums[name] = sum;
  }
  return {
    table: ctx.arrow.tableFromArrays({
      column: Object.keys(sums),
      sum: Float64Array.from(Object.values(sums)),
    }),
    json: { sums, rows: table.numRows },
  };
}
