export async function doctorCommand(_argv: string[]): Promise<number> { process.stderr.write('renderer doctor: not implemented yet\n'); return 2; }
