// The OpenAPI 3.1 document served at GET /v1/openapi.json. Request bodies and query parameters
// are generated from the zod schemas the server validates with (schemas.ts); responses are
// described here. test/http/openapi.test.ts checks that every Express route is documented and
// every documented operation exists.
import { z } from 'zod';
import {
  alarmDisarmBodySchema,
  compactionBodySchema,
  configPutBodySchema,
  hashKvQuerySchema,
  keyQuerySchema,
  kvPutBodySchema,
  listQuerySchema,
  memberAddBodySchema,
  memberUpdateBodySchema,
  moveLeaderBodySchema,
  permissionsBodySchema,
  readQuerySchema,
  userCreateBodySchema,
  userUpdateBodySchema,
} from './schemas.js';

type Json = Record<string, unknown>;

function schemaOf(s: z.ZodType): Json {
  const out = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}

function queryParams(s: z.ZodObject): Json[] {
  return Object.entries(s.shape).map(([name, field]) => {
    const schema = schemaOf(field as z.ZodType);
    const description = (schema.description as string | undefined) ?? undefined;
    delete schema.description;
    return { name, in: 'query', required: false, schema, ...(description ? { description } : {}) };
  });
}

const pathParam = (name: string, description: string): Json => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string' },
});

const envelope = (data: Json): Json => ({
  type: 'object',
  required: ['code', 'data'],
  properties: { code: { const: 0 }, data },
});

const ok = (description: string, data: Json): Json => ({
  description,
  content: { 'application/json': { schema: envelope(data) } },
});

const err = (description: string): Json => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const jsonBody = (s: z.ZodType): Json => ({
  required: true,
  content: { 'application/json': { schema: schemaOf(s) } },
});

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });

const commonErrors = {
  '503': err('No leader (writes and linearizable reads), or the node cannot serve'),
};
const membershipReply: Json = {
  type: 'object',
  properties: {
    memberId: { type: 'integer', description: 'The member the change concerned (add: its new id)' },
    members: { type: 'array', items: { $ref: '#/components/schemas/Member' } },
  },
};
const alarmItem: Json = { type: 'object', properties: { memberId: { type: 'integer' }, alarm: { type: 'string', enum: ['NOSPACE', 'CORRUPT'] } } };
const memberIdParam: Json = { name: 'id', in: 'path', required: true, description: 'Member id', schema: { type: 'string', pattern: '^[1-9][0-9]*$' } };
const membershipErrors = {
  '400': err('Invalid input: the message names the field and the rule'),
  '409': err('Refused: another change in progress, a learner not caught up, the strict reconfiguration check, or an address already used'),
  '503': err('No leader, or the node cannot serve'),
};
const badInput = { '400': err('Invalid input: the message names the field and the rule') };
const writeErrors = { ...badInput, '413': err('Request body too large'), ...commonErrors };
const kvPutErrors = {
  '404': err('The lease named in the body does not exist (nothing written)'),
  '409': err('expectedModRevision did not hold: the key changed or exists (code 9, FAILED_PRECONDITION); nothing written'),
};

export interface OpenApiOptions {
  maxKeyBytes: number;
  maxValueBytes: number;
}

