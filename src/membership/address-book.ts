// Where every member added at run time can be reached, kept in the data directory
// (members.json): the Raft configuration records only ids, and a restarted member must still
// dial members that its --peers never named. Written before the batch holding the change is
// applied, so a crash can only leave an address for a change that is then applied again.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfChangeType, decodeConfChange } from '../../raft/index.js';
import { writeFileAtomic } from '../../storage/util/fs.js';

export const ADDRESS_BOOK_FILE = 'members.json';

export class AddressBook {
  private readonly path: string;
  private readonly entries = new Map<number, string>();

  constructor(dataDir: string) {
    this.path = join(dataDir, ADDRESS_BOOK_FILE);
    if (!existsSync(this.path)) return;
    try {
      const raw = JSON.parse(readFileSync(this.path, 'utf8')) as Record<string, unknown>;
      for (const [k, v] of Object.entries(raw)) {
        const id = Number(k);
        if (Number.isSafeInteger(id) && id > 0 && typeof v === 'string' && v !== '') this.entries.set(id, v);
      }
    } catch {
      // Unreadable: addresses then come from --peers and later changes; nothing else depends on it.
    }
  }

  get(id: number): string | undefined {
    return this.entries.get(id);
  }

  /**
   * Adds the recorded addresses of members that `peers` (--peers) does not name, and replaces
   * the ones it names at another address: what the log recorded last (a member added or moved
   * by `member update` after this member's --peers was written) wins over the flag, as etcd's
   * stored membership wins over --initial-cluster. Returns the replaced addresses.
   */
  fill(peers: Map<number, string>): Array<{ id: number; flag: string; recorded: string }> {
    const replaced: Array<{ id: number; flag: string; recorded: string }> = [];
    for (const [id, addr] of this.entries) {
      const flag = peers.get(id);
      if (flag !== undefined && flag !== addr) replaced.push({ id, flag, recorded: addr });
      peers.set(id, addr);
    }
    return replaced;
  }

  /** Records the address an encoded ConfChange carries (adds and promotions carry one). */
  async recordChange(data: Uint8Array): Promise<void> {
    let cc;
    try {
      cc = decodeConfChange(data);
    } catch {
      return; // the node reports it when applying the change
    }
    if (cc.type !== ConfChangeType.RemoveNode && cc.context.length > 0) await this.record(cc.nodeId, Buffer.from(cc.context).toString('utf8'));
  }

  /** Records `address` for `id`; resolves once durable (no write when nothing changed). */
  async record(id: number, address: string): Promise<void> {
    if (!address || this.entries.get(id) === address) return;
    this.entries.set(id, address);
    await writeFileAtomic(this.path, `${JSON.stringify(Object.fromEntries(this.entries), null, 2)}\n`);
  }
}
