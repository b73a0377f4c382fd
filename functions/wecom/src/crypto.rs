//! WeCom's callback cryptography ("WXBizMsgCrypt"): the `msg_signature`
//! SHA-1 and the AES-256-CBC message envelope. Only WeCom speaks it, so it
//! lives with its receiver.
//!
//! ```text
//! msg_signature = hex SHA-1( sort([token, timestamp, nonce, ciphertext]) joined with nothing )
//! AES key       = base64 decode of EncodingAESKey ‖ "="   (43 characters → 32 bytes)
//! IV            = the key's first 16 bytes
//! plaintext     = 16 random bytes ‖ u32 big-endian message length ‖ message ‖ receive id
//!                 padded PKCS#7-style to a 32-byte block (pad values 1..=32)
//! ```

use aes::Aes256;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use sha1::{Digest, Sha1};

use inlet_shared::verify::constant_time_eq;

/// WeCom's padding block: 32 bytes, not AES's 16.
pub const PAD_BLOCK: usize = 32;

/// Standard base64, forgiving in what does not change the bytes: non-zero
/// trailing bits and missing padding. EncodingAESKeys are 43 random
/// alphanumerics, so their last character usually has trailing bits set
/// (the public vector's `…B2C` does); WeCom's own SDKs (Java's commons-codec,
/// Python's `b64decode`) accept them.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The 32-byte AES key of an EncodingAESKey, or `None` when it is not 43
/// base64 characters (the console always shows 43).
pub fn decode_encoding_aes_key(encoding_aes_key: &str) -> Option<[u8; 32]> {
    if encoding_aes_key.len() != 43 {
        return None;
    }
    LENIENT_BASE64.decode(format!("{encoding_aes_key}=")).ok()?.try_into().ok()
}

/// `msg_signature`: lowercase hex SHA-1 of the four strings sorted
/// byte-wise (as wechatpy's `WeChatSigner` and WeCom's samples sort) and
/// concatenated.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, ciphertext: &str) -> String {
    let mut parts = [token.as_bytes(), timestamp.as_bytes(), nonce.as_bytes(), ciphertext.as_bytes()];
    parts.sort_unstable();
    let mut hash = Sha1::new();
    for part in parts {
        hash.update(part);
    }
    hex::encode(hash.finalize())
}

/// Compares a presented `msg_signature` with the expected lowercase hex,
/// in constant time and exactly (wechatpy compares the strings as they are:
/// an upper-case signature fails there and here).
pub fn signature_matches(expected_hex: &str, presented: &str) -> bool {
    constant_time_eq(expected_hex.as_bytes(), presented.as_bytes())
}

/// Why a ciphertext did not open. Fixed strings: nothing derived from the
/// key or the plaintext reaches a log. The caller must not tell them apart
/// in its answer (that would be a padding oracle).
pub type OpenError = &'static str;

/// Opens a base64 ciphertext (`echostr` or `<Encrypt>`) with `key` and
/// returns the message, checking everything WeCom's layout promises: whole
/// AES blocks, PKCS#7 padding of 1..=32 bytes that all hold the pad value,
/// a length that fits, and a receive id equal to `receive_id` (the CorpID).
pub fn open(key: &[u8; 32], ciphertext_b64: &str, receive_id: &str) -> Result<Vec<u8>, OpenError> {
    let raw = LENIENT_BASE64.decode(ciphertext_b64).map_err(|_| "ciphertext is not base64")?;
    if raw.is_empty() || raw.len() % 16 != 0 {
        return Err("ciphertext is not a whole number of AES blocks");
    }
    let decryptor = cbc::Decryptor::<Aes256>::new_from_slices(key, &key[..16]).map_err(|_| "bad key or IV length")?;
    let plain = decryptor.decrypt_padded_vec::<NoPadding>(&raw).map_err(|_| "ciphertext does not decrypt")?;
    let unpadded = unpad(&plain)?;
    if unpadded.len() < 20 {
        return Err("plaintext is shorter than its header");
    }
    let (_random, rest) = unpadded.split_at(16);
    let (length, rest) = rest.split_at(4);
    let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
    if length > rest.len() {
        return Err("message length runs past the plaintext");
    }
    let (message, from_id) = rest.split_at(length);
    if !constant_time_eq(from_id, receive_id.as_bytes()) {
        return Err("receive id is not the configured CorpID");
    }
    Ok(message.to_vec())
}

/// Strict PKCS#7 removal with WeCom's 32-byte block: the last byte is the
/// pad length, 1..=32, and every pad byte holds it. (wechatpy reads only
/// the last byte; a genuine sender's padding passes both.)
fn unpad(plain: &[u8]) -> Result<&[u8], OpenError> {
    let pad = usize::from(*plain.last().ok_or("empty plaintext")?);
    if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() {
        return Err("bad padding");
    }
    let (content, padding) = plain.split_at(plain.len() - pad);
    // Branch-free over the pad bytes, so timing says nothing about which one differs.
    let mismatch = padding.iter().fold(0u8, |acc, &byte| acc | (byte ^ pad as u8));
    if mismatch != 0 {
        return Err("bad padding");
    }
    Ok(content)
}

