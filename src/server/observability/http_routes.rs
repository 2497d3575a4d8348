//! Requests counted by route, method and status, and timed by route, without a lock on the
//! request path. The route set is fixed when the router is built, so each route's counters are
//! made once and found by index; prometheus-client's `Family` would look the series up in a map
//! behind a lock on every request instead.

use std::{
    collections::HashMap,
    fmt,
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering},
        Arc, Mutex, OnceLock, PoisonError,
    },
    time::Duration,
};

use axum::http::Method;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet},
    metrics::MetricType,
};

use super::{histogram::DurationHistogram, sharded::Sharded};

/// The standard methods by name; any other is `other`, so a client cannot add series.
const METHODS: [&str; 10] = [
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "other",
];

fn method_number(method: &Method) -> u32 {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::HEAD => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::OPTIONS => 5,
        Method::PATCH => 6,
        Method::CONNECT => 7,
        Method::TRACE => 8,
        _ => 9,
    }
}

/// A route's place in [`HttpRoutes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteId(usize);

/// The routes requests are counted under: route patterns, never raw paths.
pub struct HttpRoutes {
    routes: Box<[Route]>,
    ids: HashMap<&'static str, RouteId>,
}

struct Route {
    name: &'static str,
    durations: DurationHistogram,
    answers: Answers,
}

impl HttpRoutes {
    /// One entry per distinct name, in the order given.
    pub fn new(names: impl IntoIterator<Item = &'static str>) -> Self {
        let mut unique: Vec<&'static str> = Vec::new();
        for name in names {
            if !unique.contains(&name) {
                unique.push(name);
            }
        }
        let routes = unique.into_iter().map(|name| Route {
            name,
            // 1 ms … ~4 s: page renders and Argon2 sign-ins included.
            durations: DurationHistogram::doubling(Duration::from_millis(1), 13),
            answers: Answers::default(),
        });
        let routes: Box<[Route]> = routes.collect();
        let ids = routes.iter().enumerate();
        let ids = ids
            .map(|(index, route)| (route.name, RouteId(index)))
            .collect();
        HttpRoutes { routes, ids }
    }

    /// The route named exactly `name`.
    pub fn find(&self, name: &str) -> Option<RouteId> {
        self.ids.get(name).copied()
    }

    pub fn name(&self, id: RouteId) -> &'static str {
        self.routes[id.0].name
    }

    /// One answered request.
    pub fn record(&self, id: RouteId, method: &Method, status: u16, took: Duration) {
        let route = &self.routes[id.0];
        route
            .answers
            .count(method_number(method) << 16 | u32::from(status));
        route.durations.observe(took);
    }
}

/// How many slots each route has for distinct (method, status) pairs before it counts the rest
/// in a locked list: a route answers a handful.
const ANSWER_SLOTS: usize = 32;

/// The methods the app serves (GET, POST, HEAD) take slots; the others (which the app answers
/// 404 or 405) are counted in the locked list, so a client sending odd methods cannot take the
/// slots the app's own answers need.
const SLOTTED_METHODS: u32 = 3;

/// Answers by (method, status), each pair a `key` (method number << 16 | status; never 0, as
/// statuses start at 100). A slot's key is written once, by the first answer of its kind, and
/// only read after that, so the key line stays cached on every core; the counts are per thread.
#[derive(Default)]
struct Answers {
    keys: [AtomicU32; ANSWER_SLOTS],
    counts: Sharded<[AtomicU64; ANSWER_SLOTS]>,
    overflow: Mutex<Vec<(u32, u64)>>,
}

impl Answers {
    fn count(&self, key: u32) {
        let slot = if key >> 16 < SLOTTED_METHODS {
            self.slot(key)
        } else {
            None
        };
        match slot {
            Some(slot) => {
                self.counts.local()[slot].fetch_add(1, Ordering::Relaxed);
            }
            None => {
                let mut overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
                match overflow.iter_mut().find(|(seen, _)| *seen == key) {
                    Some((_, count)) => *count += 1,
                    None => overflow.push((key, 1)),
                }
            }
        }
    }

