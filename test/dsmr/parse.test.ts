import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  crc16,
  formatCrc,
  ParseMemory,
  type ParseResult,
  parseTelegram,
  type Telegram,
} from "../../src/dsmr/index.ts";
import { expectParseError, fixture, numberOf, objectValue, parseOk } from "../helpers/fixtures.ts";

describe("parseTelegram: golden values per version (hand-written fixtures)", () => {
  it("NTA 8130", () => {
    const t = parseOk(fixture("nta8130.txt"));
    expect(t.version).toBe("nta8130");
    expect(t.crc).toBe("absent");
    expect(objectValue(t, "0-0:42.0.0")).toMatchObject({ kind: "text", value: "KMP12345678" });
    expect(numberOf(t, "1-0:1.8.2")).toBe(421.17);
  });

  it("DSMR 2.1 with legacy gas objects", () => {
    const t = parseOk(fixture("dsmr21.txt"));
    expect(t.version).toBe("2.1");
    expect(objectValue(t, "1-0:17.0.0")).toMatchObject({ value: 999, unit: "A" });
    // Legacy reading: value first, then a capture time without S/W (winter by the EU rule).
    expect(objectValue(t, "7-0:23.1.0")).toMatchObject({
      kind: "reading",
      value: 1234.567,
      unit: "m3",
      timestamp: "2010-12-09T00:00:00+01:00",
    });
  });

  it("DSMR 2.2: gas value on the line after 0-1:24.3.0", () => {
    const t = parseOk(fixture("dsmr22.txt"));
    expect(t.version).toBe("2.2");
    expect(objectValue(t, "0-1:24.3.0")).toMatchObject({
      kind: "reading",
      value: 1234.567,
      text: "01234.567",
      unit: "m3",
      timestamp: "2011-01-01T12:00:00+01:00",
    });
  });

  it("DSMR 3.0: ampere threshold, hex text, summer gas capture time from the EU rule", () => {
    const t = parseOk(fixture("dsmr30.txt"));
    expect(t.version).toBe("3.0");
    expect(objectValue(t, "0-0:96.13.0")).toMatchObject({ kind: "text", value: "Hello" });
    expect(objectValue(t, "0-1:24.3.0")).toMatchObject({
      value: 987.654,
      timestamp: "2011-07-05T16:00:00+02:00",
    });
  });

  it("DSMR 4.0: failure log entries", () => {
    const t = parseOk(fixture("dsmr40.txt"));
    expect(t.version).toBe("4.0");
    expect(t.crc).toBe("valid");
    expect(objectValue(t, "1-0:99.97.0")).toEqual({
      kind: "failureLog",
      entries: [{ timestamp: "2013-12-12T10:10:10+01:00", durationS: 600 }],
    });
    expect(objectValue(t, "0-1:24.2.1")).toMatchObject({
      value: 100.1,
      unit: "m3",
      timestamp: "2014-01-01T11:00:00+01:00",
    });
  });

  it("DSMR 4.0.4: per-phase values, empty failure log", () => {
    const t = parseOk(fixture("dsmr404.txt"));
    expect(t.version).toBe("4.04");
    expect(objectValue(t, "1-0:99.97.0")).toEqual({ kind: "failureLog", entries: [] });
    expect(numberOf(t, "1-0:41.7.0")).toBe(1.136);
  });

  it("DSMR 4.2: placeholder failure-log timestamp becomes null", () => {
    const t = parseOk(fixture("dsmr42.txt"));
    expect(t.version).toBe("4.2");
    expect(objectValue(t, "1-0:99.97.0")).toEqual({
      kind: "failureLog",
      entries: [{ timestamp: null, durationS: 2147483647 }],
    });
  });

  it("DSMR 5.0: registers keep their exact text, summer timestamps, two M-Bus channels", () => {
    const t = parseOk(fixture("dsmr50.txt"));
    expect(t.version).toBe("5.0");
    expect(t.header).toBe("ISK5\\2M550T-1012");
    expect(objectValue(t, "1-0:1.8.1")).toEqual({
      kind: "decimal",
      value: 4321.987,
      text: "004321.987",
      unit: "kWh",
    });
    expect(objectValue(t, "0-0:1.0.0")).toMatchObject({ value: "2023-06-15T14:30:05+02:00" });
    expect(objectValue(t, "0-0:96.13.0")).toMatchObject({ value: "Test bericht" });
    expect(objectValue(t, "0-2:24.2.1")).toMatchObject({ value: 123.456 });
    expect(t.objects.find((o) => o.obis === "0-2:24.2.1")?.channel).toBe(2);
    expect(t.unknown).toEqual([]);
  });

  it("e-MUCS: capacity tariff objects", () => {
    const t = parseOk(fixture("emucs.txt"));
    expect(t.version).toBe("emucs");
    expect(numberOf(t, "1-0:1.4.0")).toBe(1.234);
    expect(objectValue(t, "1-0:1.6.0")).toMatchObject({
      value: 4.321,
      unit: "kW",
      timestamp: "2024-02-05T18:30:00+01:00",
    });
    const history = objectValue(t, "0-0:98.1.0");
    expect(history.kind === "peakHistory" && history.entries).toEqual([
      {
        month: "2024-01-01T00:00:00+01:00",
        timestamp: "2023-12-15T18:15:00+01:00",
        value: 5.678,
        text: "05.678",
        unit: "kW",
      },
      {
        month: "2023-12-01T00:00:00+01:00",
        timestamp: "2023-11-20T07:45:00+01:00",
        value: 3.21,
        text: "03.210",
        unit: "kW",
      },
    ]);
    expect(objectValue(t, "0-1:24.2.3")).toMatchObject({ value: 1234.567, unit: "m3" });
  });

  it("Smarty: reactive registers and the Smax threshold", () => {
    const t = parseOk(fixture("smarty.txt"));
    expect(t.version).toBe("smarty");
    expect(objectValue(t, "1-0:3.8.0")).toMatchObject({ value: 234.567, unit: "kvarh" });
    expect(t.objects.find((o) => o.obis === "0-0:17.0.0")?.def?.id).toBe("emeter_active_threshold_smax");
  });
});

