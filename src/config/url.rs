//! URLs as etcd reads them: Go's `net/url.Parse` (the subset etcd's URLs reach), etcd's
//! `types.NewURLs` (scheme, `host:port`, no path, sorted), `types.NewURLsMap` for
//! `--initial-cluster`, and the bind/advertise checks of `embed.Config.Validate`.
//!
//! URLs are kept as their canonical strings (Go's `URL.String()`): that is what etcd
//! compares, sorts, prints and hashes into member IDs.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::goparse::quote;

/// A URL split as Go's `net/url` splits it (only the parts etcd's URLs use).
#[derive(Debug, Clone, PartialEq, Eq)]
struct GoUrl {
    scheme: String,
    opaque: String,
    user: Option<String>,
    host: String,
    path: String,
    query: Option<String>,
    fragment: String,
}

impl GoUrl {
    /// Go's `URL.String()` for the URLs that pass [`new_urls`].
    fn canonical(&self) -> String {
        let mut out = String::new();
        if !self.scheme.is_empty() {
            out.push_str(&self.scheme);
            out.push(':');
        }
        if !self.opaque.is_empty() {
            out.push_str(&self.opaque);
        } else if !self.scheme.is_empty() || !self.host.is_empty() || self.user.is_some() {
            if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                out.push_str("//");
            }
            if let Some(u) = &self.user {
                out.push_str(u);
                out.push('@');
            }
            out.push_str(&self.host);
        }
        out.push_str(&self.path);
        if let Some(q) = &self.query {
            out.push('?');
            out.push_str(q);
        }
        if !self.fragment.is_empty() {
            out.push('#');
            out.push_str(&self.fragment);
        }
        out
    }
}

/// Go's `url.Parse`, with its error text (`parse "x": first path segment in URL cannot
/// contain colon`).
fn parse_url(raw: &str) -> Result<GoUrl, String> {
    let (u, frag) = raw.split_once('#').unwrap_or((raw, ""));
    let fail = |msg: &str| Err(format!("parse {}: {msg}", quote(u)));
    if u.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return fail("net/url: invalid control character in URL");
    }
    let mut url = GoUrl {
        scheme: String::new(),
        opaque: String::new(),
        user: None,
        host: String::new(),
        path: String::new(),
        query: None,
        fragment: String::new(),
    };
    let (scheme, mut rest) = match get_scheme(u) {
        Ok(v) => v,
        Err(msg) => return fail(msg),
    };
    url.scheme = scheme.to_ascii_lowercase();
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        url.query = Some(String::new());
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        url.query = Some(q.to_string());
        rest = r;
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_string();
            return finish(url, frag, u);
        }
        let segment = rest.split('/').next().unwrap_or("");
        if segment.contains(':') {
            return fail("first path segment in URL cannot contain colon");
        }
    }
    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, path) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        let (user, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        url.host = match parse_host(host) {
            Ok(h) => h,
            Err(msg) => return fail(&msg),
        };
        if let Some(user) = user {
            if !user.bytes().all(valid_userinfo_byte) {
                return fail("net/url: invalid userinfo");
            }
            url.user = Some(user.to_string());
        }
        rest = path;
    }
    if let Err(msg) = check_escapes(rest) {
        return fail(&msg);
    }
    url.path = rest.to_string();
    finish(url, frag, u)
}

fn finish(mut url: GoUrl, frag: &str, u: &str) -> Result<GoUrl, String> {
    if let Err(msg) = check_escapes(frag) {
        return Err(format!("parse {}: {msg}", quote(u)));
    }
    url.fragment = frag.to_string();
    Ok(url)
}

/// Go's `getScheme`.
fn get_scheme(raw: &str) -> Result<(&str, &str), &'static str> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                if i == 0 {
                    return Ok(("", raw));
                }
            }
            b':' => {
                if i == 0 {
                    return Err("missing protocol scheme");
                }
                return Ok((&raw[..i], &raw[i + 1..]));
            }
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// Go's `parseHost`: bracketed IPv6, a numeric port, and only the characters Go allows.
fn parse_host(host: &str) -> Result<String, String> {
    if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err("missing ']' in host".to_string());
        };
        let colon_port = &host[i + 1..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", quote(colon_port)));
        }
    } else if let Some(i) = host.rfind(':') {
        let colon_port = &host[i..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", quote(colon_port)));
        }
    }
    let bytes = host.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'%' {
            let esc: String = host[i..].chars().take(3).collect();
            if bytes.len() < i + 3
                || !bytes[i + 1].is_ascii_hexdigit()
                || !bytes[i + 2].is_ascii_hexdigit()
            {
                return Err(format!("invalid URL escape {}", quote(&esc)));
            }
            i += 3;
            continue;
        }
        if c < 0x80 && !valid_host_byte(c) {
            return Err(format!(
                "invalid character {} in host name",
                quote(&(c as char).to_string())
            ));
        }
        i += 1;
    }
    Ok(host.to_string())
}

