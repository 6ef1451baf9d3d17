//! N+1 queries: a list handler that loads each post's author one query at a time (buggy), and
//! the same handler with one batched query for every author (fixed).
//!
//! This file is shared by `examples/n_plus_one.rs`, `examples/tour.rs` and `tests/queries/`.
#![allow(dead_code)]

use whatbreaks::{NPlusOneTest, QueryEnv, Report, SimDb};

/// Seeds `n` posts by 7 authors (set-up: not counted).
pub(crate) fn seed_posts(db: &SimDb, n: u64) {
    for i in 0..n {
        let author = format!("author{}", i % 7);
        db.seed("posts", &format!("post{i:04}"), author.clone());
        db.seed("authors", &author, format!("{{\"name\":\"{author}\"}}"));
    }
}

/// BUGGY: one query for the posts, then one per post for its author.
pub(crate) async fn list_posts(db: &SimDb) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for (post, author) in db.scan("posts").await {
        let author = db.get("authors", &author).await;
        out.push((post, author));
    }
    out
}

/// FIXED: one query for the posts, one batched `WHERE id = ANY($1)` for all their authors.
pub(crate) async fn list_posts_batched(db: &SimDb) -> Vec<(String, Option<String>)> {
    let posts = db.scan("posts").await;
    let ids: Vec<String> = posts.iter().map(|(_, a)| a.clone()).collect();
    let authors = db.get_many("authors", &ids).await;
    posts.into_iter().map(|(p, _)| p).zip(authors).collect()
}

/// The scenario the example, the tour and the tests use: 1, 10 and 100 posts.
pub(crate) fn scenario() -> NPlusOneTest {
    NPlusOneTest::new().sizes(&[1, 10, 100])
}

pub(crate) fn buggy(test: NPlusOneTest) -> Report {
    test.run(|env: QueryEnv| async move {
        seed_posts(&env.db(), env.size());
        assert_eq!(list_posts(&env.db()).await.len() as u64, env.size());
    })
}

pub(crate) fn fixed(test: NPlusOneTest) -> Report {
    test.run(|env: QueryEnv| async move {
        seed_posts(&env.db(), env.size());
        assert_eq!(list_posts_batched(&env.db()).await.len() as u64, env.size());
    })
}
