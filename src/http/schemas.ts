// Request schemas of the admin API (zod). The same schemas feed validation (app.ts) and the
// OpenAPI document (openapi.ts), so the document cannot drift from what the server accepts.
// Byte-length limits that are configurable per server (key and value size) are checked after
// parsing, in app.ts, with messages that name the field and the limit.
import { z } from 'zod';

export const encodingSchema = z
  .enum(['utf8', 'base64'])
  .describe('How `value` is encoded in JSON: UTF-8 text (default) or base64 of arbitrary bytes.');

/** `true`/`false`/`1`/`0` in a query string. */
const queryBool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');

export const readQuerySchema = z.object({
  serializable: queryBool
    .optional()
    .describe('Serve from the local replica without a ReadIndex round (may be stale). Default false: linearizable.'),
  encoding: encodingSchema.optional(),
});

/** `?key=` addresses one key by query, so keys starting with "/" need no "//" in the path. */
export const keyQuerySchema = z.object({
  key: z
    .string({ error: 'must be given once' })
    .describe('One key, e.g. /brokers/1 (the same as /v1/kv/{key}; keys that start with "/" need no "//" this way). On GET, reads that key instead of listing.'),
});

export const listQuerySchema = z.object({
  prefix: z.string().default('').describe('Only keys starting with this prefix ("" = all keys).'),
  startAfter: z.string().default('').describe('Continuation: only keys strictly greater than this one (the previous page\'s nextKey).'),
  limit: z
    .string()
    .regex(/^[0-9]+$/, 'must be a positive integer')
    .transform((v) => Number(v))
    .pipe(z.number().int().min(1))
    .default(100)
    .describe('Page size, 1..the server\'s --max-list-limit (default 100). A page also stops before its values exceed --max-response-bytes: `more` and `nextKey` then continue it.'),
  keysOnly: queryBool.optional().describe('Return keys and metadata without values.'),
  delimiter: z
    .string()
    .min(1)
    .max(16)
    .optional()
    .describe(
      'List one level of the key tree: keys directly under prefix in kvs, and each deeper group once, in prefixes, ' +
        'as prefix + the text up to and including the delimiter (prefix=/brokers/&delimiter=/ answers /brokers/1 and /brokers/1/). ' +
        'limit counts both; nextKey may be a prefix, and passed as startAfter it skips that whole group.',
    ),
  serializable: queryBool.optional().describe('Local, possibly stale read. Default false: linearizable.'),
  encoding: encodingSchema.optional(),
});

export const kvPutBodySchema = z
  .object({
    value: z.string().describe('The value, encoded as `encoding` says.'),
    encoding: encodingSchema.optional(),
    lease: z.number().int().min(0).optional().describe('Lease id to attach the key to (0 or absent: none).'),
    expectedModRevision: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe(
        "Compare-and-swap: write only if the key's modRevision still equals this (0: only if the key does not exist). " +
          'Otherwise nothing is written and the answer is 409 with code 9 (FAILED_PRECONDITION), naming the current mod revision.',
      ),
  })
  .strict();

export const compactionBodySchema = z
  .object({
    revision: z.number().int().min(1).describe('Forget the history below this revision: reads at older revisions fail with "compacted".'),
    physical: z.boolean().optional().describe('Answer only once this member has removed the history (etcd\'s --physical).'),
  })
  .strict();

export const permissionSchema = z
  .object({
    prefix: z.string().max(4096).describe('Key prefix the permission covers ("" = every key).'),
    read: z.boolean().default(false),
    write: z.boolean().default(false),
  })
  .strict();

/** A lease id in a path: decimal, 1..2^53-1 (the ids this cluster grants). */
export const leaseIdSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, 'must be a lease id (a positive decimal integer)')
  .transform(Number)
  .refine((n) => Number.isSafeInteger(n), 'must be at most 2^53-1');

export const userNameSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.@-]+$/, 'may contain only letters, digits and _ . @ -');

export const passwordSchema = z.string().min(8).max(1024);

export const userCreateBodySchema = z
  .object({
    name: userNameSchema,
    password: passwordSchema,
    permissions: z.array(permissionSchema).max(1000).default([]),
  })
  .strict();

export const userUpdateBodySchema = z
  .object({
    password: passwordSchema.optional(),
    permissions: z.array(permissionSchema).max(1000).optional(),
  })
  .strict()
  .refine((b) => b.password !== undefined || b.permissions !== undefined, {
    message: 'at least one of password, permissions is required',
  });

export const permissionsBodySchema = z
  .object({
    permissions: z.array(permissionSchema).max(1000),
  })
  .strict();

export const configNameSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9_.:/-]+$/, 'may contain only letters, digits and _ . : / -');

export const configPutBodySchema = z
  .object({
    value: z.string().describe('The value, encoded as `encoding` says.'),
    encoding: encodingSchema.optional(),
  })
  .strict();

export type KvPutBody = z.infer<typeof kvPutBodySchema>;
export const memberAddBodySchema = z
  .object({
    address: z.string().min(1).max(300).describe("The new member's gRPC address (host:port; clients and peers share it)."),
    isLearner: z.boolean().default(false).describe('Join as a learner: replicates, but neither votes nor counts towards a quorum until promoted.'),
    id: z.number().int().min(0).max(2 ** 52).default(0).describe('Its id; 0 (default): the leader assigns one never used in this cluster.'),
  })
  .strict();

export const memberUpdateBodySchema = z
  .object({
    address: z.string().min(1).max(300).describe("The member's new gRPC address (host:port); restart the member listening there."),
  })
  .strict();

export const moveLeaderBodySchema = z
  .object({
    targetId: z.number().int().min(1).max(2 ** 52).describe('The voter to hand leadership to.'),
  })
  .strict();

export const memberIdSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, 'must be a member id (a positive integer)')
  .transform((v) => Number(v));

export type UserCreateBody = z.infer<typeof userCreateBodySchema>;
export type UserUpdateBody = z.infer<typeof userUpdateBodySchema>;
export type PermissionsBody = z.infer<typeof permissionsBodySchema>;
export type ConfigPutBody = z.infer<typeof configPutBodySchema>;

// ---------------------------------------------------------------- maintenance (src/http/maintenance.ts)
/** No query parameters at all (a misspelt one is refused, not ignored). */
export const noQuerySchema = z.object({}).strict();

export const hashKvQuerySchema = z
  .object({
    revision: z
      .string({ error: 'must be given once' })
      .regex(/^[0-9]{1,16}$/, 'must be a revision (a non-negative decimal integer)')
      .transform(Number)
      .refine((n) => Number.isSafeInteger(n), 'must be at most 2^53-1')
      .optional()
      .describe('Hash the keyspace history up to this revision (0 or absent: the current one). Refused when compacted or in the future.'),
  })
  .strict();

export const alarmNameSchema = z.enum(['NOSPACE', 'CORRUPT']).describe('The alarm: NOSPACE (space quota) or CORRUPT.');

export const alarmDisarmBodySchema = z
  .object({
    memberId: z.number().int().min(1).max(2 ** 52).optional().describe("Only this member's alarms (absent: every member's)."),
    alarm: alarmNameSchema.optional().describe('Only this alarm (absent: every alarm).'),
  })
  .strict();

/** A POST that takes no parameters: no body, or `{}`. */
export const emptyBodySchema = z.object({}).strict();
