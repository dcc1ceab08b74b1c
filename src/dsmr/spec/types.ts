/** How a value's parenthesised groups are decoded (implemented in `dsmr/values.ts`). */
export type Codec =
  | "decimal" // (123.456*kWh), (00069), (000123.456kWh): number, exact text kept, optional unit
  | "string" // (50): kept as written
  | "hexText" // (4B3845...): hex-encoded ASCII, decoded when printable
  | "timestamp" // (YYMMDDhhmmssX): X = S (summer, +02:00) or W (winter, +01:00)
  | "timestampedDecimal" // (YYMMDDhhmmssX)(value*unit): M-Bus readings, e-MUCS monthly peak
  | "legacyGas" // DSMR 2.2/3.0 0-n:24.3.0: (ts)(00)(60)(1)(0-n:24.2.1)(m3) then (value) on the next line
  | "legacyReading" // DSMR 2.1/2.2 7-0:23.1.0: (value*unit)(timestamp)
  | "failureLog" // 1-0:99.97.0: (count)(0-0:96.7.19)((ts)(duration*s))*
  | "peakHistory"; // e-MUCS 0-0:98.1.0: (count)(obis)(obis)((month ts)(peak ts)(value*kW))*

/** Which meter an object belongs to; `mbus` objects carry their channel (1-4) in OBIS value group B. */
export type MeterScope = "device" | "electricity" | "mbus" | "gas" | "water" | "heat" | "cooling";

/** Home Assistant sensor device classes used by P1 objects. */
export type DeviceClass =
  | "energy"
  | "power"
  | "apparent_power"
  | "reactive_power"
  | "reactive_energy"
  | "voltage"
  | "current"
  | "gas"
  | "water"
  | "volume"
  | "duration"
  | "timestamp"
  | "frequency";

/** `total_increasing` for registers, `measurement` for instantaneous values. */
export type StateClass = "total_increasing" | "measurement";

/** What an object tells about its meter, beyond its value: how meter discovery finds ids and readings. */
export type ObjectRole = "identifier" | "deviceType" | "reading";

/** One COSEM object as the specs define it. */
export interface ObjectDef {
  /** OBIS reference A-B:C.D.E; M-Bus objects use `n` for the channel (`0-n:24.2.1`). */
  readonly obis: string;
  /** Stable channel name (the seed binding's where it has one); unique within a version. */
  readonly id: string;
  /** Human-readable name. */
  readonly name: string;
  readonly codec: Codec;
  /** Unit the spec prescribes; a unit written in the telegram takes precedence. */
  readonly unit?: string;
  readonly meter: MeterScope;
  readonly deviceClass?: DeviceClass;
  readonly stateClass?: StateClass;
  /** Meter information rather than a measurement (Home Assistant's diagnostic category). */
  readonly diagnostic?: boolean;
  /** The meter's equipment identifier, M-Bus device type, or its main reading. */
  readonly role?: ObjectRole;
}

/** Serial line settings a P1 port uses. */
export interface SerialSettings {
  readonly baudRate: 9600 | 115200;
  readonly dataBits: 7 | 8;
  readonly parity: "none" | "even";
  readonly stopBits: 1;
}
