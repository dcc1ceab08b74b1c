"""Browses mDNS with python-zeroconf (the library Home Assistant uses) and prints one JSON line per event.

Usage: zeroconf_browse.py INTERFACE_ADDRESS SECONDS TYPE...
Run by test/integration/mdns-netns.test.ts inside a network namespace it created, never on the host network.
"""

import json
import sys
import time

from zeroconf import ServiceBrowser, ServiceListener, Zeroconf


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class Listener(ServiceListener):
    def _resolve(self, zc: Zeroconf, type_: str, name: str, event: str) -> None:
        info = zc.get_service_info(type_, name, 3000)
        if info is None:
            emit("unresolved", type=type_, name=name)
            return
        emit(
            event,
            type=type_,
            name=name,
            server=info.server,
            addresses=info.parsed_addresses(),
            port=info.port,
            txt={k.decode(): (v or b"").decode() for k, v in info.properties.items()},
        )

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self._resolve(zc, type_, name, "add")

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self._resolve(zc, type_, name, "update")

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        emit("remove", type=type_, name=name)


def main() -> None:
    interface, seconds, types = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    zc = Zeroconf(interfaces=[interface])
    browsers = [ServiceBrowser(zc, t, Listener()) for t in types]
    emit("ready")
    try:
        time.sleep(seconds)
    finally:
        for b in browsers:
            b.cancel()
        zc.close()


if __name__ == "__main__":
    main()
