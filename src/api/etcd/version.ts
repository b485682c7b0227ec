// The version the etcd API reports for this member and its cluster (/version, Maintenance.Status,
// etcd_server_version): the etcd release whose API these services implement, not Placement
// Center's own. etcd clients read it to decide what the server can do — Patroni refuses a server
// below 3.0.4 — and Kine, which serves etcd's API over SQL, reports the etcd release it emulates
// the same way. Our own version is on our own API (ClusterService.Status, the admin port's status).
export const ETCD_API_VERSION = '3.4.0';
