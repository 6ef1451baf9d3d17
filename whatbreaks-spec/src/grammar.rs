//! The small text grammars shared by attribute arguments and `WHATBREAKS_*` variables.
//!
//! `whatbreaks-macros` rejects a bad value at compile time with the same message the runtime
//! gives for an environment variable, because both call these functions. One grammar, two
//! callers.

use std::time::Duration;

/// The accepted forms of a duration, for error messages.
pub const DURATION_FORM: &str = "a number with a unit: `250ms`, `10s`, `1.5s`, `2m`, `1h` (or `0`)";

/// The accepted forms of a time window, for error messages.
pub const WINDOW_FORM: &str = "`START..END` with durations, e.g. `0s..10s` or `90s..2m`";

/// The accepted forms of a seed, for error messages.
pub const SEED_FORM: &str = "a decimal or 0x-hex u64, e.g. `42` or `0x5eed1234`";

/// The accepted forms of a byte size, for error messages.
pub const BYTES_FORM: &str =
    "a number with a unit: `512B`, `64KiB`, `10MiB`, `1GiB`, `2TiB` (or `KB`, `MB`, `GB`)";

/// Parses a byte size: `512B`, `64KiB`, `10MiB`, `1GiB`, `2TiB`, `1.5GB`.
///
/// The number is digits with an optional fraction (`1.5`, `_` as a separator); a size that
/// does not fit in a `u64` is rejected, never saturated.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .ok_or_else(|| format!("`{text}` has no unit; expected {BYTES_FORM}"))?;
    let (number_text, unit) = text.split_at(split);
    let number = plain_number(number_text)
        .ok_or_else(|| format!("`{text}` is not a size; expected {BYTES_FORM}"))?;
    let scale: u64 = match unit.trim() {
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "`{other}` is not a size unit in `{text}`; expected {BYTES_FORM}"
            ));
        }
    };
    let too_large =
        || format!("`{text}` is too large (at most 16 EiB, a u64 of bytes); expected {BYTES_FORM}");
    let clean = number_text.replace('_', "");
    if !clean.contains('.') {
        // Whole numbers exactly (an f64 would round sizes above 2^53).
        let whole: u128 = clean.parse().map_err(|_| too_large())?;
        return whole
            .checked_mul(u128::from(scale))
            .and_then(|b| u64::try_from(b).ok())
            .ok_or_else(too_large);
    }
    let bytes = (number * scale as f64).round();
    // 2^64 is the first value a u64 cannot hold (exactly representable as f64).
    if !bytes.is_finite() || bytes >= 18_446_744_073_709_551_616.0 {
        return Err(too_large());
    }
    Ok(bytes as u64)
}

/// A number as the grammar writes it: digits, optionally `.` and more digits, `_` allowed
/// between digits. No sign, no exponent, no leading or trailing `.`.
fn plain_number(text: &str) -> Option<f64> {
    let clean = text.replace('_', "");
    let (whole, fraction) = match clean.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (clean.as_str(), None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return None;
    }
    clean.parse().ok()
}

/// Formats a byte count for people: `312 B`, `4.0 KiB`, `298 MiB`, `1.2 GiB`.
pub fn format_bytes(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes;
    let mut i = 0;
    while v.abs() >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 || v.abs() >= 100.0 {
        format!("{v:.0} {}", units[i])
    } else {
        format!("{v:.1} {}", units[i])
    }
}

/// Parses `250ms`, `10s`, `1.5s`, `2m`, `1h`, `3d`, `0`, and the compound forms
/// [`format_duration`] prints (`2m30s`, `1m0.500s`), so every printed duration parses back.
///
/// Durations are kept in whole milliseconds, the grain of tokio's timer. The number of each
/// part is digits with an optional fraction (`1.5s`; not `.5s`, `5.s`, `+5s`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(format!(
            "an empty value is not a duration; expected {DURATION_FORM}"
        ));
    }
    let mut rest = text;
    let mut total_ms = 0.0f64;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .ok_or_else(|| format!("`{text}` has no unit; expected {DURATION_FORM}"))?;
        let (number, after) = rest.split_at(split);
        let number = plain_number(number)
            .ok_or_else(|| format!("`{text}` is not a duration; expected {DURATION_FORM}"))?;
        // The unit runs to the next digit (a compound such as `2m30s`), or to the end.
        let unit_end = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let unit_ms = match unit.trim() {
            "ms" => 1.0,
            "s" => 1_000.0,
            "m" | "min" => 60_000.0,
            "h" => 3_600_000.0,
            "d" => 86_400_000.0,
            other => {
                return Err(format!(
                    "`{other}` is not a time unit in `{text}`; expected {DURATION_FORM}"
                ));
            }
        };
        total_ms += number * unit_ms;
        rest = next;
    }
    if !total_ms.is_finite() || total_ms > 1e15 {
        return Err(format!("`{text}` is too long; expected {DURATION_FORM}"));
    }
    Ok(Duration::from_millis(total_ms.round() as u64))
}

