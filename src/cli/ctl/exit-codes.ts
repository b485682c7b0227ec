// placement-ctl exit codes (documented in `placement-ctl --help`).
export const EXIT = {
  OK: 0,
  /** Anything else: an unexpected server error, a failed perf check. */
  FAILURE: 1,
  /** Bad command line (unknown command or option, missing or malformed argument). */
  USAGE: 2,
  /** No member could be reached or none could serve the request in time (no leader, timeout). */
  UNAVAILABLE: 3,
  /** The key does not exist (kv get / del / exists), or the lease does not (kv put --lease, lease revoke / keep-alive / timetolive). */
  NOT_FOUND: 4,
  /** The server rejected the request as invalid (INVALID_ARGUMENT, FAILED_PRECONDITION, …). */
  REJECTED: 5,
  /** kv cas: the expectation did not hold, nothing was written. */
  COMPARE_FAILED: 6,
  /** The cluster answered but is not healthy: a member unreachable or no leader (cluster status),
   *  an endpoint unhealthy or not answering (endpoint health, endpoint status). */
  UNHEALTHY: 7,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  other failure (unexpected server error, perf check below its threshold)
  2  usage error (unknown command or option, bad argument)
  3  cluster unreachable or unavailable (no member answered, no leader, timeout)
  4  key not found (kv get, kv del, kv exists), or lease not found (kv put --lease,
     lease revoke, lease keep-alive, lease timetolive)
  5  request rejected by the server (invalid argument, failed precondition)
  6  compare-and-swap expectation not met (kv cas), txn comparisons did not hold (txn)
  7  cluster not healthy: a member unreachable or no leader (cluster status), an endpoint
     unhealthy (endpoint health, endpoint status)`;
