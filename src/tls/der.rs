//! Just enough DER to read a certificate's subject Common Name (for
//! `--peer-cert-allowed-cn` and the client identity etcd takes from a client certificate)
//! and its subject alternative names (for etcd's check of a peer's client certificate
//! against the address it connects from).
//!
//! The certificate has already been verified by rustls (webpki) when this runs, so this
//! reads a well-formed X.509 structure; it still never panics and answers `None` on any
//! byte it does not expect, so a malformed input cannot pass for a name.
//!
//! ```text
//! Certificate    ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
//! TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature,
//!                               issuer Name, validity, subject Name,
//!                               subjectPublicKeyInfo, [1] issuerUniqueID OPTIONAL,
//!                               [2] subjectUniqueID OPTIONAL, [3] Extensions OPTIONAL }
//! Name           ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }
//! Extensions     ::= SEQUENCE OF SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE,
//!                                           extnValue OCTET STRING }
//! GeneralNames   ::= SEQUENCE OF GeneralName   -- [2] dNSName, [7] iPAddress, ...
//! ```

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const VERSION: u8 = 0xa0;
/// 2.5.4.3, `id-at-commonName`.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// 2.5.29.17, `id-ce-subjectAltName`.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const OCTET_STRING: u8 = 0x04;
const BOOLEAN: u8 = 0x01;
/// `[3]` EXPLICIT, the extensions of a v3 certificate.
const EXTENSIONS: u8 = 0xa3;
/// `[2]` IMPLICIT IA5String, a SAN's DNS name.
const SAN_DNS_NAME: u8 = 0x82;
/// `[7]` IMPLICIT OCTET STRING, a SAN's IP address.
const SAN_IP_ADDRESS: u8 = 0x87;

const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const T61_STRING: u8 = 0x14;
const IA5_STRING: u8 = 0x16;
const BMP_STRING: u8 = 0x1e;

/// The longest length field read: 4 bytes (4 GiB), far beyond any certificate.
const LENGTH_BYTES_MAX: usize = 4;

/// One DER element at the start of `input`: its tag, its contents, and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        // Long form; 0x80 alone (indefinite length) is not DER.
        let count = usize::from(first & 0x7f);
        if count == 0 || count > LENGTH_BYTES_MAX {
            return None;
        }
        let (bytes, after) = rest.split_at_checked(count)?;
        rest = after;
        bytes
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b))
    };
    let (contents, after) = rest.split_at_checked(len)?;
    Some((tag, contents, after))
}

/// The contents of the element at the start of `input` if it has tag `tag`, and what
/// follows it.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, contents, rest) = element(input)?;
    (found == tag).then_some((contents, rest))
}

/// The subject Common Name of a DER certificate, as Go's `x509` reads it
/// (`cert.Subject.CommonName`: the last CN attribute of the subject); `None` if it has
/// none or the certificate cannot be read.
pub fn subject_common_name(certificate: &[u8]) -> Option<String> {
    let (mut names, _) = subject(certificate)?;
    let mut common_name = None;
    while !names.is_empty() {
        let (mut set, after) = expect(names, SET)?;
        names = after;
        while !set.is_empty() {
            let (attribute, after) = expect(set, SEQUENCE)?;
            set = after;
            let (oid, value) = expect(attribute, OID)?;
            if oid == COMMON_NAME {
                let (tag, value, _) = element(value)?;
                common_name = Some(decode_string(tag, value)?);
            }
        }
    }
    common_name
}

/// The subject Name's contents, and the TBSCertificate's fields after it.
fn subject(certificate: &[u8]) -> Option<(&[u8], &[u8])> {
    let (certificate, _) = expect(certificate, SEQUENCE)?;
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    let mut rest = tbs;
    if let Some((VERSION, _, after)) = element(rest) {
        rest = after;
    }
    // serialNumber, signature, issuer, validity.
    for _ in 0..4 {
        rest = element(rest)?.2;
    }
    expect(rest, SEQUENCE)
}