/// Parses a window `START..END` of virtual time, such as `0s..10s`.
pub fn parse_window(text: &str) -> Result<(Duration, Duration), String> {
    let (start, end) = text
        .split_once("..")
        .ok_or_else(|| format!("`{text}` is not a window; expected {WINDOW_FORM}"))?;
    let start = parse_duration(start)
        .map_err(|_| format!("`{text}`: `{start}` is not a duration; expected {WINDOW_FORM}"))?;
    let end = parse_duration(end)
        .map_err(|_| format!("`{text}`: `{end}` is not a duration; expected {WINDOW_FORM}"))?;
    if end <= start {
        return Err(format!(
            "window `{text}` ends before it starts; expected {WINDOW_FORM}"
        ));
    }
    Ok((start, end))
}

/// Parses a seed: decimal or `0x`-prefixed hexadecimal, `_` allowed as a separator (no
/// sign: `+5` and `0x+5` are rejected).
pub fn parse_seed(text: &str) -> Result<u64, String> {
    let clean = text.trim().replace('_', "");
    let bad = || format!("`{text}` is not a seed; expected {SEED_FORM}");
    match clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
    {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u64::from_str_radix(hex, 16).map_err(|_| bad())
        }
        None if !clean.is_empty() && clean.bytes().all(|b| b.is_ascii_digit()) => {
            clean.parse().map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

/// The accepted forms of a pause or lease-store partition list, for error messages.
pub const PAUSE_FORM: &str =
    "`INSTANCE@AT+DURATION`, comma-separated, e.g. `1@90s+45s` (instance 1 at 90 s for 45 s)";

/// The accepted forms of a crash list, for error messages.
pub const CRASH_FORM: &str = "`INSTANCE@AT` (stays down) or `INSTANCE@AT+DOWNTIME` (restarts), comma-separated, e.g. `0@5m` or `0@5m+30s`";

/// The accepted forms of a clock skew list, for error messages.
pub const SKEW_FORM: &str =
    "`INSTANCE:+DURATION` or `INSTANCE:-DURATION`, comma-separated, e.g. `1:+2s` or `0:-500ms`";

/// The accepted forms of a clock jump list, for error messages.
pub const JUMP_FORM: &str = "`INSTANCE@AT+DURATION` or `INSTANCE@AT-DURATION`, comma-separated, e.g. `0@4m+1h` (instance 0's clock jumps 1 h ahead at 4 m)";

/// One instance fault at a point of virtual time: `INSTANCE@AT` with an optional signed amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceFault {
    /// The instance, `0..instances`.
    pub instance: u32,
    /// When it happens, in virtual time since the start.
    pub at: Duration,
    /// The signed amount in milliseconds after `+` or `-` (0 when absent).
    pub amount_ms: i64,
    /// Whether an amount was written.
    pub has_amount: bool,
}

fn parse_instance(text: &str, whole: &str, form: &str) -> Result<u32, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{whole}`: `{text}` is not an instance number; expected {form}"))
}

fn parse_signed(text: &str, whole: &str, form: &str) -> Result<i64, String> {
    let text = text.trim();
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'+') => (false, &text[1..]),
        Some(b'-') => (true, &text[1..]),
        _ => return Err(format!("`{whole}`: `{text}` needs a sign; expected {form}")),
    };
    let d = parse_duration(rest).map_err(|e| format!("`{whole}`: {e}"))?;
    let ms = d.as_millis() as i64;
    Ok(if negative { -ms } else { ms })
}

/// Parses a comma-separated list of `INSTANCE@AT[±AMOUNT]` items.
fn parse_at_list(text: &str, form: &str) -> Result<Vec<InstanceFault>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!("`{text}` has an empty item; expected {form}"));
        }
        let (instance, rest) = item
            .split_once('@')
            .ok_or_else(|| format!("`{item}` has no `@`; expected {form}"))?;
        let instance = parse_instance(instance, item, form)?;
        let split = rest.find(['+', '-']);
        let (at, amount) = match split {
            Some(i) => (&rest[..i], Some(&rest[i..])),
            None => (rest, None),
        };
        let at = parse_duration(at).map_err(|e| format!("`{item}`: {e}"))?;
        let amount_ms = match amount {
            Some(a) => parse_signed(a, item, form)?,
            None => 0,
        };
        out.push(InstanceFault {
            instance,
            at,
            amount_ms,
            has_amount: amount.is_some(),
        });
    }
    Ok(out)
}

/// Parses pauses (or lease-store partitions): `1@90s+45s, 0@5m+10s`.
pub fn parse_pauses(text: &str) -> Result<Vec<InstanceFault>, String> {
    let list = parse_at_list(text, PAUSE_FORM)?;
    for f in &list {
        if !f.has_amount || f.amount_ms <= 0 {
            return Err(format!(
                "`{text}`: every item needs a positive `+DURATION`; expected {PAUSE_FORM}"
            ));
        }
    }
    Ok(list)
}

/// Parses crashes: `0@5m` (stays down) or `0@5m+30s` (restarts after 30 s).
pub fn parse_crashes(text: &str) -> Result<Vec<InstanceFault>, String> {
    let list = parse_at_list(text, CRASH_FORM)?;
    if list.iter().any(|f| f.amount_ms < 0) {
        return Err(format!(
            "`{text}`: a downtime cannot be negative; expected {CRASH_FORM}"
        ));
    }
    Ok(list)
}

/// Parses clock jumps: `0@4m+1h, 1@3m-30s`.
pub fn parse_jumps(text: &str) -> Result<Vec<InstanceFault>, String> {
    let list = parse_at_list(text, JUMP_FORM)?;
    if list.iter().any(|f| !f.has_amount) {
        return Err(format!(
            "`{text}`: every jump needs a signed amount; expected {JUMP_FORM}"
        ));
    }
    Ok(list)
}

/// Parses clock skews: `1:+2s, 0:-500ms`, as `(instance, signed milliseconds)`.
pub fn parse_skews(text: &str) -> Result<Vec<(u32, i64)>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim) {
        let (instance, amount) = item
            .split_once(':')
            .ok_or_else(|| format!("`{item}` has no `:`; expected {SKEW_FORM}"))?;
        out.push((
            parse_instance(instance, item, SKEW_FORM)?,
            parse_signed(amount, item, SKEW_FORM)?,
        ));
    }
    Ok(out)
}

/// Checks a pause list (for `Kind::Checked` in the macros).
pub fn check_pauses(text: &str) -> Result<(), String> {
    parse_pauses(text).map(drop)
}

/// Checks a crash list (for `Kind::Checked` in the macros).
pub fn check_crashes(text: &str) -> Result<(), String> {
    parse_crashes(text).map(drop)
}

/// Checks a clock jump list (for `Kind::Checked` in the macros).
pub fn check_jumps(text: &str) -> Result<(), String> {
    parse_jumps(text).map(drop)
}

/// Checks a clock skew list (for `Kind::Checked` in the macros).
pub fn check_skews(text: &str) -> Result<(), String> {
    parse_skews(text).map(drop)
}

/// Formats a duration the way whatbreaks prints virtual times: `1.250s`, `250ms`, `2m30s`,
/// `1m0.500s`. Whole milliseconds are kept, so [`parse_duration`] reads every output back.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".to_string()
    } else if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        if ms % 1_000 == 0 {
            format!("{}s", ms / 1_000)
        } else {
            format!("{}.{:03}s", ms / 1_000, ms % 1_000)
        }
    } else {
        let s = ms / 1_000;
        let (m, s, milli) = (s / 60, s % 60, ms % 1_000);
        if milli != 0 {
            format!("{m}m{s}.{milli:03}s")
        } else if s == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{s}s")
        }
    }
}

/// The accepted forms of a timeout that may be absent, for error messages.
pub const TIMEOUT_FORM: &str = "a duration such as `1s` or `250ms`, or `none` to wait forever";

/// Parses a timeout that may be absent: a duration, or `none` (wait forever).
pub fn parse_timeout(text: &str) -> Result<Option<Duration>, String> {
    match text.trim() {
        "none" | "forever" => Ok(None),
        other => parse_duration(other)
            .map(Some)
            .map_err(|_| format!("`{text}` is not a timeout; expected {TIMEOUT_FORM}")),
    }
}

#[cfg(test)]
mod timeout_tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("none"), Ok(None));
        assert_eq!(parse_timeout("1s"), Ok(Some(Duration::from_secs(1))));
        assert!(parse_timeout("soon").unwrap_err().contains("`none`"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1_500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3_600)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("10_000ms"), Ok(Duration::from_secs(10)));
        assert!(parse_duration("10").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("10 parsecs")
                .unwrap_err()
                .contains("not a time unit")
        );
        assert!(parse_duration("abc").is_err());
        assert_eq!(parse_duration("2m30s"), Ok(Duration::from_secs(150)));
        assert_eq!(
            parse_duration("1m0.500s"),
            Ok(Duration::from_millis(60_500))
        );
        for bad in [".5s", "5.s", "+5s", "1..5s", "", "s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn windows_and_seeds() {
        assert_eq!(
            parse_window("0s..10s"),
            Ok((Duration::ZERO, Duration::from_secs(10)))
        );
        assert!(parse_window("10s..1s").unwrap_err().contains("ends before"));
        assert!(parse_window("10s").is_err());
        assert_eq!(parse_seed("0x5eed"), Ok(0x5eed));
        assert_eq!(parse_seed("42"), Ok(42));
        assert!(
            parse_seed("0xzz")
                .unwrap_err()
                .contains("expected a decimal")
        );
        assert!(parse_window("0...5s").unwrap_err().contains("`.5s`"));
        for bad in ["+5", "0x+5", "0x", "-1", " ", "0x-5"] {
            assert!(parse_seed(bad).unwrap_err().contains("0x-hex"), "{bad:?}");
        }
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("512B"), Ok(512));
        assert_eq!(parse_bytes("1.5KB"), Ok(1_500));
        assert!(parse_bytes("12").is_err());
        assert!(parse_bytes("1 parsec").is_err());
        assert!(
            parse_bytes("99999999999999999999TiB")
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(parse_bytes("16EiB").map_err(|_| ()), Err(()));
        assert_eq!(
            parse_bytes("18446744073709551615B"),
            Ok(u64::MAX),
            "whole numbers are exact"
        );
        assert!(parse_bytes("18446744073709551616B").is_err());
        assert!(parse_bytes(".5KiB").is_err());
        assert_eq!(format_bytes(312.0), "312 B");
        assert_eq!(format_bytes(298.0 * 1024.0 * 1024.0), "298 MiB");
        assert_eq!(format_bytes(1.5 * 1024.0 * 1024.0 * 1024.0), "1.5 GiB");
    }

    #[test]
    fn formatting() {
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1_250)), "1.250s");
        assert_eq!(format_duration(Duration::from_secs(3)), "3s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(150)), "2m30s");
        assert_eq!(format_duration(Duration::from_millis(61_500)), "1m1.500s");
    }
    #[test]
    fn instance_faults() {
        let p = parse_pauses("1@90s+45s, 0@5m+10s").unwrap();
        assert_eq!(p[0].instance, 1);
        assert_eq!(p[0].at, Duration::from_secs(90));
        assert_eq!(p[0].amount_ms, 45_000);
        assert_eq!(p[1].at, Duration::from_secs(300));
        assert!(parse_pauses("1@90s").unwrap_err().contains("positive"));
        assert!(parse_pauses("x@90s+1s").unwrap_err().contains("instance"));
        assert!(parse_pauses("1-90s+1s").unwrap_err().contains("no `@`"));
        let c = parse_crashes("0@5m").unwrap();
        assert!(!c[0].has_amount);
        assert_eq!(parse_crashes("0@5m+30s").unwrap()[0].amount_ms, 30_000);
        assert_eq!(parse_skews("1:+2s").unwrap(), vec![(1, 2_000)]);
        assert_eq!(parse_skews("0:-500ms").unwrap(), vec![(0, -500)]);
        assert!(parse_skews("1:2s").unwrap_err().contains("sign"));
        assert_eq!(parse_jumps("1@3m-30s").unwrap()[0].amount_ms, -30_000);
        assert!(parse_jumps("1@3m").is_err());
        assert!(check_pauses("1@90 parsecs+1s").is_err());
    }
}
