// Describes the input: row count, and per column its type, nulls, min and max.
export function render(table) {
  const columns = table.schema.fields.map((field) => {
    const column = table.getChild(field.name);
    let nulls = 0, min = null, max = null;
    for (const value of column) {
      if (value === null) { nulls++; continue; }
      const v = typeof value === 'bigint' ? Number(value) : value;
      if (min === null || v < min) min = v;
      if (max === null || v > max) max = v;
    }
    return { name: field.name, type: String(field.type), nulls, min, max };
  });
  return { json: { rows: table.numRows, columns } };
}
