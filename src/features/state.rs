//! Per-entity state and the one function that turns an event and that state into the model's
//! features. Training (point in time, over a sorted file) and the stream (events and labels
//! from topics) both call [`Computer::event`] on the same stores, so they give the same
//! numbers to the last bit: the sums run over the same entries in the same order.
//!
//! Window bounds (docs/features.md): an aggregate over events with window `w` covers
//! (t - w, t], events at the same instant that came earlier included; with `current = false`
//! the event itself is left out. A label aggregate covers events in
//! (t - (delay + w), t - delay] whose label is known by t.

use std::collections::VecDeque;

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use super::spec::{Aggregate, Feature, LabelAggregate, MAX_LABEL_WINDOWS, Spec};

/// One event as the features read it.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Milliseconds since 1970-01-01 UTC.
    pub time: i64,
    /// Per entity of the spec, its key in canonical text (None when the cell is empty).
    pub keys: &'a [Option<&'a str>],
    /// The spec's numeric columns ([`Spec::numbers`]); NaN for missing.
    pub numbers: &'a [f64],
    /// The spec's text columns ([`Spec::texts`]), hashed with [`text_hash`].
    pub texts: &'a [u64],
}

/// A label: the event it belongs to, and when it became known.
#[derive(Debug, Clone, Copy)]
pub struct Label<'a> {
    pub time: i64,
    pub known_at: i64,
    pub keys: &'a [Option<&'a str>],
    pub fraud: bool,
}

/// One entity's recent events, oldest first: their times and the values the aggregates read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub times: VecDeque<i64>,
    /// `numbers` values per event, event after event.
    pub values: VecDeque<f64>,
    /// `texts` hashes per event, event after event.
    pub hashes: VecDeque<u64>,
}

impl History {
    pub fn len(&self) -> usize {
        self.times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }
}

/// One entity's labelled events, by event time: (event time, known at, fraud).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelHistory {
    pub entries: VecDeque<(i64, i64, bool)>,
}

/// Per entity of the spec, each key's history of events.
#[derive(Debug, Clone, Default)]
pub struct EventStore {
    pub maps: Vec<HashMap<Box<str>, History>>,
}

/// Per entity of the spec, each key's labelled events.
#[derive(Debug, Clone, Default)]
pub struct LabelStore {
    pub maps: Vec<HashMap<Box<str>, LabelHistory>>,
}

impl EventStore {
    pub fn new(spec: &Spec) -> EventStore {
        EventStore { maps: vec![HashMap::default(); spec.entities().len()] }
    }

    /// Events held, over every key.
    pub fn entries(&self) -> usize {
        self.maps.iter().flat_map(|m| m.values()).map(History::len).sum()
    }

    /// Forgets the events older than `before` (keys with nothing left go).
    pub fn expire(&mut self, spec: &Spec, now: i64) {
        for (e, map) in self.maps.iter_mut().enumerate() {
            let before = now.saturating_sub(spec.horizon[e].ms());
            map.retain(|_, h| {
                trim_front(h, before, spec.numbers.len(), spec.texts.len());
                !h.is_empty()
            });
        }
    }
}

impl LabelStore {
    pub fn new(spec: &Spec) -> LabelStore {
        LabelStore { maps: vec![HashMap::default(); spec.entities().len()] }
    }

    pub fn entries(&self) -> usize {
        self.maps.iter().flat_map(|m| m.values()).map(|h| h.entries.len()).sum()
    }

    /// Forgets the labels no event at or after `now` can read.
    pub fn expire(&mut self, spec: &Spec, now: i64) {
        for (e, map) in self.maps.iter_mut().enumerate() {
            let before = now.saturating_sub(spec.delay.ms() + spec.label_horizon[e].ms());
            map.retain(|_, h| {
                while h.entries.front().is_some_and(|&(t, _, _)| t <= before) {
                    h.entries.pop_front();
                }
                !h.entries.is_empty()
            });
        }
    }
}

/// Drops the events at or before `before`.
fn trim_front(h: &mut History, before: i64, numbers: usize, texts: usize) {
    while h.times.front().is_some_and(|&t| t <= before) {
        h.times.pop_front();
        h.values.drain(..numbers);
        h.hashes.drain(..texts);
    }
}

/// Computes features; holds the spec and which entities each store keeps.
#[derive(Debug, Clone)]
pub struct Computer {
    spec: Arc<Spec>,
    /// Per entity, the distinct windows of its label aggregates, shortest first.
    label_windows: Vec<Vec<i64>>,
    event_entities: Vec<bool>,
    label_entities: Vec<bool>,
}