    fn slot(&self, key: u32) -> Option<usize> {
        for (slot, held) in self.keys.iter().enumerate() {
            let seen = match held.load(Ordering::Relaxed) {
                0 => match held.compare_exchange(0, key, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => key,
                    Err(other) => other,
                },
                seen => seen,
            };
            if seen == key {
                return Some(slot);
            }
        }
        None
    }

    /// (key, count) of every pair answered so far.
    fn totals(&self) -> Vec<(u32, u64)> {
        let mut totals: Vec<(u32, u64)> = Vec::new();
        for (slot, held) in self.keys.iter().enumerate() {
            let key = held.load(Ordering::Relaxed);
            if key != 0 {
                let count = self.counts.all().map(|c| c[slot].load(Ordering::Relaxed));
                totals.push((key, count.sum()));
            }
        }
        let overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
        totals.extend(overflow.iter().copied());
        totals
    }
}

#[derive(Debug, EncodeLabelSet)]
struct HttpLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Debug, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

/// The registry's view of the routes: empty until the router installs them.
#[derive(Clone, Default)]
pub(super) struct InstalledRoutes(Arc<OnceLock<Arc<HttpRoutes>>>);

impl InstalledRoutes {
    /// The routes, made from `names` the first time (later calls get the first table).
    pub fn install(&self, names: impl FnOnce() -> Vec<&'static str>) -> Arc<HttpRoutes> {
        self.0
            .get_or_init(|| Arc::new(HttpRoutes::new(names())))
            .clone()
    }
}

impl fmt::Debug for InstalledRoutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InstalledRoutes")
    }
}

impl Collector for InstalledRoutes {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let routes = self.0.get().map_or(&[][..], |table| &table.routes[..]);
        let help = "HTTP requests answered.";
        let mut requests =
            encoder.encode_descriptor("http_requests", help, None, MetricType::Counter)?;
        for route in routes {
            for (key, count) in route.answers.totals() {
                let labels = HttpLabels {
                    route: route.name,
                    method: METHODS[(key >> 16) as usize % METHODS.len()],
                    status: (key & 0xffff) as u16,
                };
                let mut series = requests.encode_family(&labels)?;
                series.encode_counter::<NoLabelSet, _, u64>(&count, None)?;
            }
        }
        let help = "Time to answer an HTTP request, by route pattern.";
        let name = "http_request_duration_seconds";
        let mut durations = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
        for route in routes {
            let snapshot = route.durations.snapshot();
            if snapshot.count() > 0 {
                let label = RouteLabel { route: route.name };
                snapshot.encode(durations.encode_family(&label)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_and_status_has_its_count_even_past_the_slots() {
        let routes = HttpRoutes::new(["/a", "/b", "/a"]);
        assert_eq!(routes.routes.len(), 2);
        let a = routes.find("/a").expect("a route");
        assert_eq!(routes.name(a), "/a");
        let took = Duration::from_millis(2);
        let past_the_slots = 200 + ANSWER_SLOTS as u16 + 3;
        for status in 200..=past_the_slots {
            routes.record(a, &Method::GET, status, took);
        }
        routes.record(a, &Method::GET, 200, took);
        routes.record(a, &Method::GET, past_the_slots, took);
        routes.record(a, &Method::from_bytes(b"BREW").expect("method"), 200, took);
        routes.record(a, &Method::PUT, 405, took);
        let answers = &routes.routes[a.0].answers;
        let claimed = answers
            .keys
            .iter()
            .filter(|key| key.load(Ordering::Relaxed) != 0);
        assert_eq!(claimed.count(), ANSWER_SLOTS, "odd methods take no slot");
        let totals = answers.totals();
        assert_eq!(totals.len(), ANSWER_SLOTS + 4 + 2);
        assert!(totals.contains(&(200, 2)), "{totals:?}");
        assert!(
            totals.contains(&(u32::from(past_the_slots), 2)),
            "{totals:?}"
        );
        assert!(totals.contains(&(9 << 16 | 200, 1)), "{totals:?}");
        assert!(totals.contains(&(3 << 16 | 405, 1)), "{totals:?}");
    }
}
