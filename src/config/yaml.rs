//! etcd's YAML config file (`embed.ConfigFromFile` and etcdmain's `configFromFile`).
//!
//! etcd turns the YAML into JSON and decodes it into its Go config struct, which decides
//! what is accepted: keys match field names case-insensitively, unknown keys are ignored,
//! `null` leaves the default, numbers must fit the field (durations are nanoseconds), and
//! URL lists are comma-separated strings. Type mismatches give Go's `encoding/json` message
//! for the first offending key; bad URLs give etcd's "unexpected error setting up ...".

use serde_yaml::Value as Yaml;

use super::error::ConfigError;
use super::flags::{self, FlagSpec, Value, ValueType};
use super::settings::{Origin, Settings};
use super::url::new_urls_csv;

/// The keys of the two transport-security sections and the prefix of their flags.
const SECURITY_SECTIONS: &[(&str, &str)] = &[
    ("client-transport-security", ""),
    ("peer-transport-security", "peer-"),
];

/// Reads a config file's text into settings.
pub(crate) fn settings_from_yaml(text: &str) -> Result<Settings, ConfigError> {
    let doc: Yaml = serde_yaml::from_str(text)
        .map_err(|e| ConfigError::Invalid(format!("error converting YAML to JSON: yaml: {e}")))?;
    let mut settings = Settings::default();
    let map = match doc {
        Yaml::Null => return Ok(settings),
        Yaml::Mapping(m) => m,
        other => {
            return Err(json_error(format!(
                "cannot unmarshal {} into Go value of type embed.configYAML",
                kind(&other)
            )));
        }
    };
    for (key, node) in &map {
        let Some(key) = key.as_str() else { continue };
        if let Some((section, prefix)) = SECURITY_SECTIONS
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(key))
        {
            read_security_section(section, prefix, node, &mut settings)?;
            continue;
        }
        let spec = flags::FLAGS
            .iter()
            .find(|s| s.in_config_file && s.name.eq_ignore_ascii_case(key));
        let Some(spec) = spec else {
            settings.warnings.push(format!(
                "etcd-rs: unknown config-file key {key:?}; ignoring it, as etcd does"
            ));
            continue;
        };
        if let Some(value) = read_value(spec, node)? {
            settings.set(spec, value, Origin::File);
        }
    }
    Ok(settings)
}

/// Go's `encoding/json` type error, as etcd's YAML loader wraps it.
fn json_error(msg: String) -> ConfigError {
    ConfigError::Invalid(format!(
        "error unmarshaling JSON: while decoding JSON: json: {msg}"
    ))
}

fn type_error(what: String, field: &str, go_type: &str) -> ConfigError {
    json_error(format!(
        "cannot unmarshal {what} into Go struct field configYAML.{field} of type {go_type}"
    ))
}

/// The same inside a transport-security section, which Go names by its own struct.
fn section_type_error(what: String, field: &str, go_type: &str) -> ConfigError {
    json_error(format!(
        "cannot unmarshal {what} into Go struct field securityConfig.{field} of type {go_type}"
    ))
}

/// The JSON kind of a YAML value, as Go names it in type errors.
fn kind(node: &Yaml) -> &'static str {
    match node {
        Yaml::Null => "null",
        Yaml::Bool(_) => "bool",
        Yaml::Number(_) => "number",
        Yaml::String(_) => "string",
        Yaml::Sequence(_) => "array",
        Yaml::Mapping(_) => "object",
        Yaml::Tagged(t) => kind(&t.value),
    }
}

/// The Go type of the config struct field behind a key.
fn go_type(spec: &FlagSpec) -> &'static str {
    match spec.value {
        ValueType::String | ValueType::Choice(_) => "string",
        ValueType::Urls | ValueType::UrlsOrStar => "string",
        ValueType::Bool | ValueType::Ignored => "bool",
        ValueType::Uint => "uint",
        ValueType::Uint64 => "uint64",
        ValueType::Uint32 => "uint32",
        ValueType::Int => "int",
        ValueType::Int64 => "int64",
        ValueType::Duration => "time.Duration",
        ValueType::Strings => "[]string",
        // host-whitelist is a comma-separated string in the file; the log outputs a list.
        ValueType::UniqueStrings if spec.name == "host-whitelist" => "string",
        ValueType::UniqueStrings => "[]string",
    }
}

/// One key's value, or `None` for a YAML null (the default stays).
fn read_value(spec: &'static FlagSpec, node: &Yaml) -> Result<Option<Value>, ConfigError> {
    let node = match node {
        Yaml::Tagged(t) => &t.value,
        n => n,
    };
    if matches!(node, Yaml::Null) {
        return Ok(None);
    }
    let field = spec.name;
    let gt = go_type(spec);
    let value = match gt {
        "string" => {
            let Yaml::String(s) = node else {
                return Err(type_error(kind(node).to_string(), field, gt));
            };
            string_value(spec, s)?
        }
        "bool" => Value::Bool(
            yaml_bool(node).ok_or_else(|| type_error(kind(node).to_string(), field, gt))?,
        ),
        "[]string" => {
            let Yaml::Sequence(items) = node else {
                return Err(type_error(kind(node).to_string(), field, gt));
            };
            let mut list = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Yaml::String(s) => list.push(s.clone()),
                    other => return Err(type_error(kind(other).to_string(), field, "string")),
                }
            }
            if spec.value == ValueType::UniqueStrings {
                list.sort();
                list.dedup();
            }
            Value::List(list)
        }
        _ => number_value(spec, node, gt)?,
    };
    Ok(Some(value))
}

