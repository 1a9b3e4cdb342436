//! Settings, read once from `STRATA_*` environment variables.
//!
//! The environment is read with `getenv`, which returns a pointer into the
//! process's environment block: no allocation, so it is safe on the first
//! allocation of a program. A malformed value prints one warning naming the
//! variable and the default is used.

use crate::os;
use core::ffi::CStr;
use core::fmt::Write;
use std::sync::OnceLock;

/// The allocator's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `STRATA_RETAIN`: entirely free arenas kept mapped for reuse (0 or 1).
    pub retain_arenas: usize,
    /// `STRATA_HUGE_PAGES`: ask for transparent huge pages on arenas.
    pub huge_pages: bool,
    /// `STRATA_VERBOSE`: report notable events on standard error.
    pub verbose: bool,
}

impl Settings {
    /// The settings when no variable is set.
    pub const DEFAULT: Settings = Settings {
        retain_arenas: 1,
        huge_pages: false,
        verbose: false,
    };
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// The settings in force (read from the environment on first use).
pub fn get() -> &'static Settings {
    SETTINGS.get_or_init(|| {
        from_env(|name| {
            // SAFETY: name is a valid C string; getenv returns null or a valid one.
            let value = unsafe { libc::getenv(name.as_ptr()) };
            // SAFETY: non-null results of getenv are NUL-terminated strings.
            (!value.is_null()).then(|| unsafe { CStr::from_ptr(value) }.to_bytes())
        })
    })
}

/// Builds settings from a variable lookup (the environment, or a test's map).
pub fn from_env<'a>(lookup: impl Fn(&CStr) -> Option<&'a [u8]>) -> Settings {
    let default = Settings::DEFAULT;
    Settings {
        retain_arenas: parse(
            &lookup,
            c"STRATA_RETAIN",
            default.retain_arenas,
            parse_count,
        ),
        huge_pages: parse(
            &lookup,
            c"STRATA_HUGE_PAGES",
            default.huge_pages,
            parse_flag,
        ),
        verbose: parse(&lookup, c"STRATA_VERBOSE", default.verbose, parse_flag),
    }
}

fn parse<'a, T: Copy>(
    lookup: &impl Fn(&CStr) -> Option<&'a [u8]>,
    name: &CStr,
    default: T,
    parser: fn(&[u8]) -> Option<T>,
) -> T {
    let Some(raw) = lookup(name) else {
        return default;
    };
    match parser(raw) {
        Some(value) => value,
        None => {
            let mut message = crate::check::StackMessage::new();
            let _ = writeln!(
                message,
                "strata: ignoring {}={:?}: not a valid value; using the default",
                name.to_str().unwrap_or("?"),
                core::str::from_utf8(raw).unwrap_or("<not UTF-8>")
            );
            os::write_stderr(message.as_bytes());
            default
        }
    }
}

/// A decimal count without sign or suffix.
pub fn parse_count(raw: &[u8]) -> Option<usize> {
    let text = core::str::from_utf8(raw).ok()?.trim();
    text.parse().ok()
}

/// `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`.
pub fn parse_flag(raw: &[u8]) -> Option<bool> {
    match core::str::from_utf8(raw).ok()?.trim() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_with(pairs: &[(&str, &str)]) -> Settings {
        let pairs: Vec<(String, Vec<u8>)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        from_env(|name| {
            pairs
                .iter()
                .find(|(k, _)| k.as_bytes() == name.to_bytes())
                .map(|(_, v)| &v[..])
        })
    }

    #[test]
    fn no_variables_give_the_defaults() {
        assert_eq!(settings_with(&[]), Settings::DEFAULT);
    }

    #[test]
    fn well_formed_values_are_taken() {
        let s = settings_with(&[
            ("STRATA_RETAIN", "0"),
            ("STRATA_HUGE_PAGES", "yes"),
            ("STRATA_VERBOSE", "1"),
        ]);
        assert_eq!(
            s,
            Settings {
                retain_arenas: 0,
                huge_pages: true,
                verbose: true
            }
        );
    }

    #[test]
    fn malformed_values_fall_back_to_the_default() {
        let s = settings_with(&[("STRATA_RETAIN", "lots"), ("STRATA_HUGE_PAGES", "maybe")]);
        assert_eq!(s, Settings::DEFAULT);
        assert_eq!(parse_count(b"-1"), None);
        assert_eq!(parse_flag(b"2"), None);
    }
}