fn valid_optional_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// The ASCII bytes Go's `shouldEscape(c, encodeHost)` leaves alone.
fn valid_host_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!$&'()*+,;=:[]<>\"-_.~".contains(&c)
}

fn valid_userinfo_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c) || c >= 0x80
}

/// Percent escapes must be `%` and two hex digits.
fn check_escapes(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'%'
            && (b.len() < i + 3 || !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit())
        {
            let esc: String = s[i..].chars().take(3).collect();
            return Err(format!("invalid URL escape {}", quote(&esc)));
        }
    }
    Ok(())
}

/// Go's `net.SplitHostPort`, returning the host or Go's error text.
pub fn split_host_port(hostport: &str) -> Result<(String, String), &'static str> {
    const MISSING_PORT: &str = "missing port in address";
    const TOO_MANY_COLONS: &str = "too many colons in address";
    let Some(i) = hostport.rfind(':') else {
        return Err(MISSING_PORT);
    };
    let (host, j, k);
    if hostport.starts_with('[') {
        let Some(end) = hostport.find(']') else {
            return Err("missing ']' in address");
        };
        if end + 1 == hostport.len() {
            return Err(MISSING_PORT);
        } else if end + 1 != i {
            return Err(if hostport.as_bytes()[end + 1] == b':' {
                TOO_MANY_COLONS
            } else {
                MISSING_PORT
            });
        }
        host = &hostport[1..end];
        j = 1;
        k = end + 1;
    } else {
        host = &hostport[..i];
        if host.contains(':') {
            return Err(TOO_MANY_COLONS);
        }
        j = 0;
        k = 0;
    }
    if hostport[j..].contains('[') {
        return Err("unexpected '[' in address");
    }
    if hostport[k..].contains(']') {
        return Err("unexpected ']' in address");
    }
    Ok((host.to_string(), hostport[i + 1..].to_string()))
}

/// etcd's `types.NewURLs`: each comma-separated item trimmed and parsed, scheme `http`,
/// `https`, `unix` or `unixs`, a `host:port`, no path; returned as canonical strings,
/// sorted. The error is etcd's text.
pub fn new_urls(items: &[&str]) -> Result<Vec<String>, String> {
    if items.is_empty() {
        return Err("no valid URLs given".to_string());
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let item = item.trim();
        let u = parse_url(item)?;
        if !matches!(u.scheme.as_str(), "http" | "https" | "unix" | "unixs") {
            return Err(format!(
                "URL scheme must be http, https, unix, or unixs: {item}"
            ));
        }
        if split_host_port(&u.host).is_err() {
            return Err(format!(
                "URL address does not have the form \"host:port\": {item}"
            ));
        }
        if !u.path.is_empty() {
            return Err(format!("URL must not contain a path: {item}"));
        }
        out.push(u.canonical());
    }
    out.sort();
    Ok(out)
}

/// [`new_urls`] over a comma-separated list, as every etcd URL flag reads its value.
pub fn new_urls_csv(s: &str) -> Result<Vec<String>, String> {
    let items: Vec<&str> = s.split(',').collect();
    new_urls(&items)
}

