// The one error the transcoder throws: the bytes are not a well-formed BSON document.

/** Malformed BSON: the message says what is wrong and at which byte offset of the input. */
export class TranscodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TranscodeError';
  }
}
