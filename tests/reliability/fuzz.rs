//! Fuzzing the grammar and every `WHATBREAKS_*` parser: any input gives a value or an error
//! that names the expected form, never a panic; what prints parses back to the same value.

use proptest::prelude::*;
use whatbreaks::config::{EnvOverrides, VARIABLES};
use whatbreaks::spec;

/// Text that looks like the grammar (digits, units, separators, signs) more often than not,
/// plus arbitrary unicode.
fn grammar_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9._+\\-x ]{0,6}(ms|s|m|min|h|d|B|KiB|MiB|GiB|TiB|KB|MB|GB|TB|EiB|)?([.]{0,3}[0-9._+\\-]{0,6}(ms|s|m|h|)?)?",
        "[0-9]{1,30}(ms|s|m|h|d|B|KiB|TiB)",
        "(0x|0X)?[0-9a-fA-F_+\\-]{0,20}",
        "[0-9]{1,2}[@:][0-9a-z+\\-.,@: ]{0,16}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn durations_parse_or_name_the_form_and_round_trip(text in grammar_text()) {
        match spec::parse_duration(&text) {
            Ok(d) => prop_assert_eq!(spec::parse_duration(&spec::format_duration(d)), Ok(d)),
            Err(e) => prop_assert!(e.contains(spec::DURATION_FORM), "{e}"),
        }
        match spec::parse_timeout(&text) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.contains(spec::TIMEOUT_FORM), "{e}"),
        }
    }

    #[test]
    fn windows_parse_or_name_the_form_and_round_trip(a in grammar_text(), b in grammar_text()) {
        let text = format!("{a}..{b}");
        for t in [text.as_str(), a.as_str()] {
            match spec::parse_window(t) {
                Ok((s, e)) => {
                    prop_assert!(s < e);
                    let printed = format!("{}..{}", spec::format_duration(s), spec::format_duration(e));
                    prop_assert_eq!(spec::parse_window(&printed), Ok((s, e)));
                }
                Err(e) => prop_assert!(e.contains(spec::WINDOW_FORM) || e.contains(spec::DURATION_FORM), "{e}"),
            }
        }
    }

    #[test]
    fn seeds_parse_or_name_the_form_and_round_trip(text in grammar_text()) {
        match spec::parse_seed(&text) {
            Ok(seed) => {
                prop_assert_eq!(spec::parse_seed(&format!("{seed:#x}")), Ok(seed));
                prop_assert_eq!(spec::parse_seed(&seed.to_string()), Ok(seed));
                prop_assert!(!text.contains('+') && !text.contains('-'), "{text}");
            }
            Err(e) => prop_assert!(e.contains(spec::SEED_FORM), "{e}"),
        }
    }

    #[test]
    fn sizes_parse_or_name_the_form_and_round_trip(text in grammar_text()) {
        match spec::parse_bytes(&text) {
            Ok(b) => prop_assert_eq!(spec::parse_bytes(&format!("{b}B")), Ok(b)),
            Err(e) => prop_assert!(e.contains(spec::BYTES_FORM), "{e}"),
        }
    }

    #[test]
    fn fault_lists_parse_or_name_the_form(text in grammar_text()) {
        for (r, form) in [
            (spec::parse_pauses(&text).map(drop), spec::PAUSE_FORM),
            (spec::parse_crashes(&text).map(drop), spec::CRASH_FORM),
            (spec::parse_jumps(&text).map(drop), spec::JUMP_FORM),
            (spec::parse_skews(&text).map(drop), spec::SKEW_FORM),
        ] {
            if let Err(e) = r {
                prop_assert!(e.contains(form) || e.contains(spec::DURATION_FORM), "{e}");
            }
        }
    }

    #[test]
    fn every_variable_parses_or_names_itself_and_its_form(
        index in 0..VARIABLES.len(),
        value in grammar_text(),
    ) {
        let (name, form) = VARIABLES[index];
        match EnvOverrides::from_vars([(name.to_string(), value.clone())]) {
            Ok(env) => {
                // What a run prints of the value parses back to it.
                if let Some(seed) = env.seed {
                    let again = EnvOverrides::from_vars([(name.to_string(), format!("{seed:#x}"))]);
                    prop_assert_eq!(again.map(|e| e.seed), Ok(Some(seed)));
                }
                for d in [env.time_limit, env.watchdog].into_iter().flatten() {
                    let again = EnvOverrides::from_vars([(name.to_string(), spec::format_duration(d))]);
                    prop_assert_eq!(again.map(|e| e.time_limit.or(e.watchdog)), Ok(Some(d)));
                }
                if let Some(n) = env.seeds {
                    prop_assert!((1..=whatbreaks::config::MAX_SEEDS).contains(&n));
                }
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(text.contains(name), "{text}");
                // The form in the table, or its core (the duration grammar's own form).
                let core = form.split(", e.g.").next().unwrap_or(form);
                prop_assert!(text.contains(core) || text.contains(spec::DURATION_FORM) || text.contains("longer than zero"), "{text} / {form}");
            }
        }
    }
}
