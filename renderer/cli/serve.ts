export async function serveCommand(_argv: string[]): Promise<number> { process.stderr.write('renderer serve: not implemented yet\n'); return 2; }
