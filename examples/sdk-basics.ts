// A message-queue broker using the Placement Center SDK: connect through any member, register
// its metadata, read it back, list the registered brokers and print the cluster status.
//
//   npm start                                   # a local 3-node cluster (another terminal)
//   node --import tsx examples/sdk-basics.ts        # or: PLACEMENT_ENDPOINTS=host:port,... BROKER_ID=7
import { hostname } from 'node:os';
import { PlacementClient, UnavailableError, type KeyValue } from '../src/client/index.js';

const endpoints = (process.env.PLACEMENT_ENDPOINTS ?? '127.0.0.1:1228').split(',');
const brokerId = Number(process.env.BROKER_ID ?? 1);

interface BrokerInfo {
  id: number;
  host: string;
  port: number;
  startedAt: string;
}

// The SDK gives each client a random 128-bit id: writes retried after a lost reply are applied
// once, and no other process can collide with it (an id derived from the pid could: a restarted
// broker may get the same pid, and its writes would be refused as reused).
const client = new PlacementClient({ endpoints, deadlineMs: 5000 });

try {
  // 1. Connect: any one live member is enough; the client learns the others.
  const members = await client.connect();
  console.log(`connected; members: ${members.members.map((m) => `${m.id}@${m.address}`).join(', ')}, leader ${members.leaderId}`);

  // 2. Store this broker's metadata.
  const info: BrokerInfo = { id: brokerId, host: hostname(), port: 9092 + brokerId, startedAt: new Date().toISOString() };
  const key = `/brokers/ids/${brokerId}`;
  const put = await client.kv.set(key, JSON.stringify(info));
  console.log(`registered ${key} at revision ${put.revision}`);

  // Claim the controller role only if nobody holds it (compare-and-swap).
  const claim = await client.kv.compareAndSwap('/brokers/controller', { absent: true }, String(brokerId));
  console.log(claim.succeeded ? 'became controller' : `controller is broker ${claim.prevKv?.value.toString()}`);

  // 3. Read it back, and list every registered broker.
  const back: KeyValue | undefined = await client.kv.get(key);
  console.log(`read back (version ${back?.version}): ${back?.value.toString()}`);
  for await (const kv of client.kv.listAll('/brokers/ids/')) {
    const b = JSON.parse(kv.value.toString()) as BrokerInfo;
    console.log(`  broker ${b.id} at ${b.host}:${b.port}`);
  }

  // 4. Cluster status as seen by the answering member.
  const st = await client.cluster.status();
  console.log(`cluster ${st.clusterId}: leader ${st.leaderId}, term ${st.term}, commit ${st.commitIndex}, applied ${st.appliedIndex}`);
} catch (err) {
  if (err instanceof UnavailableError) {
    console.error(`placement center unavailable: ${err.message}`);
    process.exitCode = 3;
  } else {
    throw err;
  }
} finally {
  client.close();
}
