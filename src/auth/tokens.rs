//! etcd's simple tokens: `<16 random letters>.<request id>`, issued by applying an
//! Authenticate (so every member knows each token), valid until unused for
//! --auth-token-ttl. A member forgets its tokens when it restarts, as etcd's do.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::AuthInfo;

/// Letters of a token's random part.
const TOKEN_LETTERS: usize = 16;

/// The tokens a member knows.
#[derive(Debug)]
pub struct SimpleTokens {
    ttl: Duration,
    tokens: HashMap<String, (AuthInfo, Instant)>,
    /// When expired tokens were last dropped.
    swept: Instant,
}

impl SimpleTokens {
    /// No tokens; each lives `ttl` after its last use.
    pub fn new(ttl: Duration) -> SimpleTokens {
        SimpleTokens {
            ttl,
            tokens: HashMap::new(),
            swept: Instant::now(),
        }
    }

    /// A new token's random part: 16 letters from the operating system's randomness
    /// (without it there is no safe token, and none is made).
    pub fn random_prefix() -> Result<String, getrandom::Error> {
        let mut bytes = [0u8; TOKEN_LETTERS];
        getrandom::fill(&mut bytes)?;
        Ok(bytes
            .iter()
            .map(|b| {
                let i = b % 52;
                char::from(if i < 26 { b'a' + i } else { b'A' + i - 26 })
            })
            .collect())
    }

    /// Records a token, valid for the TTL from `now`.
    pub fn assign(&mut self, token: String, info: AuthInfo, now: Instant) {
        self.sweep(now);
        self.tokens.insert(token, (info, now + self.ttl));
    }

    /// The user of a live token; its TTL starts again.
    pub fn info(&mut self, token: &str, now: Instant) -> Option<AuthInfo> {
        let ttl = self.ttl;
        let (info, expires) = self.tokens.get_mut(token)?;
        if *expires <= now {
            self.tokens.remove(token);
            return None;
        }
        *expires = now + ttl;
        Some(info.clone())
    }

    /// Forgets the tokens of `username` (deleted, or a new password).
    pub fn invalidate_user(&mut self, username: &str) {
        self.tokens.retain(|_, (info, _)| info.username != username);
    }

    /// Forgets every token (auth disabled).
    pub fn clear(&mut self) {
        self.tokens.clear();
    }

    /// Drops expired tokens, at most once per TTL.
    fn sweep(&mut self, now: Instant) {
        if now.duration_since(self.swept) < self.ttl {
            return;
        }
        self.swept = now;
        self.tokens.retain(|_, (_, expires)| *expires > now);
    }

    /// How many tokens are held.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> AuthInfo {
        AuthInfo {
            username: "alice".into(),
            revision: 3,
        }
    }

    #[test]
    fn a_token_lives_its_ttl_after_its_last_use() {
        let start = Instant::now();
        let ttl = Duration::from_secs(10);
        let mut tokens = SimpleTokens::new(ttl);
        tokens.assign("t.1".into(), alice(), start);
        assert_eq!(tokens.info("t.1", start + ttl / 2), Some(alice()));
        // The use renewed it.
        assert_eq!(tokens.info("t.1", start + ttl + ttl / 4), Some(alice()));
        assert_eq!(tokens.info("t.1", start + ttl * 3), None);
        assert_eq!(tokens.info("t.1", start), None);
        assert_eq!(tokens.info("other", start), None);
    }

    #[test]
    fn tokens_go_with_their_user() {
        let now = Instant::now();
        let mut tokens = SimpleTokens::new(Duration::from_secs(10));
        tokens.assign("a.1".into(), alice(), now);
        tokens.assign(
            "b.2".into(),
            AuthInfo {
                username: "bob".into(),
                revision: 3,
            },
            now,
        );
        tokens.invalidate_user("alice");
        assert_eq!(tokens.info("a.1", now), None);
        assert!(tokens.info("b.2", now).is_some());
        tokens.clear();
        assert!(tokens.is_empty());
    }

    #[test]
    fn prefixes_are_letters_and_differ() {
        let a = SimpleTokens::random_prefix().unwrap();
        let b = SimpleTokens::random_prefix().unwrap();
        assert_eq!(a.len(), TOKEN_LETTERS);
        assert!(a.chars().all(|c| c.is_ascii_alphabetic()));
        assert_ne!(a, b);
    }
}
