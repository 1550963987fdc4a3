/**
 * Metric series read when metrics are exported (`Metric.registerUnsafe`), not pushed on every
 * event: a peer only counts in plain fields, and nothing runs per message for metrics.
 *
 * Many sources (every connection of a server, every peer with the same name) share one series
 * per attribute set: a gauge is the sum over the live sources; a counter adds what sources that
 * went away had counted, so it never goes down.
 */
import { Context, Metric } from "effect"

/** One series of a family: a counter or gauge, its own attributes, and how to read it from a source. */
export interface Series<S> {
  readonly metric: Metric.Counter<number> | Metric.Gauge<number>
  readonly attributes?: Readonly<Record<string, string>> | undefined
  readonly read: (state: S) => number
}

/** The series that one kind of source (a peer, a server, a bridge client) feeds. */
export interface Family<S> {
  readonly id: string
  readonly series: ReadonlyArray<Series<S>>
}

interface Group<S> {
  readonly sources: Set<() => S>
  /** Per series: what released sources had counted (counters only). */
  readonly retired: Array<number>
}

const groups = new WeakMap<Metric.MetricRegistry, Map<string, Group<unknown>>>()

const keyOf = (id: string, attributes: Readonly<Record<string, string>>) =>
  JSON.stringify([id, Object.entries(attributes).toSorted(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))])

const noop = () => {}

/**
 * Adds `source` to `family`'s series under `attributes` (merged over the context's
 * `Metric.CurrentMetricAttributes`), in the context's `Metric.MetricRegistry`. Returns the
 * release: the source stops being read, and its counters' last values stay in the totals.
 */
export const attach = <S>(
  family: Family<S>,
  context: Context.Context<never>,
  attributes: Readonly<Record<string, string>>,
  source: () => S
): () => void => {
  const registry = Context.get(context, Metric.MetricRegistry)
  const merged = { ...Context.get(context, Metric.CurrentMetricAttributes), ...attributes }
  let byKey = groups.get(registry)
  if (byKey === undefined) {
    byKey = new Map()
    groups.set(registry, byKey)
  }
  const key = keyOf(family.id, merged)
  let group = byKey.get(key) as Group<S> | undefined
  if (group === undefined) {
    group = { sources: new Set(), retired: family.series.map(() => 0) }
    byKey.set(key, group as Group<unknown>)
  }
  const { sources, retired } = group
  // Registered again on every attach (cheap), so a series someone removed comes back.
  family.series.forEach((series, i) => {
    const seriesContext = Context.add(context, Metric.CurrentMetricAttributes, { ...merged, ...series.attributes })
    const sum = (start: number) => {
      let total = start
      for (const read of sources) total += series.read(read())
      return total
    }
    if (series.metric.type === "Counter") {
      Metric.registerUnsafe(series.metric as Metric.Counter<number>, seriesContext, {
        get: () => ({ count: sum(retired[i]!), incremental: true }),
        update: noop,
        modify: noop
      })
    } else {
      Metric.registerUnsafe(series.metric as Metric.Gauge<number>, seriesContext, {
        get: () => ({ value: sum(0) }),
        update: noop,
        modify: noop
      })
    }
  })
  sources.add(source)
  return () => {
    if (!sources.delete(source)) return
    const last = source()
    family.series.forEach((series, i) => {
      if (series.metric.type === "Counter") retired[i] = retired[i]! + series.read(last)
    })
  }
}
