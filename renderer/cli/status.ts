export async function statusCommand(_argv: string[]): Promise<number> { process.stderr.write('renderer status: not implemented yet\n'); return 2; }
