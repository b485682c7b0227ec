// The CommandResult every domain module answers with.

import { ResultCode, type CommandResult } from '../../proto/gen/placement/v1/command.js';

export function result(code: ResultCode, revision: number, extra: Partial<CommandResult> = {}): CommandResult {
  return { code, message: '', revision, prevKv: undefined, succeeded: code === ResultCode.RESULT_OK, lease: undefined, leases: [], response: undefined, ...extra };
}
