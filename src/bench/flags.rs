//! The flags of `etcd-rs bench`, named and defaulted as etcd's `benchmark` tool names them
//! (`tools/benchmark/cmd/*.go` of etcd 3.5): global flags (`--endpoints`, `--conns`,
//! `--clients`, ...) may come before or after the subcommand, each subcommand has its own.
//! Syntax as Go's flag package: `--total 200`, `--total=200`, `--sequential-keys`,
//! `--prevkv=false`.

use std::time::Duration;

/// A command line `etcd-rs bench` refuses, with the reason in words.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage_error(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// What the summary is printed as (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// etcd's text summary (the default).
    Text,
    /// One JSON object on stdout, for scripts (`--output json`, as etcd's tool).
    Json,
}

/// Flags shared by every subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    /// `--endpoints`: gRPC endpoints, `host:port` or `http://host:port`.
    pub endpoints: Vec<String>,
    /// `--conns`: gRPC connections (HTTP/2), opened round-robin over the endpoints.
    pub conns: usize,
    /// `--clients`: concurrent clients, spread round-robin over the connections.
    pub clients: usize,
    /// `--dial-timeout`: how long opening one connection may take.
    pub dial_timeout: Duration,
    /// `--target-leader`: send everything to the endpoint of the leader.
    pub target_leader: bool,
    /// `--output`: text or json.
    pub output: Output,
    /// `--precise`: print seconds with full precision instead of 4 decimals.
    pub precise: bool,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            endpoints: vec!["127.0.0.1:2379".to_string()],
            conns: 1,
            clients: 1,
            dial_timeout: DIAL_TIMEOUT_DEFAULT,
            target_leader: false,
            output: Output::Text,
            precise: false,
        }
    }
}

/// `--dial-timeout` when not given. etcd's tool defaults to 0 (gRPC's own 20 s); a
/// benchmark on loopback that cannot connect in 5 s will not measure anything useful.
pub const DIAL_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);

/// Key and value shapes of `put` and `txn-put`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFlags {
    /// `--key-size`: bytes per key (keys are the zero-padded decimal key index).
    pub key_size: usize,
    /// `--val-size`: bytes per value.
    pub val_size: usize,
    /// `--key-space-size`: how many distinct keys (1 by default, as etcd's tool).
    pub key_space_size: u64,
    /// `--sequential-keys`: walk the key space in order instead of at random (`put` only,
    /// as in etcd's tool; `txn-put` is always sequential).
    pub sequential_keys: bool,
}

impl Default for KeyFlags {
    fn default() -> Self {
        KeyFlags {
            key_size: 8,
            val_size: 8,
            key_space_size: 1,
            sequential_keys: false,
        }
    }
}

/// How many requests, and how fast (`put`, `range`, `txn-put`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadFlags {
    /// `--total`: requests in all.
    pub total: u64,
    /// `--rate`: most requests per second over all clients; 0 is no limit.
    pub rate: u64,
}

impl Default for LoadFlags {
    fn default() -> Self {
        LoadFlags {
            total: 10_000,
            rate: 0,
        }
    }
}

/// `range --consistency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// `l`: linearizable (ReadIndex through the leader).
    Linearizable,
    /// `s`: serializable (the member's own state).
    Serializable,
}

/// `watch-latency`'s flags (etcd 3.5's names and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchLatencyFlags {
    /// `--streams`: watch streams, spread over the clients.
    pub streams: usize,
    /// `--watchers-per-stream`: watches of the key on each stream.
    pub watchers_per_stream: usize,
    /// `--prevkv`: ask for the previous key-value in each event.
    pub prevkv: bool,
    /// `--put-total`: puts of the watched key.
    pub put_total: u64,
    /// `--put-rate`: puts per second.
    pub put_rate: u64,
    /// `--key-size`: bytes of the watched key.
    pub key_size: usize,
    /// `--val-size`: bytes of each value put.
    pub val_size: usize,
}

