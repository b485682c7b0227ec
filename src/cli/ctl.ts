#!/usr/bin/env node
// placement-ctl entry point (bin/placement-ctl.js runs the compiled form of this file).
// Exit codes are listed in `placement-ctl --help` and in ctl/exit-codes.ts.
import { run } from './ctl/program.js';

const code = await run(process.argv);
process.exitCode = code;
// Nothing should keep the process alive once the command is done; if something does, do not hang.
setTimeout(() => process.exit(code), 3000).unref();
