// The one error the validator throws: the file is refused, with the problem named.
export class InvalidTable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTable';
  }
}

export const fail = (message: string): never => {
  throw new InvalidTable(message);
};