impl Default for WatchLatencyFlags {
    fn default() -> Self {
        WatchLatencyFlags {
            streams: 10,
            watchers_per_stream: 10,
            prevkv: false,
            put_total: 1000,
            put_rate: 100,
            key_size: 32,
            val_size: 32,
        }
    }
}

/// A subcommand with its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `put`: puts of `--key-size` keys and `--val-size` values.
    Put {
        /// Keys and values.
        keys: KeyFlags,
        /// Total and rate.
        load: LoadFlags,
    },
    /// `range key [end]`: reads of one key or of `[key, end)`.
    Range {
        /// The key read.
        key: String,
        /// The exclusive end of the range, if a range.
        end: Option<String>,
        /// `--consistency l|s`.
        consistency: Consistency,
        /// Total and rate.
        load: LoadFlags,
    },
    /// `txn-put`: transactions of `--txn-ops` puts each.
    TxnPut {
        /// Keys and values.
        keys: KeyFlags,
        /// Total and rate.
        load: LoadFlags,
        /// `--txn-ops`: puts per transaction.
        txn_ops: usize,
    },
    /// `watch-latency`: how long after a put's acknowledgement its event reaches watchers.
    WatchLatency(WatchLatencyFlags),
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Run a benchmark.
    Run(Global, Command),
    /// Print this help text and stop.
    Help(String),
}

/// Flags that take no value (`--flag` means true; `--flag=false` is allowed).
const BOOL_FLAGS: [&str; 5] = [
    "target-leader",
    "precise",
    "sequential-keys",
    "prevkv",
    "help",
];

/// Flags that take a value, of any subcommand (a name in neither list is unknown).
const VALUE_FLAGS: [&str; 19] = [
    "endpoints",
    "conns",
    "clients",
    "dial-timeout",
    "output",
    "total",
    "rate",
    "key-size",
    "val-size",
    "key-space-size",
    "consistency",
    "txn-ops",
    "streams",
    "watchers-per-stream",
    "put-total",
    "put-rate",
    // Accepted names of etcd's that take a value, refused later with a reason.
    "cert",
    "key",
    "cacert",
];

