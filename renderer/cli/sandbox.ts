export async function sandboxCommand(_argv: string[]): Promise<number> { process.stderr.write('renderer sandbox: not implemented yet\n'); return 2; }
