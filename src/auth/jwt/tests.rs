use super::*;

/// Go's `time.ParseDuration` for the few forms these tests write.
fn go_duration(text: &str) -> Result<i64, String> {
    let (number, unit) = text.split_at(text.find(|c: char| c.is_alphabetic()).unwrap_or(0));
    let n: i64 = number
        .parse()
        .map_err(|_| format!("time: invalid duration \"{text}\""))?;
    match unit {
        "s" => Ok(n * 1_000_000_000),
        "m" => Ok(n * 60_000_000_000),
        _ => Err(format!("time: invalid duration \"{text}\"")),
    }
}

fn jwt_options(spec: &str) -> JwtOptions {
    match parse_token_option(spec, go_duration) {
        Ok(TokenKind::Jwt(options)) => options,
        other => panic!("{spec}: {other:?}"),
    }
}

fn refusal(spec: &str) -> String {
    match parse_token_option(spec, go_duration) {
        Ok(TokenKind::Jwt(options)) => match JwtTokens::load(&options) {
            Ok(tokens) => panic!("{spec} accepted: {tokens:?}"),
            Err(e) => e.to_string(),
        },
        Ok(kind) => panic!("{spec} accepted: {kind:?}"),
        Err(e) => e.to_string(),
    }
}

/// A directory of its own for one test's key files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("etcd-rs-jwt-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Runs openssl with `args` in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let status = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?} failed");
}

fn alice(revision: u64) -> AuthInfo {
    AuthInfo {
        username: "alice".into(),
        revision,
    }
}

/// The claims of `token`, decoded without checking anything.
fn claims(token: &str) -> serde_json::Value {
    let mut validation = Validation::default();
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode(token, &DecodingKey::from_secret(b""), &validation)
        .expect("JSON claims")
        .claims
}

#[test]
fn options_split_as_etcd_splits_them() {
    assert_eq!(
        parse_token_option("simple", go_duration),
        Ok(TokenKind::Simple)
    );
    let options = jwt_options("jwt,sign-method=RS256,pub-key=a.pub,priv-key=a.pem,ttl=2s,x=y");
    assert_eq!(options.sign_method, "RS256");
    assert_eq!(options.pub_key, Some(PathBuf::from("a.pub")));
    assert_eq!(options.priv_key, Some(PathBuf::from("a.pem")));
    assert_eq!(options.ttl, Duration::from_secs(2));
    assert_eq!(options.unknown, vec!["x".to_string()]);
    assert_eq!(jwt_options("jwt,sign-method=HS256").ttl, DEFAULT_TTL);
    // An empty value is no value.
    assert_eq!(
        jwt_options("jwt,sign-method=HS256,ttl=,pub-key=").pub_key,
        None
    );
}

#[test]
fn bad_options_fail_with_etcds_errors() {
    for (spec, message) in [
        (
            "opaque",
            "auth: unknown token type: opaque\nauth: invalid auth options",
        ),
        ("", "auth: unknown token type: \nauth: invalid auth options"),
        (
            "jwt,sign-method",
            "auth: invalid token specific option: jwt,sign-method\nauth: invalid auth options",
        ),
        (
            "jwt,a=b=c",
            "auth: invalid token specific option: jwt,a=b=c\nauth: invalid auth options",
        ),
        (
            "jwt,ttl=1s,ttl=2s",
            "auth: invalid token specific option, duplicated parameters (ttl): jwt,ttl=1s,ttl=2s\nauth: invalid auth options",
        ),
        (
            "jwt,sign-method=RS256,ttl=forever",
            "auth: problem loading JWT options: time: invalid duration \"forever\"\nauth: invalid auth options",
        ),
        (
            "jwt,priv-key=k",
            "auth: problem loading JWT options: auth: invalid auth signature method\nauth: invalid auth options",
        ),
        ("jwt,sign-method=RS256", "auth: missing key data"),
        ("jwt,sign-method=HS256", "auth: missing key data"),
    ] {
        assert_eq!(refusal(spec), message, "{spec}");
    }
    assert!(
        refusal("jwt,sign-method=RS256,priv-key=/nonexistent/k")
            .starts_with("auth: problem loading JWT options: open /nonexistent/k: "),
    );
}

