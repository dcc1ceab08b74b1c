import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describePort, formatPort, readByIdLinks } from "../../src/cli/ports.ts";
import { runCli } from "../helpers/cli.ts";

describe("ports", { timeout: 30_000 }, () => {
  it("marks the chips P1 cables use and joins the by-id link", () => {
    const byId = new Map([["/dev/ttyUSB0", "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10KXYZ-if00-port0"]]);
    const ftdi = describePort(
      {
        path: "/dev/ttyUSB0",
        manufacturer: "FTDI",
        vendorId: "0403",
        productId: "6001",
        serialNumber: "A10KXYZ",
      },
      byId,
    );
    expect(ftdi).toEqual({
      path: "/dev/ttyUSB0",
      manufacturer: "FTDI",
      vendor_id: "0403",
      product_id: "6001",
      serial_number: "A10KXYZ",
      by_id: "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10KXYZ-if00-port0",
      p1_cable: "FTDI FT232R",
    });
    expect(formatPort(ftdi)).toBe(
      "/dev/ttyUSB0  FTDI  0403:6001  serial A10KXYZ  /dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10KXYZ-if00-port0  likely P1 cable (FTDI FT232R)",
    );
    // Upper-case ids (macOS, Windows) match too.
    expect(describePort({ path: "COM3", vendorId: "1A86", productId: "7523" }, new Map()).p1_cable).toBe(
      "WCH CH340",
    );
    const modem = describePort({ path: "/dev/ttyACM0", vendorId: "1546", productId: "01a8" }, new Map());
    expect(modem.p1_cable).toBeNull();
    expect(modem.by_id).toBeNull();
    expect(formatPort(describePort({ path: "/dev/ttyAMA0" }, new Map()))).toBe("/dev/ttyAMA0");
  });

  it("reads by-id links to the devices they point at; a missing directory gives none", () => {
    const dir = mkdtempSync(join(tmpdir(), "p1-by-id-"));
    try {
      mkdirSync(join(dir, "dev"));
      writeFileSync(join(dir, "dev", "ttyUSB0"), "");
      mkdirSync(join(dir, "by-id"));
      symlinkSync(join(dir, "dev", "ttyUSB0"), join(dir, "by-id", "usb-FTDI-port0"));
      symlinkSync(join(dir, "dev", "gone"), join(dir, "by-id", "usb-dangling"));
      expect([...readByIdLinks(join(dir, "by-id"))]).toEqual([
        [join(dir, "dev", "ttyUSB0"), join(dir, "by-id", "usb-FTDI-port0")],
      ]);
      expect(readByIdLinks(join(dir, "absent")).size).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("runs: exit 0, and every --json line parses", async () => {
    const text = await runCli(["ports"]);
    expect(text.code, text.stderr).toBe(0);
    const json = await runCli(["ports", "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const lines = json.stdout
      .toString()
      .split("\n")
      .filter((l) => l !== "");
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty("path");
    const help = await runCli(["ports", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout.toString()).toContain("Usage: p1-gateway ports");
  });
});
