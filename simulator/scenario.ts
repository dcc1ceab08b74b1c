import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { VERSION_NAMES, type VersionName } from "../src/dsmr/index.ts";
import { hexToBytes } from "../src/shared/index.ts";
import { FAULT_KINDS } from "./faults.ts";
import type { SimulatorOptions } from "./simulator.ts";

const HOUR_MS = 3_600_000;
const hex16 = z.string().regex(/^[0-9A-Fa-f]{32}$/, "must be 32 hex digits (16 bytes)");

/** Schema of a scenario file: the simulator's options in YAML, rates as probabilities per telegram. */
export const SCENARIO_SCHEMA = z.strictObject({
  description: z.string().optional(),
  // YAML reads an unquoted 5.0 as the number 5: accept it as the version it names.
  version: z.preprocess(
    (v) => (typeof v === "number" ? (Number.isInteger(v) ? v.toFixed(1) : String(v)) : v),
    z.enum(VERSION_NAMES as [VersionName, ...VersionName[]]),
  ),
  seed: z.number().int().min(0).optional(),
  count: z.number().int().min(1).optional(),
  intervalMs: z.number().int().min(0).optional(),
  start: z
    .string()
    .refine((s) => !Number.isNaN(Date.parse(s)), "must be an ISO 8601 date and time")
    .optional(),
  speed: z.number().positive().optional(),
  phases: z.union([z.literal(1), z.literal(3)]).optional(),
  solar: z.strictObject({ peakW: z.number().int().min(0) }).optional(),
  mbus: z
    .array(
      z.strictObject({
        channel: z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)]),
        kind: z.enum(["gas", "water", "heat"]),
      }),
    )
    .refine((list) => new Set(list.map((m) => m.channel)).size === list.length, "channels must be unique")
    .optional(),
  events: z
    .strictObject({
      powerFailureEveryHours: z.number().positive().optional(),
      sagSwellEveryHours: z.number().positive().optional(),
      textMessageEveryHours: z.number().positive().optional(),
      applianceScale: z.number().min(0).optional(),
    })
    .optional(),
  faults: z.partialRecord(z.enum(FAULT_KINDS), z.number().min(0).max(1)).optional(),
  stallMs: z.number().int().min(0).optional(),
  key: hex16.optional(),
  aad: hex16.optional(),
  header: z.string().min(1).optional(),
});

/** A scenario as written in YAML. */
export type Scenario = z.infer<typeof SCENARIO_SCHEMA>;

/** A scenario file that cannot be used; the message names the file, the key and the problem. */
export class ScenarioError extends Error {
  override readonly name = "ScenarioError";
}

/** Validates parsed YAML; throws ScenarioError naming each bad key. */
export function parseScenario(data: unknown, source = "scenario"): Scenario {
  const r = SCENARIO_SCHEMA.safeParse(data);
  if (r.success) return r.data;
  const problems = r.error.issues.map(
    (i) => `${i.path.length ? i.path.join(".") : "(top level)"}: ${i.message}`,
  );
  throw new ScenarioError(`${source}: ${problems.join("; ")}`);
}

/** Reads and validates a scenario YAML file. */
export function loadScenario(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ScenarioError(
      `cannot read scenario ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
    );
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new ScenarioError(`${path}: not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  return parseScenario(data, path);
}

/** The simulator options a scenario describes. */
export function scenarioOptions(s: Scenario): SimulatorOptions {
  const ev = s.events;
  return {
    version: s.version,
    ...(s.seed !== undefined ? { seed: s.seed } : {}),
    ...(s.count !== undefined ? { count: s.count } : {}),
    ...(s.intervalMs !== undefined ? { intervalMs: s.intervalMs } : {}),
    ...(s.start !== undefined ? { startTime: Date.parse(s.start) } : {}),
    ...(s.speed !== undefined ? { speed: s.speed } : {}),
    ...(s.phases !== undefined ? { phases: s.phases } : {}),
    ...(s.solar !== undefined ? { solarPeakW: s.solar.peakW } : {}),
    ...(s.mbus !== undefined ? { mbus: s.mbus } : {}),
    ...(ev
      ? {
          events: {
            ...(ev.powerFailureEveryHours ? { powerFailureMs: ev.powerFailureEveryHours * HOUR_MS } : {}),
            ...(ev.sagSwellEveryHours ? { sagSwellMs: ev.sagSwellEveryHours * HOUR_MS } : {}),
            ...(ev.textMessageEveryHours ? { textMessageMs: ev.textMessageEveryHours * HOUR_MS } : {}),
            ...(ev.applianceScale !== undefined ? { applianceScale: ev.applianceScale } : {}),
          },
        }
      : {}),
    ...(s.faults !== undefined ? { faults: s.faults } : {}),
    ...(s.stallMs !== undefined ? { stallMs: s.stallMs } : {}),
    ...(s.key !== undefined ? { key: hexToBytes(s.key) as Uint8Array } : {}),
    ...(s.aad !== undefined ? { aad: hexToBytes(s.aad) as Uint8Array } : {}),
    ...(s.header !== undefined ? { header: s.header } : {}),
  };
}