describe("parseTelegram: odd and bad input", () => {
  const t50 = fixture("dsmr50.txt").toString("latin1");
  const withCrc = (body: string) => {
    // Recompute a valid CRC for a modified telegram.
    const upToBang = body.slice(0, body.indexOf("!") + 1);
    const crc = crcOf(upToBang);
    return Buffer.from(`${upToBang}${crc}\r\n`, "latin1");
  };

  it("rejects a wrong CRC with CRC_MISMATCH and reports both values", () => {
    const bad = Buffer.from(t50.replace("004321.987", "004321.988"), "latin1");
    const r = parseTelegram(bad);
    expectParseError(r, "CRC_MISMATCH");
    if (!r.ok) expect(r.error.context).toMatchObject({ received: "C0EB" });
  });

  it("accepts lower-case and unpadded CRC digits by value, with a warning", () => {
    const lower = Buffer.from(t50.replace("!C0EB", "!c0eb"), "latin1");
    expect(parseOk(lower).warnings[0]).toMatch(/accepted by value/);
    const tiny = withCrc("/X\r\n\r\n1-0:1.8.1(1*kWh)\r\n!");
    expect(parseOk(tiny).crc).toBe("valid");
  });

  it("rejects a CRC field that is not hex", () => {
    expectParseError(parseTelegram(Buffer.from(t50.replace("!C0EB", "!XXXX"), "latin1")), "CRC_MISMATCH");
  });

  it("rejects a DSMR 5 telegram whose CRC is missing", () => {
    expectParseError(parseTelegram(Buffer.from(t50.replace("!C0EB", "!"), "latin1")), "CRC_MISMATCH");
  });

  it("rejects a line that is not OBIS(value) with MALFORMED_LINE", () => {
    expectParseError(parseTelegram(withCrc(t50.replace("1-0:1.8.2(", "1-0:.8.2("))), "MALFORMED_LINE");
    expectParseError(
      parseTelegram(withCrc(t50.replace("1-0:1.8.2(003210.876*kWh)", "1-0:1.8.2(003210.876*kWh"))),
      "MALFORMED_LINE",
    );
    expectParseError(
      parseTelegram(withCrc(t50.replace("0-0:96.14.0(0002)", "garbage line"))),
      "MALFORMED_LINE",
    );
  });

  it("keeps and reports unknown OBIS codes", () => {
    const t = parseOk(withCrc(t50.replace("0-0:96.14.0(0002)", "0-0:96.14.0(0002)\r\n1-0:14.7.0(50.01*Hz)")));
    expect(t.unknown).toEqual(["1-0:14.7.0"]);
    expect(objectValue(t, "1-0:14.7.0")).toMatchObject({ kind: "decimal", value: 50.01, unit: "Hz" });
  });

  it("keeps a known object whose value does not fit its codec as raw, with a warning", () => {
    const t = parseOk(withCrc(t50.replace("1-0:1.7.0(00.000*kW)", "1-0:1.7.0(n/a)")));
    expect(objectValue(t, "1-0:1.7.0")).toEqual({ kind: "raw", values: ["n/a"] });
    expect(t.warnings.some((w) => w.startsWith("1-0:1.7.0"))).toBe(true);
  });

  it("reads a text message wrapped over two lines and OBIS with a fifth group", () => {
    const t = parseOk(
      withCrc(
        t50
          .replace("0-0:96.13.0(546573742062657269636874)", "0-0:96.13.0(54657374\r\n2062657269636874)")
          .replace("1-0:31.7.0(", "1-0:31.7.0.255("),
      ),
    );
    expect(objectValue(t, "0-0:96.13.0")).toMatchObject({ value: "Test bericht" });
    expect(t.objects.find((o) => o.obis === "1-0:31.7.0.255")?.def?.id).toBe("emeter_instant_current_l1");
  });

  it("finds the last '!' however many bytes follow it", () => {
    const plain = parseOk(Buffer.from(t50, "latin1"));
    for (const tail of ["", "\r\n", " ".repeat(7), " ".repeat(8), "\r\n".repeat(40)])
      expect(parseOk(Buffer.from(`${t50}${tail}`, "latin1"))).toEqual(plain);
    // A later '!' ends the telegram, wherever it is: the first one's CRC field is then read as a line.
    expectParseError(parseTelegram(Buffer.from(`${t50}${" ".repeat(20)}!`, "latin1")), "MALFORMED_LINE");
  });

  it("rejects input that does not start with '/' or has no '!'", () => {
    expectParseError(parseTelegram(Buffer.from("hello!")), "FRAME_INVALID");
    expectParseError(parseTelegram(Buffer.from("/X\r\n1-0:1.8.1(1)")), "TRUNCATED");
  });
});

