// Public surface of the Raft core.
export * from './types.js';
export { RaftNode } from './node.js';
export { entrySize } from './log.js';
export { encodeConfChange, decodeConfChange, applyConfChange } from './conf-change.js';
export { LostLogError, checkRestartState, initialLastIndex } from './restart.js';