/// Seals `message` as WeCom does, with the given 16-byte prefix (WeCom's is
/// random; samples derive it from their `unique` so they are reproducible).
/// The IV is fixed by the protocol (the key's first 16 bytes).
pub fn seal(key: &[u8; 32], random: [u8; 16], message: &[u8], receive_id: &str) -> String {
    let length = u32::try_from(message.len()).unwrap_or(u32::MAX);
    let mut plain = Vec::with_capacity(20 + message.len() + receive_id.len() + PAD_BLOCK);
    plain.extend_from_slice(&random);
    plain.extend_from_slice(&length.to_be_bytes());
    plain.extend_from_slice(message);
    plain.extend_from_slice(receive_id.as_bytes());
    let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    seal_padded(key, &plain)
}

/// Encrypts an already padded plaintext (a whole number of AES blocks) with
/// WeCom's key and IV. Tests use it to build ciphertexts with broken
/// padding or layout that are still validly signed.
pub fn seal_padded(key: &[u8; 32], padded: &[u8]) -> String {
    match cbc::Encryptor::<Aes256>::new_from_slices(key, &key[..16]) {
        Ok(encryptor) => LENIENT_BASE64.encode(encryptor.encrypt_padded_vec::<NoPadding>(padded)),
        // A 32-byte key and 16-byte IV are always accepted.
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WeCom's published vector (docs/contributing/testing.md, "Public test vectors").
    const TOKEN: &str = "QDG6eK";
    const ENCODING_AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    const CORP_ID: &str = "wx5823bf96d3bd56c7";
    const ECHOSTR: &str = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";

    fn key() -> [u8; 32] {
        decode_encoding_aes_key(ENCODING_AES_KEY).unwrap()
    }

    #[test]
    fn signature_matches_public_vector() {
        assert_eq!(
            msg_signature(TOKEN, "1409659589", "263014780", ECHOSTR),
            "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
        );
    }

    #[test]
    fn decrypts_public_vector() {
        assert_eq!(open(&key(), ECHOSTR, CORP_ID).unwrap(), b"1616140317555161061");
    }

    #[test]
    fn keys_with_trailing_bits_decode_and_bad_keys_do_not() {
        // The vector's key ends in `C`: its last two bits are not zero.
        assert_eq!(key().len(), 32);
        assert!(decode_encoding_aes_key(&ENCODING_AES_KEY[..42]).is_none());
        assert!(decode_encoding_aes_key(&format!("{ENCODING_AES_KEY}A")).is_none());
        assert!(decode_encoding_aes_key(&ENCODING_AES_KEY.replace('j', "%")).is_none());
    }

    #[test]
    fn sealing_round_trips_and_pads_to_32_bytes() {
        let sealed = seal(&key(), [1; 16], b"<xml/>", CORP_ID);
        let raw = LENIENT_BASE64.decode(&sealed).unwrap();
        assert_eq!(raw.len() % PAD_BLOCK, 0);
        assert_eq!(open(&key(), &sealed, CORP_ID).unwrap(), b"<xml/>");
        // A plaintext that is already a whole number of blocks gets a whole block of padding.
        let message = vec![b'x'; 64 - 20 - CORP_ID.len()];
        let raw = LENIENT_BASE64.decode(seal(&key(), [2; 16], &message, CORP_ID)).unwrap();
        assert_eq!(raw.len(), 96);
    }

    #[test]
    fn every_broken_layout_is_refused() {
        let k = key();
        assert_eq!(
            open(&k, &seal(&k, [0; 16], b"m", "other-corp"), CORP_ID),
            Err("receive id is not the configured CorpID")
        );
        assert!(open(&k, "%%%", CORP_ID).is_err());
        assert!(open(&k, "", CORP_ID).is_err());
        assert!(open(&k, &LENIENT_BASE64.encode([0u8; 17]), CORP_ID).is_err());
        let other = decode_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
        assert!(open(&other, ECHOSTR, CORP_ID).is_err(), "another key");

        let layout = |body: &[u8], pad: &[u8]| {
            let mut plain = body.to_vec();
            plain.extend_from_slice(pad);
            open(&k, &seal_padded(&k, &plain), CORP_ID)
        };
        let mut body = vec![0u8; 16];
        body.extend_from_slice(&1u32.to_be_bytes());
        body.push(b'm');
        body.extend_from_slice(CORP_ID.as_bytes());
        let pad = 64 - body.len();
        assert_eq!(layout(&body, &vec![pad as u8; pad]).unwrap(), b"m");
        let mut uneven = vec![pad as u8; pad];
        uneven[0] ^= 1;
        assert_eq!(layout(&body, &uneven), Err("bad padding"), "every pad byte is checked");
        assert_eq!(layout(&body, &vec![0u8; pad]), Err("bad padding"), "pad 0");
        let mut over = vec![0u8; pad];
        over[pad - 1] = 33;
        assert_eq!(layout(&body, &over), Err("bad padding"), "pad over 32");
        let mut overlong = body.clone();
        overlong[16..20].copy_from_slice(&1000u32.to_be_bytes());
        assert_eq!(layout(&overlong, &vec![pad as u8; pad]), Err("message length runs past the plaintext"));
        assert_eq!(layout(&[0u8; 16], &[16u8; 16]), Err("plaintext is shorter than its header"));
    }

    #[test]
    fn signature_sorts_its_inputs_and_compares_exactly() {
        let a = msg_signature("b", "a", "d", "c");
        assert_eq!(a, msg_signature("a", "b", "c", "d"));
        assert_eq!(a, hex::encode(Sha1::digest(b"abcd")));
        assert!(signature_matches(&a, &a));
        assert!(!signature_matches(&a, &a.to_uppercase()));
        assert!(!signature_matches(&a, &a[1..]));
    }
}