/// The help text.
pub fn usage() -> String {
    "usage: etcd-rs bench [global flags] <put|range|txn-put|watch-latency> [flags]

A load generator with the flags of etcd's `benchmark` tool; it prints etcd's summary
(total, slowest, fastest, average, stddev, requests/sec, latency percentiles).

global flags:
  --endpoints a,b,c      gRPC endpoints, host:port or http://host:port (127.0.0.1:2379)
  --conns N              gRPC connections, round-robin over the endpoints (1)
  --clients N            concurrent clients, round-robin over the connections (1)
  --dial-timeout D       timeout of opening one connection (5s)
  --target-leader        connect to the leader's endpoint only
  --output json          one JSON object instead of the text summary
  --precise              full precision instead of 4 decimals

put:            --total 10000 --rate 0 --key-size 8 --val-size 8 --key-space-size 1
                --sequential-keys
range KEY [END]: --total 10000 --rate 0 --consistency l|s
txn-put:        --total 10000 --rate 0 --key-size 8 --val-size 8 --key-space-size 1
                --txn-ops 1
watch-latency:  --put-total 1000 --put-rate 100 --key-size 32 --val-size 32
                --streams 10 --watchers-per-stream 10 --prevkv

Keys are the zero-padded decimal key index (key 7 of size 8 is \"00000007\"). A progress
bar is drawn on stderr when stderr is a terminal."
        .to_string()
}

/// Parses the arguments after `bench`.
pub fn parse(args: &[String]) -> Result<Parsed, UsageError> {
    let (flags, positionals) = split(args)?;
    if flags.iter().any(|(name, _)| name == "help" || name == "h") {
        return Ok(Parsed::Help(usage()));
    }
    let Some((command_name, operands)) = positionals.split_first() else {
        return Err(usage_error(
            "a subcommand is needed: put, range, txn-put or watch-latency",
        ));
    };
    let mut global = Global::default();
    let mut command = match command_name.as_str() {
        "put" => Command::Put {
            keys: KeyFlags::default(),
            load: LoadFlags::default(),
        },
        "range" => match operands {
            [key] | [key, _] => Command::Range {
                key: key.clone(),
                end: operands.get(1).cloned(),
                consistency: Consistency::Linearizable,
                load: LoadFlags::default(),
            },
            _ => return Err(usage_error("range takes a key and an optional range end")),
        },
        "txn-put" => Command::TxnPut {
            keys: KeyFlags::default(),
            load: LoadFlags::default(),
            txn_ops: 1,
        },
        "watch-latency" => Command::WatchLatency(WatchLatencyFlags::default()),
        other => return Err(usage_error(format!("unknown subcommand {other:?}"))),
    };
    if !matches!(command, Command::Range { .. }) && !operands.is_empty() {
        return Err(usage_error(format!(
            "{command_name} takes no arguments, got {:?}",
            operands[0]
        )));
    }
    for (name, value) in &flags {
        let flag = Flag {
            name,
            value: value.as_deref(),
        };
        if !global.apply(&flag)? && !command.apply(&flag)? {
            return Err(usage_error(format!(
                "unknown flag --{name} for `bench {command_name}`"
            )));
        }
    }
    validate(&global, &command)?;
    Ok(Parsed::Run(global, command))
}

/// Flags as given (name, value) and positional arguments.
type Split = (Vec<(String, Option<String>)>, Vec<String>);

/// Splits the arguments into flags and positional arguments.
fn split(args: &[String]) -> Result<Split, UsageError> {
    let mut flags = Vec::new();
    let mut positionals = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(body) = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .filter(|body| !body.is_empty())
        else {
            positionals.push(arg.clone());
            continue;
        };
        let (name, value) = match body.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None if BOOL_FLAGS.contains(&body) || body == "h" => (body.to_string(), None),
            None if !VALUE_FLAGS.contains(&body) => {
                return Err(usage_error(format!("unknown flag --{body}")));
            }
            None => {
                let value = it
                    .next()
                    .ok_or_else(|| usage_error(format!("flag needs an argument: --{body}")))?;
                (body.to_string(), Some(value.clone()))
            }
        };
        flags.push((name, value));
    }
    Ok((flags, positionals))
}

/// One flag as given.
struct Flag<'a> {
    name: &'a str,
    /// `None` for a boolean flag given without `=value`.
    value: Option<&'a str>,
}

impl Flag<'_> {
    fn text(&self) -> Result<&str, UsageError> {
        self.value
            .ok_or_else(|| usage_error(format!("flag needs an argument: --{}", self.name)))
    }

    fn number<T: std::str::FromStr>(&self) -> Result<T, UsageError>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.text()?;
        text.parse()
            .map_err(|e| usage_error(format!("invalid value {text:?} for --{}: {e}", self.name)))
    }

    fn boolean(&self) -> Result<bool, UsageError> {
        match self.value {
            None | Some("true" | "1" | "t" | "T" | "TRUE" | "True") => Ok(true),
            Some("false" | "0" | "f" | "F" | "FALSE" | "False") => Ok(false),
            Some(other) => Err(usage_error(format!(
                "invalid boolean value {other:?} for --{}",
                self.name
            ))),
        }
    }
}