function crcOf(text: string): string {
  let c = 0;
  for (const b of Buffer.from(text, "latin1")) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
  }
  return c.toString(16).toUpperCase().padStart(4, "0");
}

describe("parseTelegram: lines repeated from the previous telegram", () => {
  // The parser reuses the previous telegram's lines when they recur verbatim at the same index; a
  // telegram must parse the same whatever came before it.
  const base = fixture("dsmr50.txt").toString("latin1");
  const lines = base
    .slice(base.indexOf("\r\n\r\n") + 4, base.indexOf("!"))
    .split("\r\n")
    .filter(Boolean);
  const header = base.slice(0, base.indexOf("\r\n\r\n") + 4);
  // What may happen to a line from one telegram to the next, by weight out of 100.
  const edits: [number, (l: string) => string][] = [
    [80, (l) => l], // verbatim
    [90, (l) => l.replace(/\d(?=[^(]*\)$)/, (d) => String((Number(d) + 1) % 10))], // a changed digit
    [94, (l) => `${l}(1)`], // one more group
    [97, (l) => `${l}\r\n(7)`], // a group continued on the next line
    [98, (l) => `${l} x`], // text after the value
    [100, () => ""], // left out
  ];
  const edit = (l: string, weight: number) =>
    ((edits.find(([upTo]) => weight < upTo) ?? edits[0]) as [number, (l: string) => string])[1](l);
  const telegram = (choice: readonly number[]) => {
    const body = lines.map((l, i) => edit(l, choice[i] ?? 0));
    const text = `${header}${body.filter(Boolean).join("\r\n")}\r\n!`;
    return Buffer.from(`${text}${formatCrc(crc16(Buffer.from(text, "latin1")))}\r\n`, "latin1");
  };
  const comparable = (r: ParseResult) =>
    r.ok ? r.telegram : { code: r.error.code, message: r.error.message, context: r.error.context };
  const unrelated = Buffer.from("/XYZ5\r\n\r\n9-9:9.9.9(1)\r\n!");

  it("parses a telegram the same after any other telegram as after an unrelated one (property)", () => {
    const choices = fc.array(fc.nat({ max: 99 }), { minLength: lines.length, maxLength: lines.length });
    fc.assert(
      fc.property(choices, choices, (before, now) => {
        parseTelegram(unrelated);
        const cold = comparable(parseTelegram(telegram(now)));
        parseTelegram(telegram(before));
        expect(comparable(parseTelegram(telegram(now)))).toEqual(cold);
      }),
      { numRuns: 300, seed: 8 },
    );
  });
});

