// A node that will not start on the data it found: what is wrong, and the way back. Printed as
// is (no stack) by runNode, which exits with EXIT_REFUSED.

export const EXIT_REFUSED = 78; // EX_CONFIG: the configuration or the data is not usable as given

export class StartupRefusal extends Error {
  override readonly name = 'StartupRefusal';
  constructor(
    /** What is inconsistent, with the file or flag involved. */
    readonly what: string,
    /** What an operator can do about it. */
    readonly wayBack: string,
  ) {
    super(`${what}\nWay back: ${wayBack}`);
  }
}
