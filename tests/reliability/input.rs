//! Bad input never panics: a configuration finding that names the knob or the variable, the
//! value and the form it expects.

use crate::child;
use std::time::Duration;
use whatbreaks::report::FindingKind;
use whatbreaks::{Report, RetryStormTest, StampedeTest, Upstream};

fn config_finding(r: &Report, knob: &str) -> String {
    assert_eq!(r.findings.len(), 1, "{r}");
    let f = &r.findings[0];
    assert_eq!(f.kind, FindingKind::Config, "{r}");
    assert!(f.verdict.contains(knob), "{}", f.verdict);
    f.verdict.clone()
}

#[test]
fn rps_of_zero_negative_or_nan_is_a_configuration_finding() {
    for rps in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300] {
        let storm = RetryStormTest::new()
            .rps(rps)
            .seed(1)
            .run(|_: Upstream| async {});
        let v = config_finding(&storm, "`rps`");
        assert!(v.contains("greater than 0"), "{v}");
        let stampede = StampedeTest::new()
            .rps(rps)
            .seed(1)
            .run(|_: whatbreaks::StampedeEnv| async {});
        config_finding(&stampede, "`rps`");
    }
}

#[test]
fn whatbreaks_seeds_is_bounded_with_the_variable_and_the_bound_named() {
    for seeds in ["100000000", "100001"] {
        let (ok, text) = child(
            "race_under_env",
            &[("WHATBREAKS_SEEDS", seeds), ("WHATBREAKS_SEED", "1")],
        );
        assert!(ok, "{text}");
        assert!(text.contains("WHATBREAKS_SEEDS"), "{text}");
        assert!(text.contains("from 1 to 100000"), "{text}");
    }
    // Within the variable's bound, but seeds × iterations is past the bound on runs.
    let (ok, text) = child(
        "race_under_env",
        &[("WHATBREAKS_SEEDS", "100000"), ("WHATBREAKS_SEED", "1")],
    );
    assert!(ok, "{text}");
    assert!(text.contains("WHATBREAKS_SEEDS"), "{text}");
    assert!(text.contains("at most 10000000 runs"), "{text}");
    // And the builder's own bound.
    let r = whatbreaks::RaceTest::new()
        .seeds(u32::MAX)
        .seed(1)
        .run(|| async {});
    config_finding(&r, "`seeds`");
}

#[test]
fn hostile_inputs_report_a_bad_seed() {
    for bad in ["+5", "0x+5", "seed", "0x"] {
        let (ok, text) = child("hostile_inputs_under_env", &[("WHATBREAKS_SEED", bad)]);
        assert!(ok, "{bad}: {text}");
        assert!(text.contains("WHATBREAKS_SEED="), "{text}");
        assert!(text.contains("0x-hex"), "{text}");
    }
}

#[test]
fn the_grammar_rejects_what_it_used_to_misread() {
    use whatbreaks::spec;
    let e = spec::parse_window("0...5s").unwrap_err();
    assert!(e.contains(spec::WINDOW_FORM), "{e}");
    let e = spec::parse_bytes("99999999999999999999TiB").unwrap_err();
    assert!(
        e.contains("too large") && e.contains(spec::BYTES_FORM),
        "{e}"
    );
    for seed in ["+5", "0x+5"] {
        let e = spec::parse_seed(seed).unwrap_err();
        assert!(e.contains(spec::SEED_FORM), "{e}");
    }
    // A duration the grammar prints parses back (it used to print `1m1s` for 61.5 s).
    let d = Duration::from_millis(61_500);
    assert_eq!(spec::parse_duration(&spec::format_duration(d)), Ok(d));
}

mod auth {
    use axum::Router;
    use axum::extract::Path;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    use whatbreaks::http::{AUTH_PATTERN, AuthProbe};

    const NAMES: [&str; 2] = ["Zoë Li", "Bob Smith"];

    fn token(user: &str) -> String {
        format!("token-{}", whatbreaks::http::encode_component(user))
    }

