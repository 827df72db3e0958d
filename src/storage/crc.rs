//! CRC-32C (Castagnoli), the checksum of every record this module writes.
//!
//! Table-driven, one byte at a time: the raft log checksums each entry once when it is
//! written and once when the member starts, so a simple loop is fast enough and needs no
//! `unsafe` or CPU-specific code. Parameters: reflected polynomial `0x82F63B78`, initial
//! value and final XOR `0xFFFFFFFF` (the CRC used by iSCSI, ext4 and etcd's WAL).

/// The reflected Castagnoli polynomial.
const POLYNOMIAL: u32 = 0x82F6_3B78;

/// `TABLE[b]` is the CRC register after shifting the byte `b` through an empty register.
const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLYNOMIAL
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
}

/// The CRC-32C of `bytes`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc32c_update(0, bytes)
}

/// Continues a CRC-32C: `crc32c_update(crc32c(a), b) == crc32c(a ++ b)` (as Go's
/// `crc32.Update` does).
pub fn crc32c_update(crc: u32, bytes: &[u8]) -> u32 {
    let mut crc = !crc;
    for &byte in bytes {
        crc = TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_updated_crc_equals_the_crc_of_the_concatenation() {
        assert_eq!(
            crc32c_update(crc32c(b"1234"), b"56789"),
            crc32c(b"123456789")
        );
    }

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // The "check" value of the CRC-32C catalogue entry.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn crc32c_matches_rfc3720_test_vectors() {
        // iSCSI (RFC 3720, appendix B.4).
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn crc32c_detects_a_single_flipped_bit() {
        let mut data = b"raft log entry".to_vec();
        let before = crc32c(&data);
        data[3] ^= 0x10;
        assert_ne!(crc32c(&data), before);
    }
}
