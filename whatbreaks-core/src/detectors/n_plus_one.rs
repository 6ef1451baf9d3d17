//! N+1 queries: does a handler's query count grow with the size of its result?
//!
//! # The scenario
//! The body is one request of a handler that returns a list (posts with their authors, an
//! order with its lines). whatbreaks runs it once at each of `sizes` (default 1, 10 and 100
//! items), each time on a fresh [`SimDb`] handed to it in a [`QueryEnv`] with the size. The
//! body seeds the rows it needs for that size with [`SimDb::seed`] (not counted), then does
//! the request's work; every statement it sends is counted ([`SimDb::queries`]: loads, table
//! reads and writes, transaction statements; a batched read such as
//! [`SimDb::get_many`] or [`SimDb::scan`] is one).
//!
//! # The property: queries per item
//! The count is fitted against the size as a line through the two largest sizes:
//! `queries ≈ a + b · items`. The code is **flagged** when `b`, the queries per item, is at
//! least `max_queries_per_item` (default 0.5): the handler loads each item's related rows one
//! query at a time ("101 queries for 100 items"). A batched `WHERE id = ANY($1)` or a join has
//! `b ≈ 0` and passes. The finding shows the count at every size and the fit.
//!
//! ```
//! use whatbreaks_core::detectors::n_plus_one::{NPlusOneTest, QueryEnv};
//!
//! // List the posts, then fetch each post's author: one query per post.
//! let report = NPlusOneTest::new().seed(1).run(|env: QueryEnv| async move {
//!     let db = env.db();
//!     for i in 0..env.size() {
//!         db.seed("posts", &i.to_string(), format!("author{}", i % 7));
//!         db.seed("authors", &format!("author{}", i % 7), "Ada");
//!     }
//!     for (_, author) in db.scan("posts").await {
//!         let _ = db.get("authors", &author).await;
//!     }
//! });
//! assert!(report.flagged("N+1 queries"), "{report}");
//! ```

use crate::components::store::SimDb;
use crate::report::{Chart, ChartKind, Finding, Report};
use crate::runtime::sim::{self, RunLimits};
use crate::scenario::config::Settings;
use crate::scenario::{self, Problems, Scenario, SeedResult, Timing, harness_findings};
use std::future::Future;
use std::sync::Arc;

/// The pattern name of N+1 findings.
pub const PATTERN: &str = "N+1 queries";

/// What one request gets: its result size and a fresh database.
#[derive(Clone, Debug)]
pub struct QueryEnv {
    size: u64,
    db: SimDb,
}

impl QueryEnv {
    /// How many items this request's result holds (seed that many).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The database of this run (fresh for each size).
    pub fn db(&self) -> SimDb {
        self.db.clone()
    }
}

/// The statements one size took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measured {
    /// Items in the result.
    pub size: u64,
    /// Statements sent.
    pub queries: u64,
}

/// The fit of queries against size.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryAnalysis {
    /// Every size, smallest first.
    pub points: Vec<Measured>,
    /// Queries per item, between the two largest sizes.
    pub per_item: f64,
    /// The fit's intercept (queries independent of the size).
    pub fixed: f64,
    /// Whether the code is flagged.
    pub flagged: bool,
}

impl QueryAnalysis {
    /// Fits the points (sorted by size) and judges them against `max_per_item`.
    pub fn of(points: Vec<Measured>, max_per_item: f64) -> Self {
        let n = points.len();
        let (per_item, fixed) = if n >= 2 {
            let (a, b) = (points[n - 2], points[n - 1]);
            let slope = (b.queries as f64 - a.queries as f64) / (b.size - a.size).max(1) as f64;
            (slope, b.queries as f64 - slope * b.size as f64)
        } else {
            (0.0, points.first().map_or(0.0, |p| p.queries as f64))
        };
        QueryAnalysis {
            flagged: per_item >= max_per_item,
            points,
            per_item,
            fixed,
        }
    }

    /// The headline: `101 queries for 100 items (1 + 1.00 per item)`.
    pub fn key_figure(&self) -> String {
        match self.points.last() {
            Some(p) => format!(
                "{} queries for {} items ({:.0} + {:.2} per item)",
                p.queries,
                p.size,
                self.fixed.max(0.0),
                self.per_item
            ),
            None => "nothing measured".into(),
        }
    }
}

/// An N+1 scenario (builder).
#[derive(Clone, Debug)]
pub struct NPlusOneTest {
    settings: Settings,
    sizes: Vec<u64>,
    max_per_item: f64,
}

crate::scenario::impl_common_settings!(NPlusOneTest);

impl Default for NPlusOneTest {
    fn default() -> Self {
        Self::new()
    }
}

impl NPlusOneTest {
    /// Sizes 1, 10 and 100 items; flagged at 0.5 queries per item.
    pub fn new() -> Self {
        NPlusOneTest {
            settings: Settings::default(),
            sizes: vec![1, 10, 100],
            max_per_item: 0.5,
        }
    }

    /// Result sizes to run, at least two (default `[1, 10, 100]`); sorted and deduplicated.
    pub fn sizes(mut self, sizes: &[u64]) -> Self {
        let mut s = sizes.to_vec();
        s.sort_unstable();
        s.dedup();
        self.sizes = s;
        self
    }