    /// Orders of `{owner}`; `checked` answers only the verified owner.
    fn app(checked: bool) -> Router {
        Router::new().route(
            "/users/{owner}/orders",
            get(
                move |Path(owner): Path<String>, headers: HeaderMap| async move {
                    let me = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .and_then(|t| NAMES.into_iter().find(|n| token(n) == t))
                        .ok_or(StatusCode::UNAUTHORIZED)?;
                    if checked && me != owner {
                        return Err(StatusCode::FORBIDDEN);
                    }
                    let id = format!("order-of-{}", owner.replace(' ', "-"));
                    Ok(format!(r#"[{{"id":"{id}"}}]"#))
                },
            ),
        )
    }

    fn probe(checked: bool) -> whatbreaks::Report {
        let mut p =
            AuthProbe::new(app(checked)).endpoint(axum::http::Method::GET, "/users/{owner}/orders");
        for n in NAMES {
            p = p
                .principal(n, move |r| r.bearer(token(n)))
                .resource(n, format!("order-of-{}", n.replace(' ', "-")));
        }
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(p.run())
    }

    #[test]
    fn principal_names_with_spaces_and_non_ascii_letters_are_encoded_not_a_panic() {
        let buggy = probe(false);
        buggy.assert_flagged(AUTH_PATTERN);
        let text = buggy.render();
        assert!(text.contains("/users/Zo%C3%AB%20Li/orders"), "{text}");
        let fixed = probe(true);
        assert!(fixed.is_clean(), "{fixed}");
    }

    #[test]
    fn a_template_that_is_not_a_uri_is_a_configuration_finding() {
        let r = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(
                AuthProbe::new(app(true))
                    .principal("alice", |r| r.bearer("x"))
                    .principal("bob", |r| r.header("x-bad", "line\nbreak"))
                    .endpoint(axum::http::Method::GET, "/users/{owner}/my orders")
                    .run(),
            );
        assert!(
            r.findings
                .iter()
                .any(|f| f.kind == whatbreaks::report::FindingKind::Config
                    && f.verdict.contains("not valid HTTP")),
            "{r}"
        );
    }
}

#[test]
fn the_default_regressions_location_is_used_when_nothing_is_set() {
    // The suite turns persistence off (`.cargo/config.toml`); this test alone runs without
    // the variable, in a crate directory of its own.
    let crate_dir =
        std::env::temp_dir().join(format!("wb-default-regressions-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&crate_dir);
    std::fs::create_dir_all(&crate_dir).unwrap();
    let envs = [("CARGO_MANIFEST_DIR", crate_dir.to_str().unwrap())];
    let unset = ["WHATBREAKS_REGRESSIONS_DIR"];
    let (ok, text) = crate::child_without("herd_without_jitter", &envs, &unset);
    assert!(!ok, "{text}");
    let file = crate_dir
        .join("whatbreaks-regressions")
        .join("reliability.txt");
    let saved = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(
        saved.contains("fixtures::herd_without_jitter 0x77"),
        "{saved}"
    );
    let (_, again) = crate::child_without("herd_without_jitter", &envs, &unset);
    assert!(again.contains("replaying 1 saved seed(s)"), "{again}");
    let _ = std::fs::remove_dir_all(&crate_dir);
}

/// This binary installs no counting allocator: the audit's leak and scale questions cannot
/// measure, so they do not apply and name the line that would make them; they never pass
/// silently.
#[test]
fn the_audit_heap_questions_without_the_allocator_say_what_to_install() {
    use whatbreaks::audit::{Audit, Ctx, Verdict, World};
    let report = Audit::new("idle")
        .handler("noop", |w: World, _c: Ctx| async move {
            let _ = w.table("orders", |i| i).fetch_all().await;
        })
        .seed(1)
        .run();
    for question in ["leak", "scale"] {
        let row = report.row(question, "noop").expect("a row");
        match &row.verdict {
            Verdict::NotApplicable(why) => assert!(why.contains("allocator"), "{why}"),
            other => panic!("{question}: {other:?}\n{report}"),
        }
        let fix = &row.report.as_ref().expect("a report").findings[0].fix;
        assert!(fix.contains("install_counting_allocator!()"), "{fix}");
    }
}

/// `WHATBREAKS_AUDIT_ONLY` (what a break's replay line sets) asks just that question of
/// that entry point; a value that names no question is a configuration row naming the
/// variable and what it could name; a malformed one asks everything (each question's run
/// reports the variable).
#[test]
fn audit_only_asks_one_question() {
    let (_, all) = child("audit_under_env", &[]);
    assert!(all.matches("row: ").count() > 2, "{all}");
    let (_, one) = child(
        "audit_under_env",
        &[("WHATBREAKS_AUDIT_ONLY", "race:toggle")],
    );
    // (The first row may share its line with the harness's `test … ...`.)
    let rows_of = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.find("row: ").map(|i| l[i..].to_string()))
            .collect()
    };
    let rows = rows_of(&one);
    assert_eq!(rows, ["row: race / toggle / Breaks"], "{one}");
    // The break's replay line sets the variable, quoted for the shell.
    assert!(
        one.contains("WHATBREAKS_AUDIT_ONLY=race:toggle WHATBREAKS_SEED="),
        "{one}"
    );
    let (_, every) = child("audit_under_env", &[("WHATBREAKS_AUDIT_ONLY", "leak")]);
    let rows = rows_of(&every);
    assert_eq!(rows.len(), 2, "{every}");
    assert!(
        rows.iter().all(|r| r.starts_with("row: leak / ")),
        "{every}"
    );
    let (_, none) = child("audit_under_env", &[("WHATBREAKS_AUDIT_ONLY", "hurd")]);
    assert!(none.contains("row: configuration"), "{none}");
    assert!(
        none.contains("WHATBREAKS_AUDIT_ONLY") && none.contains("questions: herd"),
        "{none}"
    );
}
