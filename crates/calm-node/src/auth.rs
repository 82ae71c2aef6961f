//! Authentication: the cluster secret's challenge–response handshake between nodes, and the
//! client API's bearer token.
//!
//! **Peers.** Each side of a connection sends a fresh random nonce in its
//! [`Hello`](crate::wire::Frame::Hello). The listener answers the dialer's Hello with its own,
//! carrying `HMAC-SHA256(secret, "listener" ‖ names ‖ incarnations ‖ both nonces)`; the dialer
//! checks it and answers with [`Auth`](crate::wire::Frame::Auth) carrying the same MAC with
//! `"dialer"`. The secret never crosses the wire. A recorded handshake replayed later fails: the
//! other side's nonce differs, so the recorded proof does not match. The role label keeps a
//! node from being used as an oracle for the other role's proof. A connection that fails is
//! closed before any batch on it is read, logged and counted in `calm_auth_failures_total`.
//!
//! The handshake authenticates the connection, not each frame: someone who can inject packets
//! into an established TCP connection (on the path between two nodes) is not stopped. Mutual
//! TLS would cover that; it is not implemented (see docs/node.md).
//!
//! **Clients.** With a token configured, every HTTP request but `GET /health` needs
//! `Authorization: Bearer TOKEN`; tokens are compared in constant time (through their SHA-256
//! digests, so the length leaks nothing either).

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::path::Path;
use subtle::ConstantTimeEq;

/// Bytes in a handshake nonce.
pub const NONCE_LEN: usize = 32;

/// Fewest bytes in a cluster secret or a client token.
pub const MIN_SECRET_LEN: usize = 16;

/// Longest secret or token file read, bytes.
const MAX_SECRET_FILE: u64 = 64 << 10;

/// A shared secret (the cluster secret or the client token). Its `Debug` form hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(<{} bytes>)", self.0.len())
    }
}

impl Secret {
    /// A secret of at least [`MIN_SECRET_LEN`] bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Secret, String> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(format!(
                "a secret has at least {MIN_SECRET_LEN} bytes (got {}); e.g. `head -c 32 /dev/urandom | base64`",
                bytes.len()
            ));
        }
        Ok(Secret(bytes))
    }

    /// Reads a secret from a file; surrounding whitespace (a trailing newline) is not part of it.
    /// `what` names it in errors, e.g. `--cluster-secret-file`.
    pub fn from_file(what: &str, path: &Path) -> Result<Secret, String> {
        use std::io::Read as _;
        let file =
            std::fs::File::open(path).map_err(|e| format!("{what} `{}`: {e}", path.display()))?;
        let mut bytes = Vec::new();
        file.take(MAX_SECRET_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{what} `{}`: {e}", path.display()))?;
        if bytes.len() as u64 > MAX_SECRET_FILE {
            return Err(format!(
                "{what} `{}`: larger than {MAX_SECRET_FILE} bytes",
                path.display()
            ));
        }
        let trimmed = bytes.trim_ascii();
        Secret::new(trimmed.to_vec()).map_err(|e| format!("{what} `{}`: {e}", path.display()))
    }

    /// Reads a client token from a file, as [`Secret::from_file`] does; a token is printable
    /// ASCII without spaces (it travels in an HTTP header, and clients refuse anything else), so
    /// a control character or a non-ASCII byte is an error that names its position (never the
    /// token).
    pub fn token_from_file(what: &str, path: &Path) -> Result<Secret, String> {
        let secret = Secret::from_file(what, path)?;
        if let Some((i, b)) = secret
            .0
            .iter()
            .enumerate()
            .find(|(_, b)| !b.is_ascii_graphic())
        {
            let kind = if b.is_ascii_control() {
                "a control character"
            } else if *b == b' ' {
                "a space"
            } else {
                "not ASCII"
            };
            return Err(format!(
                "{what} `{}`: a token is printable ASCII without spaces (it is sent in an HTTP \
                 header), but byte {} of it (0x{b:02x}) is {kind}",
                path.display(),
                i + 1
            ));
        }
        Ok(secret)
    }

    /// The secret's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether `presented` equals this secret, in time independent of where they differ and of
    /// their lengths.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let a = Sha256::digest(&self.0);
        let b = Sha256::digest(presented);
        bool::from(a.as_slice().ct_eq(b.as_slice()))
    }
}

/// Which side of a connection a proof is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The node that connected.
    Dialer,
    /// The node that accepted.
    Listener,
}

/// What a handshake's proofs are computed over: both names, incarnations and nonces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcript<'a> {
    /// The dialer's name.
    pub dialer: &'a str,
    /// The listener's name.
    pub listener: &'a str,
    /// The dialer's incarnation.
    pub dialer_incarnation: u64,
    /// The listener's incarnation.
    pub listener_incarnation: u64,
    /// The dialer's nonce.
    pub dialer_nonce: &'a [u8],
    /// The listener's nonce.
    pub listener_nonce: &'a [u8],
}

