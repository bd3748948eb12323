import type { ResourceType, StoredFhirResource } from '../fhir/resource-types';
import { nextVersion } from '../store/resource-write';
import type { ResourceDocument, ResourceWrite, StoreQuery, StoreReader, WriteMethod } from '../store/store';

interface Change {
  resourceType: ResourceType;
  id: string;
  resource: StoredFhirResource | null;
  method: WriteMethod;
}

/**
 * The resources one booking-engine transaction reads and changes. Reads go to the transaction's
 * reader with this transaction's own changes laid over them; each resource is written once at the
 * end, as the next version of what was read (so the store's version check catches any lost update).
 */
export class WorkingSet {
  private readonly read = new Map<string, ResourceDocument | undefined>();
  private readonly changes = new Map<string, Change>();

  constructor(
    private readonly reader: StoreReader,
    private readonly now: number,
  ) {}

  private remember(resourceType: ResourceType, document: ResourceDocument): void {
    const key = `${resourceType}/${document._id}`;
    if (!this.read.has(key)) this.read.set(key, document);
  }

  /** The current resource (this transaction's change if any), undefined when absent or deleted. */
  async get(resourceType: ResourceType, id: string): Promise<StoredFhirResource | undefined> {
    const key = `${resourceType}/${id}`;
    const change = this.changes.get(key);
    if (change !== undefined) return change.resource ?? undefined;
    if (!this.read.has(key)) this.read.set(key, await this.reader.read(resourceType, id));
    const document = this.read.get(key);
    return document === undefined || document.deleted || document.resource === null ? undefined : document.resource;
  }

  /** Runs a store query and returns the matching resources as this transaction sees them. */
  async find(resourceType: ResourceType, query: StoreQuery): Promise<StoredFhirResource[]> {
    const result: StoredFhirResource[] = [];
    for (const { document, change } of await this.query(resourceType, query)) {
      const resource = change === undefined ? document.resource : change.resource;
      if (resource !== null) result.push(resource);
    }
    return result;
  }

  /**
   * The ids of `find`'s answer, without its resources: for callers that only need the ids (the
   * Schedules of some actors), so a store that reads resources on first access reads none.
   */
  async findIds(resourceType: ResourceType, query: StoreQuery): Promise<string[]> {
    const ids: string[] = [];
    for (const { document, change } of await this.query(resourceType, query)) {
      if (change === undefined ? !document.deleted : change.resource !== null) ids.push(document._id);
    }
    return ids;
  }

  /** Runs a store query, remembers what it read, and pairs each document with this transaction's planned change to it. */
  private async query(resourceType: ResourceType, query: StoreQuery): Promise<Array<{ document: ResourceDocument; change: Change | undefined }>> {
    const { documents } = await this.reader.find(resourceType, query);
    return documents.map((document) => {
      this.remember(resourceType, document);
      return { document, change: this.changes.get(`${resourceType}/${document._id}`) };
    });
  }

  /** Plans a new version (or a delete, with null). */
  put(resourceType: ResourceType, id: string, resource: StoredFhirResource | null, method: WriteMethod): void {
    this.changes.set(`${resourceType}/${id}`, { resourceType, id, resource, method });
  }

  hasChange(resourceType: ResourceType, id: string): boolean {
    return this.changes.has(`${resourceType}/${id}`);
  }

  /** The writes to commit: one per changed resource, each the next version of what was read. */
  writes(): ResourceWrite[] {
    const writes: ResourceWrite[] = [];
    for (const [key, change] of this.changes) {
      const current = this.read.get(key);
      const method: WriteMethod = current === undefined && change.method === 'PUT' ? 'POST' : change.method;
      writes.push(nextVersion(change.resourceType, change.id, change.resource, method, current, this.now));
    }
    return writes;
  }
}
