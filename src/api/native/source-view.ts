import { EventEmitter } from "node:events";
import type {
  EntityInfo,
  EntityState,
  GatewayEvents,
  GatewayInfo,
  GatewayView,
  LinkState,
  TelegramEvent,
} from "../../gateway/types.ts";

/** The events a SourceView passes on. */
const ROUTED = ["state", "entities", "telegram", "link"] as const;
type Routed = (typeof ROUTED)[number];
const isRouted = (event: string | symbol): event is Routed => (ROUTED as readonly unknown[]).includes(event);

/**
 * Routes a gateway's events to the SourceViews of their source: one listener per event on the gateway
 * however many sources it has, and only while some view has a listener for that event. A listener per
 * view would make every event cost O(sources), and a gateway of thousands of meters O(sources²) per
 * round of telegrams; a device without clients (most of them) listens to nothing and costs nothing.
 */
class SourceRouter {
  readonly #view: GatewayView;
  /** Per event: source id → the views listening for it. */
  readonly #routes = new Map<Routed, Map<string, Set<SourceView>>>();

  constructor(view: GatewayView) {
    this.#view = view;
  }

  /** `target` has its first listener for `event`. */
  add(event: Routed, sourceId: string, target: SourceView): void {
    let bySource = this.#routes.get(event);
    if (bySource === undefined) {
      bySource = new Map();
      this.#routes.set(event, bySource);
      this.#view.on(event, this.#handlers[event]);
    }
    const set = bySource.get(sourceId) ?? new Set<SourceView>();
    bySource.set(sourceId, set);
    set.add(target);
  }

  /** `target` has no listener for `event` any more. */
  remove(event: Routed, sourceId: string, target: SourceView): void {
    const bySource = this.#routes.get(event);
    const set = bySource?.get(sourceId);
    if (bySource === undefined || set === undefined || !set.delete(target)) return;
    if (set.size === 0) bySource.delete(sourceId);
    if (bySource.size > 0) return;
    this.#routes.delete(event);
    this.#view.off(event, this.#handlers[event]);
    if (this.#routes.size === 0) routers.delete(this.#view);
  }

  #emit(event: Routed, sourceId: string | undefined, emit: (v: SourceView) => void): void {
    const set = sourceId === undefined ? undefined : this.#routes.get(event)?.get(sourceId);
    if (set !== undefined) for (const v of set) emit(v);
  }

  readonly #handlers = {
    state: (s: EntityState, entity: EntityInfo): void =>
      this.#emit("state", entity.sourceId, (v) => v.emit("state", s, entity)),
    entities: (list: readonly EntityInfo[]): void => {
      const listening = this.#routes.get("entities");
      const bySource = new Map<string, EntityInfo[]>();
      for (const e of list) {
        if (!listening?.has(e.sourceId)) continue;
        const mine = bySource.get(e.sourceId);
        if (mine === undefined) bySource.set(e.sourceId, [e]);
        else mine.push(e);
      }
      for (const [sourceId, mine] of bySource)
        this.#emit("entities", sourceId, (v) => v.emit("entities", mine));
    },
    telegram: (t: TelegramEvent): void => this.#emit("telegram", t.sourceId, (v) => v.emit("telegram", t)),
    link: (sourceId: string, state: LinkState): void =>
      this.#emit("link", sourceId, (v) => v.emit("link", sourceId, state)),
  };
}

/** One router per gateway view, made when a SourceView of it is first listened to, dropped with the last. */
const routers = new Map<GatewayView, SourceRouter>();

/**
 * The part of a gateway that belongs to one source, as a GatewayView of its own: a gateway with
 * several sources serves each as its own native-API device (own port, name and MAC), so Home Assistant
 * shows one device per meter connection. Counters and client bookkeeping stay the gateway's.
 */
export class SourceView extends EventEmitter<GatewayEvents> implements GatewayView {
  readonly #view: GatewayView;
  readonly #sourceId: string;
  #closed = false;

  constructor(view: GatewayView, sourceId: string) {
    super();
    // Like the gateway: every client adds listeners, the default cap of 10 is no limit here.
    this.setMaxListeners(0);
    this.#view = view;
    this.#sourceId = sourceId;
    // 'newListener' comes before the listener is added, 'removeListener' after it is gone; both are
    // EventEmitter's own events, outside the typed GatewayEvents map.
    const self = this as unknown as EventEmitter;
    self.on("newListener", (event: string | symbol) => {
      if (this.#closed || !isRouted(event) || this.listenerCount(event) > 0) return;
      const router = routers.get(view) ?? new SourceRouter(view);
      routers.set(view, router);
      router.add(event, sourceId, this);
    });
    self.on("removeListener", (event: string | symbol) => {
      if (isRouted(event) && this.listenerCount(event) === 0)
        routers.get(view)?.remove(event, sourceId, this);
    });
  }

  /** The source this view shows. */
  get sourceId(): string {
    return this.#sourceId;
  }

  info(): GatewayInfo {
    const info = this.#view.info(this.#sourceId);
    return { ...info, sources: info.sources.filter((s) => s.id === this.#sourceId) };
  }

  entities(): readonly EntityInfo[] {
    return this.#view.entities(this.#sourceId);
  }

  states(): readonly EntityState[] {
    return this.#view.states(this.#sourceId);
  }

  entity(id: string): EntityInfo | undefined {
    const e = this.#view.entity(id);
    return e?.sourceId === this.#sourceId ? e : undefined;
  }

  state(id: string): EntityState | undefined {
    return this.entity(id) === undefined ? undefined : this.#view.state(id);
  }

  clientConnected(): void {
    this.#view.clientConnected();
  }

  clientDisconnected(): void {
    this.#view.clientDisconnected();
  }

  countCoalesced(n: number): void {
    this.#view.countCoalesced(n);
  }

  /** Stops following the gateway's events; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const event of ROUTED) routers.get(this.#view)?.remove(event, this.#sourceId, this);
  }
}