#[test]
fn hmac_tokens_sign_verify_and_expire() {
    let dir = scratch("hmac");
    std::fs::write(dir.join("secret"), b"a shared secret\n").expect("written");
    let spec = format!(
        "jwt,sign-method=HS256,priv-key={},ttl=2s",
        dir.join("secret").display()
    );
    let tokens = JwtTokens::load(&jwt_options(&spec)).expect("loaded");
    let token = tokens.sign(&alice(7), 1_000).expect("signed");
    let c = claims(&token);
    assert_eq!(c["username"], "alice");
    assert_eq!(c["revision"], 7);
    assert_eq!(c["exp"], 1_002);
    assert_eq!(tokens.verify(&token, 1_000), Some(alice(7)));
    // Valid through its `exp` second, no later (no leeway, as etcd's).
    assert_eq!(tokens.verify(&token, 1_002), Some(alice(7)));
    assert_eq!(tokens.verify(&token, 1_003), None);
    // Tampered claims, or another secret, fail.
    let mut forged: Vec<&str> = token.split('.').collect();
    let other = tokens.sign(&alice(8), 1_000).expect("signed");
    forged[1] = other.split('.').nth(1).expect("claims");
    assert_eq!(tokens.verify(&forged.join("."), 1_000), None);
    std::fs::write(dir.join("other"), b"another secret").expect("written");
    let spec = format!(
        "jwt,sign-method=HS256,priv-key={}",
        dir.join("other").display()
    );
    let stranger = JwtTokens::load(&jwt_options(&spec)).expect("loaded");
    assert_eq!(stranger.verify(&token, 1_000), None);
    assert_eq!(tokens.verify("YEKewsnXisHohSMH.29", 1_000), None);
    // HS256 keys do not verify HS512 tokens.
    let spec = format!(
        "jwt,sign-method=HS512,priv-key={}",
        dir.join("secret").display()
    );
    let hs512 = JwtTokens::load(&jwt_options(&spec)).expect("loaded");
    assert_eq!(hs512.verify(&token, 1_000), None);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn rsa_keys_sign_verify_and_a_public_key_only_verifies() {
    let dir = scratch("rsa");
    openssl(&dir, &["genrsa", "-out", "a.pem", "2048"]);
    openssl(&dir, &["rsa", "-in", "a.pem", "-pubout", "-out", "a.pub"]);
    openssl(&dir, &["genrsa", "-out", "b.pem", "2048"]);
    openssl(&dir, &["rsa", "-in", "b.pem", "-pubout", "-out", "b.pub"]);
    let path = |f: &str| dir.join(f).display().to_string();
    for method in ["RS256", "PS384"] {
        let both = format!(
            "jwt,sign-method={method},priv-key={},pub-key={}",
            path("a.pem"),
            path("a.pub")
        );
        let signer = JwtTokens::load(&jwt_options(&both)).expect("loaded");
        let token = signer.sign(&alice(3), 50).expect("signed");
        assert_eq!(signer.verify(&token, 50), Some(alice(3)));
        // A member given only the private key derives the public one.
        let private = format!("jwt,sign-method={method},priv-key={}", path("a.pem"));
        let private = JwtTokens::load(&jwt_options(&private)).expect("loaded");
        assert_eq!(private.verify(&token, 50), Some(alice(3)));
        // One given only the public key verifies, and cannot issue.
        let public = format!("jwt,sign-method={method},pub-key={}", path("a.pub"));
        let public = JwtTokens::load(&jwt_options(&public)).expect("loaded");
        assert!(public.verify_only());
        assert_eq!(public.verify(&token, 50), Some(alice(3)));
        assert_eq!(public.sign(&alice(3), 50), Err(AuthError::VerifyOnly));
        // Another key pair refuses it.
        let other = format!("jwt,sign-method={method},pub-key={}", path("b.pub"));
        let other = JwtTokens::load(&jwt_options(&other)).expect("loaded");
        assert_eq!(other.verify(&token, 50), None);
    }
    let mismatch = format!(
        "jwt,sign-method=RS256,priv-key={},pub-key={}",
        path("a.pem"),
        path("b.pub")
    );
    assert_eq!(
        refusal(&mismatch),
        "auth: public and private keys don't match"
    );
    let swapped = format!("jwt,sign-method=RS256,priv-key={}", path("a.pub"));
    assert_eq!(refusal(&swapped), "key is not a valid RSA private key");
    let wrong_kind = format!("jwt,sign-method=ES256,priv-key={}", path("a.pem"));
    assert!(refusal(&wrong_kind).starts_with("key is not a valid ECDSA private key"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn ecdsa_keys_in_sec1_or_pkcs8_sign_and_verify() {
    let dir = scratch("ec");
    openssl(
        &dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "sec1.pem",
        ],
    );
    openssl(
        &dir,
        &["ec", "-in", "sec1.pem", "-pubout", "-out", "p256.pub"],
    );
    openssl(
        &dir,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            "sec1.pem",
            "-out",
            "pkcs8.pem",
        ],
    );
    openssl(
        &dir,
        &[
            "ecparam",
            "-name",
            "secp384r1",
            "-genkey",
            "-noout",
            "-out",
            "p384.pem",
        ],
    );
    let path = |f: &str| dir.join(f).display().to_string();
    for private in ["sec1.pem", "pkcs8.pem"] {
        let spec = format!(
            "jwt,sign-method=ES256,priv-key={},pub-key={}",
            path(private),
            path("p256.pub")
        );
        let tokens = JwtTokens::load(&jwt_options(&spec)).expect(private);
        let token = tokens.sign(&alice(4), 10).expect("signed");
        let public = format!("jwt,sign-method=ES256,pub-key={}", path("p256.pub"));
        let public = JwtTokens::load(&jwt_options(&public)).expect("loaded");
        assert_eq!(public.verify(&token, 10), Some(alice(4)), "{private}");
    }
    let p384 = format!("jwt,sign-method=ES384,priv-key={}", path("p384.pem"));
    let p384 = JwtTokens::load(&jwt_options(&p384)).expect("P-384");
    let token = p384.sign(&alice(5), 10).expect("signed");
    assert_eq!(p384.verify(&token, 10), Some(alice(5)));
    // A P-384 key is no ES256 key.
    let wrong = format!("jwt,sign-method=ES256,priv-key={}", path("p384.pem"));
    assert!(refusal(&wrong).starts_with("key is not a valid ECDSA private key"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn der_lengths_use_the_long_form_past_127_bytes() {
    assert_eq!(der(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
    let long = der(0x04, &[0; 200]);
    assert_eq!(&long[..3], &[0x04, 0x81, 200]);
    assert_eq!(long.len(), 203);
    let longer = der(0x30, &[0; 300]);
    assert_eq!(&longer[..4], &[0x30, 0x82, 0x01, 0x2c]);
}