describe("parseTelegram: memory of the telegram before", () => {
  // A meter's next telegram repeats most lines verbatim: with the same memory those lines' decoded objects
  // are reused (the same object), and each stream keeps its own memory, so a second meter read in between
  // does not evict the first one's lines.
  const meterA = fixture("dsmr50.txt");
  const meterB = fixture("emucs.txt");
  const objectsOf = (r: ParseResult) => (r.ok ? r.telegram.objects : []);

  it("reuses the repeated lines of the same stream", () => {
    const memory = new ParseMemory();
    const first = objectsOf(parseTelegram(meterA, memory));
    const again = objectsOf(parseTelegram(meterA, memory));
    expect(again).toEqual(first);
    expect(again.every((o, i) => o === first[i])).toBe(true);
  });

  it("a line that changed is decoded again when it repeats, and kept once it repeated twice in a row", () => {
    // Its object is let go once its telegram is out (it usually changes again); the telegram after that
    // reads it again and lets it go again, the one after that reads it and keeps it, the next reuses it.
    // A change in between starts the count over.
    const text = meterA.toString("latin1");
    const body = text.slice(0, text.lastIndexOf("!") + 1);
    const changed = body.replace("1-0:1.8.1(004321.987*kWh)", "1-0:1.8.1(004321.988*kWh)");
    expect(changed).not.toBe(body);
    const withCrc = (b: string) => Buffer.from(`${b}${crcOf(b)}\r\n`, "latin1");
    const memory = new ParseMemory();
    const reference = objectsOf(parseTelegram(withCrc(changed), new ParseMemory()));
    const at = reference.findIndex((o) => o.obis === "1-0:1.8.1");
    objectsOf(parseTelegram(withCrc(body), memory));
    const sequence = [changed, changed, body, changed, changed, changed, changed].map((b) =>
      objectsOf(parseTelegram(withCrc(b), memory)),
    );
    for (const [i, objects] of sequence.entries())
      expect(objects).toEqual(
        i === 2 ? objectsOf(parseTelegram(withCrc(body), new ParseMemory())) : reference,
      );
    const [c1, r1, , c2, r2, kept, again] = sequence;
    // Read anew each time until it repeated in two telegrams in a row (r2, then kept); reused after.
    expect(new Set([c1?.[at], r1?.[at], c2?.[at], r2?.[at], kept?.[at]]).size).toBe(5);
    expect(again?.[at]).toBe(kept?.[at]);
    expect(again?.every((o, i) => o === kept?.[i])).toBe(true);
  });

  it("a reference written with a space before its '(' whose value changes in place reads as afresh", () => {
    // A spelling of its own (its own bare line): changed in place, let go, read again and kept like
    // any other line, its value must always be the one of the bytes at hand.
    const text = meterA.toString("latin1");
    const body = text.slice(0, text.lastIndexOf("!") + 1).replace("1-0:1.8.1(", "1-0:1.8.1 (");
    expect(body).toContain("1-0:1.8.1 (004321.987*kWh)");
    const next = body.replace("(004321.987*kWh)", "(004321.988*kWh)");
    const withCrc = (b: string) => Buffer.from(`${b}${crcOf(b)}\r\n`, "latin1");
    const memory = new ParseMemory();
    for (const b of [body, next, next, body, body, next, next, next]) {
      const t = withCrc(b);
      const r = objectsOf(parseTelegram(t, memory));
      expect(r.find((o) => o.obis === "1-0:1.8.1")?.value).toMatchObject({
        text: b === body ? "004321.987" : "004321.988",
      });
      expect(r).toEqual(objectsOf(parseTelegram(t, new ParseMemory())));
    }
  });

  it("a second meter parsed with its own memory in between leaves the first one's hints alone", () => {
    const memoryA = new ParseMemory();
    const memoryB = new ParseMemory();
    const first = objectsOf(parseTelegram(meterA, memoryA));
    parseTelegram(meterB, memoryB);
    const again = objectsOf(parseTelegram(meterA, memoryA));
    expect(again.every((o, i) => o === first[i])).toBe(true);
    // The same interleaving through one memory: the hints are gone, the results are the same.
    const shared = new ParseMemory();
    const before = objectsOf(parseTelegram(meterA, shared));
    parseTelegram(meterB, shared);
    const after = objectsOf(parseTelegram(meterA, shared));
    expect(after).toEqual(before);
    expect(after.some((o, i) => o !== before[i])).toBe(true);
  });

  it("reads a header that changed at the same length anew, also after a telegram that failed", () => {
    const text = meterA.toString("latin1");
    const body = text.slice(0, text.lastIndexOf("!") + 1);
    const headerEnd = body.indexOf("\r");
    const last = body.charCodeAt(headerEnd - 1);
    const other = `${body.slice(0, headerEnd - 1)}${String.fromCharCode(last === 0x30 ? 0x31 : 0x30)}${body.slice(headerEnd)}`;
    const withCrc = (b: string) => Buffer.from(`${b}${crcOf(b)}\r\n`, "latin1");
    const broken = Buffer.from(`${other.replace("1-0:1.8.1(", "1-0:1.8.1 ")}0000\r\n`, "latin1");
    const memory = new ParseMemory();
    for (const t of [withCrc(body), withCrc(other), withCrc(body), broken, withCrc(other), withCrc(other)]) {
      const r = parseTelegram(t, memory);
      const fresh = parseTelegram(t, new ParseMemory());
      expect(r.ok ? r.telegram.header : r.error.code).toBe(
        fresh.ok ? fresh.telegram.header : fresh.error.code,
      );
    }
    expect(parseTelegram(withCrc(other), memory)).toMatchObject({
      ok: true,
      telegram: { header: other.slice(1, headerEnd) },
    });
  });
});

