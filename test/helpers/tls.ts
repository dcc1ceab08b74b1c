import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** PEM files of a throw-away PKI, made by the `openssl` CLI (node:crypto cannot make X.509 certificates). */
export interface TestPki {
  readonly dir: string;
  /** Paths of the PEM files. */
  readonly files: {
    readonly ca: string;
    readonly serverCert: string;
    readonly serverKey: string;
    readonly clientCert: string;
    readonly clientKey: string;
    readonly otherCa: string;
    readonly strangerCert: string;
    readonly strangerKey: string;
  };
  /** Contents of the same files. */
  readonly pem: Readonly<Record<keyof TestPki["files"], Buffer>>;
  remove(): void;
}

let opensslFound: boolean | undefined;

/** Whether the openssl CLI can run here; says once, on stderr, that the TLS tests are skipped if not. */
export function hasOpenssl(): boolean {
  if (opensslFound === undefined) {
    try {
      execFileSync("openssl", ["version"], { stdio: "ignore" });
      opensslFound = true;
    } catch {
      opensslFound = false;
      process.stderr.write(
        "gRPC TLS tests skipped: the openssl CLI is not installed (apt-get install openssl)\n",
      );
    }
  }
  return opensslFound;
}

function openssl(dir: string, args: readonly string[]): void {
  execFileSync("openssl", [...args], { cwd: dir, stdio: ["ignore", "ignore", "pipe"], timeout: 20_000 });
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/**
 * TEST-ONLY PKI: a CA, a server certificate for 127.0.0.1/localhost and a client certificate it signed,
 * and an unrelated CA with a "stranger" client certificate. Valid for 2 days, written to a temp dir.
 */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "p1-pki-"));
  const selfSigned = (name: string, cn: string) =>
    openssl(dir, [
      "req",
      "-x509",
      ...EC,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=${cn}`,
    ]);
  const signed = (name: string, cn: string, ext: string, ca: string) => {
    writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
    openssl(dir, ["req", ...EC, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`]);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.pem`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ]);
  };
  selfSigned("ca", "p1-gateway test CA");
  selfSigned("other-ca", "unrelated test CA");
  signed("server", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost", "ca");
  signed("client", "test client", "extendedKeyUsage=clientAuth", "ca");
  signed("stranger", "stranger", "extendedKeyUsage=clientAuth", "other-ca");
  const files = {
    ca: join(dir, "ca.pem"),
    serverCert: join(dir, "server.pem"),
    serverKey: join(dir, "server.key"),
    clientCert: join(dir, "client.pem"),
    clientKey: join(dir, "client.key"),
    otherCa: join(dir, "other-ca.pem"),
    strangerCert: join(dir, "stranger.pem"),
    strangerKey: join(dir, "stranger.key"),
  };
  const pem = Object.fromEntries(Object.entries(files).map(([k, p]) => [k, readFileSync(p)])) as Record<
    keyof typeof files,
    Buffer
  >;
  return { dir, files, pem, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