    /// Queries per item at which the code is flagged (default 0.5).
    pub fn max_queries_per_item(mut self, limit: f64) -> Self {
        self.max_per_item = limit;
        self
    }

    fn scenario(&self) -> String {
        let sizes: Vec<String> = self.sizes.iter().map(u64::to_string).collect();
        format!(
            "result sizes {} items, a fresh database each, flagged at {} queries per item",
            sizes.join(", "),
            self.max_per_item
        )
    }

    /// Runs the scenario for every seed and returns the report; never panics.
    ///
    /// `body` is one request, given its result size and a fresh database.
    pub fn run<B, Fut>(&self, body: B) -> Report
    where
        B: Fn(QueryEnv) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        scenario::run(self, Arc::new(body))
    }

    /// Runs one seed; returns the result and the analysis.
    pub fn run_seed<B, Fut>(&self, limits: &RunLimits, body: Arc<B>) -> (SeedResult, QueryAnalysis)
    where
        B: Fn(QueryEnv) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let sizes = self.sizes.clone();
        let run = sim::simulate(limits, move || async move {
            let mut points = Vec::with_capacity(sizes.len());
            for size in sizes {
                let db = SimDb::new();
                body(QueryEnv {
                    size,
                    db: db.clone(),
                })
                .await;
                points.push(Measured {
                    size,
                    queries: db.queries(),
                });
            }
            points
        });
        let scenario = self.scenario();
        let mut findings = harness_findings(&run, limits, &scenario);
        let analysis = QueryAnalysis::of(run.value.clone().unwrap_or_default(), self.max_per_item);
        if analysis.flagged && findings.is_empty() {
            findings.push(self.finding(&analysis, scenario));
        }
        let chart = Chart::new(
            "queries against result size",
            ChartKind::Line,
            "result size (items)",
            "queries",
        )
        .series(
            "queries",
            analysis
                .points
                .iter()
                .map(|p| (p.size as f64, p.queries as f64))
                .collect(),
        );
        let mut figures = vec![
            (
                "queries per item".to_string(),
                format!("{:.2}", analysis.per_item),
            ),
            (
                "fixed queries".to_string(),
                format!("{:.0}", analysis.fixed),
            ),
        ];
        figures.extend(
            analysis
                .points
                .iter()
                .map(|p| (format!("queries at {}", p.size), p.queries.to_string())),
        );
        let result = SeedResult {
            findings,
            key_figure: analysis.key_figure(),
            figures,
            charts: vec![chart],
            activity: Some(scenario::Activity {
                virtual_elapsed: run.virtual_elapsed.max(std::time::Duration::from_nanos(1)),
                count: analysis.points.iter().map(|p| p.queries as usize).sum(),
                what: "database query",
            }),
        };
        (result, analysis)
    }

    fn finding(&self, a: &QueryAnalysis, scenario: String) -> Finding {
        let last = a.points.last().copied().unwrap_or(Measured {
            size: 0,
            queries: 0,
        });
        let mut f = Finding::bug(
            PATTERN,
            format!(
                "the query count grows with the result: {} queries for {} items",
                last.queries, last.size
            ),
        )
        .with_scenario(scenario);
        for p in &a.points {
            f.evidence
                .push(format!("{:>6} items: {} queries", p.size, p.queries));
        }
        f.evidence.push(format!(
            "fit: {:.0} + {:.2} queries per item (flagged at {})",
            a.fixed.max(0.0),
            a.per_item,
            self.max_per_item
        ));
        f.fix = "load the related rows of every item in one query: a batched `WHERE id = ANY($1)` (`SimDb::get_many`), a join, or a dataloader that batches the lookups of one request; never one query per item in a loop".into();
        f
    }
}

impl<B, Fut> Scenario<Arc<B>> for NPlusOneTest
where
    B: Fn(QueryEnv) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    fn label(&self) -> String {
        "n+1".into()
    }
    fn timing(&self) -> Timing<'_> {
        Timing::Simulated(&self.settings)
    }
    fn describe(&self) -> String {
        self.scenario()
    }
    fn check(&self, p: &mut Problems) {
        if self.sizes.len() < 2 {
            p.invalid(
                "sizes",
                &self.sizes,
                "needs at least two result sizes to fit queries against size, e.g. `sizes = [1, 10, 100]`",
            );
        }
        p.require(
            self.max_per_item.is_finite() && self.max_per_item > 0.0,
            "max_queries_per_item",
            self.max_per_item,
            "a number of queries per item above zero, e.g. `0.5`",
        );
    }
    fn run_one(&self, limits: &RunLimits, body: &Arc<B>) -> SeedResult {
        self.run_seed(limits, body.clone()).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(qs: &[(u64, u64)]) -> Vec<Measured> {
        qs.iter()
            .map(|&(size, queries)| Measured { size, queries })
            .collect()
    }

    #[test]
    fn a_query_per_item_is_flagged_and_a_batch_passes() {
        let n1 = QueryAnalysis::of(points(&[(1, 2), (10, 11), (100, 101)]), 0.5);
        assert!(n1.flagged);
        assert_eq!(
            n1.key_figure(),
            "101 queries for 100 items (1 + 1.00 per item)"
        );
        let batched = QueryAnalysis::of(points(&[(1, 2), (10, 2), (100, 2)]), 0.5);
        assert!(!batched.flagged);
        assert_eq!(batched.per_item, 0.0);
    }
}
