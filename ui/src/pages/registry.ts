// Every page, and when it appears: a page is listed only when the operations it uses are in this
// node's /v1/openapi.json, so pages for APIs still being built appear with the build that has them.
import type { FunctionComponent } from 'preact';
import type { ApiDescription } from '../api/openapi.js';
import { BrokersPage } from './brokers.js';
import { ClusterPage } from './cluster.js';
import { KeysPage } from './keys.js';
import { LeasesPage } from './leases.js';
import { LivePage } from './live.js';
import { UsersPage } from './users.js';

export interface PageDef {
  id: string;
  title: string;
  available(api: ApiDescription): boolean;
  component: FunctionComponent;
}

export const PAGES: PageDef[] = [
  {
    id: 'cluster',
    title: 'Cluster',
    available: (a) => a.has('get', '/v1/cluster/overview') && a.has('get', '/metrics'),
    component: ClusterPage,
  },
  {
    id: 'keys',
    title: 'Keys',
    available: (a) => a.has('get', '/v1/kv') && a.hasQueryParam('get', '/v1/kv', 'delimiter') && a.has('put', '/v1/kv') && a.has('delete', '/v1/kv'),
    component: KeysPage,
  },
  { id: 'live', title: 'Live', available: (a) => a.eventStreams().length > 0, component: LivePage },
  { id: 'leases', title: 'Leases', available: (a) => a.has('get', '/v1/leases') && a.has('get', '/metrics'), component: LeasesPage },
  {
    id: 'brokers',
    title: 'Brokers and shards',
    available: (a) => a.has('get', '/v1/cluster/nodes') && a.hasQueryParam('get', '/v1/cluster/nodes', 'cluster') && a.has('get', '/v1/shards'),
    component: BrokersPage,
  },
  { id: 'users', title: 'Users', available: (a) => a.has('get', '/v1/users') && a.has('post', '/v1/users'), component: UsersPage },
];
