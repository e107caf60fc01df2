// The client's one error type: a row, a file or an argument that does not fit the model.

/** A row or a file that does not fit the model: the message says what was expected and what was got. */
export class InputError extends Error {
  constructor(message) {
    super(message);
    this.name = 'InputError';
  }
}