describe("parseTelegram: a meter's next telegram, compared byte for byte with the one before", () => {
  // Telegrams of the last one's length are compared word by word: the CRC is updated from the words
  // that changed and unchanged lines are taken over. Whatever changed, the result must be the one a
  // fresh memory gives. Chains of telegrams, each derived from the one before by edits that mostly keep
  // the length (as a meter's values do) and sometimes do not; with valid, wrong, odd or no CRCs.
  const bodies = ["dsmr50.txt", "emucs.txt", "smarty.txt", "dsmr40.txt", "dsmr22.txt", "dsmr42.txt"].map(
    (name) => {
      const t = fixture(name).toString("latin1");
      return t.slice(0, t.lastIndexOf("!") + 1);
    },
  );
  // Structure characters, digits, letters, spaces and bytes outside ASCII: any byte may change.
  const ALPHABET = "0123456789()*.:-!/ \r\n\tAZaskW\u0000\u0080\u00ff";
  const sameLengthEdit = fc.oneof(
    // One byte overwritten anywhere in the body.
    fc.record({
      kind: fc.constant("byte" as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      ch: fc.constantFrom(...ALPHABET),
    }),
    // Bytes where lines meet overwritten: from the first of a line back to the ')' before its line end
    // (reading a line looks at the first byte of the next one; a line may end elsewhere or not at all).
    fc.record({
      kind: fc.constant("seam" as const),
      line: fc.nat(60),
      back: fc.nat(3),
      ch: fc.constantFrom(..."( )\r\n0!", "\n0", " (", "\n(", "(0)", "\r\n", ")("),
    }),
    // A digit of some line's value changed (what a meter does every second).
    fc.record({ kind: fc.constant("digit" as const), line: fc.nat(60), d: fc.nat(9) }),
    // Every digit of every value changed (more words than the parser lists).
    fc.record({ kind: fc.constant("values" as const), d: fc.nat(9) }),
    // The '(' after some line's OBIS reference overwritten, or a digit of the reference changed (the
    // parser reuses a changed line's reference when its first changed word comes after the '(').
    fc.record({ kind: fc.constant("paren" as const), line: fc.nat(60), ch: fc.constantFrom(..."0 )*x!") }),
    fc.record({ kind: fc.constant("obis" as const), line: fc.nat(60), nth: fc.nat(7), d: fc.nat(9) }),
    // The M-Bus channel of some sub-meter line moved (another channel, or a device swapped).
    fc.record({ kind: fc.constant("channel" as const), line: fc.nat(60), b: fc.integer({ min: 0, max: 4 }) }),
    // Two lines swap places.
    fc.record({ kind: fc.constant("swap" as const), line: fc.nat(60) }),
    // Another meter on the line (cable moved), padded with blank space to this one's length when shorter.
    fc.record({ kind: fc.constant("meter" as const), which: fc.nat(bodies.length - 1) }),
  );
  const lengthEdit = fc.oneof(
    fc.record({ kind: fc.constant("group" as const), line: fc.nat(60) }),
    fc.record({ kind: fc.constant("drop" as const), line: fc.nat(60) }),
    fc.record({ kind: fc.constant("continued" as const), line: fc.nat(60) }),
    fc.record({
      kind: fc.constant("insert" as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      ch: fc.constantFrom(...ALPHABET),
    }),
  );
  type Edit = typeof sameLengthEdit | typeof lengthEdit extends fc.Arbitrary<infer E> ? E : never;
  const crcMode = fc.constantFrom(
    "valid",
    "valid",
    "valid",
    "noise",
    "noise",
    "wrong",
    "lower",
    "short",
    "none",
    "junk",
  );

  function edit(body: string, e: Edit): string {
    const head = body.indexOf("\n") + 1;
    const lines = body.slice(head, -1).split("\r\n");
    const i = "line" in e ? e.line % lines.length : 0;
    const withLines = (ls: string[]) => `${body.slice(0, head)}${ls.join("\r\n")}!`;
    switch (e.kind) {
      case "byte":
      case "insert": {
        const at = Math.min(body.length - 2, Math.floor(e.at * (body.length - 1)));
        return `${body.slice(0, at)}${e.ch}${body.slice(e.kind === "byte" ? at + 1 : at)}`;
      }
      case "seam": {
        const at = head + lines.slice(0, i).reduce((n, l) => n + l.length + 2, 0) - e.back;
        const end = at + e.ch.length;
        return at < head || end >= body.length ? body : `${body.slice(0, at)}${e.ch}${body.slice(end)}`;
      }
      case "digit":
        lines[i] = (lines[i] as string).replace(/\d(?=[^(]*\)$)/, String(e.d));
        return withLines(lines);
      case "values":
        return body.replace(/\([^()]*\)/g, (v) => v.replace(/\d/g, String(e.d)));
      case "paren":
        lines[i] = (lines[i] as string).replace("(", e.ch);
        return withLines(lines);
      case "obis":
        lines[i] = (lines[i] as string).replace(/^[^(]*/, (ref) => {
          const digits = [...ref.matchAll(/\d/g)].map((m) => m.index);
          const at = digits[e.nth % Math.max(1, digits.length)];
          return at === undefined ? ref : `${ref.slice(0, at)}${e.d}${ref.slice(at + 1)}`;
        });
        return withLines(lines);
      case "channel":
        lines[i] = (lines[i] as string).replace(/^0-\d:/, `0-${e.b}:`);
        return withLines(lines);
      case "swap": {
        const j = (i + 1) % lines.length;
        [lines[i], lines[j]] = [lines[j] as string, lines[i] as string];
        return withLines(lines);
      }
      case "meter": {
        const other = bodies[e.which] as string;
        if (other.length > body.length) return body;
        const pad = body.length - other.length;
        return `${other.slice(0, -1)}${" ".repeat(pad)}!`;
      }
      case "group":
        lines[i] = `${lines[i]}(1)`;
        return withLines(lines);
      case "drop":
        lines.splice(i, 1);
        return withLines(lines);
      case "continued":
        lines[i] = `${lines[i]}\r\n(7)`;
        return withLines(lines);
    }
  }

  /** The telegram with a CRC field as `mode` says; "noise" is the CRC of `sent`, the body before noise changed it. */
  function withCrc(body: string, mode: string, sent: string): Buffer {
    const crc = formatCrc(crc16(Buffer.from(body, "latin1")));
    const field = {
      valid: crc,
      noise: formatCrc(crc16(Buffer.from(sent, "latin1"))),
      wrong: formatCrc(Number.parseInt(crc, 16) ^ 0x0101),
      lower: crc.toLowerCase(),
      short: crc.replace(/^0+(?=.)/, ""),
      none: "",
      junk: "G00D",
    }[mode];
    return Buffer.from(`${body}${field}\r\n`, "latin1");
  }

  const comparable = (r: ParseResult) =>
    r.ok ? r.telegram : { code: r.error.code, message: r.error.message, context: r.error.context };
  const step = fc.record({
    edits: fc.array(
      fc.oneof({ weight: 6, arbitrary: sameLengthEdit }, { weight: 1, arbitrary: lengthEdit }),
      { minLength: 0, maxLength: 4 },
    ),
    crc: crcMode,
  });

  it("a line that ended the last telegram and is followed by more now reads as it does fresh", () => {
    // A '!' ended the line before; now another '!' follows, so that one is the end and the line is not.
    const memory = new ParseMemory();
    parseTelegram(Buffer.from("/X\r\n\r\n1-0:1.8.1(1)!", "latin1"), memory);
    const now = Buffer.from("/X\r\n\r\n1-0:1.8.1(1)! x\r\n!", "latin1");
    expect(comparable(parseTelegram(now, memory))).toEqual(comparable(parseTelegram(now, new ParseMemory())));
  });

  it("a reference changed in place that decides the version detects it anew", () => {
    // e-MUCS is told by 0-0:96.1.4; its value changed too, so the line is read again in place.
    const memory = new ParseMemory();
    const body = bodies[1] as string;
    parseTelegram(withCrc(body, "valid", body), memory);
    const now = withCrc(body.replace("0-0:96.1.4(50217)", "0-0:96.1.5(50218)"), "valid", body);
    const fresh = comparable(parseTelegram(now, new ParseMemory()));
    expect(fresh).toMatchObject({ version: null });
    expect(comparable(parseTelegram(now, memory))).toEqual(fresh);
  });

  it("parses every telegram of a chain as a fresh memory does (property)", () => {
    fc.assert(
      fc.property(
        fc.nat(bodies.length - 1),
        fc.array(step, { minLength: 2, maxLength: 8 }),
        (first, steps) => {
          const memory = new ParseMemory();
          let body = bodies[first] as string;
          // Every result with a deep copy taken when it came: a later telegram must not change one.
          const kept: [Telegram, Telegram][] = [];
          for (const s of steps) {
            const sent = body;
            body = s.edits.reduce(edit, body);
            const bytes = withCrc(body, s.crc, sent);
            const result = parseTelegram(bytes, memory);
            expect(comparable(result)).toEqual(comparable(parseTelegram(bytes, new ParseMemory())));
            if (result.ok) kept.push([result.telegram, structuredClone(result.telegram)]);
          }
          for (const [telegram, copy] of kept) expect(telegram).toEqual(copy);
        },
      ),
      { numRuns: 1500, seed: 88 },
    );
  });
});
