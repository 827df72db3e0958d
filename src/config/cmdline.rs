//! The command line and `ETCD_*` environment, read as etcd 3.4 reads them: Go's `flag`
//! package (`-name value`, `--name=value`, bool flags take no separate value, parsing stops
//! at the first non-flag), then etcd's `flags.SetFlagsFromEnv`.

use std::collections::BTreeSet;

use super::error::ConfigError;
use super::flags::{self, FlagSpec, Support, Value};
use super::goparse::quote;
use super::settings::{Origin, Settings};

/// The command line after Go's flag parsing.
#[derive(Debug, Default)]
pub(crate) struct CommandLine {
    /// The flags given, in order, with their values.
    pub given: Vec<(&'static FlagSpec, Value)>,
    /// The arguments left after the flags (etcd refuses any).
    pub rest: Vec<String>,
    /// etcd's warnings for its ignored flags, in order.
    pub warnings: Vec<String>,
}

impl CommandLine {
    /// The last value given for a flag.
    pub fn last(&self, name: &str) -> Option<&Value> {
        self.given
            .iter()
            .rev()
            .find(|(s, v)| s.name == name && *v != Value::Keep)
            .map(|(_, v)| v)
    }
}

/// Go's `FlagSet.Parse` over etcd's flags. `args` excludes the program name.
pub(crate) fn parse_args(args: &[String]) -> Result<CommandLine, ConfigError> {
    let mut out = CommandLine::default();
    let mut i = 0;
    while i < args.len() {
        let s = args[i].as_str();
        let b = s.as_bytes();
        if b.len() < 2 || b[0] != b'-' {
            break;
        }
        let mut minuses = 1;
        if b[1] == b'-' {
            minuses = 2;
            if b.len() == 2 {
                // "--" ends the flags.
                i += 1;
                break;
            }
        }
        let body = &s[minuses..];
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(ConfigError::Flag(format!("bad flag syntax: {s}")));
        }
        i += 1;
        let (name, inline) = match body[1..].find('=') {
            Some(eq) => (&body[..eq + 1], Some(&body[eq + 2..])),
            None => (body, None),
        };
        let Some(spec) = flags::lookup(name) else {
            if name == "help" || name == "h" {
                return Err(ConfigError::HelpRequested);
            }
            return Err(ConfigError::Flag(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        let raw = if spec.value.is_bool() {
            inline.unwrap_or("true")
        } else if let Some(v) = inline {
            v
        } else if i < args.len() {
            i += 1;
            args[i - 1].as_str()
        } else {
            return Err(ConfigError::Flag(format!(
                "flag needs an argument: -{name}"
            )));
        };
        if spec.support == Support::EtcdIgnored {
            out.warnings.push(ignored_warning(spec));
            out.given.push((spec, Value::Keep));
            continue;
        }
        let value = flags::parse_value(spec, raw).map_err(|e| {
            if spec.value.is_bool() {
                ConfigError::Flag(format!(
                    "invalid boolean value {} for -{name}: {e}",
                    quote(raw)
                ))
            } else {
                ConfigError::Flag(format!(
                    "invalid value {} for flag -{name}: {e}",
                    quote(raw)
                ))
            }
        })?;
        out.given.push((spec, value));
    }
    out.rest = args[i..].to_vec();
    Ok(out)
}

/// etcd's warning when one of its ignored flags is set.
fn ignored_warning(spec: &FlagSpec) -> String {
    format!(
        r#"flag "-{}" is no longer supported - ignoring."#,
        spec.name
    )
}

/// Go's `os.Getenv` over the given environment: the first entry of that name.
pub(crate) fn getenv<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The command line and the environment as one set of settings: etcd's
/// `configFromCmdLine` up to validation (`flags.SetFlagsFromEnv` and its `verifyEnv`).
pub(crate) fn settings_from_cmdline(
    cmd: &CommandLine,
    env: &[(String, String)],
) -> Result<Settings, ConfigError> {
    let mut settings = Settings::default();
    settings.warnings.extend(cmd.warnings.iter().cloned());
    for (spec, value) in &cmd.given {
        settings.set(spec, value.clone(), Origin::Flag);
    }

    let on_cmdline: BTreeSet<String> = cmd.given.iter().map(|(s, _)| s.env_name()).collect();
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut env_error = None;
    // Go's VisitAll walks flags in lexical order of their names.
    let mut specs: Vec<&'static FlagSpec> = flags::FLAGS.iter().collect();
    specs.sort_by_key(|s| s.name);
    for spec in specs {
        let key = spec.env_name();
        if on_cmdline.contains(&key) {
            continue;
        }
        let Some(raw) = getenv(env, &key).filter(|v| !v.is_empty()) else {
            continue;
        };
        used.insert(key.clone());
        if spec.support == Support::EtcdIgnored {
            settings.warnings.push(ignored_warning(spec));
        }
        match flags::parse_value(spec, raw) {
            Ok(value) => {
                settings.set(spec, value, Origin::Env(key.clone()));
                settings.notes.push(format!(
                    "recognized and used environment variable {key}={raw}"
                ));
            }
            Err(e) => {
                env_error = Some(ConfigError::Invalid(format!(
                    "invalid value {} for {key}: {e}",
                    quote(raw)
                )));
            }
        }
    }
    for (key, value) in env {
        if used.contains(key) {
            continue;
        }
        if on_cmdline.contains(key) {
            return Err(ConfigError::ShadowedEnv(key.clone()));
        }
        if key.starts_with("ETCD_") {
            settings
                .warnings
                .push(format!("unrecognized environment variable {key}={value}"));
        }
    }
    match env_error {
        Some(e) => Err(e),
        None => Ok(settings),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn value_of(cmd: &CommandLine, name: &str) -> Value {
        cmd.last(name).cloned().unwrap()
    }

    #[test]
    fn every_go_flag_spelling_is_accepted() {
        for a in [
            &["--name=x"][..],
            &["--name", "x"],
            &["-name", "x"],
            &["-name=x"],
        ] {
            let cmd = parse_args(&args(a)).unwrap();
            assert_eq!(value_of(&cmd, "name"), Value::Str("x".into()), "{a:?}");
        }
    }

    #[test]
    fn bool_flags_take_no_separate_value() {
        let cmd = parse_args(&args(&["--pre-vote"])).unwrap();
        assert_eq!(value_of(&cmd, "pre-vote"), Value::Bool(true));
        let cmd = parse_args(&args(&["--pre-vote=false"])).unwrap();
        assert_eq!(value_of(&cmd, "pre-vote"), Value::Bool(false));
        // `--pre-vote false` leaves "false" as a positional argument, as in Go.
        let cmd = parse_args(&args(&["--pre-vote", "false"])).unwrap();
        assert_eq!(value_of(&cmd, "pre-vote"), Value::Bool(true));
        assert_eq!(cmd.rest, vec!["false"]);
    }

    #[test]
    fn parsing_stops_at_the_first_non_flag_and_after_double_dash() {
        let cmd = parse_args(&args(&["--name", "a", "extra", "--name=b"])).unwrap();
        assert_eq!(value_of(&cmd, "name"), Value::Str("a".into()));
        assert_eq!(cmd.rest, vec!["extra", "--name=b"]);
        let cmd = parse_args(&args(&["--", "--name=b"])).unwrap();
        assert_eq!(cmd.rest, vec!["--name=b"]);
        let cmd = parse_args(&args(&["-"])).unwrap();
        assert_eq!(cmd.rest, vec!["-"]);
    }

    /// Messages checked against etcd 3.4.23 (`etcd <args>`).
    #[test]
    fn flag_errors_read_as_gos() {
        let cases: &[(&[&str], &str)] = &[
            (&["--foo"], "flag provided but not defined: -foo"),
            (&["-foo=1"], "flag provided but not defined: -foo"),
            (&["---x"], "bad flag syntax: ---x"),
            (&["-=x"], "bad flag syntax: -=x"),
            (
                &["--heartbeat-interval=abc"],
                r#"invalid value "abc" for flag -heartbeat-interval: parse error"#,
            ),
            (
                &["--snapshot-count=99999999999999999999999"],
                r#"invalid value "99999999999999999999999" for flag -snapshot-count: value out of range"#,
            ),
            (
                &["--debug=maybe"],
                r#"invalid boolean value "maybe" for -debug: parse error"#,
            ),
            (
                &["--heartbeat-interval"],
                "flag needs an argument: -heartbeat-interval",
            ),
            (
                &["--initial-cluster-state=bogus"],
                r#"invalid value "bogus" for flag -initial-cluster-state: invalid value"#,
            ),
            (
                &["--max-concurrent-streams=-1"],
                r#"invalid value "-1" for flag -max-concurrent-streams: strconv.ParseUint: parsing "-1": invalid syntax"#,
            ),
            (
                &["--experimental-watch-progress-notify-interval=10"],
                r#"invalid value "10" for flag -experimental-watch-progress-notify-interval: parse error"#,
            ),
            (
                &["--listen-client-urls=localhost:2379"],
                r#"invalid value "localhost:2379" for flag -listen-client-urls: URL scheme must be http, https, unix, or unixs: localhost:2379"#,
            ),
            (
                &["--cors=foo"],
                r#"invalid value "foo" for flag -cors: URL scheme must be http, https, unix, or unixs: foo"#,
            ),
        ];
        for (a, want) in cases {
            let err = parse_args(&args(a)).unwrap_err();
            assert_eq!(err, ConfigError::Flag(want.to_string()), "{a:?}");
            assert_eq!(err.exit_code(), 2);
        }
    }

    #[test]
    fn help_is_not_an_error() {
        for a in ["-h", "--help", "-help"] {
            assert_eq!(
                parse_args(&args(&[a])).unwrap_err(),
                ConfigError::HelpRequested
            );
        }
    }

    #[test]
    fn etcds_ignored_flags_warn_like_etcd() {
        let cmd = parse_args(&args(&["-vv", "--snapshot"])).unwrap();
        assert_eq!(
            cmd.warnings,
            vec![
                r#"flag "-vv" is no longer supported - ignoring."#,
                r#"flag "-snapshot" is no longer supported - ignoring."#
            ]
        );
    }
}