/// The host of a URL that passed [`new_urls`], with its port.
fn host_port(url: &str) -> &str {
    let after = url.split_once("://").map_or(url, |(_, r)| r);
    let end = after.find(['?', '#']).unwrap_or(after.len());
    let authority = &after[..end];
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

/// etcd's `checkBindURLs`: a listen URL must name an IP address or `localhost` (unix
/// sockets excepted), because etcd binds to it.
pub fn check_bind_urls(urls: &[String]) -> Result<(), String> {
    for url in urls {
        if url.starts_with("unix://") || url.starts_with("unixs://") {
            continue;
        }
        let hp = host_port(url);
        let (host, _) = split_host_port(hp).map_err(|e| format!("address {hp}: {e}"))?;
        if host == "localhost" {
            continue;
        }
        if host.parse::<IpAddr>().is_err() {
            return Err(format!("expected IP in URL for binding ({url})"));
        }
    }
    Ok(())
}

/// etcd's `checkHostURLs`: an advertised URL needs a non-empty host.
pub fn check_host_urls(urls: &[String]) -> Result<(), String> {
    for url in urls {
        let hp = host_port(url);
        let (host, _) = split_host_port(hp).map_err(|e| format!("address {hp}: {e}"))?;
        if host.is_empty() {
            return Err(format!("unexpected empty host ({url})"));
        }
    }
    Ok(())
}

/// etcd's `types.NewURLsMap`: `name=url,name=url,...`; a name may repeat to give a
/// member several URLs. Names map to their sorted URLs.
pub fn new_urls_map(s: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut raw: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for item in s.split(',') {
        if item.is_empty() {
            continue;
        }
        let (name, url) = item.split_once('=').unwrap_or((item, ""));
        raw.entry(name.to_string()).or_default().push(url);
    }
    let mut out = BTreeMap::new();
    for (name, urls) in raw {
        let urls = new_urls(&urls)?;
        out.insert(name, urls);
    }
    Ok(out)
}

/// etcd's `URLsMap.String()`: the sorted `name=url` pairs joined by commas.
pub fn urls_map_string(map: &BTreeMap<String, Vec<String>>) -> String {
    let mut pairs: Vec<String> = map
        .iter()
        .flat_map(|(name, urls)| urls.iter().map(move |u| format!("{name}={u}")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case and its message were checked against etcd 3.4.23
    /// (`etcd --listen-client-urls=<case>`).
    #[test]
    fn bad_urls_are_refused_with_etcds_messages() {
        let cases = [
            (
                "localhost:2379",
                "URL scheme must be http, https, unix, or unixs: localhost:2379",
            ),
            (
                "127.0.0.1:2379",
                r#"parse "127.0.0.1:2379": first path segment in URL cannot contain colon"#,
            ),
            (
                "http://127.0.0.1",
                r#"URL address does not have the form "host:port": http://127.0.0.1"#,
            ),
            (
                "http://127.0.0.1:2379/x",
                "URL must not contain a path: http://127.0.0.1:2379/x",
            ),
            (
                "http://a b:1",
                r#"parse "http://a b:1": invalid character " " in host name"#,
            ),
            (
                "ftp://127.0.0.1:1",
                "URL scheme must be http, https, unix, or unixs: ftp://127.0.0.1:1",
            ),
            ("foo", "URL scheme must be http, https, unix, or unixs: foo"),
            ("", "URL scheme must be http, https, unix, or unixs: "),
            (
                "http://h:port",
                r#"parse "http://h:port": invalid port ":port" after host"#,
            ),
            (":2379", r#"parse ":2379": missing protocol scheme"#),
        ];
        for (input, want) in cases {
            assert_eq!(
                new_urls_csv(input),
                Err(want.to_string()),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn urls_are_trimmed_lowercased_in_scheme_and_sorted() {
        assert_eq!(
            new_urls_csv(" HTTP://b:2 ,http://a:1"),
            Ok(vec!["http://a:1".to_string(), "http://b:2".to_string()])
        );
        assert_eq!(
            new_urls_csv("http://[::1]:2379"),
            Ok(vec!["http://[::1]:2379".to_string()])
        );
        assert_eq!(
            new_urls_csv("unix://localhost:2379"),
            Ok(vec!["unix://localhost:2379".to_string()])
        );
    }

    #[test]
    fn bind_urls_need_an_ip_or_localhost() {
        let ok = ["http://localhost:1", "http://0.0.0.0:1", "http://[::]:1"];
        assert!(check_bind_urls(&ok.map(String::from)).is_ok());
        assert_eq!(
            check_bind_urls(&["http://example.com:2379".to_string()]),
            Err("expected IP in URL for binding (http://example.com:2379)".to_string())
        );
    }

    #[test]
    fn advertise_urls_need_a_host() {
        assert_eq!(
            check_host_urls(&["http://:2379".to_string()]),
            Err("unexpected empty host (http://:2379)".to_string())
        );
    }

    #[test]
    fn initial_cluster_maps_names_to_sorted_urls() {
        let m = new_urls_map("b=http://h2:2380,a=http://h1:2380,b=http://h0:2380").unwrap();
        assert_eq!(m["a"], vec!["http://h1:2380"]);
        assert_eq!(m["b"], vec!["http://h0:2380", "http://h2:2380"]);
        assert_eq!(
            urls_map_string(&m),
            "a=http://h1:2380,b=http://h0:2380,b=http://h2:2380"
        );
        // etcd 3.4.23: `--initial-cluster=foo` → "error setting up initial cluster: URL
        // scheme must be http, https, unix, or unixs: " (the name has no URL).
        assert_eq!(
            new_urls_map("foo"),
            Err("URL scheme must be http, https, unix, or unixs: ".to_string())
        );
        assert!(new_urls_map("").unwrap().is_empty());
    }

    #[test]
    fn split_host_port_matches_go() {
        assert_eq!(split_host_port("a:1"), Ok(("a".into(), "1".into())));
        assert_eq!(split_host_port("[::1]:1"), Ok(("::1".into(), "1".into())));
        assert_eq!(split_host_port("a"), Err("missing port in address"));
        assert_eq!(split_host_port("a:b:c"), Err("too many colons in address"));
        assert_eq!(split_host_port("[::1"), Err("missing ']' in address"));
    }
}