/// A string key: plain, a URL list, `--cors`, `--host-whitelist`, or a choice.
fn string_value(spec: &FlagSpec, s: &str) -> Result<Value, ConfigError> {
    let setting_up =
        |e: String| ConfigError::Fatal(format!("unexpected error setting up {}: {e}", spec.name));
    Ok(match spec.value {
        // An empty URL string leaves the default, as etcd's loader does.
        ValueType::Urls if s.is_empty() => Value::Keep,
        ValueType::Urls => Value::List(new_urls_csv(s).map_err(setting_up)?),
        ValueType::UrlsOrStar if s.is_empty() => Value::Keep,
        ValueType::UrlsOrStar => flags::parse_value(spec, s).map_err(setting_up)?,
        ValueType::UniqueStrings if s.is_empty() => Value::Keep,
        ValueType::UniqueStrings => Value::List(flags::unique_strings(s)),
        // etcd validates the cluster state later, with its own message.
        ValueType::Choice(_) if spec.name == "initial-cluster-state" => {
            Value::Str(if s.is_empty() { "new" } else { s }.to_string())
        }
        ValueType::Choice(valid) => {
            if s.is_empty() {
                return Ok(Value::Keep);
            }
            if !valid.contains(&s) {
                let what = if spec.name == "proxy" {
                    "proxyFlag".to_string()
                } else {
                    format!("{} flag", spec.name)
                };
                return Err(ConfigError::Fatal(format!(
                    "unexpected error setting up {what}: invalid value"
                )));
            }
            Value::Str(s.to_string())
        }
        _ => Value::Str(s.to_string()),
    })
}

/// A YAML 1.1 boolean, as etcd's YAML library reads one (`yes`, `on`, `true`, ...).
fn yaml_bool(node: &Yaml) -> Option<bool> {
    match node {
        Yaml::Bool(b) => Some(*b),
        Yaml::String(s) => match s.as_str() {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A number key (durations are nanoseconds), range-checked as Go's JSON decoder does.
fn number_value(spec: &FlagSpec, node: &Yaml, gt: &str) -> Result<Value, ConfigError> {
    let field = spec.name;
    let (n, shown): (i128, String) = match node {
        Yaml::Number(n) => {
            let shown = n.to_string();
            let whole = if let Some(u) = n.as_u64() {
                Some(i128::from(u))
            } else if let Some(i) = n.as_i64() {
                Some(i128::from(i))
            } else {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1.9e19)
                    .map(|f| f as i128)
            };
            match whole {
                Some(w) => (w, shown),
                None => return Err(type_error(format!("number {shown}"), field, gt)),
            }
        }
        // YAML 1.1 integers YAML 1.2 reads as strings (`0b101`, `010`, `1_000`).
        Yaml::String(s) => match yaml11_int(s) {
            Some(v) => (v, s.clone()),
            None => return Err(type_error("string".to_string(), field, gt)),
        },
        other => return Err(type_error(kind(other).to_string(), field, gt)),
    };
    let (min, max): (i128, i128) = match spec.value {
        ValueType::Uint | ValueType::Uint64 => (0, i128::from(u64::MAX)),
        ValueType::Uint32 => (0, i128::from(u32::MAX)),
        _ => (i128::from(i64::MIN), i128::from(i64::MAX)),
    };
    if n < min || n > max {
        return Err(type_error(format!("number {shown}"), field, gt));
    }
    Ok(match spec.value {
        ValueType::Uint | ValueType::Uint64 | ValueType::Uint32 => Value::U64(n as u64),
        ValueType::Duration => Value::Nanos(n as i64),
        _ => Value::I64(n as i64),
    })
}

/// The YAML 1.1 integer forms: sign, `0b`, `0x`, leading-zero octal, underscores.
fn yaml11_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let body = body.replace('_', "");
    let v = if let Some(b) = body.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else if let Some(x) = body.strip_prefix("0x") {
        i128::from_str_radix(x, 16).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i128::from_str_radix(&body[1..], 8).ok()?
    } else if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        body.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

/// A `client-transport-security` or `peer-transport-security` section (etcd's
/// `securityConfig`): each entry sets the flag of the same name (`peer-` prefixed in the
/// peer section).
fn read_security_section(
    section: &str,
    prefix: &str,
    node: &Yaml,
    settings: &mut Settings,
) -> Result<(), ConfigError> {
    let node = match node {
        Yaml::Tagged(t) => &t.value,
        n => n,
    };
    let map = match node {
        Yaml::Null => return Ok(()),
        Yaml::Mapping(m) => m,
        other => {
            return Err(type_error(
                kind(other).to_string(),
                section,
                "embed.securityConfig",
            ));
        }
    };
    const FIELDS: &[(&str, bool)] = &[
        ("cert-file", false),
        ("key-file", false),
        ("client-cert-auth", true),
        ("trusted-ca-file", false),
        ("auto-tls", true),
    ];
    for (key, value) in map {
        let Some(key) = key.as_str() else { continue };
        let Some(&(name, is_bool)) = FIELDS.iter().find(|(n, _)| n.eq_ignore_ascii_case(key))
        else {
            continue;
        };
        let field = format!("{section}.{name}");
        let parsed = match value {
            Yaml::Null => continue,
            v if is_bool => Value::Bool(
                yaml_bool(v)
                    .ok_or_else(|| section_type_error(kind(v).to_string(), &field, "bool"))?,
            ),
            Yaml::String(s) => Value::Str(s.clone()),
            v => return Err(section_type_error(kind(v).to_string(), &field, "string")),
        };
        let flag = format!("{prefix}{name}");
        if let Some(spec) = flags::lookup(&flag) {
            settings.set(spec, parsed, Origin::File);
        }
    }
    Ok(())
}