impl Transcript<'_> {
    fn mac(&self, secret: &Secret, role: Role) -> Hmac<Sha256> {
        // A key of any length is valid for HMAC.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        let field = |mac: &mut Hmac<Sha256>, bytes: &[u8]| {
            mac.update(&(bytes.len() as u64).to_be_bytes());
            mac.update(bytes);
        };
        field(&mut mac, b"calm-peer-auth-v1");
        field(
            &mut mac,
            match role {
                Role::Dialer => b"dialer",
                Role::Listener => b"listener",
            },
        );
        field(&mut mac, self.dialer.as_bytes());
        field(&mut mac, self.listener.as_bytes());
        field(&mut mac, &self.dialer_incarnation.to_be_bytes());
        field(&mut mac, &self.listener_incarnation.to_be_bytes());
        field(&mut mac, self.dialer_nonce);
        field(&mut mac, self.listener_nonce);
        mac
    }

    /// The proof that `role` knows `secret`.
    pub fn proof(&self, secret: &Secret, role: Role) -> Vec<u8> {
        self.mac(secret, role).finalize().into_bytes().to_vec()
    }

    /// Checks `role`'s proof, in constant time.
    pub fn verify(&self, secret: &Secret, role: Role, proof: &[u8]) -> bool {
        self.mac(secret, role).verify_slice(proof).is_ok()
    }
}

/// A fresh random nonce.
pub fn nonce() -> Result<Vec<u8>, String> {
    let mut n = vec![0u8; NONCE_LEN];
    getrandom::fill(&mut n).map_err(|e| format!("no randomness for a nonce: {e}"))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<'a>(dn: &'a [u8], ln: &'a [u8]) -> Transcript<'a> {
        Transcript {
            dialer: "a",
            listener: "b",
            dialer_incarnation: 1,
            listener_incarnation: 2,
            dialer_nonce: dn,
            listener_nonce: ln,
        }
    }

    #[test]
    fn proofs_bind_role_names_nonces_and_secret() {
        let s = Secret::new("0123456789abcdef").unwrap();
        let other = Secret::new("0123456789abcdeF").unwrap();
        let (n1, n2, n3) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let p = t(&n1, &n2).proof(&s, Role::Dialer);
        assert_eq!(p.len(), 32);
        assert!(t(&n1, &n2).verify(&s, Role::Dialer, &p));
        assert!(!t(&n1, &n2).verify(&s, Role::Listener, &p));
        assert!(!t(&n1, &n3).verify(&s, Role::Dialer, &p), "another nonce");
        assert!(!t(&n1, &n2).verify(&other, Role::Dialer, &p));
        let mut swapped = t(&n1, &n2);
        swapped.dialer = "b";
        swapped.listener = "a";
        assert!(!swapped.verify(&s, Role::Dialer, &p));
        assert!(!t(&n1, &n2).verify(&s, Role::Dialer, &[]));
        assert!(!t(&n1, &n2).verify(&s, Role::Dialer, &p[..31]));
        // Field boundaries are unambiguous: moving a byte between names changes the proof.
        let mut moved = t(&n1, &n2);
        moved.dialer = "ab";
        moved.listener = "";
        assert_ne!(moved.proof(&s, Role::Dialer), p);
    }

    #[test]
    fn secrets_are_long_enough_and_compare_in_full() {
        assert!(Secret::new("short").is_err());
        let s = Secret::new("0123456789abcdef").unwrap();
        assert!(s.matches(b"0123456789abcdef"));
        assert!(!s.matches(b"0123456789abcdeg"));
        assert!(!s.matches(b"0123456789abcdef0"));
        assert!(!s.matches(b""));
        assert!(!format!("{s:?}").contains("0123"));
        assert_ne!(nonce().unwrap(), nonce().unwrap());
    }

    #[test]
    fn secret_files_are_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "  0123456789abcdef\n").unwrap();
        let s = Secret::from_file("--token-file", &p).unwrap();
        assert!(s.matches(b"0123456789abcdef"));
        std::fs::write(&p, "tiny\n").unwrap();
        let e = Secret::from_file("--token-file", &p).unwrap_err();
        assert!(
            e.contains("--token-file") && e.contains("at least 16"),
            "{e}"
        );
        let e = Secret::from_file("--token-file", &dir.path().join("none")).unwrap_err();
        assert!(e.contains("--token-file"), "{e}");
    }

    #[test]
    fn tokens_are_printable_ascii() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "0123456789abcdef~!\n").unwrap();
        let t = Secret::token_from_file("--token-file", &p).unwrap();
        assert!(t.matches(b"0123456789abcdef~!"));
        for (bad, what) in [
            (&b"0123456789\x07abcdef"[..], "control character"),
            (&b"0123456789\x1babcdef"[..], "control character"),
            ("0123456789abcdéf".as_bytes(), "not ASCII"),
            (&b"0123456789 abcdef"[..], "space"),
            (&b"01234567\xff89abcdef"[..], "not ASCII"),
        ] {
            std::fs::write(&p, bad).unwrap();
            let e = Secret::token_from_file("--token-file", &p).unwrap_err();
            assert!(e.contains("printable ASCII") && e.contains(what), "{e}");
            assert!(!e.contains("abcdef"), "the token is not repeated: {e}");
            // The cluster secret is bytes: anything goes.
            Secret::from_file("--cluster-secret-file", &p).unwrap();
        }
    }
}