/// A certificate's subject alternative names: IP addresses and DNS names (the kinds
/// Go's `x509` keeps in `IPAddresses` and `DNSNames`). Empty lists if it has no SAN
/// extension; `None` if it cannot be read.
pub fn subject_alt_names(certificate: &[u8]) -> Option<(Vec<std::net::IpAddr>, Vec<String>)> {
    let (_, mut rest) = subject(certificate)?;
    // subjectPublicKeyInfo, then the optional unique IDs.
    rest = element(rest)?.2;
    let mut extensions = None;
    while !rest.is_empty() {
        let (tag, contents, after) = element(rest)?;
        if tag == EXTENSIONS {
            extensions = Some(expect(contents, SEQUENCE)?.0);
        }
        rest = after;
    }
    let (mut ips, mut dns) = (Vec::new(), Vec::new());
    let mut extensions = extensions.unwrap_or_default();
    while !extensions.is_empty() {
        let (extension, after) = expect(extensions, SEQUENCE)?;
        extensions = after;
        let (oid, mut fields) = expect(extension, OID)?;
        if oid != SUBJECT_ALT_NAME {
            continue;
        }
        if let Some((BOOLEAN, _, after)) = element(fields) {
            fields = after;
        }
        let (value, _) = expect(fields, OCTET_STRING)?;
        let (mut names, _) = expect(value, SEQUENCE)?;
        while !names.is_empty() {
            let (tag, name, after) = element(names)?;
            names = after;
            match tag {
                SAN_DNS_NAME => dns.push(String::from_utf8(name.to_vec()).ok()?),
                SAN_IP_ADDRESS => ips.push(match name.len() {
                    4 => std::net::IpAddr::from(<[u8; 4]>::try_from(name).ok()?),
                    16 => std::net::IpAddr::from(<[u8; 16]>::try_from(name).ok()?),
                    _ => return None,
                }),
                _ => {}
            }
        }
    }
    Some((ips, dns))
}

/// A directory string's text (the string types Go's `asn1` package reads).
fn decode_string(tag: u8, bytes: &[u8]) -> Option<String> {
    match tag {
        UTF8_STRING | PRINTABLE_STRING | IA5_STRING => String::from_utf8(bytes.to_vec()).ok(),
        // Go reads T61String bytes as ISO 8859-1.
        T61_STRING => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        BMP_STRING => {
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(common_name: Option<&str>) -> Vec<u8> {
        certificate_for(common_name, &["localhost", "127.0.0.1", "::1", "node-1"])
    }

    fn certificate_for(common_name: Option<&str>, sans: &[&str]) -> Vec<u8> {
        let sans = sans.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut params = rcgen::CertificateParams::new(sans).expect("params");
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::OrganizationName, "etcd");
        if let Some(cn) = common_name {
            name.push(rcgen::DnType::CommonName, cn);
        }
        params.distinguished_name = name;
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        params.self_signed(&key).expect("signed").der().to_vec()
    }

    #[test]
    fn the_subject_common_name_is_read() {
        assert_eq!(
            subject_common_name(&certificate(Some("member-1"))).as_deref(),
            Some("member-1")
        );
        assert_eq!(
            subject_common_name(&certificate(Some("Zoë"))).as_deref(),
            Some("Zoë")
        );
    }

    #[test]
    fn subject_alt_names_are_read() {
        let (ips, dns) = subject_alt_names(&certificate(Some("member-1"))).unwrap();
        assert_eq!(
            ips,
            vec![
                "127.0.0.1".parse::<std::net::IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert_eq!(dns, vec!["localhost".to_string(), "node-1".to_string()]);
        assert_eq!(
            subject_alt_names(&certificate_for(None, &[])),
            Some((Vec::new(), Vec::new()))
        );
        let der = certificate(None);
        for end in 0..der.len() {
            assert_eq!(
                subject_alt_names(&der[..end]),
                None,
                "prefix of {end} bytes"
            );
        }
    }

    #[test]
    fn a_certificate_without_a_common_name_has_none() {
        assert_eq!(subject_common_name(&certificate(None)), None);
    }

    #[test]
    fn truncated_or_altered_input_never_passes_for_a_name() {
        let der = certificate(Some("member-1"));
        for end in 0..der.len() {
            // A prefix is never a whole certificate: the outer SEQUENCE is cut short.
            assert_eq!(
                subject_common_name(&der[..end]),
                None,
                "prefix of {end} bytes"
            );
        }
        assert_eq!(subject_common_name(&[0x30, 0x80]), None);
        assert_eq!(subject_common_name(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
    }

    #[test]
    fn directory_strings_decode_as_go_reads_them() {
        assert_eq!(
            decode_string(T61_STRING, &[0x41, 0xe9]).as_deref(),
            Some("Aé")
        );
        assert_eq!(
            decode_string(BMP_STRING, &[0x00, 0x61, 0x00, 0x62]).as_deref(),
            Some("ab")
        );
        assert_eq!(decode_string(BMP_STRING, &[0x00]), None);
        assert_eq!(decode_string(0x04, b"octets"), None);
    }
}
