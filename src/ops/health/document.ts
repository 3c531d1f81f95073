/**
 * The `application/health+json` document (draft-inadarei-api-health-check): overall `status`,
 * `checks` keyed `component:measurement`, each an array of readings. `output` (the internal error
 * text) is included only when the caller proved it holds the health token.
 */
import { type CheckResult, type HealthStatus, worstStatus } from './checks.js';

export const HEALTH_CONTENT_TYPE = 'application/health+json';

export interface CheckReading {
  componentType?: string;
  status: HealthStatus;
  observedValue: number;
  observedUnit: 'ms';
  time: string;
  output?: string;
}

export interface HealthDocument {
  status: HealthStatus;
  version?: string;
  serviceId?: string;
  /** Why the status is what it is when the cause is the process itself (starting, shutting down). */
  notes?: string[];
  checks?: Record<string, CheckReading[]>;
}

export interface DocumentInput {
  results: readonly CheckResult[] | null;
  notes: readonly string[];
  showOutput: boolean;
  version: string | undefined;
  serviceId: string | undefined;
}

/** Lifecycle notes turn the document `fail` whatever the checks say: such an instance takes no traffic. */
export function healthDocument(input: DocumentInput): HealthDocument {
  const { results, notes } = input;
  const checkStatus = results === null ? 'pass' : worstStatus(results.map((r) => r.status));
  const doc: HealthDocument = { status: notes.length > 0 ? 'fail' : checkStatus };
  if (input.version !== undefined) doc.version = input.version;
  if (input.serviceId !== undefined) doc.serviceId = input.serviceId;
  if (notes.length > 0) doc.notes = [...notes];
  if (results !== null) {
    doc.checks = {};
    for (const r of results) {
      const reading: CheckReading = { status: r.status, observedValue: r.durationMs, observedUnit: 'ms', time: r.time };
      if (r.componentType !== undefined) reading.componentType = r.componentType;
      if (input.showOutput && r.output !== undefined) reading.output = r.output;
      doc.checks[r.key] = [reading];
    }
  }
  return doc;
}

/** 200 for pass and warn, 503 for fail (the draft's mapping, and what load balancers expect). */
export function httpStatusOf(status: HealthStatus): 200 | 503 {
  return status === 'fail' ? 503 : 200;
}
