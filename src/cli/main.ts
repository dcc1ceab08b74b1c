import { UsageError } from "./common.ts";
import { DIAGNOSTICS_HELP, runDiagnostics } from "./diagnostics.ts";
import { DISCOVER_HELP, runDiscover } from "./discover.ts";
import { PARSE_HELP, runParse } from "./parse.ts";
import { PORTS_HELP, runPorts } from "./ports.ts";
import { PROBE_HELP, runProbe } from "./probe.ts";
import { runServe, SERVE_HELP } from "./serve.ts";
import { runSimulate, SIMULATE_HELP } from "./simulate.ts";

const HELP = `Usage: p1-gateway <command> [options]

Reads Dutch (DSMR), Belgian (e-MUCS) and Luxembourg (Smarty) smart meters from their P1 port.

Commands:
  parse [FILE|-]    parse telegrams from a file or stdin and print them as JSON lines
  simulate          write simulated meter telegrams to stdout, a file, TCP, a serial port or a pty
  serve             read a meter (or the embedded simulator) and serve it over gRPC and the ESPHome API
  ports             list serial ports, marking likely P1 cables
  probe TARGET      read a serial port or HOST:PORT for a while and report what the meter sends
  diagnostics       print a running gateway's redacted diagnostics bundle, for bug reports
  discover          list p1-gateways and ESPHome devices announced over mDNS, as JSON lines

Run 'p1-gateway <command> --help' for a command's options.`;

type Command = (argv: readonly string[], out: (line: string) => void) => number | Promise<number>;

const COMMANDS: Readonly<Record<string, { run: Command; help: string }>> = {
  parse: { run: runParse, help: PARSE_HELP },
  simulate: { run: runSimulate, help: SIMULATE_HELP },
  serve: { run: runServe, help: SERVE_HELP },
  ports: { run: runPorts, help: PORTS_HELP },
  probe: { run: runProbe, help: PROBE_HELP },
  diagnostics: { run: runDiagnostics, help: DIAGNOSTICS_HELP },
  discover: { run: runDiscover, help: DISCOVER_HELP },
};

/** Entry point: dispatches to a command and maps errors to exit codes (2 = usage/config). */
export async function main(argv: readonly string[]): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    out(HELP);
    return name === undefined ? 2 : 0;
  }
  // Own keys only: "constructor" or "toString" is an unknown command, not Object.prototype's.
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(`p1-gateway: unknown command ${JSON.stringify(name)}\n\n${HELP}\n`);
    return 2;
  }
  try {
    return await command.run(rest, out);
  } catch (e) {
    if (e instanceof UsageError || isArgError(e)) {
      process.stderr.write(`p1-gateway ${name}: ${(e as Error).message}\n`);
      return 2;
    }
    throw e;
  }
}

function isArgError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
}