impl Computer {
    pub fn new(spec: Arc<Spec>) -> Computer {
        let n = spec.entities().len();
        let mut event_entities = vec![false; n];
        let mut label_entities = vec![false; n];
        for e in spec.event_entities() {
            event_entities[e] = true;
        }
        for e in spec.label_entities() {
            label_entities[e] = true;
        }
        let mut label_windows = vec![Vec::new(); n];
        for f in &spec.features {
            if let Feature::Labels { entity, window, .. } = *f
                && !label_windows[entity].contains(&window.ms())
            {
                label_windows[entity].push(window.ms());
            }
        }
        label_windows.iter_mut().for_each(|w| w.sort_unstable());
        Computer { spec, label_windows, event_entities, label_entities }
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// Adds a label to the entities that aggregate labels.
    pub fn label(&self, labels: &mut LabelStore, label: &Label<'_>) {
        for (e, key) in label.keys.iter().enumerate() {
            let (true, Some(key)) = (self.label_entities[e], key) else { continue };
            let map = &mut labels.maps[e];
            if !map.contains_key(*key) {
                map.insert(Box::from(*key), LabelHistory::default());
            }
            let Some(h) = map.get_mut(*key) else { continue };
            add_label(h, label.time, label.known_at, label.fraud);
        }
    }

    /// Adds the event to its entities' histories, then writes its features into `out` (one per
    /// spec feature, NaN where a value is undefined). The stream's way: every store at hand.
    pub fn event(&self, events: &mut EventStore, labels: &LabelStore, event: &Event<'_>, out: &mut [f64]) {
        self.plain(event, out);
        for (e, key) in event.keys.iter().enumerate() {
            if self.event_entities[e] {
                let map = &mut events.maps[e];
                let h = match key {
                    Some(key) if map.contains_key(*key) => map.get_mut(*key),
                    Some(key) => Some(map.entry(Box::from(*key)).or_default()),
                    None => None,
                };
                self.entity_event(e, h, event, out);
            }
            if self.label_entities[e] {
                self.entity_labels(e, key.and_then(|k| labels.maps[e].get(k)), event.time, out);
            }
        }
    }

    /// The features that need no history: raw values and the calendar.
    pub fn plain(&self, event: &Event<'_>, out: &mut [f64]) {
        let spec = &*self.spec;
        for (j, feature) in spec.features.iter().enumerate() {
            match *feature {
                Feature::Raw { column } => out[j] = event.numbers[column],
                Feature::Calendar(kind) => out[j] = spec.zone.calendar(kind, event.time),
                Feature::Window { .. } | Feature::Labels { .. } => {}
            }
        }
    }

    /// Adds the event to entity `e`'s history `h` (None: the event has no key for it, so no
    /// past), then writes the features over that entity's events.
    pub fn entity_event(&self, e: usize, h: Option<&mut History>, event: &Event<'_>, out: &mut [f64]) {
        let spec = &*self.spec;
        let (nn, nt) = (spec.numbers.len(), spec.texts.len());
        let lone;
        let (h, i) = match h {
            Some(h) => {
                let i = insert(h, event, spec.horizon[e].ms(), nn, nt);
                (&*h, i)
            }
            None => {
                lone = alone(event);
                (&lone, 0)
            }
        };
        for (j, feature) in spec.features.iter().enumerate() {
            if let Feature::Window { entity, window, current, aggregate } = *feature
                && entity == e
            {
                out[j] = window_value(h, i, event, window.ms(), current, aggregate, nn, nt);
            }
        }
    }

    /// Writes the features over entity `e`'s labels `h` for an event at `t`.
    pub fn entity_labels(&self, e: usize, h: Option<&LabelHistory>, t: i64, out: &mut [f64]) {
        let spec = &*self.spec;
        let windows = &self.label_windows[e];
        // Every window of the entity ends at t - delay: one backward pass counts them all,
        // shortest first.
        let mut counts = [(0u32, 0u32); MAX_LABEL_WINDOWS];
        if let Some(h) = h {
            let d = spec.delay.ms();
            let hi = h.entries.partition_point(|&(s, _, _)| s <= t - d);
            let mut entries = h.entries.range(..hi).rev().peekable();
            let (mut count, mut frauds) = (0u32, 0u32);
            for (k, w) in windows.iter().enumerate() {
                let start = t - d - w;
                while let Some(&&(s, known, fraud)) = entries.peek() {
                    if s <= start {
                        break;
                    }
                    entries.next();
                    // A label that came in early (ahead of this event) is not known yet.
                    let counts = u32::from(known <= t);
                    count += counts;
                    frauds += counts & u32::from(fraud);
                }
                counts[k] = (count, frauds);
            }
        }
        for (j, feature) in spec.features.iter().enumerate() {
            let Feature::Labels { entity, window, aggregate } = *feature else { continue };
            if entity == e {
                let k = windows.iter().position(|&w| w == window.ms()).unwrap_or(0);
                out[j] = label_value(counts[k], aggregate);
            }
        }
    }
}

/// Adds a label at its place by event time (after those of the same time).
pub fn add_label(h: &mut LabelHistory, time: i64, known_at: i64, fraud: bool) {
    let at = if h.entries.back().is_none_or(|&(t, _, _)| t <= time) {
        h.entries.len()
    } else {
        h.entries.partition_point(|&(t, _, _)| t <= time)
    };
    h.entries.insert(at, (time, known_at, fraud));
}

/// Puts the event in `h` after those of its time or earlier, and forgets what no event from
/// it on can read (older than the entity's longest window); returns the event's place.
fn insert(h: &mut History, event: &Event<'_>, horizon: i64, nn: usize, nt: usize) -> usize {
    let i = if h.times.back().is_none_or(|&t| t <= event.time) {
        h.times.len()
    } else {
        h.times.partition_point(|&t| t <= event.time)
    };
    h.times.insert(i, event.time);
    for (k, v) in event.numbers.iter().enumerate() {
        h.values.insert(i * nn + k, *v);
    }
    for (k, v) in event.texts.iter().enumerate() {
        h.hashes.insert(i * nt + k, *v);
    }
    let before = event.time.saturating_sub(horizon);
    let mut dropped = 0;
    while h.times.front().is_some_and(|&t| t <= before) {
        h.times.pop_front();
        h.values.drain(..nn);
        h.hashes.drain(..nt);
        dropped += 1;
    }
    i - dropped
}

/// A history holding only this event: an entity with no key has no past.
fn alone(event: &Event<'_>) -> History {
    History {
        times: VecDeque::from([event.time]),
        values: event.numbers.iter().copied().collect(),
        hashes: event.texts.iter().copied().collect(),
    }
}

/// An aggregate over the events of `h` in (t - w, t], where `i` is the event's own place.
#[allow(clippy::too_many_arguments)]
fn window_value(
    h: &History,
    i: usize,
    event: &Event<'_>,
    w: i64,
    current: bool,
    aggregate: Aggregate,
    nn: usize,
    nt: usize,
) -> f64 {
    // Scanned back from the event: a window holds few events, fewer than a binary search's steps cost.
    let mut lo = i;
    while lo > 0 && h.times[lo - 1] > event.time - w {
        lo -= 1;
    }
    let range = if current { lo..i + 1 } else { lo..i };
    let n = range.len();
    let value = |k: usize, column: usize| h.values[k * nn + column];
    let sum = |column: usize| range.clone().map(|k| value(k, column)).sum::<f64>();
    let mean = |column: usize| if n == 0 { f64::NAN } else { sum(column) / n as f64 };
    let std = |column: usize| {
        if n < 2 {
            return f64::NAN;
        }
        let m = mean(column);
        let ss: f64 = range.clone().map(|k| (value(k, column) - m).powi(2)).sum();
        (ss / (n - 1) as f64).sqrt()
    };
    match aggregate {
        Aggregate::Count => n as f64,
        Aggregate::Sum { column } => sum(column),
        Aggregate::Mean { column } => mean(column),
        Aggregate::Min { column } => range.clone().map(|k| value(k, column)).reduce(f64::min).unwrap_or(f64::NAN),
        Aggregate::Max { column } => range.clone().map(|k| value(k, column)).reduce(f64::max).unwrap_or(f64::NAN),
        Aggregate::Std { column } => std(column),
        Aggregate::Distinct { text } => {
            let mut seen: Vec<u64> = range.clone().map(|k| h.hashes[k * nt + text]).collect();
            seen.sort_unstable();
            seen.dedup();
            seen.len() as f64
        }
        Aggregate::SincePrevious => {
            if i > lo {
                (event.time - h.times[i - 1]) as f64 / 1000.0
            } else {
                f64::NAN
            }
        }
        Aggregate::RatioToMean { column } => {
            let m = mean(column);
            if m == 0.0 { f64::NAN } else { event.numbers[column] / m }
        }
        Aggregate::ZScore { column } => {
            let s = std(column);
            if s.is_nan() || s == 0.0 { f64::NAN } else { (event.numbers[column] - mean(column)) / s }
        }
    }
}

fn label_value((count, frauds): (u32, u32), aggregate: LabelAggregate) -> f64 {
    match aggregate {
        LabelAggregate::Count => f64::from(count),
        LabelAggregate::Frauds => f64::from(frauds),
        LabelAggregate::Rate if count == 0 => 0.0,
        LabelAggregate::Rate => f64::from(frauds) / f64::from(count),
    }
}

/// 64-bit FNV-1a of a category's canonical text: what `distinct` compares. Written here, not
/// taken from std: std's hasher may change between Rust releases, and these hashes are kept
/// in state topics.
pub fn text_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
