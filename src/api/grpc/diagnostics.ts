import { arch, release, type } from "node:os";
import type { DiagnosticTelegram, GatewayInfo, MeterRef } from "../../gateway/types.ts";
import { type PbGatewayInfo, type PbTimestamp, toGatewayInfo, toTimestamp } from "./mapping.ts";

/** What GetDiagnostics needs beyond the view: the kept telegrams and the redacted configuration. */
export interface GrpcDiagnostics {
  /** The last telegrams of every source, identifiers already masked (Gateway.recentTelegrams). */
  recentTelegrams(): readonly DiagnosticTelegram[];
  /** The configuration with every key already replaced (redactConfig); shown as JSON. */
  readonly config?: unknown;
  /** Which AES-GCM decrypts encrypted frames (aesGcmInUse); asked only when a source is encrypted. */
  aesGcm?(): string;
}

/** p1gateway.v1.DiagnosticTelegram. */
export interface PbDiagnosticTelegram {
  readonly source_id: string;
  readonly received_time: PbTimestamp;
  readonly outcome: string;
  readonly encrypted: boolean;
  readonly text: string;
  readonly frame_header: string;
  readonly bytes: number;
  readonly masked_values: number;
}

/** p1gateway.v1.Diagnostics. */
export interface PbDiagnostics {
  readonly generated_time: PbTimestamp;
  readonly version: string;
  readonly node_version: string;
  readonly os: string;
  readonly info: PbGatewayInfo;
  readonly config_json: string;
  readonly telegrams: readonly PbDiagnosticTelegram[];
  readonly notes: readonly string[];
  readonly aes_gcm: string;
}

/** Notes every bundle carries: what was masked and what that does to the telegrams. */
export const DIAGNOSTICS_NOTES = [
  "Identifiers (equipment ids, serial numbers, logical device names) are replaced by X, in the telegrams and in meter ids; their CRCs were computed over the original bytes and no longer match.",
  "Encrypted frames show their decrypted telegram; the system title in frame_header is replaced by X.",
  'Keys (decryption, authentication, native API, gRPC token) are never included: the configuration shows "***".',
] as const;

/** A meter with its equipment id masked, in the id too (`electricity_0_xxxxxxxx`): ids embed it. */
function maskMeter(m: MeterRef): MeterRef {
  const prefix = `${m.type}_${m.channel}_`;
  const id = m.id.startsWith(prefix) ? prefix + "x".repeat(m.id.length - prefix.length) : m.id;
  return { ...m, id, equipmentId: m.equipmentId === null ? null : "X".repeat(m.equipmentId.length) };
}

/** The gateway's info with every meter's equipment id masked. */
function maskedInfo(info: GatewayInfo): GatewayInfo {
  return { ...info, sources: info.sources.map((s) => ({ ...s, meters: s.meters.map(maskMeter) })) };
}

/** Builds the redacted bundle; field by field, so nothing but what is named here reaches the client. */
export function toDiagnostics(
  info: GatewayInfo,
  diagnostics: GrpcDiagnostics | undefined,
  nowMs: number,
): PbDiagnostics {
  return {
    generated_time: toTimestamp(nowMs),
    version: info.version,
    node_version: process.version,
    os: `${type()} ${release()} ${arch()}`,
    info: toGatewayInfo(maskedInfo(info)),
    config_json: diagnostics?.config === undefined ? "" : JSON.stringify(diagnostics.config),
    telegrams: (diagnostics?.recentTelegrams() ?? []).map((t) => ({
      source_id: t.sourceId,
      received_time: toTimestamp(t.receivedAtMs),
      outcome: t.outcome,
      encrypted: t.encrypted,
      text: t.text ?? "",
      frame_header: t.frameHeader ?? "",
      bytes: t.bytes,
      masked_values: t.maskedValues,
    })),
    notes: DIAGNOSTICS_NOTES,
    // Asked only then: a gateway without encrypted meters never loads the addon.
    aes_gcm: info.sources.some((s) => s.encrypted) ? (diagnostics?.aesGcm?.() ?? "") : "",
  };
}