/** The OpenAPI document of the admin API. */
export function buildOpenApiDocument(opts: OpenApiOptions): Json {
  const keyParam = pathParam(
    'key',
    `The key (1..${opts.maxKeyBytes} UTF-8 bytes). Slashes may be written literally (/v1/kv//a/b is key "/a/b") or as %2F; for keys that start with "/", /v1/kv?key=/a/b is the plainer form.`,
  );
  const keyQuery: Json = { ...queryParams(keyQuerySchema)[0]!, required: true };
  const putReply: Json = {
    type: 'object',
    properties: { key: { type: 'string' }, revision: { type: 'integer' }, prevKv: { anyOf: [ref('KeyValue'), { type: 'null' }] } },
  };
  const deleteReply: Json = {
    type: 'object',
    properties: {
      key: { type: 'string' },
      deleted: { const: true },
      revision: { type: 'integer' },
      prevKv: { anyOf: [ref('KeyValue'), { type: 'null' }] },
    },
  };
  const userParam = pathParam('name', 'User name: 1..128 of letters, digits, _ . @ -');
  const configParam = pathParam('name', 'Config entry name: 1..256 of letters, digits, _ . : / -');
  const readParams = queryParams(readQuerySchema);
  const health = (what: string): Json => ({
    get: {
      summary: what,
      tags: ['health'],
      responses: {
        '200': { description: 'All checks pass', content: { 'application/json': { schema: ref('Health') } } },
        '503': { description: 'A check fails', content: { 'application/json': { schema: ref('Health') } } },
      },
    },
  });

  return {
    openapi: '3.1.0',
    info: {
      title: 'Placement Center admin API',
      version: '1.0.0',
      description:
        'Admin plane of a Placement Center node. Every /v1 answer is {"code":0,"data":…} on success and ' +
        '{"code":<non-zero>,"data":null,"error":"…"} on failure (code = gRPC status number). Writes are ' +
        'replicated through Raft; a follower forwards them to the leader. Reads are linearizable unless ' +
        `serializable=true. Values are UTF-8 text unless encoding=base64 (max ${opts.maxValueBytes} bytes).`,
    },
    paths: {
      '/livez': health('Liveness: the process is up and its event loop turns'),
      '/readyz': health('Readiness: has a leader, has applied its committed entries, storage writable'),
      '/metrics': {
        get: {
          summary: 'Prometheus metrics (text exposition format)',
          tags: ['metrics'],
          responses: { '200': { description: 'Metrics', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
      '/ui': {
        get: {
          summary: 'The dashboard (a page in the browser); /ui redirects to /ui/',
          description: 'Built from ui/ into dist/ui/ by `npm run build`. The page uses only the operations in this document.',
          tags: ['ui'],
          responses: {
            '200': { description: 'The page', content: { 'text/html': { schema: { type: 'string' } } } },
            '301': { description: '/ui → /ui/ (so relative URLs resolve)' },
            '503': err('The dashboard was not built'),
          },
        },
      },
      '/ui/{path}': {
        get: {
          summary: "The dashboard's script, styles and third-party licence notice",
          tags: ['ui'],
          parameters: [pathParam('path', 'A file of the built dashboard, e.g. app.js')],
          responses: {
            '200': { description: 'The file', content: { '*/*': { schema: { type: 'string' } } } },
            '404': err('No such file'),
            '503': err('The dashboard was not built'),
          },
        },
      },
      '/v1/openapi.json': {
        get: {
          summary: 'This document',
          tags: ['meta'],
          responses: { '200': { description: 'OpenAPI document', content: { 'application/json': { schema: { type: 'object' } } } } },
        },
      },
      '/v1/cluster/status': {
        get: {
          summary: "This node's view of the cluster",
          tags: ['cluster'],
          responses: { '200': ok('Status', ref('ClusterStatus')), ...commonErrors },
        },
      },
      '/v1/cluster/nodes': {
        get: {
          summary: 'Registered brokers of a broker cluster (registrations bound to leases: a dead broker is gone once its lease expires)',
          tags: ['placement'],
          parameters: [
            { name: 'cluster', in: 'query', required: true, schema: { type: 'string' }, description: 'Broker cluster name' },
            { name: 'type', in: 'query', required: false, schema: { type: 'string' }, description: 'Only brokers of this node type' },
          ],
          responses: {
            '200': ok('Nodes', { type: 'object', properties: { nodes: { type: 'array', items: { type: 'object' } }, revision: { type: 'integer' } } }),
            ...badInput,
            ...commonErrors,
          },
        },
      },
      '/v1/shards': {
        get: {
          summary: 'Shards of a broker cluster: replicas, leader, epoch and status',
          tags: ['placement'],
          parameters: [
            { name: 'cluster', in: 'query', required: true, schema: { type: 'string' }, description: 'Broker cluster name' },
            { name: 'node', in: 'query', required: false, schema: { type: 'integer' }, description: 'Only shards with this broker among their replicas' },
          ],
          responses: {
            '200': ok('Shards', { type: 'object', properties: { shards: { type: 'array', items: { type: 'object' } }, revision: { type: 'integer' } } }),
            ...badInput,
            ...commonErrors,
          },
        },
        post: {
          summary: 'Create a shard: replicas chosen by zone spread and load (never a dead or draining broker), a leader, epoch 1',
          tags: ['placement'],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['cluster', 'shard', 'replicas'],
                  properties: {
                    cluster: { type: 'string' },
                    shard: { type: 'string' },
                    replicas: { type: 'integer', minimum: 1 },
                    status: { type: 'string' },
                    constraints: { type: 'object', properties: { zones: { type: 'array', items: { type: 'string' } }, excludeNodes: { type: 'array', items: { type: 'integer' } }, nodeType: { type: 'string' } } },
                  },
                },
              },
            },
          },
          responses: {
            '201': ok('Created', { type: 'object', properties: { shard: { type: 'object' } } }),
            ...badInput,
            '409': err('The shard exists, or too few live brokers for the replicas asked (the message names both numbers)'),
            ...commonErrors,
          },
        },
      },
      '/v1/cluster/members': {
        get: {
          summary: 'Members with role, match index and replication lag as the leader sees them',
          tags: ['cluster'],
          responses: {
            '200': ok('Members', { type: 'object', properties: { members: { type: 'array', items: ref('Member') } } }),
            ...commonErrors,
          },
        },
        post: {
          summary: 'Add a member (as a learner with isLearner); answers its id, to start it with: placement-center --id <id> --join ...',
          description:
            'One change at a time (409 while another is in progress). Without isLearner, refused when the new configuration would have fewer started voters than its quorum (strict reconfiguration check): add a learner, start it, then promote it.',
          tags: ['cluster'],
          requestBody: jsonBody(memberAddBodySchema),
          responses: { '201': ok('Added', membershipReply), ...membershipErrors },
        },
      },
      '/v1/cluster/members/{id}': {
        put: {
          summary: "Move a member to a new gRPC address (etcd's member update): every member dials it there from then on; restart the member listening on it",
          tags: ['cluster'],
          parameters: [memberIdParam],
          requestBody: jsonBody(memberUpdateBodySchema),
          responses: { '200': ok('Updated', membershipReply), ...membershipErrors, '404': err('No such member') },
        },
        delete: {
          summary: 'Remove a member (the leader too: it hands over leadership once the change commits); the removed member shuts down',
          tags: ['cluster'],
          parameters: [memberIdParam],
          responses: { '200': ok('Removed', membershipReply), ...membershipErrors, '404': err('No such member') },
        },
      },
      '/v1/cluster/members/{id}/promote': {
        post: {
          summary: 'Promote a learner to voter; refused until it has caught up with the leader',
          tags: ['cluster'],
          parameters: [memberIdParam],
          responses: { '200': ok('Promoted', membershipReply), ...membershipErrors, '404': err('No such member') },
        },
      },
      '/v1/cluster/move-leader': {
        post: {
          summary: 'Hand leadership to another voter; answers once it leads',
          tags: ['cluster'],
          requestBody: jsonBody(moveLeaderBodySchema),
          responses: { '200': ok('Moved', membershipReply), ...membershipErrors, '404': err('No such member'), '504': err('Leadership did not move before the deadline') },
        },
      },
      '/v1/maintenance/status': {
        get: {
          summary: "This member's maintenance status, as etcd's Maintenance.Status (version, DB size, leader, Raft positions, alarms)",
          tags: ['maintenance'],
          responses: {
            '200': ok('Status', {
              type: 'object',
              properties: {
                memberId: { type: 'integer' },
                version: { type: 'string' },
                dbSize: { type: 'integer', description: 'Bytes of the state machine on disk' },
                leaderId: { type: 'integer', description: '0: no leader known' },
                raftIndex: { type: 'integer', description: 'Commit index' },
                raftTerm: { type: 'integer' },
                raftAppliedIndex: { type: 'integer' },
                isLearner: { type: 'boolean' },
                alarms: { type: 'array', items: alarmItem },
                errors: { type: 'array', items: { type: 'string' }, description: 'No leader, alarms raised' },
              },
            }),
            ...badInput,
          },
        },
      },
      '/v1/maintenance/hashkv': {
        get: {
          summary: "This member's hash of the keyspace history up to a revision, as etcd's HashKV: equal on replicas that agree",
          tags: ['maintenance'],
          parameters: queryParams(hashKvQuerySchema),
          responses: {
            '200': ok('Hash', {
              type: 'object',
              properties: {
                memberId: { type: 'integer' },
                hash: { type: 'integer', description: 'CRC-32 of the events after the compact revision up to revision' },
                revision: { type: 'integer', description: 'The revision hashed up to' },
                compactRevision: { type: 'integer', description: '-1: never compacted' },
              },
            }),
            '400': err('Invalid or unknown query parameter; or the revision is compacted or in the future'),
          },
        },
      },
      '/v1/maintenance/alarms': {
        get: {
          summary: 'The alarms raised in the cluster (NOSPACE: past the space quota, writes that grow the store are refused)',
          tags: ['maintenance'],
          responses: { '200': ok('Alarms', { type: 'object', properties: { alarms: { type: 'array', items: alarmItem } } }), ...badInput },
        },
      },
      '/v1/maintenance/alarms/disarm': {
        post: {
          summary: 'Clear the raised alarms that match (no body: all of them), as etcdctl alarm disarm; a NOSPACE alarm is raised again while the store is still past the quota',
          tags: ['maintenance'],
          requestBody: { ...jsonBody(alarmDisarmBodySchema), required: false },
          responses: {
            '200': ok('Cleared', { type: 'object', properties: { disarmed: { type: 'array', items: alarmItem }, alarms: { type: 'array', items: alarmItem, description: 'Still raised' } } }),
            ...badInput,
            '404': err('memberId is not a member'),
            ...commonErrors,
          },
        },
      },
      '/v1/maintenance/defragment': {
        post: {
          summary: "Defragment this member's store (gives back the space compaction freed)",
          tags: ['maintenance'],
          responses: {
            '200': ok('Defragmented', { type: 'object', properties: { memberId: { type: 'integer' }, dbSizeBefore: { type: 'integer' }, dbSize: { type: 'integer' } } }),
            ...badInput,
          },
        },
      },
      '/v1/maintenance/snapshot': {
        get: {
          summary: 'A consistent backup of this member (one revision, taken while writes go on), as etcd\'s Maintenance.Snapshot: the file placement-ctl snapshot save writes and snapshot restore reads',
          description: 'Ends with the SHA-256 of the bytes before it. Content-Length is the whole backup: a shorter download is cut. X-Placement-Backup-Revision names its revision.',
          tags: ['maintenance'],
          responses: {
            '200': { description: 'The backup', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
            ...badInput,
            '503': err('The member is shutting down'),
          },
        },
      },
      '/v1/cluster/overview': {
        get: {
          summary: 'Every member as it sees itself (term, indexes, version, DB size, readiness), gathered by this node',
          description:
            "This node asks each member's GET /v1/cluster/status and /readyz (passing on the caller's Authorization header) " +
            'and adds the match index and lag the leader reports. A member that does not answer is listed with reachable: false and the reason.',
          tags: ['cluster'],
          responses: {
            '200': ok('Overview', {
              type: 'object',
              properties: {
                clusterId: { type: 'string' },
                servedBy: { type: 'integer', description: 'The member that gathered this answer' },
                leaderId: { type: 'integer', description: 'The leader as that member knows it (0: none)' },
                members: { type: 'array', items: ref('MemberOverview') },
              },
            }),
            ...commonErrors,
          },
        },
      },
      '/v1/debug/hash': {
        get: {
          summary: 'Digest of the replicated state at the applied index (compare across replicas)',
          tags: ['debug'],
          responses: {
            '200': ok('State hash', {
              type: 'object',
              properties: { appliedIndex: { type: 'integer' }, revision: { type: 'integer' }, hash: { type: 'string' } },
            }),
          },
        },
      },
      '/v1/watch': {
        get: {
          summary: 'Watch a key or a prefix as Server-Sent Events (text/event-stream)',
          description:
            'One `change` event per revision: `id:` is the revision, `data:` is {"revision":N,"events":[{"type":"PUT"|"DELETE","kv":KeyValue,"prevKv"?:KeyValue}]} ' +
            '(values as UTF-8 text, or base64 with encoding=base64 when they are not valid UTF-8). Reconnecting with the Last-Event-ID header continues after that ' +
            'revision without gap or repeat (EventSource does it by itself). When the revisions needed were compacted, a `compacted` event ' +
            '({"compactRevision":N}) ends the stream. Comment lines keep idle connections open. Served by every member.',
          tags: ['kv'],
          parameters: [
            { name: 'prefix', in: 'query', required: false, schema: { type: 'string' }, description: 'Watch every key starting with this ("" = every key); give prefix or key' },
            { name: 'key', in: 'query', required: false, schema: { type: 'string' }, description: 'Watch this one key; give prefix or key' },
            { name: 'startRevision', in: 'query', required: false, schema: { type: 'integer', minimum: 0 }, description: 'First revision to send (replays history); default: the next one' },
            { name: 'prevKv', in: 'query', required: false, schema: { type: 'boolean' }, description: 'Attach each key\'s previous value' },
            { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'integer', minimum: 0 }, description: 'Resume after this revision (overrides startRevision)' },
          ],
          responses: {
            '200': { description: 'The event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
            ...badInput,
          },
        },
      },
      '/v1/compaction': {
        post: {
          summary: 'Compact the keyspace history below a revision (replicated, as etcd\'s Compact)',
          description: 'Reads at a revision below it fail afterwards; a revision at or below the compacted one, or above the current one, is refused (400, etcd\'s message).',
          tags: ['kv'],
          requestBody: jsonBody(compactionBodySchema),
          responses: {
            '200': ok('Compacted', { type: 'object', properties: { revision: { type: 'integer', description: 'This member\'s current revision' }, compactRevision: { type: 'integer' } } }),
            ...writeErrors,
          },
        },
      },
      '/v1/kv': {
        get: {
          summary: 'List keys by prefix, one page at a time (one tree level with delimiter); or, with key, get that one key',
          description: 'With `key` (e.g. `?key=/brokers/1`) this reads one key and answers like GET /v1/kv/{key}; `key` cannot be combined with prefix, startAfter, limit, keysOnly or delimiter. With delimiter the first read is linearizable (unless serializable=true) and the rest of the page is read from the same replica; like any paged listing, a page is not one snapshot.',
          tags: ['kv'],
          parameters: [{ ...keyQuery, required: false }, ...queryParams(listQuerySchema)],
          responses: {
            '200': ok('A page of keys (or, with key, the key)', {
              oneOf: [
                {
                  type: 'object',
                  properties: {
                    kvs: { type: 'array', items: ref('KeyValue') },
                    more: { type: 'boolean' },
                    nextKey: { type: 'string', description: 'Pass as startAfter to get the next page ("" when more is false)' },
                    prefixes: {
                      type: 'array',
                      items: { type: 'string' },
                      description: 'Only with delimiter: the deeper groups under prefix, each once (e.g. /brokers/1/)',
                    },
                  },
                },
                ref('KeyValue'),
              ],
            }),
            ...badInput,
            '404': err('With key: no such key'),
            ...commonErrors,
          },
        },
        put: {
          summary: 'Set the key named by the key query parameter (replicated); same as PUT /v1/kv/{key}',
          tags: ['kv'],
          parameters: [keyQuery],
          requestBody: jsonBody(kvPutBodySchema),
          responses: { '200': ok('Written', putReply), ...writeErrors, ...kvPutErrors },
        },
        delete: {
          summary: 'Delete the key named by the key query parameter (replicated); same as DELETE /v1/kv/{key}',
          tags: ['kv'],
          parameters: [keyQuery],
          responses: { '200': ok('Deleted', deleteReply), ...badInput, '404': err('No such key'), ...commonErrors },
        },
      },
      '/v1/kv/{key}': {
        get: {
          summary: 'Get a key',
          tags: ['kv'],
          parameters: [keyParam, ...readParams],
          responses: { '200': ok('The key', ref('KeyValue')), ...badInput, '404': err('No such key'), ...commonErrors },
        },
        put: {
          summary: 'Set a key (replicated); with expectedModRevision, only if the key is unchanged (compare-and-swap)',
          tags: ['kv'],
          parameters: [keyParam],
          requestBody: jsonBody(kvPutBodySchema),
          responses: { '200': ok('Written', putReply), ...writeErrors, ...kvPutErrors },
        },
        delete: {
          summary: 'Delete a key (replicated)',
          tags: ['kv'],
          parameters: [keyParam],
          responses: { '200': ok('Deleted', deleteReply), ...badInput, '404': err('No such key'), ...commonErrors },
        },
      },
      '/v1/leases': {
        get: {
          summary: 'List leases',
          tags: ['kv'],
          parameters: readParams,
          responses: {
            '200': ok('Leases', { type: 'object', properties: { leases: { type: 'array', items: ref('Lease') } } }),
            ...commonErrors,
          },
        },
      },
      '/v1/leases/{id}': {
        delete: {
          summary: 'Revoke a lease: it and every key attached to it are deleted in one revision (replicated)',
          tags: ['kv'],
          parameters: [pathParam('id', 'Lease id, decimal (1..2^53-1)')],
          responses: {
            '200': ok('Revoked', { type: 'object', properties: { id: { type: 'integer' }, revoked: { const: true }, revision: { type: 'integer' } } }),
            ...badInput,
            '404': err('No such lease'),
            ...commonErrors,
          },
        },
      },
      '/v1/users': {
        get: {
          summary: 'List users (never hashes or salts)',
          tags: ['users'],
          parameters: readParams,
          responses: {
            '200': ok('Users', { type: 'object', properties: { users: { type: 'array', items: ref('User') } } }),
            ...commonErrors,
          },
        },
        post: {
          summary: 'Create a user; the password is stored as a salted scrypt hash',
          tags: ['users'],
          requestBody: jsonBody(userCreateBodySchema),
          responses: { '201': ok('Created', ref('User')), ...writeErrors, '409': err('User exists') },
        },
      },
      '/v1/users/{name}': {
        get: {
          summary: 'Get a user',
          tags: ['users'],
          parameters: [userParam, ...readParams],
          responses: { '200': ok('User', ref('User')), ...badInput, '404': err('No such user'), ...commonErrors },
        },
        put: {
          summary: 'Update a user (password and/or permissions)',
          tags: ['users'],
          parameters: [userParam],
          requestBody: jsonBody(userUpdateBodySchema),
          responses: { '200': ok('Updated', ref('User')), ...writeErrors, '404': err('No such user') },
        },
        delete: {
          summary: 'Delete a user',
          tags: ['users'],
          parameters: [userParam],
          responses: {
            '200': ok('Deleted', { type: 'object', properties: { name: { type: 'string' }, deleted: { const: true } } }),
            ...badInput,
            '404': err('No such user'),
            ...commonErrors,
          },
        },
      },
      '/v1/users/{name}/permissions': {
        get: {
          summary: "A user's permissions on key prefixes",
          tags: ['users'],
          parameters: [userParam, ...readParams],
          responses: { '200': ok('Permissions', ref('Permissions')), ...badInput, '404': err('No such user'), ...commonErrors },
        },
        put: {
          summary: "Replace a user's permissions",
          tags: ['users'],
          parameters: [userParam],
          requestBody: jsonBody(permissionsBodySchema),
          responses: { '200': ok('Permissions', ref('Permissions')), ...writeErrors, '404': err('No such user') },
        },
      },
      '/v1/config': {
        get: {
          summary: 'List resource configuration entries',
          tags: ['config'],
          parameters: readParams,
          responses: {
            '200': ok('Entries', { type: 'object', properties: { entries: { type: 'array', items: ref('ConfigEntry') } } }),
            ...commonErrors,
          },
        },
      },
      '/v1/config/{name}': {
        get: {
          summary: 'Get a configuration entry',
          tags: ['config'],
          parameters: [configParam, ...readParams],
          responses: { '200': ok('Entry', ref('ConfigEntry')), ...badInput, '404': err('No such entry'), ...commonErrors },
        },
        put: {
          summary: 'Set a configuration entry (replicated)',
          tags: ['config'],
          parameters: [configParam],
          requestBody: jsonBody(configPutBodySchema),
          responses: {
            '200': ok('Set', { type: 'object', properties: { name: { type: 'string' }, revision: { type: 'integer' } } }),
            ...writeErrors,
          },
        },
        delete: {
          summary: 'Delete a configuration entry (replicated)',
          tags: ['config'],
          parameters: [configParam],
          responses: {
            '200': ok('Deleted', {
              type: 'object',
              properties: { name: { type: 'string' }, deleted: { const: true }, revision: { type: 'integer' } },
            }),
            ...badInput,
            '404': err('No such entry'),
            ...commonErrors,
          },
        },
      },
    },
    components: {
      schemas: {
        Error: {
          type: 'object',
          required: ['code', 'data', 'error'],
          properties: {
            code: { type: 'integer', description: 'gRPC status number (3 invalid argument, 5 not found, 6 exists, 14 unavailable…)' },
            data: { type: 'null' },
            error: { type: 'string' },
          },
        },
        Health: {
          type: 'object',
          properties: {
            status: { enum: ['ok', 'failing'] },
            checks: {
              type: 'array',
              items: {
                type: 'object',
                required: ['name', 'ok'],
                properties: { name: { type: 'string' }, ok: { type: 'boolean' }, detail: { type: 'string' } },
              },
            },
          },
        },
        Member: {
          type: 'object',
          properties: {
            id: { type: 'integer' },
            address: { type: 'string' },
            httpAddress: { type: 'string' },
            role: { enum: ['voter', 'learner'] },
            isLeader: { type: 'boolean' },
            matchIndex: { type: ['integer', 'null'] },
            lag: { type: ['integer', 'null'] },
            active: { type: ['boolean', 'null'], description: "Leader's view: heard from within the last election timeout (counted as started by the strict reconfiguration check); null on other members" },
          },
        },
        ClusterStatus: {
          type: 'object',
          properties: {
            clusterId: { type: 'string' },
            id: { type: 'integer' },
            leaderId: { type: 'integer', description: '0 when no leader is known' },
            term: { type: 'integer' },
            role: { enum: ['leader', 'follower', 'candidate', 'pre-candidate', 'learner'] },
            commitIndex: { type: 'integer' },
            appliedIndex: { type: 'integer' },
            lastIndex: { type: 'integer' },
            snapshotIndex: { type: 'integer' },
            revision: { type: 'integer' },
            members: { type: 'array', items: ref('Member') },
            version: { type: 'string', description: "The node's software version" },
            dbSizeBytes: { type: ['integer', 'null'], description: 'Size of the state-machine database on disk' },
          },
        },
        MemberOverview: {
          allOf: [
            ref('Member'),
            {
              type: 'object',
              properties: {
                reachable: { type: 'boolean', description: 'The member answered GET /v1/cluster/status' },
                error: { type: ['string', 'null'], description: 'Why it did not' },
                status: {
                  anyOf: [{ type: 'null' }, ref('ClusterStatus')],
                  description: 'What the member says about itself (ClusterStatus without members, clusterId and id)',
                },
                health: { anyOf: [{ type: 'null' }, ref('Health')], description: "The member's /readyz" },
              },
            },
          ],
        },
        KeyValue: {
          type: 'object',
          properties: {
            key: { type: 'string' },
            value: { type: 'string', description: 'Absent with keysOnly' },
            encoding: { enum: ['utf8', 'base64'], description: 'base64 when asked, or when the value is not valid UTF-8' },
            createRevision: { type: 'integer' },
            modRevision: { type: 'integer' },
            version: { type: 'integer' },
            lease: { type: 'integer' },
          },
        },
        Lease: {
          type: 'object',
          properties: { id: { type: 'integer' }, ttlMs: { type: 'integer' }, expiresAtMs: { type: 'integer' } },
        },
        Permission: {
          type: 'object',
          properties: { prefix: { type: 'string' }, read: { type: 'boolean' }, write: { type: 'boolean' } },
        },
        Permissions: {
          type: 'object',
          properties: { name: { type: 'string' }, permissions: { type: 'array', items: ref('Permission') } },
        },
        User: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            permissions: { type: 'array', items: ref('Permission') },
            createdAtMs: { type: 'integer' },
            updatedAtMs: { type: 'integer' },
          },
        },
        ConfigEntry: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            value: { type: 'string' },
            encoding: { enum: ['utf8', 'base64'] },
            modRevision: { type: 'integer' },
            updatedAtMs: { type: 'integer' },
          },
        },
      },
    },
  };
}