impl Global {
    /// Applies `flag` if it is a global flag; false if it is not one.
    fn apply(&mut self, flag: &Flag<'_>) -> Result<bool, UsageError> {
        match flag.name {
            "endpoints" => {
                self.endpoints = flag
                    .text()?
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            "conns" => self.conns = flag.number()?,
            "clients" => self.clients = flag.number()?,
            "dial-timeout" => self.dial_timeout = parse_duration(flag.text()?)?,
            "cert" | "key" | "cacert" => {
                return Err(usage_error(format!(
                    "--{}: TLS is not supported by etcd-rs bench",
                    flag.name
                )));
            }
            "target-leader" => self.target_leader = flag.boolean()?,
            "precise" => self.precise = flag.boolean()?,
            "output" => {
                self.output = match flag.text()? {
                    "json" => Output::Json,
                    "" | "text" => Output::Text,
                    other => {
                        return Err(usage_error(format!(
                            "--output {other:?}: only json (or text) is supported"
                        )));
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl KeyFlags {
    fn apply(&mut self, flag: &Flag<'_>, sequential_allowed: bool) -> Result<bool, UsageError> {
        match flag.name {
            "key-size" => self.key_size = flag.number()?,
            "val-size" => self.val_size = flag.number()?,
            "key-space-size" => self.key_space_size = flag.number()?,
            "sequential-keys" if sequential_allowed => self.sequential_keys = flag.boolean()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl LoadFlags {
    fn apply(&mut self, flag: &Flag<'_>) -> Result<bool, UsageError> {
        match flag.name {
            "total" => self.total = flag.number()?,
            "rate" => self.rate = flag.number()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Command {
    /// Applies `flag` if this subcommand has it; false if it does not.
    fn apply(&mut self, flag: &Flag<'_>) -> Result<bool, UsageError> {
        match self {
            Command::Put { keys, load } => Ok(keys.apply(flag, true)? || load.apply(flag)?),
            Command::Range {
                consistency, load, ..
            } => {
                if flag.name == "consistency" {
                    *consistency = match flag.text()? {
                        "l" => Consistency::Linearizable,
                        "s" => Consistency::Serializable,
                        other => {
                            return Err(usage_error(format!(
                                "--consistency {other:?}: l (linearizable) or s (serializable)"
                            )));
                        }
                    };
                    return Ok(true);
                }
                load.apply(flag)
            }
            Command::TxnPut {
                keys,
                load,
                txn_ops,
            } => {
                if flag.name == "txn-ops" {
                    *txn_ops = flag.number()?;
                    return Ok(true);
                }
                Ok(keys.apply(flag, false)? || load.apply(flag)?)
            }
            Command::WatchLatency(w) => {
                match flag.name {
                    "streams" => w.streams = flag.number()?,
                    "watchers-per-stream" => w.watchers_per_stream = flag.number()?,
                    "prevkv" => w.prevkv = flag.boolean()?,
                    "put-total" => w.put_total = flag.number()?,
                    "put-rate" => w.put_rate = flag.number()?,
                    "key-size" => w.key_size = flag.number()?,
                    "val-size" => w.val_size = flag.number()?,
                    _ => return Ok(false),
                }
                Ok(true)
            }
        }
    }
}

fn validate(global: &Global, command: &Command) -> Result<(), UsageError> {
    if global.endpoints.is_empty() {
        return Err(usage_error("--endpoints is empty"));
    }
    if global.conns == 0 || global.clients == 0 {
        return Err(usage_error("--conns and --clients must be positive"));
    }
    if global.conns > global.clients {
        return Err(usage_error(format!(
            "--conns {} is more than --clients {}: each connection needs a client",
            global.conns, global.clients
        )));
    }
    match command {
        Command::Put { keys, .. } => keys.validate(),
        Command::TxnPut { keys, txn_ops, .. } => {
            keys.validate()?;
            if *txn_ops == 0 {
                return Err(usage_error("--txn-ops must be positive"));
            }
            if *txn_ops as u64 > keys.key_space_size {
                return Err(usage_error(format!(
                    "--txn-ops {txn_ops} is more than --key-space-size {}: a txn may not put \
                     one key twice",
                    keys.key_space_size
                )));
            }
            Ok(())
        }
        Command::Range { .. } => Ok(()),
        Command::WatchLatency(w) => {
            if w.streams == 0 || w.watchers_per_stream == 0 {
                return Err(usage_error(
                    "--streams and --watchers-per-stream must be positive",
                ));
            }
            if w.put_total == 0 || w.put_rate == 0 {
                return Err(usage_error("--put-total and --put-rate must be positive"));
            }
            if w.key_size == 0 {
                return Err(usage_error("--key-size must be positive"));
            }
            Ok(())
        }
    }
}

impl KeyFlags {
    fn validate(&self) -> Result<(), UsageError> {
        if self.key_space_size == 0 {
            return Err(usage_error(format!(
                "expected positive --key-space-size, got ({})",
                self.key_space_size
            )));
        }
        let digits = (self.key_space_size - 1).to_string().len();
        if self.key_size < digits {
            return Err(usage_error(format!(
                "--key-size {} is too small for --key-space-size {}: keys are decimal key \
                 indices, {digits} digits",
                self.key_size, self.key_space_size
            )));
        }
        Ok(())
    }
}

/// A Go-style duration of one unit: `500ms`, `5s`, `1m`, `1.5s`, or a bare number of
/// seconds.
fn parse_duration(text: &str) -> Result<Duration, UsageError> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let seconds_per_unit = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" | "" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(usage_error(format!("invalid duration {text:?}"))),
    };
    let number: f64 = number
        .parse()
        .map_err(|_| usage_error(format!("invalid duration {text:?}")))?;
    Ok(Duration::from_secs_f64(number * seconds_per_unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn run(line: &str) -> (Global, Command) {
        match parse(&args(line)).expect("parses") {
            Parsed::Run(global, command) => (global, command),
            Parsed::Help(_) => panic!("help instead of a run"),
        }
    }

    #[test]
    fn global_flags_go_before_or_after_the_subcommand() {
        let (global, command) = run(
            "--endpoints=127.0.0.1:1,127.0.0.1:2 --conns 10 put --clients=100 --total 5 \
             --sequential-keys --key-space-size 100000",
        );
        assert_eq!(global.endpoints, ["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!((global.conns, global.clients), (10, 100));
        let Command::Put { keys, load } = command else {
            panic!("not put: {command:?}")
        };
        assert_eq!(load.total, 5);
        assert!(keys.sequential_keys);
        assert_eq!(keys.key_space_size, 100_000);
        assert_eq!(keys.key_size, 8, "etcd's default key size");
    }

    #[test]
    fn range_takes_a_key_an_optional_end_and_a_consistency() {
        let (_, command) = run("range foo fop --consistency s --total 3");
        assert_eq!(
            command,
            Command::Range {
                key: "foo".into(),
                end: Some("fop".into()),
                consistency: Consistency::Serializable,
                load: LoadFlags { total: 3, rate: 0 },
            }
        );
        assert!(parse(&args("range")).is_err(), "a key is needed");
        assert!(parse(&args("range a b c")).is_err());
        assert!(parse(&args("range a --consistency x")).is_err());
    }

    #[test]
    fn watch_latency_has_etcd_3_5_flags_and_defaults() {
        let (_, command) = run("watch-latency --put-total 10 --streams 2 --prevkv");
        let Command::WatchLatency(w) = command else {
            panic!("not watch-latency")
        };
        assert_eq!((w.put_total, w.put_rate, w.streams), (10, 100, 2));
        assert_eq!(
            (w.watchers_per_stream, w.key_size, w.val_size),
            (10, 32, 32)
        );
        assert!(w.prevkv);
    }

    #[test]
    fn refusals_say_why() {
        let refused = |line: &str| parse(&args(line)).expect_err(line).to_string();
        assert!(refused("put --txn-ops 2").contains("unknown flag --txn-ops"));
        assert!(refused("txn-put --sequential-keys").contains("unknown flag"));
        assert!(refused("txn-put --txn-ops 3 --key-space-size 2").contains("one key twice"));
        assert!(refused("put --key-size 2 --key-space-size 1000").contains("3 digits"));
        assert!(refused("--conns 2 put").contains("more than --clients"));
        assert!(refused("put --total").contains("needs an argument"));
        assert!(refused("put --bogus").contains("unknown flag --bogus"));
        assert!(refused("put --cacert ca.pem").contains("TLS"));
        assert!(refused("get").contains("unknown subcommand"));
        assert!(refused("").contains("subcommand is needed"));
    }

    #[test]
    fn durations_read_as_go_writes_them() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn help_wins_over_everything() {
        assert!(matches!(parse(&args("put --help")), Ok(Parsed::Help(_))));
        assert!(matches!(parse(&args("-h")), Ok(Parsed::Help(_))));
    }
}
